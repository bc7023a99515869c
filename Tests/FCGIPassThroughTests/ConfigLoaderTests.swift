import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

/// Decoding rules, on small inline configs.
@Suite struct ConfigLoaderTests {
    static func load(_ yaml: String, _ environment: [String: String] = [:]) throws -> (GatewayConfig, [String]) {
        try ConfigLoader.load(yaml: yaml, file: "c.yaml", environment: Environment(environment))
    }

    /// The problem lines of a config that must be refused.
    static func problems(_ yaml: String, _ environment: [String: String] = [:]) -> [String] {
        let error = #expect(throws: ConfigErrors.self) { try load(yaml, environment) }
        return error?.problems.map(\.description) ?? []
    }

    static func endpoint(_ body: String, _ environment: [String: String] = [:]) throws -> Endpoint? {
        let yaml =
            "general_settings:\n  pass_through_endpoints:\n    - path: /a\n      target: https://a.example.com\n"
            + body.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n")
        return try load(yaml, environment).0.endpoints.first
    }

    @Test func emptyFilesAndFilesWithoutEndpointsAreValid() throws {
        for yaml in [
            "", "# only a comment\n", "general_settings:\n", "general_settings: {}\n", "model_list: []\n",
            "general_settings:\n  master_key: sk-1\n  pass_through_endpoints: []\n",
        ] {
            let (config, _) = try Self.load(yaml)
            #expect(config.endpoints.isEmpty)
        }
    }

    // MARK: master key

