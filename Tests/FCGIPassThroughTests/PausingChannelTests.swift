import CCurl
import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

@Suite struct PausingChannelTests {
    @Test func aFullChannelRefusesAnOfferUntilTheWorkerTakesWhatItHolds() {
        let channel = ResponseChannel(bufferLimit: 4)
        let resumed = Locked(0)
        channel.onRoom { resumed.withLock { $0 += 1 } }
        channel.receiveHead(status: 200, headers: HTTPHeaders())
        #expect(channel.offerBody(Data("abc".utf8)))
        #expect(!channel.offerBody(Data("de".utf8)))  // 5 > 4: refused, not dropped
        guard case .head = channel.next(timeout: .zero) else { Issue.record("head"); return }
        #expect(resumed.withLock { $0 } == 1)  // asking again is room
        guard case .body(let first) = channel.next(timeout: .zero) else { Issue.record("body"); return }
        #expect(first == Data("abc".utf8))
        #expect(!channel.offerBody(Data("de".utf8)))  // "abc" is still being written
        #expect(channel.next(timeout: .zero) == nil)
        #expect(resumed.withLock { $0 } == 2)
        #expect(channel.offerBody(Data("de".utf8)))
        channel.finish(nil)
        guard case .body(let second) = channel.next(timeout: .zero) else { Issue.record("second body"); return }
        #expect(second == Data("de".utf8))
        #expect(!channel.didOverflow)
    }

    /// A transport that can pause never needs the temporary file, whatever its limit.
    @Test func offersNeverGoToTheTemporaryFile() {
        let channel = ResponseChannel(bufferLimit: 4, spoolLimit: 1 << 20)
        channel.receiveHead(status: 200, headers: HTTPHeaders())
        #expect(channel.offerBody(Data("abc".utf8)))
        #expect(!channel.offerBody(Data("de".utf8)))
        #expect(channel.spoolDescriptor == nil)
        #expect(!channel.didOverflow)
    }

    @Test func aChunkLargerThanTheBoundIsTakenWhenNothingIsHeld() {
        let channel = ResponseChannel(bufferLimit: 2)
        #expect(channel.offerBody(Data("abcdef".utf8)))
    }
}
