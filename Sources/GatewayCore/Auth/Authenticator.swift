import GatewayCrypto

/// Decides whether a request may use an endpoint, and who is calling (docs/BEHAVIOUR.md §4).
///
/// Built once per config. Authentication applies when a master key exists and the
/// endpoint's `auth` is true; the key's location follows `KeyExtractor`.
public struct Authenticator: Sendable {
    public let masterKey: String?
    public let keyHeaderName: String?
    /// SHA-256 of the master key, computed once.
    private let masterDigest: [UInt8]?

    public init(masterKey: String?, keyHeaderName: String?) {
        self.masterKey = masterKey
        self.keyHeaderName = keyHeaderName
        self.masterDigest = masterKey.map { SHA256.hash($0.utf8) }
    }

    public init(config: GatewayConfig) {
        self.init(masterKey: config.masterKey, keyHeaderName: config.keyHeaderName)
    }

    /// LiteLLM's texts, kept byte for byte because clients match on them.
    public static let missingKeyMessage = "Authentication Error, No api key passed in."
    public static let malformedKeyMessage =
        "Authentication Error, Malformed API Key passed in. Ensure Key has `Bearer ` prefix."
    public static let invalidKeyMessage = "Authentication Error, Invalid proxy server token passed."
    public static let ambiguousKeyMessage = "Ambiguous credentials: a header that carries the API key was sent more than once."

    /// Who is calling `endpoint`, or the refusal to answer. Runs before any upstream
    /// connection and before the body is read. A key header sent more than once gives
    /// a 400; every other refusal is a 401. No message contains the key.
    public func authenticate(_ headers: HTTPHeaders, for endpoint: Endpoint) -> Result<Caller, GatewayError> {
        guard endpoint.auth, let masterDigest else { return .success(.anonymous) }
        let extractor = KeyExtractor(keyHeaderName: keyHeaderName, userKeyHeader: endpoint.userKeyHeader)
        switch extractor.extract(from: headers) {
        case .ambiguous: return .failure(.badRequest(Self.ambiguousKeyMessage))
        case .missing: return .failure(Self.unauthorized(Self.missingKeyMessage))
        case .malformed: return .failure(Self.unauthorized(Self.malformedKeyMessage))
        case .key(let key):
            // Both sides are 32-byte digests: neither the master key's length nor a
            // matching prefix shows in the timing.
            return ConstantTime.equals(SHA256.hash(key.utf8), masterDigest)
                ? .success(.masterKey) : .failure(Self.unauthorized(Self.invalidKeyMessage))
        }
    }

    /// RFC 9110 §11.6.1: a 401 must carry `WWW-Authenticate`.
    private static func unauthorized(_ message: String) -> GatewayError {
        GatewayError(status: 401, message: message, headers: HTTPHeaders([("WWW-Authenticate", "Bearer")]))
    }
}
