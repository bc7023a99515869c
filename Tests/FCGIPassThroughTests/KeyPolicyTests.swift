import Foundation
import Testing

@testable import FCGIPassThrough
@testable import GatewayCore
@testable import Operations

/// Who a virtual key is and what it may call, through the decision step.
@Suite struct KeyPolicyTests {
    static let master = "sk-master-0123"
    static let searchKey = "sk-search-abcdef"
    static let search = VirtualKey(
        alias: "search-team", digest: KeyDigest(of: searchKey),
        allowedRoutes: [RoutePattern("/v1/rerank")!, RoutePattern("/anthropic/*")!],
        models: [ModelPattern("rerank-english-v3.0"), ModelPattern("claude-*")], location: "keys[0]")
    static let openKey = "sk-open-999"
    static let open = VirtualKey(alias: "open", digest: KeyDigest(of: openKey), location: "keys[1]")
    static let config = GatewayConfig(
        masterKey: master,
        endpoints: [
            TestSupport.endpoint("/v1/rerank"), TestSupport.endpoint("/anthropic", includeSubpath: true),
            TestSupport.endpoint("/gemini", includeSubpath: true), TestSupport.endpoint("/public", auth: false),
        ],
        keys: [search, open])
    static let decider = RequestDecider(config: config)

    func decide(_ uri: String, key: String?, body: String = "", method: String = "POST", headers: [(String, String)] = [])
        -> Decision
    {
        let auth = key.map { [("authorization", "Bearer " + $0)] } ?? []
        return Self.decider.decide(TestSupport.request(uri, method: method, headers: auth + headers, body: body))
    }

    func refusal(_ decision: Decision) -> GatewayError? {
        if case .refuse(let error) = decision.action { return error }
        return nil
    }

    func forwarded(_ decision: Decision) -> Bool {
        if case .forward = decision.action { return true }
        return false
    }

