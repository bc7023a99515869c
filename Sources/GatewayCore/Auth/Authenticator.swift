import Foundation

/// Decides who is calling and whether they may use an endpoint (docs/BEHAVIOUR.md §4,
/// docs/KEYS.md).
///
/// Built once per config. Authentication applies when a master key exists and the
/// endpoint's `auth` is true; the key's location follows `KeyExtractor`. A presented
/// key is turned into its SHA-256 first and only the digest is compared or looked up,
/// so neither the keys' lengths nor a shared prefix shows in the timing.
public struct Authenticator: Sendable {
    public let keyHeaderName: String?
    /// SHA-256 of the master key, computed once.
    private let masterDigest: KeyDigest?
    public let keys: KeyTable

    public init(masterKey: String?, keyHeaderName: String?, keys: [VirtualKey] = []) {
        self.keyHeaderName = keyHeaderName
        self.masterDigest = masterKey.map { KeyDigest(of: $0) }
        self.keys = KeyTable(keys)
    }

    public init(config: GatewayConfig) {
        self.init(masterKey: config.masterKey, keyHeaderName: config.keyHeaderName, keys: config.keys)
    }

    /// Whether authentication is on at all (a master key exists).
    public var enabled: Bool { masterDigest != nil }

    /// LiteLLM's texts, kept byte for byte because clients match on them.
    public static let missingKeyMessage = "Authentication Error, No api key passed in."
    public static let malformedKeyMessage =
        "Authentication Error, Malformed API Key passed in. Ensure Key has `Bearer ` prefix."
    public static let invalidKeyMessage = "Authentication Error, Invalid proxy server token passed."
    public static let ambiguousKeyMessage = "Ambiguous credentials: a header that carries the API key was sent more than once."

    /// Who is calling `endpoint`, or the refusal to answer. Runs before any upstream
    /// connection and before the body is read. A key header sent more than once gives
    /// a 400; every other refusal is a 401. No message contains the key.
    public func authenticate(_ headers: HTTPHeaders, for endpoint: Endpoint, now: Date = Date()) -> Result<Caller, GatewayError> {
        guard endpoint.auth else { return .success(.anonymous) }
        return identify(headers, userKeyHeader: endpoint.userKeyHeader, now: now)
    }

    /// Who presented the key in `headers`, wherever the request goes.
    public func identify(_ headers: HTTPHeaders, userKeyHeader: String? = nil, now: Date = Date()) -> Result<Caller, GatewayError> {
        guard let masterDigest else { return .success(.anonymous) }
        let extractor = KeyExtractor(keyHeaderName: keyHeaderName, userKeyHeader: userKeyHeader)
        switch extractor.extract(from: headers) {
        case .ambiguous: return .failure(.badRequest(Self.ambiguousKeyMessage))
        case .missing: return .failure(Self.unauthorized(Self.missingKeyMessage))
        case .malformed: return .failure(Self.unauthorized(Self.malformedKeyMessage))
        case .key(let presented):
            let digest = KeyDigest(of: presented)
            if Self.equalInConstantTime(digest, masterDigest) { return .success(.masterKey) }
            guard let key = keys[digest] else { return .failure(Self.unauthorized(Self.invalidKeyMessage)) }
            if key.blocked { return .failure(KeyRefusal.blocked(key)) }
            if let expires = key.expires, now >= expires { return .failure(KeyRefusal.expired(key, at: expires)) }
            return .success(.key(key))
        }
    }

    /// Whether `caller` may call `path` on an endpoint: the master key and nobody may;
    /// a key only within its `allowed_routes`.
    public func mayCall(_ caller: Caller, path: RequestPath) -> GatewayError? {
        guard let routes = caller.key?.allowedRoutes else { return nil }
        return routes.contains(where: { $0.matches(path.decoded) }) ? nil : KeyRefusal.routeNotAllowed
    }

    /// Whether `caller` may use the models `request` asks for (read from its loaded body).
    public func mayUseModels(_ caller: Caller, path: RequestPath, request: GatewayRequest) -> GatewayError? {
        guard let allowed = caller.key?.models else { return nil }
        switch RequestModels.named(path: path, headers: request.headers, body: request.body) {
        case .failure(let unknown): return KeyRefusal.modelUnknown(unknown.reason)
        case .success(let models):
            for model in models where !allowed.contains(where: { $0.matches(model) }) {
                return KeyRefusal.modelNotAllowed(model)
            }
            return nil
        }
    }

    /// Compares all 32 bytes whatever they hold.
    private static func equalInConstantTime(_ a: KeyDigest, _ b: KeyDigest) -> Bool {
        ((a.words.0 ^ b.words.0) | (a.words.1 ^ b.words.1) | (a.words.2 ^ b.words.2) | (a.words.3 ^ b.words.3)) == 0
    }

    /// RFC 9110 §11.6.1: a 401 must carry `WWW-Authenticate`.
    private static func unauthorized(_ message: String) -> GatewayError {
        GatewayError(status: 401, message: message, headers: KeyRefusal.challenge)
    }
}
