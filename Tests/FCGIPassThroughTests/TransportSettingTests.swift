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

@Suite struct TransportSettingTests {
    @Test func transportAndCAFileAreRead() throws {
        let (config, notices) = try ConfigLoaderTests.load(
            "general_settings:\n  transport: curl\n  ssl_ca_file: /etc/hostname\n")
        #expect(config.transport == .curl && config.caFile == "/etc/hostname" && notices.isEmpty)
        #expect(config.transportProblem == nil)
        #expect(try ConfigLoaderTests.load("general_settings: {}\n").0.transport == .curl)
    }

    @Test func badValuesAreProblems() {
        #expect(
            ConfigLoaderTests.problems("general_settings:\n  transport: http2\n") == [
                "c.yaml:2: transport: must be urlsession or curl"
            ])
        #expect(
            ConfigLoaderTests.problems("general_settings:\n  transport: curl\n  ssl_ca_file: relative.pem\n") == [
                "c.yaml:3: ssl_ca_file: must be an absolute path"
            ])
        #expect(
            ConfigLoaderTests.problems("general_settings:\n  transport: curl\n  ssl_ca_file: /no/such/ca.pem\n") == [
                "c.yaml:3: ssl_ca_file: cannot be read (missing file or no permission)"
            ])
    }

    @Test func aCAFileNeedsTheCurlTransport() throws {
        let (withDefault, _) = try ConfigLoaderTests.load("general_settings:\n  ssl_ca_file: /etc/hostname\n")
        #expect(withDefault.transportProblem == nil)  // curl is the default
        let (config, _) = try ConfigLoaderTests.load(
            "general_settings:\n  transport: urlsession\n  ssl_ca_file: /etc/hostname\n")
        #expect(config.transportProblem?.contains("transport: curl") == true)
    }

    @Test func theCommandLineChoosesATransport() throws {
        #expect(try CommandLineOptions.parse(["--transport", "curl"], environment: Environment()).transport == .curl)
        #expect(throws: CommandLineOptions.UsageError.self) {
            try CommandLineOptions.parse(["--transport=nghttp"], environment: Environment())
        }
    }
}
