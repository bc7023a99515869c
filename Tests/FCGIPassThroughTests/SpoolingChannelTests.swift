import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

#if canImport(Glibc)
    import Glibc
#endif

/// `receiveBody` past the memory bound: the temporary file behind it (docs/BEHAVIOUR.md §5.5).
@Suite struct SpoolingChannelTests {
    static func started(bufferLimit: Int, spoolLimit: Int, pieceSize: Int = 1 << 20, directory: String? = nil)
        -> ResponseChannel
    {
        let channel = ResponseChannel(
            bufferLimit: bufferLimit, spoolLimit: spoolLimit, spoolDirectory: directory, pieceSize: pieceSize)
        channel.receiveHead(status: 200, headers: HTTPHeaders())
        _ = channel.next(timeout: .zero)
        return channel
    }

    static func body(_ channel: ResponseChannel) -> String? {
        guard case .body(let data) = channel.next(timeout: .zero) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    static func receive(_ channel: ResponseChannel, _ text: String) -> Bool {
        channel.receiveBody(Data(text.utf8))
    }

    @Test func bytesGoMemoryThenFileThenMemoryInOrder() {
        let channel = Self.started(bufferLimit: 8, spoolLimit: 1000, pieceSize: 4)
        #expect(Self.receive(channel, "abcde") && Self.receive(channel, "fgh"))  // memory: 8 of 8
        #expect(channel.spoolDescriptor == nil)  // not made until needed
        #expect(Self.receive(channel, "ij"))  // memory full: the file
        #expect(channel.spoolFileSize == 2)
        #expect(Self.body(channel) == "abcde")  // memory first; a chunk over the piece size whole
        #expect(Self.receive(channel, "klmn"))  // the file: "ij" is still in it
        #expect(Self.body(channel) == "fgh")
        #expect(Self.body(channel) == "ijkl")  // one piece of the file; "mn" stays in it
        // Memory has room now, but the file holds older bytes: these go behind them.
        #expect(Self.receive(channel, "o"))
        #expect(channel.spoolFileSize == 7)
        #expect(Self.body(channel) == "mno")  // read to its end: emptied
        #expect(channel.spoolFileSize == 0)
        #expect(Self.receive(channel, "p") && Self.receive(channel, "qr"))  // memory again
        #expect(channel.spoolFileSize == 0)
        channel.finish(nil)
        #expect(Self.body(channel) == "pqr")
        guard case .end(nil) = channel.next(timeout: .zero) else { Issue.record("end"); return }
        #expect(!channel.didOverflow)
    }

    @Test func theFileIsEmptiedEachTimeItIsReadToItsEnd() {
        let channel = Self.started(bufferLimit: 4, spoolLimit: 10, pieceSize: 4)
        for round in 0..<3 {
            #expect(Self.receive(channel, "abcd"))
            #expect(Self.receive(channel, "0123456789"), "round \(round)")  // 10 of 10, again each round
            #expect(channel.spoolFileSize == 10)
            #expect(Self.body(channel) == "abcd")
            #expect(Self.body(channel) == "0123")
            #expect(Self.body(channel) == "4567")
            #expect(Self.body(channel) == "89")
            #expect(channel.spoolFileSize == 0)
            #expect(channel.next(timeout: .zero) == nil)
        }
    }

    @Test func theLimitOverflowsExactlyWhenTheFileWouldExceedIt() {
        let channel = Self.started(bufferLimit: 4, spoolLimit: 10)
        #expect(Self.receive(channel, "abcd"))
        #expect(Self.receive(channel, "012345678"))
        #expect(Self.receive(channel, "9"))  // exactly 10
        #expect(!channel.didOverflow)
        #expect(!Self.receive(channel, "x"))  // 11
        #expect(channel.overflow == .spoolFull)
        #expect(Self.receive(channel, "y"))  // dropped cheaply, no second cancel
        // The response is lost: the end comes at once, memory and disk are given back.
        guard case .end(.cancelled) = channel.next(timeout: .zero) else { Issue.record("end"); return }
        #expect(channel.spoolDescriptor == nil)
    }

    @Test func aChunkLargerThanTheLimitOverflows() {
        let channel = Self.started(bufferLimit: 4, spoolLimit: 10)
        #expect(!Self.receive(channel, "0123456789a"))
        #expect(channel.overflow == .spoolFull)
    }

    @Test func spoolingOffOverflowsAtTheMemoryBoundAsBefore() {
        let channel = Self.started(bufferLimit: 4, spoolLimit: 0)
        #expect(Self.receive(channel, "abcd"))
        #expect(!Self.receive(channel, "e"))
        #expect(channel.overflow == .bufferFull)
        #expect(channel.spoolDescriptor == nil)
        guard case .end(.cancelled) = channel.next(timeout: .zero) else { Issue.record("end"); return }
    }

    @Test func aFileThatCannotBeMadeOverflowsInsteadOfFailing() {
        let channel = Self.started(bufferLimit: 4, spoolLimit: 100, directory: "/nonexistent-spool-dir")
        #expect(Self.receive(channel, "abcd"))
        #expect(!Self.receive(channel, "e"))
        guard case .spoolFailed(let reason) = channel.overflow else { Issue.record("\(String(describing: channel.overflow))"); return }
        #expect(reason.contains("cannot create a temporary file in /nonexistent-spool-dir"))
        #expect(reason.contains("No such file or directory"))
        #expect(
            URLSessionUpstreamClient.reason(channel.overflow!) == "temporary file failed (\(reason))")
    }

