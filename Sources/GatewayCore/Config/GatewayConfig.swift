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
    /// `transport`: what carries requests upstream. Fixed for the life of the process.
    public var transport: UpstreamTransport
    /// `ssl_ca_file`: the CA bundle upstream certificates are checked against (curl only).
    public var caFile: String?
    /// `max_temp_file_size`: bytes of a response a client has not taken yet that may go to
    /// a temporary file once the memory buffer is full (urlsession only; 0: none).
    public var maxTempFileSize: Int
    /// `keys`: clients' own keys (docs/KEYS.md), in file order.
    public var keys: [VirtualKey]
    /// `limits_file`: the shared-memory table where every process on the host counts the
    /// keys' requests; `nil`: the default next to the config's identity (docs/KEYS.md).
    public var limitsFile: String?
    /// `model_cost_map`: the LiteLLM price file prices were read from, if any.
    public var modelCostMap: String?
    /// Model prices from `model_cost_map`, read at load; empty without one.
    public var prices: PriceBook
    /// `usage_db`: absolute path of the usage database.
    public var usageDB: String?
    /// `database_url`, `redis_url`, `shared_state_failure` (or LiteLLM's `DATABASE_URL`
    /// and `REDIS_*` variables): state shared by every gateway host.
    public var sharedState: SharedStateSettings
    /// `host_id`: this host's name in the ledger's rows (their `host`); `nil`: the
    /// machine's hostname, resolved where the ledger is opened.
    public var hostID: String?

    public static let defaultRequestTimeout: Double = 600
    /// 1 GiB, nginx's `proxy_max_temp_file_size` default.
    public static let defaultMaxTempFileSize = 1 << 30

    public init(
        masterKey: String? = nil,
        endpoints: [Endpoint] = [],
        defaultTimeout: Double = GatewayConfig.defaultRequestTimeout,
        keyHeaderName: String? = nil,
        secrets: [String] = [],
        transport: UpstreamTransport = .curl,
        caFile: String? = nil,
        maxTempFileSize: Int = GatewayConfig.defaultMaxTempFileSize,
        keys: [VirtualKey] = [],
        limitsFile: String? = nil,
        modelCostMap: String? = nil,
        prices: PriceBook = PriceBook(),
        usageDB: String? = nil,
        sharedState: SharedStateSettings = SharedStateSettings(),
        hostID: String? = nil
    ) {
        self.masterKey = masterKey
        self.endpoints = endpoints
        self.defaultTimeout = defaultTimeout
        self.keyHeaderName = keyHeaderName
        self.secrets = secrets
        self.transport = transport
        self.caFile = caFile
        self.maxTempFileSize = maxTempFileSize
        self.keys = keys
        self.limitsFile = limitsFile
        self.modelCostMap = modelCostMap
        self.prices = prices
        self.usageDB = usageDB
        self.sharedState = sharedState
        self.hostID = hostID
    }

    /// Why this combination cannot run, if it cannot.
    public var transportProblem: String? {
        guard transport == .urlsession, caFile != nil else { return nil }
        return "general_settings.ssl_ca_file needs `transport: curl`: URLSession on Linux has no CA file setting"
    }

    /// The longest idle timeout any endpoint uses (nginx's read timeout must exceed it).
    public var longestTimeout: Double {
        endpoints.map { $0.timeout ?? defaultTimeout }.max() ?? defaultTimeout
    }
}

/// The HTTP client library that carries requests upstream (`general_settings.transport`).
public enum UpstreamTransport: String, Sendable, CaseIterable {
    /// Foundation's URLSession.
    case urlsession
    /// libcurl, driven by the thread that serves the request: the default
    /// (docs/PERFORMANCE.md).
    case curl
}
