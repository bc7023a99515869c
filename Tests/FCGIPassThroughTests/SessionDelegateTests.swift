import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The URLSession callbacks, driven by hand on a task that never runs.
/// A class, so that `deinit` can invalidate the session: a URLSession keeps its delegate
/// until then, and LeakSanitizer (`make test-sanitize`) reports both otherwise.
@Suite final class SessionDelegateTests {
    let delegate = SessionDelegate()
    let session: URLSession
    let task: URLSessionDataTask
    let channel = ResponseChannel()

    init() {
        session = URLSession(configuration: .ephemeral, delegate: delegate, delegateQueue: nil)
        task = session.dataTask(with: URL(string: "http://127.0.0.1:9/x")!)
        delegate.register(task, channel)
    }

    deinit { session.invalidateAndCancel() }

    func respond(_ status: Int) -> URLSession.ResponseDisposition? {
        let response = HTTPURLResponse(url: URL(string: "http://127.0.0.1:9/x")!, statusCode: status, httpVersion: nil, headerFields: [:])!
        nonisolated(unsafe) var disposition: URLSession.ResponseDisposition?
        delegate.urlSession(session, dataTask: task, didReceive: response) { disposition = $0 }
        return disposition
    }

    /// Regression (UP-07): a 103 Early Hints became the status the client got.
    @Test func anInterimResponseIsNotTakenForTheAnswer() {
        #expect(respond(103) == .allow)
        #expect(channel.next(timeout: .zero) == nil)
        #expect(respond(200) == .allow)
        guard case .head(200, _) = channel.next(timeout: .zero) else {
            Issue.record("the final head was not delivered")
            return
        }
    }

    /// Regression (UP-03): libcurl replayed a request on a fresh connection when a kept-alive
    /// one died before any answer, so the upstream could act on it twice.
    @Test func aReplayIsRefusedAndTheRequestFails() {
        nonisolated(unsafe) var stream: InputStream? = InputStream(data: Data())
        delegate.urlSession(session, task: task, needNewBodyStream: { stream = $0 })
        #expect(stream == nil)
        guard case .end(.unreachable(let why)?) = channel.next(timeout: .zero) else {
            Issue.record("the request did not fail")
            return
        }
        #expect(why == .reset)
    }
}
