import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

/// Configs that must load, compared field by field with what they mean.
@Suite struct ConfigGoldenFixtureTests {
    @Test func seedConfigFromTheSpec() throws {
        let (config, notices) = try ConfigFixtures.load("seed.yaml")
        #expect(notices.isEmpty)
        #expect(config.masterKey == "sk-1234")
        #expect(config.defaultTimeout == 600)
        #expect(config.keyHeaderName == nil)
        #expect(
            config.endpoints == [
                Endpoint(
                    location: "pass_through_endpoints[0]",
                    path: "/v1/rerank",
                    target: TargetURL(scheme: "https", authority: "api.cohere.com", path: "/v1/rerank", query: nil),
                    headers: HTTPHeaders([
                        ("Authorization", "bearer co-test-key"),
                        ("content-type", "application/json"),
                        ("accept", "application/json"),
                    ]))
            ])
    }

    /// A LiteLLM config as deployed: its model_list references variables this gateway
    /// never needs, and they are unset here.
    @Test func realWorldLiteLLMConfig() throws {
        let (config, notices) = try ConfigFixtures.load("litellm-real-world.yaml")
        #expect(
            notices == [
                "litellm-real-world.yaml: ignored sections this gateway does not use: model_list, litellm_settings, router_settings",
                "litellm-real-world.yaml:41: general_settings: ignored keys this gateway does not use: alerting, proxy_batch_write_at",
                // LiteLLM configs name DATABASE_URL whether or not it is set: unset means SQLite.
                "litellm-real-world.yaml:43: database_url: environment variable DATABASE_URL is not set: database_url is left unset",
            ])
        #expect(config.masterKey == "sk-from-env")
        #expect(config.defaultTimeout == 120)
        #expect(
            config.endpoints.map(\.path) == ["/v1/rerank", "/api/public/ingestion", "/bria", "/azure/kb", "/azure/kb"])
        #expect(config.endpoints.map(\.location) == (0..<5).map { "pass_through_endpoints[\($0)]" })

        let rerank = config.endpoints[0]
        #expect(rerank.forwardHeaders)
        #expect(rerank.headers["authorization"] == "bearer co-test-key")

        // environment_variables supplies LANGFUSE_HOST; the Langfuse pair becomes Basic auth.
        let langfuse = config.endpoints[1]
        #expect(langfuse.target.description == "https://cloud.langfuse.com/api/public/ingestion")
        #expect(langfuse.headers == HTTPHeaders([("Authorization", "Basic cGstbGYtZGV2OnNrLWxmLWRldg==")]))

        let bria = config.endpoints[2]
        #expect(bria.includeSubpath)
        #expect(bria.target.path == "")
        #expect(bria.headers["api_token"] == "bria-key")

        let (read, write) = (config.endpoints[3], config.endpoints[4])
        #expect(read.id == "get-azure-kb" && read.methods == ["GET"] && read.label == "get-azure-kb")
        #expect(write.id == "post-azure-kb" && write.methods == ["POST"] && write.costPerRequest == 0.02)
        #expect(write.headers.isEmpty)
        #expect(config.endpoints.allSatisfy { $0.auth })
    }

    @Test func everyEndpointKey() throws {
        let (config, notices) = try ConfigFixtures.load("every-key.yaml")
        #expect(config.masterKey == "sk-gateway")
        #expect(config.defaultTimeout == 45.5)
        #expect(config.keyHeaderName == "x-gateway-key")
        #expect(config.longestTimeout == 30)
        #expect(
            config.endpoints == [
                Endpoint(
                    location: "pass_through_endpoints[0]",
                    id: "search",
                    path: "/v1/search",
                    target: TargetURL(
                        scheme: "https", authority: "upstream.example.com:8443", path: "/api/search",
                        query: "setLang=en-US"),
                    headers: HTTPHeaders([
                        ("Authorization", "Bearer search-token"),
                        ("x-pair", "alpha:beta"),
                        ("X-Retries", "3"),
                        ("X-Flag", "true"),
                    ]),
                    userKeyHeader: "x-search-key",
                    forwardHeaders: true,
                    includeSubpath: true,
                    methods: ["GET", "POST", "HEAD", "OPTIONS"],
                    auth: false,
                    mergeQueryParams: true,
                    defaultQueryParams: [("api-version", "2024-01-01"), ("key", "query-key"), ("limit", "10")],
                    timeout: 30,
                    costPerRequest: 0)
            ])
        #expect(
            notices == [
                "every-key.yaml:29: pass_through_endpoints[0].guardrails: LiteLLM setting not supported by this gateway, ignored",
                "every-key.yaml:30: pass_through_endpoints[0].custom_auth_parser: LiteLLM setting not supported by this gateway, ignored",
                "every-key.yaml:31: pass_through_endpoints[0].is_from_config: LiteLLM setting not supported by this gateway, ignored",
                "every-key.yaml:32: pass_through_endpoints[0].include_subpaths: unknown key, ignored (did you mean include_subpath?)",
            ])
    }

    @Test func loadsFromAPath() throws {
        let path = ConfigFixtures.directory.appendingPathComponent("seed.yaml").path
        let (config, _) = try ConfigLoader.load(path: path, environment: ConfigFixtures.environment)
        #expect(config.endpoints.first?.headers["authorization"] == "bearer co-test-key")
    }

    @Test func unreadableFileIsOneProblem() {
        let missing = ConfigFixtures.directory.appendingPathComponent("no-such.yaml").path
        let error = #expect(throws: ConfigErrors.self) {
            try ConfigLoader.load(path: missing, environment: Environment())
        }
        #expect(
            error?.problems == [
                ConfigProblem(
                    file: missing, line: nil, location: "", message: "cannot read the config file: no such file")
            ])
        let directory = ConfigFixtures.directory.path
        let isDirectory = #expect(throws: ConfigErrors.self) {
            try ConfigLoader.load(path: directory, environment: Environment())
        }
        #expect(isDirectory?.problems.map(\.message) == ["cannot read the config file: it is a directory"])
    }
}
