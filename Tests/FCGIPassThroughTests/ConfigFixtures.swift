import Foundation

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

/// Golden config files under `Fixtures/config/`: `NAME.yaml`, and for a config that must
/// be refused, `NAME.expected` with the exact problem lines.
enum ConfigFixtures {
    static let directory = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/config")

    /// The environment every fixture is loaded with.
    static let environment = Environment([
        "COHERE_API_KEY": "co-test-key",
        "LITELLM_MASTER_KEY": "sk-from-env",
        "LANGFUSE_DEV_PUBLIC_KEY": "pk-lf-dev",
        "LANGFUSE_DEV_SK_KEY": "sk-lf-dev",
        "LANGFUSE_SECRET": "sk-lf-secret",
        "BRIA_API_KEY": "bria-key",
        "READ_API_KEY": "read-key",
        "GATEWAY_KEY": "sk-gateway",
        "SEARCH_TOKEN": "search-token",
        "PART_A": "alpha",
        "PART_B": "beta",
        "PROCESS_QUERY_KEY": "query-key",
        "NEWLINE_KEY": "abc\ndef",
        "EMPTY_KEY": "",
        "SPACED_KEY": "key ",
    ])

    static func text(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
    }

    static func load(_ name: String, environment: Environment = environment) throws -> (GatewayConfig, [String]) {
        try ConfigLoader.load(yaml: text(name), file: name, environment: environment)
    }

    /// Every `bad-*.yaml`, sorted.
    static var badConfigs: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasPrefix("bad-") && $0.hasSuffix(".yaml") }.sorted()
    }

    /// The problem lines a `bad-*.yaml` must produce, from its `.expected` file.
    static func expectedProblems(_ name: String) throws -> [String] {
        let expected = String(name.dropLast(".yaml".count)) + ".expected"
        return try text(expected).split(separator: "\n").map(String.init)
    }
}
