import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

@Suite struct ConfigHandoverTests {
    @Test func aWorkerReadsWhatTheSupervisorPublishedLast() throws {
        let handover = try #require(ConfigHandover.create())
        defer { close(handover.fd) }
        #expect(handover.publish("general_settings:\n  master_key: a-long-first-version\n"))
        #expect(handover.read() == "general_settings:\n  master_key: a-long-first-version\n")
        #expect(handover.publish("short\n"))
        let worker = try #require(ConfigHandover(inheritedFD: dup(handover.fd)))
        defer { close(worker.fd) }
        #expect(worker.read() == "short\n")
    }

    @Test func aDescriptorThatIsNotAFileIsNoHandover() {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { fds.forEach { close($0) } }
        #expect(ConfigHandover(inheritedFD: fds[0]) == nil)
    }
}