    @Test func aKeyIsFoundByItsDigestAndNamedByItsAlias() {
        let decision = decide("/v1/rerank", key: Self.searchKey, body: #"{"model":"rerank-english-v3.0"}"#)
        #expect(forwarded(decision))
        #expect(decision.caller == .key(Self.search))
        #expect(decision.caller.alias == "search-team")
        #expect(decide("/v1/rerank", key: Self.master).caller == .masterKey)
    }

    @Test func anUnknownKeyIsRefusedLikeAWrongMasterKey() throws {
        let error = try #require(refusal(decide("/v1/rerank", key: "sk-search-abcdeX")))
        #expect(error.status == 401)
        #expect(error.message == Authenticator.invalidKeyMessage)
        #expect(error.headers["WWW-Authenticate"] == "Bearer")
    }

    @Test func routesAreMatchedExactlyOrAsASubtreeAtASegmentBoundary() throws {
        let model = #"{"model":"claude-3-haiku"}"#
        #expect(forwarded(decide("/anthropic", key: Self.searchKey, body: model)))
        #expect(forwarded(decide("/anthropic/v1/messages", key: Self.searchKey, body: model)))
        let outside = try #require(refusal(decide("/gemini/v1/x", key: Self.searchKey, body: model)))
        #expect(outside.status == 403)
        #expect(outside.message.contains("allowed_routes"))
        #expect(!outside.message.contains(Self.searchKey))
        // Percent-encoding does not reach a route the pattern does not name.
        #expect(refusal(decide("/%67emini/v1/x", key: Self.searchKey, body: model))?.status == 403)
        #expect(forwarded(decide("/%61nthropic/v1/messages", key: Self.searchKey, body: model)))
    }

    @Test func patternsDoNotMatchAPathThatOnlySharesAPrefix() {
        let pattern = RoutePattern("/anthropic/*")!
        #expect(pattern.matches("/anthropic"))
        #expect(pattern.matches("/anthropic/v1"))
        #expect(!pattern.matches("/anthropicX"))
        #expect(!pattern.matches("/anthropic-evil/v1"))
        #expect(RoutePattern("/v1/rerank")!.matches("/v1/rerank"))
        #expect(!RoutePattern("/v1/rerank")!.matches("/v1/rerank/x"))
        #expect(RoutePattern("v1") == nil)
        #expect(RoutePattern("/a*") == nil)
        #expect(RoutePattern("/*")!.matches("/anything/at/all"))
    }

    @Test func aKeyWithoutAllowedRoutesCallsEveryEndpointAndAPublicOneIsNotChecked() {
        #expect(forwarded(decide("/gemini/v1/models/gemini-pro:generateContent", key: Self.openKey)))
        let decision = decide("/public", key: Self.searchKey)
        #expect(forwarded(decision))
        #expect(decision.caller == .anonymous)
    }

    @Test func modelsComeFromTheBodyOrTheGeminiPathAndEveryOneMustBeAllowed() throws {
        #expect(forwarded(decide("/anthropic/v1/messages", key: Self.searchKey, body: #"{"model": "claude-3-opus", "x": [1]}"#)))
        let denied = try #require(refusal(decide("/v1/rerank", key: Self.searchKey, body: #"{"model":"gpt-4o"}"#)))
        #expect(denied.status == 403)
        #expect(denied.type == "key_model_access_denied")
        #expect(denied.message.contains("'gpt-4o'"))
        // Gemini/Vertex name the model in the path.
        let config = GatewayConfig(
            masterKey: Self.master, endpoints: [TestSupport.endpoint("/gemini", includeSubpath: true)],
            keys: [VirtualKey(alias: "g", digest: KeyDigest(of: "sk-g"), models: [ModelPattern("gemini-1.5-*")])])
        let decider = RequestDecider(config: config)
        func gemini(_ uri: String, body: String = "{}") -> Decision {
            decider.decide(TestSupport.request(uri, headers: [("x-goog-api-key", "sk-g")], body: body))
        }
        #expect(forwarded(gemini("/gemini/v1beta/models/gemini-1.5-pro:generateContent")))
        #expect(refusal(gemini("/gemini/v1beta/models/gemini-2.0-flash:streamGenerateContent"))?.status == 403)
        #expect(refusal(gemini("/gemini/v1beta/models/gemini-1.5-pro:generateContent", body: #"{"model":"gemini-2.0"}"#))?.status == 403)
    }

    @Test func aModelThatCannotBeToldIsRefusedWhenTheKeyRestrictsModels() throws {
        for body in [
            "", #"{"query":"q"}"#, #"{"model": 42}"#, #"{"model":"claude-3","model":"gpt-4o"}"#, #"{"model":"claude-3""#,
            #"[{"model":"claude-3"}]"#,
        ] {
            let error = try #require(refusal(decide("/v1/rerank", key: Self.searchKey, body: body)), "\(body)")
            #expect(error.status == 403)
            #expect(error.message.contains("models"))
        }
        let gzip = decide(
            "/v1/rerank", key: Self.searchKey, body: #"{"model":"claude-3"}"#, headers: [("content-encoding", "gzip")])
        #expect(refusal(gzip)?.status == 403)
        // A key without `models` is not asked.
        #expect(forwarded(decide("/v1/rerank", key: Self.openKey, body: "not json")))
    }

    @Test func expiredAndBlockedKeysAre401sNamingTheRule() throws {
        let expired = VirtualKey(alias: "old", digest: KeyDigest(of: "sk-old"), expires: Date(timeIntervalSince1970: 1_700_000_000))
        let blocked = VirtualKey(alias: "stop", digest: KeyDigest(of: "sk-stop"), blocked: true)
        let later = VirtualKey(alias: "later", digest: KeyDigest(of: "sk-later"), expires: Date().addingTimeInterval(3600))
        let decider = RequestDecider(
            config: GatewayConfig(masterKey: Self.master, endpoints: [TestSupport.endpoint("/r")], keys: [expired, blocked, later]))
        func outcome(_ key: String) -> GatewayError? {
            if case .refuse(let error) = decider.decide(TestSupport.request("/r", headers: [("x-api-key", key)])).action { return error }
            return nil
        }
        let old = try #require(outcome("sk-old"))
        #expect(old.status == 401)
        #expect(old.type == "expired_key")
        #expect(old.message.contains("2023-11-14T22:13:20Z"))
        let stop = try #require(outcome("sk-stop"))
        #expect(stop.status == 401)
        #expect(stop.message.contains("blocked"))
        #expect(outcome("sk-later") == nil)
    }

    @Test func keyInfoShowsAKeyItsOwnEntryAndTheMasterKeyAnyAlias() throws {
        func info(_ query: String, key: String) -> Decision {
            Self.decider.decide(TestSupport.request("/key/info" + query, method: "GET", headers: [("authorization", "Bearer " + key)]))
        }
        guard case .describe(let own) = info("", key: Self.searchKey).action else { Issue.record("no description"); return }
        #expect(own == Self.search)
        guard case .describe(let same) = info("?key_alias=search-team", key: Self.searchKey).action else {
            Issue.record("own alias refused")
            return
        }
        #expect(same == Self.search)
        #expect(refusal(info("?key_alias=open", key: Self.searchKey))?.status == 403)
        guard case .describe(let other) = info("?key_alias=open", key: Self.master).action else {
            Issue.record("master refused")
            return
        }
        #expect(other == Self.open)
        #expect(refusal(info("?key_alias=nobody", key: Self.master))?.status == 404)
        #expect(refusal(info("", key: Self.master))?.status == 400)
        #expect(refusal(info("?key=" + Self.searchKey, key: Self.master))?.status == 400)
        #expect(refusal(info("", key: "sk-wrong"))?.status == 401)
    }

    @Test func keyInfoShowsWhatIsLeftOfTheBudgetAndWhenItResets() throws {
        var key = Self.search
        key.maxBudget = 50
        key.budgetDuration = 86_400
        key.budgetDurationText = "1d"
        // 2026-12-06T21:00:00Z: the day's window ends at midnight UTC.
        let text = key.info(spend: 12.5, now: Date(timeIntervalSince1970: 1_796_590_800)).encoded
        let object = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let info = try #require(object["info"] as? [String: Any])
        #expect(info["spend"] as? Double == 12.5)
        #expect(info["remaining_budget"] as? Double == 37.5)
        #expect(info["budget_reset_at"] as? String == "2026-12-07T00:00:00Z")
        #expect(info["budget_duration"] as? String == "1d")
        #expect(key.info(spend: 80).encoded.contains(#""remaining_budget":0"#))
    }

    @Test func keyInfoHasLiteLLMsShapeAndNeverTheKey() throws {
        var key = Self.search
        key.rpmLimit = 600
        key.expires = Date(timeIntervalSince1970: 1_801_267_200)
        key.metadata = .object([("team", .string("search")), ("n", .number(3)), ("on", .bool(true))])
        let text = key.info(spend: 0).encoded
        #expect(!text.contains(Self.searchKey))
        let object = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["key"] as? String == KeyDigest(of: Self.searchKey).hex)
        let info = try #require(object["info"] as? [String: Any])
        #expect(
            Set(info.keys)
                == [
                    "key_alias", "spend", "max_budget", "remaining_budget", "budget_duration", "budget_reset_at", "rpm_limit",
                    "tpm_limit", "max_parallel_requests", "models", "allowed_routes", "expires", "blocked", "metadata",
                ])
        #expect(info["rpm_limit"] as? Int == 600)
        #expect(info["expires"] as? String == "2027-01-30T00:00:00Z")
        #expect(info["allowed_routes"] as? [String] == ["/v1/rerank", "/anthropic/*"])
        #expect((info["metadata"] as? [String: Any])?["team"] as? String == "search")
    }

