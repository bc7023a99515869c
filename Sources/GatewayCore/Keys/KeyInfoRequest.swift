import Foundation

/// Who may see which key's settings at `GET /key/info` (LiteLLM's route): a key its
/// own; the master key any, named by `?key_alias=`.
enum KeyInfoRequest {
    static func decide(_ request: GatewayRequest, route: RequestRecord.Route, authenticator: Authenticator, now: Date)
        -> Decision
    {
        guard authenticator.enabled else { return Decision(route: route, action: .refuse(noKeys)) }
        let caller: Caller
        switch authenticator.identify(request.headers, now: now) {
        case .success(let identified): caller = identified
        case .failure(let refusal): return Decision(route: route, action: .refuse(refusal))
        }
        let asked: String?
        switch queryAlias(request.rawQuery) {
        case .failure(let error): return Decision(route: route, caller: caller, action: .refuse(error))
        case .success(let alias): asked = alias
        }
        switch caller {
        case .key(let key):
            guard asked == nil || asked == key.alias else {
                return Decision(route: route, caller: caller, action: .refuse(otherKey))
            }
            return Decision(route: route, caller: caller, action: .describe(key))
        case .masterKey:
            guard let asked else { return Decision(route: route, caller: caller, action: .refuse(aliasNeeded)) }
            guard let key = authenticator.keys.key(alias: asked) else {
                return Decision(route: route, caller: caller, action: .refuse(unknownAlias))
            }
            return Decision(route: route, caller: caller, action: .describe(key))
        case .anonymous:
            return Decision(route: route, action: .refuse(noKeys))
        }
    }

    static let noKeys = GatewayError.notFound("No keys are configured: authentication is off (no master_key).")
    static let otherKey = GatewayError(
        status: 403, message: "A key may only ask about itself: use the master key to ask about another key_alias.",
        type: "auth_error")
    static let aliasNeeded = GatewayError.badRequest("Name the key to describe: /key/info?key_alias=ALIAS.")
    static let unknownAlias = GatewayError.notFound("No key has this key_alias.")
    static let keyInURL = GatewayError.badRequest(
        "Keys do not belong in URLs (access logs keep them): send the key in a header and name others by ?key_alias=.")

    /// The `key_alias` query parameter, form-decoded; a `key` parameter is refused.
    static func queryAlias(_ query: Substring?) -> Result<String?, GatewayError> {
        guard let query, !query.isEmpty else { return .success(nil) }
        var alias: String?
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(parts[0])
            let value = parts.count > 1 ? decode(parts[1]) : ""
            switch name {
            case "key", "api_key", "token": return .failure(keyInURL)
            case "key_alias":
                guard let value, alias == nil else { return .failure(.badRequest("key_alias must be given once, as text.")) }
                alias = value
            default: continue
            }
        }
        return .success(alias)
    }

    /// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte.
    private static func decode(_ text: Substring) -> String? {
        PercentEncoding.decode(text.utf8, plusAsSpace: true).flatMap { String(validating: $0, as: UTF8.self) }
    }
}
