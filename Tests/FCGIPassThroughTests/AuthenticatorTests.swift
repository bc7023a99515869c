import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

@Suite struct AuthenticatorTests {
    typealias E = TestSupport
    static let master = "sk-CANARY-0123456789"
    static let auth = Authenticator(masterKey: master, keyHeaderName: nil)
    static let endpoint = E.endpoint("/v1/rerank")

    static let missing = "Authentication Error, No api key passed in."
    static let malformed = "Authentication Error, Malformed API Key passed in. Ensure Key has `Bearer ` prefix."
    static let invalid = "Authentication Error, Invalid proxy server token passed."

    /// `"ok"`, `"401:<message>"` or `"400"`.
    static func outcome(_ authenticator: Authenticator, _ headers: [(String, String)], _ endpoint: Endpoint = endpoint) -> String {
        guard let error = authenticator.refusal(HTTPHeaders(headers), for: endpoint) else { return "ok" }
        return error.status == 401 ? "401:" + error.message : String(error.status)
    }

    @Test(
        arguments: [
            // Each standard header, and the Bearer forms each accepts.
            ([("x-litellm-api-key", master)], "ok"),
            ([("x-litellm-api-key", "Bearer " + master)], "ok"),
            ([("x-litellm-api-key", "bearer " + master)], "ok"),
            ([("authorization", "Bearer " + master)], "ok"),
            ([("authorization", "bearer " + master)], "ok"),
            ([("authorization", "BEARER " + master)], "ok"),
            ([("authorization", "Bearer   " + master + " ")], "ok"),
            ([("Authorization", "Bearer\t" + master)], "ok"),
            ([("api-key", master)], "ok"),
            ([("API-Key", master)], "ok"),
            ([("x-api-key", master)], "ok"),
            ([("x-goog-api-key", master)], "ok"),
            ([("ocp-apim-subscription-key", master)], "ok"),
            // Nothing usable.
            ([], "401:" + missing),
            ([("x-other", master)], "401:" + missing),
            ([("x-api-key", "")], "401:" + missing),
            ([("x-api-key", "  ")], "401:" + missing),
            // Authorization needs the Bearer scheme.
            ([("authorization", master)], "401:" + malformed),
            ([("authorization", "Basic " + master)], "401:" + malformed),
            ([("authorization", "Bearer")], "401:" + malformed),
            ([("authorization", "Bearer" + master)], "401:" + malformed),
            // Wrong keys.
            ([("authorization", "Bearer sk-wrong")], "401:" + invalid),
            ([("authorization", "Bearer " + master + "x")], "401:" + invalid),
            ([("authorization", "Bearer " + String(master.dropLast()))], "401:" + invalid),
            ([("x-api-key", "Bearer " + master)], "401:" + invalid),
            ([("x-litellm-api-key", master.uppercased())], "401:" + invalid),
            ([("x-api-key", master + ", " + master)], "401:" + invalid),
            // First found wins, in LiteLLM's order.
            ([("authorization", "Bearer " + master), ("x-litellm-api-key", "wrong")], "401:" + invalid),
            ([("x-litellm-api-key", master), ("authorization", "garbage")], "ok"),
            ([("authorization", "garbage"), ("x-api-key", master)], "401:" + malformed),
            ([("authorization", "Bearer " + master), ("api-key", "wrong")], "ok"),
            ([("x-api-key", master), ("api-key", "wrong")], "401:" + invalid),
            ([("x-goog-api-key", "wrong"), ("x-api-key", master)], "ok"),
            ([("ocp-apim-subscription-key", "wrong"), ("x-goog-api-key", master)], "ok"),
            // A key header twice is ambiguous, whichever header it is and whatever the precedence.
            ([("authorization", "Bearer " + master), ("authorization", "Bearer " + master)], "400"),
            ([("x-litellm-api-key", master), ("x-api-key", "a"), ("X-Api-Key", "b")], "400"),
            ([("ocp-apim-subscription-key", "a"), ("ocp-apim-subscription-key", "b")], "400"),
            ([("x-api-key", master), ("x-other", "a"), ("x-other", "b")], "ok"),
        ] as [([(String, String)], String)])
    func standardHeaders(headers: [(String, String)], expected: String) {
        #expect(Self.outcome(Self.auth, headers) == expected)
    }