    @Test func jsonTextEscapesWhatMustBeEscaped() {
        #expect(JSONValue.string("a\"b\\c\n\u{01}é").encoded == #""a\"b\\c\n\u0001é""#)
        #expect(JSONValue.array([.number(1.5), .number(2), .null]).encoded == "[1.5,2,null]")
    }

    @Test func theTopLevelModelScannerReadsOnlyTheTopLevel() {
        func model(_ body: String) -> JSONTopLevelField.Outcome {
            JSONTopLevelField.string(named: "model", in: Array(body.utf8))
        }
        #expect(model(#"{"messages":[{"model":"inner"}],"model":"outer"}"#) == .found("outer"))
        #expect(model(#" { "model" : "a\u0062c" } "#) == .found("abc"))
        #expect(model(#"{"mod\u0065l":"x"}"#) == .found("x"))
        #expect(model(#"{"a":{"model":"x"}}"#) == .absent)
        #expect(model(#"{"model":"x"} trailing"#) == .unreadable)
        #expect(model(#"{"model":"x","model":"x"}"#) == .unreadable)
        #expect(model(String(repeating: "[", count: 10_000)) == .unreadable)
        #expect(model(#"{"a":"#) == .unreadable)
        #expect(model(#"{"a":-0.5e+3,"b":[true,false,null],"model":"m"}"#) == .found("m"))
        #expect(model(#"{"a":01,"model":"m"}"#) == .unreadable)
        #expect(model(#"{"model":"\ud83d\ude00"}"#) == .found("😀"))
        #expect(model(#"{"model":"\ud83d"}"#) == .unreadable)
        // Skipped values are checked by the same rules as the one that is read.
        #expect(model(#"{"a":["x\ud83d\ude00","é"],"b":{"c\n":"\/"},"model":"m"}"#) == .found("m"))
        #expect(model(#"{"a":"\ud83d","model":"m"}"#) == .unreadable)
        #expect(model(#"{"a":"\ude00","model":"m"}"#) == .unreadable)
        #expect(model(#"{"a":"\q","model":"m"}"#) == .unreadable)
        #expect(model(#"{"a":{"\u00zz":1},"model":"m"}"#) == .unreadable)
        #expect(model("{\"a\":\"tab\there\",\"model\":\"m\"}") == .unreadable)
        var invalidUTF8 = Array(#"{"a":"x"#.utf8) + [0xC3, 0x28] + Array(#"","model":"m"}"#.utf8)
        #expect(JSONTopLevelField.string(named: "model", in: invalidUTF8) == .unreadable)
        invalidUTF8 = Array(#"{"a":{"k"#.utf8) + [0xFF] + Array(#"":1},"model":"m"}"#.utf8)
        #expect(JSONTopLevelField.string(named: "model", in: invalidUTF8) == .unreadable)
        // The value itself, read where it lies when it has no escape.
        invalidUTF8 = Array(#"{"model":"gpt"#.utf8) + [0xC3] + Array(#""}"#.utf8)
        #expect(JSONTopLevelField.string(named: "model", in: invalidUTF8) == .unreadable)
        #expect(model("{\"model\":\"gpt\u{7}4\"}") == .unreadable)
        #expect(model(#"{"model":"modèle-ünïcode-0123456789"}"#) == .found("modèle-ünïcode-0123456789"))
        #expect(model(#"{"model":""}"#) == .found(""))
        #expect(model(#"{"model":"unterminated"#) == .unreadable)
    }

    @Test func keyCallersGetTheirAliasAndLimitHeadersAndTheUpstreamsMoveAside() throws {
        final class Fixed: KeyLimiter {
            let answer: KeyAdmission
            init(_ answer: KeyAdmission) { self.answer = answer }
            func admit(_ digest: KeyDigest, limits: KeyLimits) -> KeyAdmission { answer }
            func release(_ lease: KeyLease) {}
        }
        var limited = Self.open
        limited.rpmLimit = 3
        let config = GatewayConfig(masterKey: Self.master, endpoints: [TestSupport.endpoint("/r")], keys: [limited])
        func run(_ limiter: any KeyLimiter) -> RecordingWriter {
            let gateway = Gateway(
                config: config,
                client: ScriptedUpstream([.head(200, [("x-ratelimit-limit-requests", "10000"), ("Content-Length", "0")]), .end(nil)]),
                logger: Logger(level: .error), limiter: limiter)
            let writer = RecordingWriter()
            gateway.handle(TestSupport.request("/r", headers: [("x-api-key", Self.openKey)]), writer: writer)
            return writer
        }
        let ok = run(Fixed(.admitted(lease: nil, remainingRequests: 0)))
        #expect(ok.status == 200)
        #expect(ok.headers["x-litellm-key-alias"] == "open")
        #expect(ok.headers.values("x-ratelimit-limit-requests") == ["3"])
        #expect(ok.headers["x-ratelimit-remaining-requests"] == "0")
        #expect(ok.headers["llm_provider-x-ratelimit-limit-requests"] == "10000")
        let refused = run(Fixed(.refused(.rpm, retryAfter: 17)))
        #expect(refused.status == 429)
        #expect(refused.headers["Retry-After"] == "17")
        #expect(refused.headers["x-litellm-key-alias"] == "open")
        #expect(refused.bodyText.contains("rpm_limit"))
        #expect(!refused.bodyText.contains(Self.openKey))
        let unavailable = run(Fixed(.unavailable(retryAfter: 1)))
        #expect(unavailable.status == 503)
        #expect(unavailable.headers["Retry-After"] == "1")
        #expect(unavailable.headers["x-litellm-key-alias"] == "open")
        #expect(unavailable.bodyText.contains("Shared limit store unavailable"))
    }
}
