import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

/// Every `bad-*.yaml` is refused with exactly the lines of its `.expected` file:
/// location, line number and message, in file order.
@Suite struct ConfigBadFixtureTests {
    @Test(arguments: ConfigFixtures.badConfigs)
    func refusedWithExactProblems(_ name: String) throws {
        let text = try ConfigFixtures.text(name)
        let error = #expect(throws: ConfigErrors.self) {
            try ConfigLoader.load(yaml: text, file: name, environment: ConfigFixtures.environment)
        }
        let lines = error?.problems.map(\.description) ?? []
        #expect(lines == (try ConfigFixtures.expectedProblems(name)))
    }

    @Test func everyBadFixtureIsListed() {
        #expect(ConfigFixtures.badConfigs.count >= 16)
    }
}
