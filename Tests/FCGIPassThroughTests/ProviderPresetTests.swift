import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

/// `provider:` presets, `usage:` and the per-endpoint token prices.
@Suite struct ProviderPresetTests {
    static let keys = [
        "OPENAI_API_KEY": "sk-openai", "ANTHROPIC_API_KEY": "sk-ant", "GEMINI_API_KEY": "gm-key",
        "COHERE_API_KEY": "co-key", "MISTRAL_API_KEY": "mi-key", "GROQ_API_KEY": "gq-key",
        "DEEPSEEK_API_KEY": "ds-key", "OPENROUTER_API_KEY": "or-key", "OTHER_KEY": "other",
    ]

    /// One endpoint at `/p` with `body` under it (indented by the caller's lines).
    static func endpoint(_ body: String, _ environment: [String: String] = keys) throws -> Endpoint? {
        try ConfigLoaderTests.load(yaml(body), environment).0.endpoints.first
    }

    static func yaml(_ body: String) -> String {
        "general_settings:\n  pass_through_endpoints:\n    - path: /p\n"
            + body.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n") + "\n"
    }

    static func problems(_ body: String, _ environment: [String: String] = keys) -> [String] {
        ConfigLoaderTests.problems(yaml(body), environment)
    }

    /// One provider's preset as the docs state it.
    struct Preset: Sendable, CustomTestStringConvertible {
        var name: String
        var target: String
        var headers: [(String, String)]
        var usage: UsageFormat
        var testDescription: String { name }
    }

    static let presets = [
        Preset(name: "openai", target: "https://api.openai.com", headers: [("Authorization", "Bearer sk-openai")], usage: .openai),
        Preset(
            name: "anthropic", target: "https://api.anthropic.com",
            headers: [("x-api-key", "sk-ant"), ("anthropic-version", "2023-06-01")], usage: .anthropic),
        Preset(
            name: "gemini", target: "https://generativelanguage.googleapis.com", headers: [("x-goog-api-key", "gm-key")],
            usage: .gemini),
        Preset(name: "cohere", target: "https://api.cohere.com", headers: [("Authorization", "Bearer co-key")], usage: .cohere),
        Preset(name: "mistral", target: "https://api.mistral.ai", headers: [("Authorization", "Bearer mi-key")], usage: .openai),
        Preset(
            name: "groq", target: "https://api.groq.com/openai", headers: [("Authorization", "Bearer gq-key")], usage: .openai),
        Preset(
            name: "deepseek", target: "https://api.deepseek.com", headers: [("Authorization", "Bearer ds-key")], usage: .openai),
        Preset(
            name: "openrouter", target: "https://openrouter.ai/api", headers: [("Authorization", "Bearer or-key")],
            usage: .openai),
    ]

    @Test func everyProviderHasAPresetRow() {
        #expect(Set(Self.presets.map(\.name)) == Set(Provider.allCases.map(\.rawValue)))
    }

    @Test(arguments: presets)
    func aProviderAloneIsACompleteEndpoint(_ preset: Preset) throws {
        let name = preset.name
        let endpoint = try #require(try Self.endpoint("provider: \(name)"))
        #expect(endpoint.provider?.rawValue == name)
        #expect(endpoint.target.description == preset.target)
        #expect(endpoint.includeSubpath)
        #expect(endpoint.headers == HTTPHeaders(preset.headers))
        #expect(endpoint.usageFormat == preset.usage)
        #expect(!endpoint.forwardHeaders)
        // The key sent upstream is a secret, masked in what comes back.
        let (config, _) = try ConfigLoaderTests.load(Self.yaml("provider: \(name)"), Self.keys)
        #expect(config.secrets == [Self.keys[endpoint.provider!.apiKeyVariable]!])
    }