    @Test func masterKeyFallsBackToLiteLLMMasterKey() throws {
        #expect(try Self.load("general_settings: {}\n", ["LITELLM_MASTER_KEY": "sk-env"]).0.masterKey == "sk-env")
        #expect(
            try Self.load("general_settings:\n  master_key:\n", ["LITELLM_MASTER_KEY": "sk-env"]).0.masterKey
                == "sk-env")
        #expect(try Self.load("", ["LITELLM_MASTER_KEY": "sk-env"]).0.masterKey == "sk-env")
        #expect(
            try Self.load("general_settings:\n  master_key: sk-file\n", ["LITELLM_MASTER_KEY": "sk-env"]).0.masterKey
                == "sk-file")
        #expect(try Self.load("general_settings: {}\n").0.masterKey == nil)
    }

    @Test func masterKeyAsAReference() throws {
        let (config, _) = try Self.load("general_settings:\n  master_key: os.environ/MY_KEY\n", ["MY_KEY": "sk-ref"])
        #expect(config.masterKey == "sk-ref")
    }

    @Test func emptyMasterKeysAreRefused() {
        #expect(
            Self.problems("general_settings: {}\n", ["LITELLM_MASTER_KEY": ""]) == [
                "c.yaml: master_key: LITELLM_MASTER_KEY (used because master_key is not set) is empty"
            ])
        #expect(
            Self.problems("general_settings:\n  master_key: os.environ/MY_KEY\n", ["MY_KEY": ""]) == [
                "c.yaml:2: master_key: environment variable MY_KEY is empty"
            ])
        #expect(Self.problems("general_settings:\n  master_key: ''\n") == ["c.yaml:2: master_key: is empty"])
    }

    @Test func masterKeyMustBeSendableInAHeader() {
        #expect(
            Self.problems("general_settings:\n  master_key: \"sk-\\t1\"\n") == ["c.yaml:2: master_key: contains a tab"])
        #expect(
            Self.problems("general_settings:\n  master_key: sk-é\n") == [
                "c.yaml:2: master_key: contains non-ASCII characters, which clients cannot send in a header"
            ])
        #expect(
            Self.problems("", ["LITELLM_MASTER_KEY": "sk-1\n"]) == [
                "c.yaml: master_key: LITELLM_MASTER_KEY (used because master_key is not set) contains a control character (CR, LF, NUL or similar)"
            ])
        #expect(
            Self.problems("general_settings:\n  master_key: [sk-1]\n") == [
                "c.yaml:2: master_key: must be a string, not a list"
            ])
        #expect(
            Self.problems("general_settings:\n  master_key: true\n") == [
                "c.yaml:2: master_key: must be a string (quote the value)"
            ])
    }

    @Test func noMasterKeyIsANotice() throws {
        let (_, notices) = try Self.load(
            "general_settings:\n  pass_through_endpoints:\n    - {path: /a, target: 'http://a'}\n")
        #expect(
            notices == [
                "c.yaml: no master_key and LITELLM_MASTER_KEY is not set: every endpoint is public, no client key is checked"
            ])
        let (_, quiet) = try Self.load(
            "general_settings:\n  pass_through_endpoints:\n    - {path: /a, target: 'http://a', auth: false}\n")
        #expect(quiet.isEmpty)
    }

    // MARK: environment_variables

    @Test func environmentVariablesOverlayTheEnvironment() throws {
        let yaml = """
            general_settings:
              pass_through_endpoints:
                - path: /a
                  target: os.environ/TARGET
                  headers: {x-key: os.environ/KEY, x-from-process: os.environ/ONLY_IN_PROCESS}
            environment_variables:
              TARGET: https://overlay.example.com
              KEY: os.environ/PROCESS_KEY
              LITELLM_MASTER_KEY: sk-overlay
              PORT: 4000
            """
        let env = [
            "TARGET": "https://process.example.com", "PROCESS_KEY": "pk", "ONLY_IN_PROCESS": "p",
            "LITELLM_MASTER_KEY": "sk-process",
        ]
        let (config, notices) = try Self.load(yaml, env)
        #expect(notices.isEmpty)
        #expect(config.masterKey == "sk-overlay")
        #expect(config.endpoints.first?.target.authority == "overlay.example.com")
        #expect(config.endpoints.first?.headers == HTTPHeaders([("x-key", "pk"), ("x-from-process", "p")]))
    }

    /// Each value is resolved against the process environment, never against another entry.
    @Test func environmentVariablesDoNotSeeEachOther() {
        let yaml = "environment_variables:\n  A: one\n  B: os.environ/A\n"
        #expect(Self.problems(yaml) == ["c.yaml:3: environment_variables.B: environment variable A is not set"])
    }

    // MARK: endpoint keys

    @Test(arguments: [
        ("true", true), ("True", true), ("TRUE", true), ("yes", true), ("Yes", true), ("on", true), ("ON", true),
        ("false", false), ("False", false), ("no", false), ("NO", false), ("off", false), ("Off", false),
        ("\"true\"", true), ("'TRUE'", true), ("\"False\"", false), ("os.environ/FLAG", true),
    ])
    func boolSpellings(_ written: String, _ expected: Bool) throws {
        let endpoint = try Self.endpoint("forward_headers: \(written)\nauth: \(written)", ["FLAG": "True"])
        #expect(endpoint?.forwardHeaders == expected)
        #expect(endpoint?.auth == expected)
    }

    @Test(arguments: ["\"yes\"", "1", "0", "maybe", "'on'", "[true]", "os.environ/NOT_BOOL"])
    func notBools(_ written: String) {
        let yaml =
            "general_settings:\n  pass_through_endpoints:\n    - path: /a\n      target: http://a\n      include_subpath: \(written)\n"
        let lines = Self.problems(yaml, ["NOT_BOOL": "1"])
        #expect(lines.count == 1)
        #expect(
            lines.first?.hasPrefix("c.yaml:5: pass_through_endpoints[0].include_subpath: must be true or false") == true
        )
    }

    @Test func defaultsForAnEndpointWithOnlyPathAndTarget() throws {
        let endpoint = try #require(try Self.endpoint(""))
        #expect(
            endpoint
                == Endpoint(
                    location: "pass_through_endpoints[0]", path: "/a",
                    target: TargetURL(scheme: "https", authority: "a.example.com", path: "", query: nil)))
        #expect(endpoint.methods == ["GET", "POST", "PUT", "DELETE", "PATCH"])
    }

    @Test func nullValuesMeanNotSet() throws {
        let endpoint = try #require(try Self.endpoint("headers:\nmethods:\ntimeout: ~\nauth: null\nid:\n"))
        #expect(endpoint.headers.isEmpty && endpoint.methods == Endpoint.defaultMethods)
        #expect(endpoint.timeout == nil && endpoint.auth && endpoint.id == nil)
    }

    @Test func methodsAreUpperCasedAndEmptyMeansDefault() throws {
        #expect(
            try Self.endpoint("methods: [get, Post, HEAD, options, PATCH, patch]")?.methods == [
                "GET", "POST", "HEAD", "OPTIONS", "PATCH",
            ])
        #expect(try Self.endpoint("methods: []")?.methods == Endpoint.defaultMethods)
        #expect(try Self.endpoint("methods: [QUERY]")?.methods == ["QUERY"])
    }

    @Test func samePathWithDisjointMethodsIsFine() throws {
        let yaml = """
            general_settings:
              pass_through_endpoints:
                - {path: /kb, target: "https://read.example.com", methods: [GET, HEAD]}
                - {path: /kb/, target: "https://write.example.com", methods: [POST]}
                - {path: /kb, target: "https://rest.example.com", methods: [PUT, DELETE, PATCH]}
            """
        let (config, _) = try Self.load(yaml)
        #expect(
            config.endpoints.map(\.target.authority) == ["read.example.com", "write.example.com", "rest.example.com"])
        #expect(Set(config.endpoints.map(\.path)) == ["/kb"])
    }

    @Test func overlappingMethodsAreRefusedNamingBothLocations() {
        let yaml = """
            general_settings:
              pass_through_endpoints:
                - {path: /kb, target: "https://read.example.com"}
                - {path: /kb, target: "https://write.example.com", methods: [post, head, X-CUSTOM]}
                - {path: /kb, target: "https://write.example.com", methods: [HEAD]}
            """
        #expect(
            Self.problems(yaml) == [
                "c.yaml:4: pass_through_endpoints[1].path: same path and method POST as pass_through_endpoints[0] (line 3); give them disjoint methods",
                "c.yaml:5: pass_through_endpoints[2].path: same path and method HEAD as pass_through_endpoints[1] (line 4); give them disjoint methods",
            ])
    }

    /// Custom methods may come from the environment, so only standard names are echoed.
    @Test func overlapMessagesNameStandardMethodsOnly() {
        let yaml = """
            general_settings:
              pass_through_endpoints:
                - {path: /kb, target: "http://a", methods: [GET, POST, PURGE, os.environ/M]}
                - {path: /kb, target: "http://b", methods: [POST, GET, PURGE]}
                - {path: /kb, target: "http://c", methods: [os.environ/M]}
            """
        #expect(
            Self.problems(yaml, ["M": "SECRETISH"]) == [
                "c.yaml:4: pass_through_endpoints[1].path: same path and methods GET, POST and 1 other as pass_through_endpoints[0] (line 3); give them disjoint methods",
                "c.yaml:5: pass_through_endpoints[2].path: same path and an overlapping method as pass_through_endpoints[0] (line 3); give them disjoint methods",
            ])
    }

    @Test func pathsKeepOneFormWithoutTrailingSlash() throws {
        #expect(
            try Self.load("general_settings:\n  pass_through_endpoints:\n    - {path: /, target: 'http://a'}\n").0
                .endpoints.first?.path == "/")
        #expect(
            try Self.load("general_settings:\n  pass_through_endpoints:\n    - {path: /v1/x/, target: 'http://a'}\n").0
                .endpoints.first?.path == "/v1/x")
        #expect(
            try Self.load(
                "general_settings:\n  pass_through_endpoints:\n    - {path: \"/a:b@c;d=e,f!g$h&i'j(k)l*m+n~o\", target: 'http://a'}\n"
            )
            .0.endpoints.first?.path == "/a:b@c;d=e,f!g$h&i'j(k)l*m+n~o")
        #expect(
            try Self.load(
                "general_settings:\n  pass_through_endpoints:\n    - {path: /health, include_subpath: true, target: 'http://a'}\n"
            )
            .0.endpoints.first?.path == "/health")
    }

    @Test func numbersAcceptNumericStrings() throws {
        let endpoint = try Self.endpoint("timeout: \"2.5\"\ncost_per_request: os.environ/COST", ["COST": "0.001"])
        #expect(endpoint?.timeout == 2.5)
        #expect(endpoint?.costPerRequest == 0.001)
        #expect(try Self.load("general_settings:\n  pass_through_request_timeout: 1_200\n").0.defaultTimeout == 1200)
        #expect(
            Self.problems("general_settings:\n  pass_through_request_timeout: 0\n") == [
                "c.yaml:2: pass_through_request_timeout: must be a number greater than 0"
            ])
        #expect(Self.problems("general_settings:\n  pass_through_request_timeout: .inf\n").count == 1)
        #expect(Self.problems("general_settings:\n  pass_through_request_timeout: yes\n").count == 1)
    }

    @Test func maxTempFileSizeTakesBytesWithSuffixes() throws {
        #expect(try Self.load("general_settings: {}\n").0.maxTempFileSize == 1 << 30)
        #expect(try Self.load("general_settings:\n  max_temp_file_size:\n").0.maxTempFileSize == 1 << 30)
        for (written, bytes) in [
            ("0", 0), ("65536", 65536), ("512k", 512 << 10), ("64M", 64 << 20), ("1g", 1 << 30), ("'2G'", 2 << 30),
            ("\"0\"", 0), ("os.environ/SPOOL", 8 << 20),
        ] {
            let (config, notices) = try Self.load(
                "general_settings:\n  max_temp_file_size: \(written)\n", ["SPOOL": "8m"])
            #expect(config.maxTempFileSize == bytes, "\(written)")
            #expect(notices.isEmpty, "\(written)")
        }
    }

    @Test func maxTempFileSizeRefusesWhatIsNotASize() {
        for written in ["-1", "1.5g", "lots", "1t", "1 g", "yes", "1e9", "99999999999g", "[1]", "{a: 1}", "''"] {
            #expect(
                Self.problems("general_settings:\n  max_temp_file_size: \(written)\n") == [
                    "c.yaml:2: max_temp_file_size: must be a size in bytes, such as 0, 65536, 512k, 64m or 1g"
                ], "\(written)")
        }
        #expect(
            Self.problems("general_settings:\n  max_temp_file_size: os.environ/NOPE\n") == [
                "c.yaml:2: max_temp_file_size: environment variable NOPE is not set"
            ])
    }

    // MARK: headers

    @Test func headerValuesTakeTheTextOfNumbersAndBools() throws {
        let endpoint = try Self.endpoint("headers: {X-A: 1.50, X-B: yes, X-C: '', X-D: \"a\\tb\"}")
        #expect(endpoint?.headers == HTTPHeaders([("X-A", "1.50"), ("X-B", "yes"), ("X-C", ""), ("X-D", "a\tb")]))
    }

    @Test func userAPIKeyHeaderIsTakenOutOfTheHeaders() throws {
        let endpoint = try Self.endpoint("headers:\n  litellm_user_api_key: X-My-Key\n  accept: application/json")
        #expect(endpoint?.userKeyHeader == "x-my-key")
        #expect(endpoint?.headers == HTTPHeaders([("accept", "application/json")]))
    }

    @Test func langfusePairBecomesBasicAuthorization() throws {
        let endpoint = try Self.endpoint(
            "headers:\n  LANGFUSE_PUBLIC_KEY: os.environ/PUB\n  x-other: 1\n  langfuse_secret_key: os.environ/SEC",
            ["PUB": "pk-lf-123", "SEC": "sk-lf-456"])
        // base64("pk-lf-123:sk-lf-456")
        #expect(
            endpoint?.headers
                == HTTPHeaders([("x-other", "1"), ("Authorization", "Basic cGstbGYtMTIzOnNrLWxmLTQ1Ng==")]))
    }

    @Test func langfuseHalfPairIsRefused() {
        let yaml =
            "general_settings:\n  pass_through_endpoints:\n    - path: /a\n      target: http://a\n      headers:\n        LANGFUSE_SECRET_KEY: s\n"
        #expect(
            Self.problems(yaml) == [
                "c.yaml:6: pass_through_endpoints[0].headers.LANGFUSE_SECRET_KEY: LANGFUSE_SECRET_KEY needs LANGFUSE_PUBLIC_KEY too (the pair becomes Authorization: Basic)"
            ])
    }

    @Test func headerValueLengthIsBounded() throws {
        let long = String(repeating: "k", count: 8193)
        let yaml =
            "general_settings:\n  pass_through_endpoints:\n    - path: /a\n      target: http://a\n      headers: {x-key: os.environ/LONG}\n"
        #expect(
            Self.problems(yaml, ["LONG": long]) == [
                "c.yaml:5: pass_through_endpoints[0].headers.x-key: is longer than 8192 bytes (after os.environ/LONG)"
            ])
        #expect(try Self.load(yaml, ["LONG": String(long.dropFirst())]).0.endpoints.count == 1)
    }

    @Test func keyHeaderNameIsLowerCased() throws {
        #expect(
            try Self.load("general_settings:\n  litellm_key_header_name: X-LiteLLM-Key\n").0.keyHeaderName
                == "x-litellm-key")
    }

    // MARK: notices

    @Test func ignoredSectionsAndKeysAreListedOnceWithSuggestions() throws {
        let yaml = """
            model_list:
              - model_name: m
                litellm_params: {api_key: os.environ/UNSET_EVERYWHERE, nested: {deep: os.environ/ALSO_UNSET}}
            general_setting:
              master_key: sk-wrong-section
            litellm_settings: {cache: true}
            general_settings:
              master_key: sk-1
              alerting: [slack]
              database_url: os.environ/UNSET_DB
              pass_through_endpoint: []
              pass_through_endpoints:
                - path: /a
                  target: http://a
                  header: {x: y}
                  Timeout: 5
                  totally_new: 1
            """
        let (config, notices) = try Self.load(yaml)
        #expect(config.masterKey == "sk-1")
        #expect(
            notices == [
                "c.yaml: ignored sections this gateway does not use: model_list, general_setting (did you mean general_settings?), litellm_settings",
                "c.yaml:7: general_settings: ignored keys this gateway does not use: alerting, pass_through_endpoint (did you mean pass_through_endpoints?)",
                "c.yaml:10: database_url: environment variable UNSET_DB is not set: database_url is left unset",
                "c.yaml:15: pass_through_endpoints[0].header: unknown key, ignored (did you mean headers?)",
                "c.yaml:16: pass_through_endpoints[0].Timeout: unknown key, ignored (did you mean timeout?)",
                "c.yaml:17: pass_through_endpoints[0].totally_new: unknown key, ignored",
            ])
    }

    /// A quoted key can hold a newline; echoed raw it would forge a second log line.
    @Test func keysInMessagesAreEscapedAndShortened() throws {
        let long = String(repeating: "k", count: 100)
        let yaml = "\"evil\\nsection\": 1\ngeneral_settings:\n  \(long): 1\n"
        let (_, notices) = try Self.load(yaml)
        #expect(
            notices == [
                "c.yaml: ignored sections this gateway does not use: evil\\nsection",
                "c.yaml:2: general_settings: ignored keys this gateway does not use: \(String(repeating: "k", count: 64))...",
            ])
        #expect(notices.allSatisfy { !$0.contains("\n") })
    }

    @Test func suggestionsStayClose() {
        #expect(KeySuggestion.closest(to: "include_subpaths", among: ConfigDecoder.endpointKeys) == "include_subpath")
        #expect(KeySuggestion.closest(to: "forward_header", among: ConfigDecoder.endpointKeys) == "forward_headers")
        #expect(KeySuggestion.closest(to: "targte", among: ConfigDecoder.endpointKeys) == "target")
        #expect(KeySuggestion.closest(to: "model", among: ConfigDecoder.endpointKeys) == nil)
        #expect(KeySuggestion.closest(to: "x", among: ConfigDecoder.endpointKeys) == nil)
    }

    // MARK: anchors in configs

    @Test func anchorsShareHeadersBetweenEndpoints() throws {
        let yaml = """
            x-common: &common
              target: https://api.cohere.com
              headers: {Authorization: "bearer os.environ/KEY"}
            general_settings:
              pass_through_endpoints:
                - <<: *common
                  path: /v1/rerank
                - <<: *common
                  path: /v1/embed
                  target: https://other.example.com
            """
        let (config, _) = try Self.load(yaml, ["KEY": "k"])
        #expect(config.endpoints.map(\.target.authority) == ["api.cohere.com", "other.example.com"])
        #expect(config.endpoints.allSatisfy { $0.headers["authorization"] == "bearer k" })
    }

    @Test func problemsAreInLineOrderAndAllReported() {
        let yaml = """
            general_settings:
              pass_through_endpoints:
                - {path: /b, target: os.environ/T2}
                - {path: /a, target: os.environ/T1}
              master_key: os.environ/MK
            """
        #expect(
            Self.problems(yaml) == [
                "c.yaml:3: pass_through_endpoints[0].target: environment variable T2 is not set",
                "c.yaml:4: pass_through_endpoints[1].target: environment variable T1 is not set",
                "c.yaml:5: master_key: environment variable MK is not set",
            ])
    }
}
