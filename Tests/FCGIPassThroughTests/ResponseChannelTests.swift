import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

@Suite struct ResponseChannelTests {
    @Test func deliversHeadThenCoalescedBodyThenEnd() {
        let channel = ResponseChannel(bufferLimit: 100)
        channel.receiveHead(status: 200, headers: HTTPHeaders())
        channel.receiveBody(Data("ab".utf8))
        channel.receiveBody(Data("cd".utf8))
        channel.finish(nil)
        guard case .head(200, _) = channel.next(timeout: .zero) else { Issue.record("head"); return }
        guard case .body(let data) = channel.next(timeout: .zero) else { Issue.record("body"); return }
        #expect(data == Data("abcd".utf8))
        guard case .end(nil) = channel.next(timeout: .zero) else { Issue.record("end"); return }
    }

    /// The worker takes memory in pieces, so the copies it makes while writing (secret
    /// masking) stay small next to the buffer.
    @Test func bodyIsHandedOverInPiecesOfAtMostThePieceSize() {
        let channel = ResponseChannel(bufferLimit: 100, pieceSize: 4)
        channel.receiveHead(status: 200, headers: HTTPHeaders())
        for text in ["ab", "cd", "e", "fghij", "k"] { channel.receiveBody(Data(text.utf8)) }
        channel.finish(nil)
        var pieces: [String] = []
        while case .some(let event) = channel.next(timeout: .zero) {
            if case .body(let data) = event { pieces.append(String(decoding: data, as: UTF8.self)) }
            if case .end = event { break }
        }
        #expect(pieces == ["abcd", "e", "fghij", "k"])
    }

    @Test func boundRefusesMoreDataAndEndsAsCancelled() {
        let channel = ResponseChannel(bufferLimit: 4)
        channel.receiveHead(status: 200, headers: HTTPHeaders())
        #expect(channel.receiveBody(Data("abcd".utf8)))
        #expect(!channel.receiveBody(Data("e".utf8)))
        #expect(channel.didOverflow)
        _ = channel.next(timeout: .zero)
        _ = channel.next(timeout: .zero)
        guard case .end(.cancelled) = channel.next(timeout: .zero) else { Issue.record("end"); return }
    }

    /// Regression (cancel storm): every chunk after the bound asked for a cancel again, and
    /// each cancel waits for the session's work queue, so the transport's callbacks piled up.
    @Test func cancelIsRequestedOnceThenLaterDataIsDroppedCheaply() {
        let channel = ResponseChannel(bufferLimit: 4)
        channel.receiveHead(status: 200, headers: HTTPHeaders())
        #expect(channel.receiveBody(Data("abcd".utf8)))
        #expect(!channel.receiveBody(Data("e".utf8)))
        #expect(channel.receiveBody(Data("f".utf8)))
        #expect(channel.didOverflow)
    }

    /// Regression: the chunk the worker was still writing to a stalled client did not count,
    /// so a request could hold twice its bound (STR-06).
    @Test func theBoundCountsTheChunkBeingWritten() {
        let channel = ResponseChannel(bufferLimit: 4)
        channel.receiveHead(status: 200, headers: HTTPHeaders())
        _ = channel.next(timeout: .zero)
        #expect(channel.receiveBody(Data("abc".utf8)))
        guard case .body = channel.next(timeout: .zero) else { Issue.record("body"); return }
        // "abc" is being written: only one more byte fits.
        #expect(channel.receiveBody(Data("d".utf8)))
        #expect(!channel.receiveBody(Data("e".utf8)))
    }

    @Test func waitsNoLongerThanTheTimeout() {
        let channel = ResponseChannel()
        let started = ContinuousClock.now
        #expect(channel.next(timeout: .milliseconds(50)) == nil)
        #expect(ContinuousClock.now - started < .milliseconds(500))
    }
}
