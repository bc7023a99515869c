import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

/// No problem or notice may contain a secret or any value that came from the
/// environment: logs and `-t` output are read by people who must not see keys.
@Suite struct ConfigSecretHygieneTests {
    /// Distinctive values, each a secret that could end up in a message by mistake.
    static let secrets: [String: String] = [
        "MASTER": "CANARY-master-1f9e",
        "MASTER_SPACED": " CANARY-spaced-2a8d ",
        "KEY_CRLF": "CANARY-crlf-3b7c\r\nX-Evil: 1",
        "KEY_LF": "CANARY-lf-4c6b\n",
        "KEY_NUL": "CANARY-nul-5d5a\u{0}",
        "KEY_UNICODE": "CANARY-unicode-6e49-é",
        "KEY_LONG": "CANARY-long-7f38" + String(repeating: "x", count: 9000),
        "KEY_EMPTY": "",
        "BAD_TARGET": "CANARY-target-8a27",
        "BAD_PATH": "CANARY-path-9b16",
        "BAD_METHOD": "CANARY METHOD 0c05",
        "CUSTOM_METHOD": "CANARYMETHOD1d94",
        "BAD_BOOL": "CANARY-bool-2e83",
        "BAD_NUMBER": "CANARY-number-3f72",
        "PUBLIC_WITH_COLON": "CANARY:public-4a61",
        "HEADER_NAME": "CANARY header 5b50",
        "LITELLM_MASTER_KEY": "CANARY-fallback-6c4f ",
    ]

    /// Every secret starts with this marker, so no message may contain it at all.
    static let marker = "CANARY"
    /// Parts of secrets that do not follow the marker directly.
    static let tails = ["X-Evil", "public-4a61", "header 5b50", "METHOD 0c05", "pub:1b9a", "-é"]

    static let configs: [String] = [
        """
        general_settings:
          master_key: os.environ/MASTER_SPACED
          litellm_key_header_name: os.environ/HEADER_NAME
          pass_through_request_timeout: os.environ/BAD_NUMBER
          pass_through_endpoints:
            - path: os.environ/BAD_PATH
              target: os.environ/BAD_TARGET
              methods: [os.environ/BAD_METHOD]
              forward_headers: os.environ/BAD_BOOL
              timeout: os.environ/BAD_NUMBER
              id: os.environ/KEY_CRLF
              headers:
                Authorization: "Bearer os.environ/KEY_CRLF"
                x-lf: os.environ/KEY_LF
                x-nul: os.environ/KEY_NUL
                x-unicode: os.environ/KEY_UNICODE
                x-long: os.environ/KEY_LONG
                x-empty: os.environ/KEY_EMPTY
                litellm_user_api_key: os.environ/HEADER_NAME
            - path: /langfuse
              target: https://cloud.langfuse.com
              default_query_params: {k: os.environ/KEY_LF}
              headers:
                LANGFUSE_PUBLIC_KEY: os.environ/PUBLIC_WITH_COLON
                LANGFUSE_SECRET_KEY: os.environ/MASTER
            - {path: /same, target: "https://a.example.com", methods: [os.environ/CUSTOM_METHOD]}
            - {path: /same, target: "https://b.example.com", methods: [os.environ/CUSTOM_METHOD]}
        """,
        // The fallback key is checked too.
        "general_settings: {}\n",
        // Literal secrets written into the file.
        """
        general_settings:
          master_key: "  CANARY-literal-master-7d3e  "
          pass_through_endpoints:
            - path: /a
              target: "https://CANARY-literal-user-8e2d:pw@a.example.com"
              headers:
                Authorization: "Bearer CANARY-literal-crlf-9f1c\\r\\n"
                x-key: " CANARY-literal-space-0a0b"
                LANGFUSE_PUBLIC_KEY: "CANARY-literal-pub:1b9a"
                LANGFUSE_SECRET_KEY: "CANARY-literal-sec-2c89"
        """,
        // A valid config: its notices must not show the values it resolved.
        """
        environment_variables: {OVERLAY: CANARY-overlay-3d78}
        model_list: [{model_name: m, litellm_params: {api_key: CANARY-model-4e67}}]
        general_settings:
          master_key: os.environ/MASTER
          database_url: CANARY-db-5f56
          pass_through_endpoints:
            - path: /a
              target: https://a.example.com
              headers: {x-key: os.environ/OVERLAY}
              include_subpaths: os.environ/MASTER
              guardrails: {CANARY-guard-6a45: null}
        """,
        // Client keys: refused ones, the same key twice, one equal to the master key, and
        // plain-text ones whose notice names only the alias.
        """
        general_settings:
          master_key: os.environ/MASTER
          keys:
            - {key_alias: a, key: os.environ/KEY_CRLF}
            - {key_alias: b, key: os.environ/KEY_UNICODE}
            - {key_alias: c, key: os.environ/MASTER_SPACED}
            - {key_alias: d, key: os.environ/KEY_EMPTY}
            - {key_alias: e, key: os.environ/MASTER}
            - {key_alias: f, key: CANARY-plain-7b34}
            - {key_alias: g, key: CANARY-plain-7b34}
            - {key_alias: h, key: "CANARY-plain-tab-8c23\t"}
            - {key_alias: os.environ/BAD_PATH, key_hash: os.environ/BAD_TARGET}
        """,
        """
        general_settings:
          master_key: os.environ/MASTER
          keys:
            - {key_alias: plain, key: CANARY-plain-9d12}
        """,
    ]

    @Test(arguments: configs.indices)
    func messagesNeverContainSecrets(_ index: Int) {
        var lines: [String] = []
        do {
            let (_, notices) = try ConfigLoader.load(
                yaml: Self.configs[index], file: "c.yaml", environment: Environment(Self.secrets))
            lines = notices
        } catch {
            lines = error.problems.map(\.description)
        }
        #expect(!lines.isEmpty)
        for line in lines {
            #expect(!line.contains(Self.marker), "\(line)")
            for tail in Self.tails { #expect(!line.contains(tail), "\(line)") }
        }
    }

    /// Every secret-bearing problem above is reported, naming the variable.
    @Test func everyVariableIsNamed() {
        let error = #expect(throws: ConfigErrors.self) {
            try ConfigLoader.load(yaml: Self.configs[0], file: "c.yaml", environment: Environment(Self.secrets))
        }
        let text = error?.problems.map(\.description).joined(separator: "\n") ?? ""
        for name in ["KEY_CRLF", "KEY_LF", "KEY_NUL", "KEY_UNICODE", "KEY_LONG", "KEY_EMPTY"] {
            #expect(text.contains(name), "\(name)")
        }
        #expect(error?.problems.count ?? 0 >= 17)
    }
}
