/// One entry of `general_settings.pass_through_endpoints`, validated.
public struct Endpoint: Sendable, Equatable {
    /// Where the entry sits in the file, e.g. `pass_through_endpoints[1]`; used in logs.
    public var location: String
    /// The configured `id`, if any.
    public var id: String?
    /// The route on the gateway; starts with `/`, no trailing slash unless it is `/`.
    public var path: String
    public var target: TargetURL
    /// Headers sent upstream, env references resolved; the Langfuse pair is already
    /// turned into `Authorization: Basic ...` and `litellm_user_api_key` removed.
    public var headers: HTTPHeaders {
        didSet { headerNames = Self.lowercasedNames(headers) }
    }
    /// The configured headers' names, lower-cased, for the client headers they replace:
    /// worked out once, not per request.
    package private(set) var headerNames: HeaderNameSet
    /// `headers.litellm_user_api_key`: a client header (lower-case) carrying the gateway key.
    public var userKeyHeader: String?
    public var forwardHeaders: Bool
    public var includeSubpath: Bool
    /// Upper-case method names.
    public var methods: Set<String>
    /// `auth` as written; `true` when omitted. Effective only when a master key exists.
    public var auth: Bool
    public var mergeQueryParams: Bool
    /// `default_query_params`, in file order.
    public var defaultQueryParams: [(name: String, value: String)]
    /// Idle seconds without upstream progress; `nil` uses the general default.
    public var timeout: Double?
    public var costPerRequest: Double?
    /// `provider`: the preset the endpoint was built from, if any; also the provider its
    /// prices are looked up under.
    public var provider: Provider?
    /// `usage`: how responses report usage; the provider's format, else `.none`.
    public var usageFormat: UsageFormat
    /// `input_cost_per_token`: USD per input token, over the model cost map's price.
    public var inputCostPerToken: Double?
    /// `output_cost_per_token`: USD per output token, over the model cost map's price.
    public var outputCostPerToken: Double?

    public static let defaultMethods: Set<String> = ["GET", "POST", "PUT", "DELETE", "PATCH"]

    public init(
        location: String = "pass_through_endpoints[0]",
        id: String? = nil,
        path: String,
        target: TargetURL,
        headers: HTTPHeaders = HTTPHeaders(),
        userKeyHeader: String? = nil,
        forwardHeaders: Bool = false,
        includeSubpath: Bool = false,
        methods: Set<String> = Endpoint.defaultMethods,
        auth: Bool = true,
        mergeQueryParams: Bool = false,
        defaultQueryParams: [(name: String, value: String)] = [],
        timeout: Double? = nil,
        costPerRequest: Double? = nil,
        provider: Provider? = nil,
        usageFormat: UsageFormat = .none,
        inputCostPerToken: Double? = nil,
        outputCostPerToken: Double? = nil
    ) {
        self.location = location
        self.id = id
        self.path = path
        self.target = target
        self.headers = headers
        self.headerNames = Self.lowercasedNames(headers)
        self.userKeyHeader = userKeyHeader
        self.forwardHeaders = forwardHeaders
        self.includeSubpath = includeSubpath
        self.methods = methods
        self.auth = auth
        self.mergeQueryParams = mergeQueryParams
        self.defaultQueryParams = defaultQueryParams
        self.timeout = timeout
        self.costPerRequest = costPerRequest
        self.provider = provider
        self.usageFormat = usageFormat
        self.inputCostPerToken = inputCostPerToken
        self.outputCostPerToken = outputCostPerToken
    }

    private static func lowercasedNames(_ headers: HTTPHeaders) -> HeaderNameSet { HeaderNameSet(headers.map(\.name.asciiLowercased)) }

    /// The label used in logs and metrics: the `id`, else the path.
    public var label: String { id ?? path }

    public static func == (a: Endpoint, b: Endpoint) -> Bool {
        a.location == b.location && a.id == b.id && a.path == b.path && a.target == b.target
            && a.headers == b.headers && a.userKeyHeader == b.userKeyHeader
            && a.forwardHeaders == b.forwardHeaders && a.includeSubpath == b.includeSubpath
            && a.methods == b.methods && a.auth == b.auth && a.mergeQueryParams == b.mergeQueryParams
            && a.defaultQueryParams.elementsEqual(b.defaultQueryParams, by: { $0 == $1 })
            && a.timeout == b.timeout && a.costPerRequest == b.costPerRequest && a.provider == b.provider
            && a.usageFormat == b.usageFormat && a.inputCostPerToken == b.inputCostPerToken
            && a.outputCostPerToken == b.outputCostPerToken
    }
}
