import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

@Suite struct CommandLineOptionsTests {
    @Test func parsesEveryFlag() throws {
        let options = try CommandLineOptions.parse(
            [
                "--config", "/etc/c.yaml", "--socket", "unix:/run/g.sock", "--threads", "8", "--max-body-size=2m",
                "--drain-timeout", "5", "--log-level", "debug", "--log-format", "json", "-t", "--socket-mode", "0660",
            ],
            environment: Environment())
        #expect(options.configPath == "/etc/c.yaml")
        #expect(options.socket == .unix(path: "/run/g.sock"))
        #expect(options.threads == 8)
        #expect(options.maxBodyBytes == 2 << 20)
        #expect(options.drainTimeout == 5)
        #expect(options.logLevel == .debug)
        #expect(options.logFormat == .json)
        #expect(options.testConfigOnly)
        #expect(options.socketMode == 0o660)
    }

    @Test func aSupervisorPassesItsWorkersNeitherItsOwnFlagsNorInternalOnes() throws {
        let supervisor = try CommandLineOptions.parse(
            [
                "--config", "c.yaml", "--socket=unix:/s", "--socket-mode", "0660", "--workers", "2", "--threads", "4",
                "--max-body-size", "1k", "--drain-timeout", "2.5", "--max-requests", "9", "--transport", "curl",
                "--log-level", "debug", "--log-format", "json",
            ], environment: Environment())
        let arguments = supervisor.workerArguments(slot: 1)
        #expect(!arguments.contains("--socket") && !arguments.contains("--workers") && !arguments.contains("--socket-mode"))
        let worker = try CommandLineOptions.parse(arguments, environment: Environment())
        var expected = supervisor
        expected.socket = .inherited
        expected.socketMode = CommandLineOptions().socketMode
        expected.workers = 1
        expected.workerSlot = 1
        expected.workerTakesQueue = true  // the supervisor created the socket
        #expect(worker == expected)
        var inherited = supervisor
        inherited.socket = .inherited
        #expect(try !CommandLineOptions.parse(inherited.workerArguments(slot: 0), environment: Environment()).workerTakesQueue)
    }

    @Test func optionsRenderedAsArgumentsParseBackToThemselves() throws {
        var options = CommandLineOptions()
        options.socket = .tcp(host: "::1", port: 9000)
        options.testConfigOnly = true
        #expect(try CommandLineOptions.parse(options.arguments, environment: Environment()) == options)
        options.socket = .unix(path: "/run/x.sock")
        #expect(try CommandLineOptions.parse(options.arguments, environment: Environment()) == options)
    }

    @Test func configPathFallsBackToTheEnvironment() throws {
        #expect(try CommandLineOptions.parse([], environment: Environment(["CONFIG_FILE_PATH": "/x.yaml"])).configPath == "/x.yaml")
        #expect(try CommandLineOptions.parse([], environment: Environment()).configPath == "config.yaml")
    }

    @Test(arguments: [
        (["--threads", "0"], "--threads"), (["--socket", "http://x"], "--socket"), (["--bogus"], "--bogus"),
        (["--config"], "--config"), (["--log-level", "loud"], "--log-level"), (["--max-body-size", "lots"], "--max-body-size"),
    ])
    func usageErrorsNameTheFlag(arguments: [String], flag: String) {
        #expect {
            try CommandLineOptions.parse(arguments, environment: Environment())
        } throws: { error in
            (error as? CommandLineOptions.UsageError)?.description.contains(flag) == true
        }
    }

    @Test func socketAddresses() {
        #expect(ListenSocket.Address(parsing: "tcp:127.0.0.1:9000") == .tcp(host: "127.0.0.1", port: 9000))
        #expect(ListenSocket.Address(parsing: "tcp:[::1]:9000") == .tcp(host: "::1", port: 9000))
        #expect(ListenSocket.Address(parsing: "tcp:host:0") == nil)
        #expect(ListenSocket.Address(parsing: "unix:relative.sock") == nil)
        #expect(ListenSocket.Address(parsing: "unix:/" + String(repeating: "a", count: 200)) == nil)
    }
}