    @Test func theFileIsUnlinkedPrivateAndCloseOnExec() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spool-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let channel = Self.started(bufferLimit: 1, spoolLimit: 100, directory: directory)
        #expect(Self.receive(channel, "ab"))
        let fd = try #require(channel.spoolDescriptor)
        var info = stat()
        #expect(fstat(fd, &info) == 0)
        #expect(info.st_nlink == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
        // Released, the descriptor is closed (its number may already serve a parallel test).
        channel.release()
        #expect(channel.spoolDescriptor == nil)
        var after = stat()
        #expect(fstat(fd, &after) != 0 || after.st_ino != info.st_ino || after.st_dev != info.st_dev)
        #expect(Self.receive(channel, "c"))  // dropped
    }

    /// A transport thread delivering many small and a few large chunks while the worker
    /// takes them at its own pace: every byte arrives, in order, through every transition.
    @Test func orderSurvivesConcurrentDelivery() {
        var generator = SeededBytes(seed: 7)
        var chunks: [Data] = []
        for k in 0..<3000 {
            let size = k % 500 == 250 ? 40_000 : 1 + generator.next() % 300
            chunks.append(generator.data(size))
        }
        let expected = chunks.reduce(into: Data()) { $0.append($1) }
        let channel = ResponseChannel(bufferLimit: 4096, spoolLimit: 64 << 20, pieceSize: 1000)
        let spooled = Locked(0)
        channel.receiveHead(status: 200, headers: HTTPHeaders())
        Thread.detachNewThread { [chunks] in
            for (k, chunk) in chunks.enumerated() {
                guard channel.receiveBody(chunk) else { return }
                if channel.spoolFileSize ?? 0 > 0 { spooled.withLock { $0 += 1 } }
                if k % 97 == 0 { usleep(200) }
            }
            channel.finish(nil)
        }
        var received = Data()
        var pieces = 0
        loop: while true {
            switch channel.next(timeout: .seconds(10)) {
            case .head: continue
            case .body(let data):
                received.append(data)
                pieces += 1
                if pieces % 7 == 0 { usleep(300) }  // a client that lags now and then
            case .end(let failure):
                #expect(failure == nil)
                break loop
            case nil:
                Issue.record("no event within 10 s")
                break loop
            }
        }
        #expect(!channel.didOverflow)
        #expect(received.count == expected.count)
        #expect(received == expected)
        #expect(spooled.withLock { $0 } > 0, "the file was never used")
    }
}

/// Deterministic pseudo-random bytes (a linear congruential generator).
struct SeededBytes {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int(truncatingIfNeeded: state >> 33)
    }

    mutating func data(_ count: Int) -> Data {
        Data((0..<count).map { _ in UInt8(truncatingIfNeeded: next()) })
    }
}