    @Test(
        arguments: [
            ([("x-my-key", master)], "ok"),
            ([("X-My-Key", "Bearer " + master)], "ok"),
            ([("x-my-key", "wrong"), ("x-litellm-api-key", master)], "401:" + invalid),
            // Only the custom header counts: the standard ones are not read at all.
            ([("authorization", "Bearer " + master)], "401:" + missing),
            ([("x-litellm-api-key", master), ("x-api-key", master)], "401:" + missing),
            ([("authorization", "garbage"), ("x-my-key", master)], "ok"),
            ([("authorization", "a"), ("authorization", "b"), ("x-my-key", master)], "ok"),
            ([("x-my-key", master), ("x-my-key", master)], "400"),
        ] as [([(String, String)], String)])
    func customKeyHeaderIsTheOnlySource(headers: [(String, String)], expected: String) {
        let auth = Authenticator(masterKey: Self.master, keyHeaderName: "x-my-key")
        #expect(Self.outcome(auth, headers) == expected)
    }

    @Test(
        arguments: [
            ([("x-user-key", master)], "ok"),
            ([("x-user-key", "Bearer " + master)], "ok"),
            ([("x-user-key", master), ("authorization", "Bearer wrong")], "ok"),
            ([("x-user-key", "wrong"), ("x-litellm-api-key", master)], "401:" + invalid),
            ([("authorization", "Bearer " + master)], "ok"),
            ([("x-user-key", "a"), ("x-user-key", "b")], "400"),
        ] as [([(String, String)], String)])
    func endpointUserKeyHeaderComesFirst(headers: [(String, String)], expected: String) {
        #expect(Self.outcome(Self.auth, headers, E.endpoint("/x", userKeyHeader: "x-user-key")) == expected)
    }

    @Test func userKeyHeaderNamingAStandardHeaderAcceptsBareKeys() {
        let endpoint = E.endpoint("/x", userKeyHeader: "authorization")
        #expect(Self.outcome(Self.auth, [("authorization", Self.master)], endpoint) == "ok")
        #expect(Self.outcome(Self.auth, [("authorization", "Bearer " + Self.master)], endpoint) == "ok")
    }

    @Test func customHeaderBeatsUserKeyHeader() {
        let auth = Authenticator(masterKey: Self.master, keyHeaderName: "x-my-key")
        let endpoint = E.endpoint("/x", userKeyHeader: "x-user-key")
        #expect(Self.outcome(auth, [("x-user-key", Self.master)], endpoint) == "401:" + Self.missing)
        #expect(Self.outcome(auth, [("x-my-key", Self.master)], endpoint) == "ok")
    }

    @Test func noMasterKeyOrPublicEndpointLetsEverythingThrough() {
        let open = Authenticator(masterKey: nil, keyHeaderName: "x-my-key")
        #expect(open.authenticate(HTTPHeaders(), for: Self.endpoint) == .success(.anonymous))
        #expect(Self.outcome(open, []) == "ok")
        #expect(Self.outcome(open, [("authorization", "garbage"), ("authorization", "again")]) == "ok")
        let publicEndpoint = E.endpoint("/public", auth: false)
        #expect(Self.auth.authenticate(HTTPHeaders(), for: publicEndpoint) == .success(.anonymous))
        #expect(
            Self.auth.authenticate(HTTPHeaders([("x-api-key", Self.master)]), for: Self.endpoint) == .success(.masterKey))
        #expect(Self.outcome(Self.auth, [], publicEndpoint) == "ok")
        #expect(Self.outcome(Self.auth, [("x-api-key", "a"), ("x-api-key", "b")], publicEndpoint) == "ok")
    }

    @Test func failuresAre401WithChallengeAndNeverContainTheKey() throws {
        for headers in [[], [("authorization", Self.master)], [("x-api-key", Self.master + "x")]] as [[(String, String)]] {
            let error = try #require(Self.auth.refusal(HTTPHeaders(headers), for: Self.endpoint))
            #expect(error.status == 401)
            #expect(error.type == "auth_error")
            #expect(error.headers["www-authenticate"] == "Bearer")
            #expect(!error.message.contains(Self.master))
            #expect(!String(decoding: error.body, as: UTF8.self).contains(Self.master))
        }
        let ambiguous = try #require(Self.auth.refusal(HTTPHeaders([("x-api-key", Self.master), ("x-api-key", "b")]), for: Self.endpoint))
        #expect(ambiguous.status == 400)
        #expect(ambiguous.type == "invalid_request_error")
        #expect(!ambiguous.message.contains(Self.master))
    }

    @Test func configInitCarriesBothSettings() {
        let auth = Authenticator(config: GatewayConfig(masterKey: "k", keyHeaderName: "x-k"))
        #expect(auth.enabled)
        #expect(auth.keyHeaderName == "x-k")
    }
}
