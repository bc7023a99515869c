import Foundation
import Synchronization

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

/// Records what the gateway writes, as nginx would receive it.
final class RecordingWriter: ResponseWriter, @unchecked Sendable {
    private(set) var status: Int?
    private(set) var headers = HTTPHeaders()
    private(set) var body = Data()
    private(set) var flushes = 0
    private(set) var aborted = false
    /// Simulates the client going away: writes fail and the client reads as gone.
    var clientGone = false

    func writeHead(status: Int, headers: HTTPHeaders) -> Bool {
        guard !clientGone else { return false }
        self.status = status
        self.headers = headers
        return true
    }

    func writeBody(_ data: Data, flush: Bool) -> Bool {
        guard !clientGone else { return false }
        body.append(data)
        if flush { flushes += 1 }
        return true
    }

    func flush() -> Bool {
        guard !clientGone else { return false }
        flushes += 1
        return true
    }

    func abort() { aborted = true }
    func clientHasGone() -> Bool { clientGone }
    var departureDescriptor: Int32? { nil }

    var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// An upstream whose answer each test scripts; it records the requests it was given
/// and counts the exchanges the gateway stopped.
final class ScriptedUpstream: UpstreamClient, @unchecked Sendable {
    enum Step: Sendable {
        case head(Int, [(String, String)])
        case body(String)
        /// Silence, during which the sink is asked every poll interval whether to go on.
        case wait(Duration)
        case end(UpstreamFailure?)
    }

    let steps: [Step]
    let received = Mutex<[UpstreamRequest]>([])
    /// The buffering each exchange was given.
    let buffering = Mutex<[ResponseBuffering]>([])
    let cancelled = Atomic<Int>(0)

    init(_ steps: [Step]) { self.steps = steps }

    func exchange(_ request: UpstreamRequest, buffering: ResponseBuffering, with sink: any UpstreamSink) -> UpstreamFailure? {
        received.withLock { $0.append(request) }
        self.buffering.withLock { $0.append(buffering) }
        func stop() -> UpstreamFailure {
            cancelled.add(1, ordering: .relaxed)
            return .cancelled
        }
        for step in steps {
            switch step {
            case .head(let status, let headers):
                guard sink.receiveHead(status: status, headers: HTTPHeaders(headers)) else { return stop() }
            case .body(let text):
                guard sink.receiveBody(Data(text.utf8)) else { return stop() }
            case .wait(let duration):
                let until = ContinuousClock.now + duration
                while ContinuousClock.now < until {
                    Thread.sleep(forTimeInterval: min(sink.pollInterval, until - ContinuousClock.now).seconds)
                    guard sink.stillWanted() else { return stop() }
                }
            case .end(let failure):
                return failure
            }
        }
        return nil
    }
}

/// A request body that counts how often it was read (AUTH-05).
final class CountingBodySource: RequestBodySource, @unchecked Sendable {
    private let data: Data
    private(set) var reads = 0

    init(_ text: String) { data = Data(text.utf8) }

    func readBody() throws(GatewayError) -> Data {
        reads += 1
        return data
    }
}