    @Test func whatTheEndpointWritesOverridesThePreset() throws {
        let endpoint = try #require(
            try Self.endpoint(
                """
                provider: anthropic
                target: https://eu.example.com/anthropic
                include_subpath: false
                usage: none
                headers:
                  X-API-Key: os.environ/OTHER_KEY
                  anthropic-beta: prompt-caching-2024-07-31
                """))
        #expect(endpoint.target.description == "https://eu.example.com/anthropic")
        #expect(!endpoint.includeSubpath)
        #expect(endpoint.usageFormat == UsageFormat.none)
        #expect(endpoint.provider == .anthropic)
        // One header replaced (names ignore case), the preset's other one kept.
        #expect(
            endpoint.headers
                == HTTPHeaders([
                    ("anthropic-version", "2023-06-01"), ("X-API-Key", "other"),
                    ("anthropic-beta", "prompt-caching-2024-07-31"),
                ]))
    }

    @Test func aWrittenAuthorizationNeedsNoKeyVariable() throws {
        let endpoint = try #require(try Self.endpoint("provider: openai\nheaders:\n  authorization: Bearer mine", [:]))
        #expect(endpoint.headers == HTTPHeaders([("authorization", "Bearer mine")]))
        #expect(endpoint.target.description == "https://api.openai.com")
    }

    @Test func aMissingKeyVariableIsAProblem() {
        #expect(
            Self.problems("provider: anthropic", [:]) == [
                "c.yaml:4: pass_through_endpoints[0].provider: environment variable ANTHROPIC_API_KEY is not set (the anthropic preset sends it as x-api-key; set it or write headers.x-api-key)"
            ])
        #expect(
            Self.problems("provider: groq", ["GROQ_API_KEY": ""]) == [
                "c.yaml:4: pass_through_endpoints[0].provider: environment variable GROQ_API_KEY is empty (the groq preset sends it as Authorization; set it or write headers.Authorization)"
            ])
    }

    @Test func unknownProvidersAndFormats() {
        #expect(
            Self.problems("provider: antropic") == [
                "c.yaml:4: pass_through_endpoints[0].provider: must be openai, anthropic, gemini, cohere, mistral, groq, deepseek or openrouter (did you mean anthropic?)"
            ])
        #expect(
            Self.problems("target: https://a.example.com\nusage: opeanai") == [
                "c.yaml:5: pass_through_endpoints[0].usage: must be openai, anthropic, gemini, cohere or none (did you mean openai?)"
            ])
        // Without a provider, the target is still required.
        #expect(Self.problems("usage: openai") == ["c.yaml:3: pass_through_endpoints[0].target: is required"])
    }

    @Test func usageAndTokenPricesOnAHandWrittenEndpoint() throws {
        let endpoint = try #require(
            try Self.endpoint(
                "target: https://llm.example.com\nusage: anthropic\ninput_cost_per_token: 3e-06\noutput_cost_per_token: \"0.000015\""
            ))
        #expect(endpoint.provider == nil)
        #expect(endpoint.usageFormat == .anthropic)
        #expect(endpoint.inputCostPerToken == 3e-06)
        #expect(endpoint.outputCostPerToken == 0.000015)
        #expect(!endpoint.includeSubpath)
        let plain = try #require(try Self.endpoint("target: https://llm.example.com"))
        #expect(plain.usageFormat == UsageFormat.none)
        #expect(plain.inputCostPerToken == nil)
        #expect(
            Self.problems("provider: openai\ninput_cost_per_token: -1") == [
                "c.yaml:5: pass_through_endpoints[0].input_cost_per_token: must be a number, 0 or more"
            ])
    }

    // MARK: general_settings.model_cost_map and usage_db

    static func general(_ lines: String) -> String {
        "general_settings:\n" + lines.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
    }

    static func temporaryFile(_ contents: Data) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("prices-\(UUID().uuidString).json")
            .path
        #expect(FileManager.default.createFile(atPath: path, contents: contents))
        return path
    }

    @Test func modelCostMapIsReadAtLoad() throws {
        let (config, notices) = try ConfigLoaderTests.load(Self.general("model_cost_map: \(PriceBookTests.mapPath)"))
        #expect(notices.isEmpty)
        #expect(config.modelCostMap == PriceBookTests.mapPath)
        #expect(config.prices == (try PriceBookTests.book()))
        #expect(config.prices.models["gpt-4o"]?.inputCostPerToken == 2.5e-06)
        #expect(try ConfigLoaderTests.load("general_settings: {}\n").0.prices.isEmpty)
    }

    @Test func unusableModelCostMaps() throws {
        #expect(
            ConfigLoaderTests.problems(Self.general("model_cost_map: /no/such/prices.json")) == [
                "c.yaml:2: model_cost_map: cannot be read (missing file or no permission)"
            ])
        #expect(
            ConfigLoaderTests.problems(Self.general("model_cost_map: prices.json")) == [
                "c.yaml:2: model_cost_map: must be an absolute path"
            ])
        let bad = try Self.temporaryFile(Data("{\"gpt-4o\": {".utf8))
        defer { try? FileManager.default.removeItem(atPath: bad) }
        #expect(
            ConfigLoaderTests.problems(Self.general("model_cost_map: \(bad)")) == [
                "c.yaml:2: model_cost_map: is not valid JSON"
            ])
        let list = try Self.temporaryFile(Data("[]".utf8))
        defer { try? FileManager.default.removeItem(atPath: list) }
        #expect(
            ConfigLoaderTests.problems(Self.general("model_cost_map: \(list)")) == [
                "c.yaml:2: model_cost_map: must be a JSON object of model names (LiteLLM's model_prices_and_context_window.json)"
            ])
    }

    @Test func modelCostMapsOver64MiBAreRefused() throws {
        let big = try Self.temporaryFile(Data())
        defer { try? FileManager.default.removeItem(atPath: big) }
        let handle = try #require(FileHandle(forWritingAtPath: big))
        try handle.truncate(atOffset: UInt64(PriceBook.maxFileBytes + 1))
        try handle.close()
        #expect(
            ConfigLoaderTests.problems(Self.general("model_cost_map: \(big)")) == [
                "c.yaml:2: model_cost_map: is larger than 64 MiB"
            ])
    }

    @Test func usageDBIsAnAbsolutePath() throws {
        #expect(
            try ConfigLoaderTests.load(Self.general("usage_db: /var/lib/gateway/usage.db")).0.usageDB
                == "/var/lib/gateway/usage.db")
        #expect(try ConfigLoaderTests.load("general_settings: {}\n").0.usageDB == nil)
        #expect(
            ConfigLoaderTests.problems(Self.general("usage_db: usage.db")) == [
                "c.yaml:2: usage_db: must be an absolute path"
            ])
    }
}
