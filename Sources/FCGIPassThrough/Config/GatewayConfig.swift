/// The validated configuration the gateway serves with.
///
/// Built by `ConfigLoader` from `config.yaml` and the environment; every
/// `os.environ/` reference is already resolved here. Immutable: a reload
/// builds a new value and requests keep the one they started with.
public struct GatewayConfig: Sendable {
    /// The key clients must present. `nil`: no authentication anywhere.
    public var masterKey: String?
    public var endpoints: [Endpoint]
    /// `pass_through_request_timeout`: idle seconds before an upstream fails.
    public var defaultTimeout: Double
    /// `litellm_key_header_name`, lower-cased; when set it is the only place a key is read from.
    public var keyHeaderName: String?
    /// Values from the environment that go upstream as credentials (in endpoint headers,
    /// a target's query or `default_query_params`); masked in whatever comes back.
    public var secrets: [String]

    public static let defaultRequestTimeout: Double = 600

    /// Routes the gateway answers itself, without a key (SPEC §7); no endpoint may use them.
    public static let builtInPaths: Set<String> = [
        "/health/liveliness", "/health/liveness", "/health/readiness", "/metrics",
    ]

    public init(
        masterKey: String? = nil,
        endpoints: [Endpoint] = [],
        defaultTimeout: Double = GatewayConfig.defaultRequestTimeout,
        keyHeaderName: String? = nil,
        secrets: [String] = []
    ) {
        self.masterKey = masterKey
        self.endpoints = endpoints
        self.defaultTimeout = defaultTimeout
        self.keyHeaderName = keyHeaderName
        self.secrets = secrets
    }

    /// The longest idle timeout any endpoint uses (nginx's read timeout must exceed it).
    public var longestTimeout: Double {
        endpoints.map { $0.timeout ?? defaultTimeout }.max() ?? defaultTimeout
    }
}
