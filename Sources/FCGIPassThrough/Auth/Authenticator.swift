/// Decides whether a request may use an endpoint (SPEC §4).
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

    /// Whether `endpoint` requires the master key.
    public func applies(to endpoint: Endpoint) -> Bool {
        masterKey != nil && endpoint.auth
    }

    /// `nil` when allowed; otherwise the 401 to answer. Runs before any upstream connection.
    /// A key header sent more than once gives a 400 instead. No message contains the key.
    public func check(_ headers: HTTPHeaders, for endpoint: Endpoint) -> GatewayError? {
        guard endpoint.auth, let masterDigest else { return nil }
        let extractor = KeyExtractor(keyHeaderName: keyHeaderName, userKeyHeader: endpoint.userKeyHeader)
        switch extractor.extract(from: headers) {
        case .ambiguous: return .badRequest(Self.ambiguousKeyMessage)
        case .missing: return Self.unauthorized(Self.missingKeyMessage)
        case .malformed: return Self.unauthorized(Self.malformedKeyMessage)
        case .key(let key):
            return Self.constantTimeEquals(SHA256.hash(key.utf8), masterDigest)
                ? nil : Self.unauthorized(Self.invalidKeyMessage)
        }
    }

    /// Compares two digests without an early exit. Hashing first makes both sides 32 bytes,
    /// so neither the master key's length nor a matching prefix shows in the timing (the
    /// digest of the presented key depends only on what the client itself sent).
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    /// RFC 9110 §11.6.1: a 401 must carry `WWW-Authenticate`.
    private static func unauthorized(_ message: String) -> GatewayError {
        GatewayError(status: 401, message: message, headers: HTTPHeaders([("WWW-Authenticate", "Bearer")]))
    }
}
