import Foundation
import Testing

@testable import ConfigLoading
@testable import GatewayCore

/// `general_settings.keys` and `limits_file` (docs/KEYS.md, "Declaring keys").
@Suite struct KeyConfigTests {
    static let hashA = KeyDigest(of: "sk-client-a").hex
    static let hashB = KeyDigest(of: "sk-client-b").hex

    /// A config with a master key and `body` under `keys:` (each line indented as an entry).
    static func yaml(_ body: String, masterKey: String = "sk-master") -> String {
        "general_settings:\n  master_key: \(masterKey)\n  keys:\n"
            + body.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n")
            + "\n"
    }

    static func load(_ yaml: String, _ environment: [String: String] = [:]) throws -> (GatewayConfig, [String]) {
        try ConfigLoader.load(yaml: yaml, file: "c.yaml", environment: Environment(environment))
    }

    static func keys(_ body: String, _ environment: [String: String] = [:]) throws -> [VirtualKey] {
        try load(yaml(body), environment).0.keys
    }

    static func problems(_ yaml: String, _ environment: [String: String] = [:]) -> [String] {
        let error = #expect(throws: ConfigErrors.self) { try load(yaml, environment) }
        return error?.problems.map(\.description) ?? []
    }

    /// The problems of one key entry whose other fields are valid; lines start at 4.
    static func entryProblems(_ fields: String, _ environment: [String: String] = [:]) -> [String] {
        problems(yaml("- key_alias: a\n  key_hash: \(hashA)\n" + fields), environment)
    }

    @Test func aFullEntryDecodesEveryField() throws {
        let (config, notices) = try Self.load(
            Self.yaml(
                """
                - key_alias: search-team
                  key_hash: \(Self.hashA.uppercased())
                  allowed_routes: ["/v1/rerank", "/anthropic/*"]
                  models: [rerank-english-v3.0, "claude-*"]
                  rpm_limit: 600
                  max_parallel_requests: 20
                  expires: 2027-01-31T00:00:00Z
                  blocked: false
                  metadata: {team: search, owner: alice@example.com}
                - key_alias: ci job
                  key: os.environ/CI_KEY
                  blocked: yes
                """), ["CI_KEY": "sk-client-b"])
        #expect(notices.isEmpty)
        #expect(config.keys.count == 2)
        let key = config.keys[0]
        #expect(key.alias == "search-team")
        #expect(key.digest == KeyDigest(of: "sk-client-a"))
        #expect(key.allowedRoutes?.map(\.text) == ["/v1/rerank", "/anthropic/*"])
        #expect(key.models?.map(\.text) == ["rerank-english-v3.0", "claude-*"])
        #expect(key.rpmLimit == 600)
        #expect(key.maxParallelRequests == 20)
        #expect(key.expires == ISO8601Timestamp.parse("2027-01-31T00:00:00Z"))
        #expect(!key.blocked)
        #expect(key.metadata == .object([("team", .string("search")), ("owner", .string("alice@example.com"))]))
        #expect(key.location == "keys[0]")
        let ci = config.keys[1]
        #expect(ci == VirtualKey(alias: "ci job", digest: KeyDigest(of: "sk-client-b"), blocked: true, location: "keys[1]"))
    }

    @Test func absentAndNullFieldsMeanNoRestriction() throws {
        let keys = try Self.keys("- key_alias: a\n  key_hash: \(Self.hashA)\n  models:\n  rpm_limit: ~\n  max_budget: null")
        #expect(keys == [VirtualKey(alias: "a", digest: KeyDigest(of: "sk-client-a"))])
        #expect(try Self.load(Self.yaml("[]")).0.keys.isEmpty)
        #expect(try Self.load("general_settings:\n  keys:\n").0.keys.isEmpty)
    }

    // MARK: key_alias

    @Test func aliasIsRequiredPrintableAndShort() throws {
        #expect(
            Self.problems(Self.yaml("- key_hash: \(Self.hashA)")) == [
                "c.yaml:4: keys[0]: needs key_alias: (a unique name for logs and metrics)"
            ])
        let long = String(repeating: "x", count: 129)
        let cases: [(String, String)] = [
            ("''", "must not be empty"),
            ("\"tab\\there\"", "must be printable ASCII (letters, digits, punctuation, inner spaces)"),
            ("équipe", "must be printable ASCII (letters, digits, punctuation, inner spaces)"),
            ("' padded'", "must not start or end with a space"),
            ("'padded '", "must not start or end with a space"),
            (long, "is longer than 128 bytes"),
            ("master_key", "master_key is reserved: it names the master key in logs and metrics"),
            ("123", "must be a string (quote the value)"),
            ("[a]", "must be a string, not a list"),
        ]
        for (alias, message) in cases {
            #expect(
                Self.problems(Self.yaml("- key_alias: \(alias)\n  key_hash: \(Self.hashA)")) == [
                    "c.yaml:4: keys[0].key_alias: \(message)"
                ], "\(alias)")
        }
        let longest = String(repeating: "x", count: 128)
        #expect(try Self.keys("- key_alias: \(longest)\n  key_hash: \(Self.hashA)").first?.alias == longest)
        #expect(try Self.keys("- key_alias: 'a ~!#'\n  key_hash: \(Self.hashA)").first?.alias == "a ~!#")
    }

    @Test func aliasIsNotTakenFromTheEnvironment() {
        #expect(
            Self.problems(Self.yaml("- key_alias: os.environ/ALIAS\n  key_hash: \(Self.hashA)"), ["ALIAS": "CANARY"])
                == [
                    "c.yaml:4: keys[0].key_alias: must be written out, not taken from the environment (logs and metrics show it)"
                ])
    }

    @Test func aliasesAreUnique() {
        #expect(
            Self.problems(Self.yaml("- key_alias: a\n  key_hash: \(Self.hashA)\n- key_alias: a\n  key_hash: \(Self.hashB)"))
                == ["c.yaml:6: keys[1].key_alias: alias used twice (first at keys[0], line 4)"])
    }

    // MARK: key_hash and key

    @Test func keyHashIs64HexDigits() throws {
        let digits = String(repeating: "1", count: 64)
        #expect(try Self.keys("- key_alias: a\n  key_hash: \(digits)").first?.digest == KeyDigest(hex: digits))
        for hash in [String(Self.hashA.dropLast()), Self.hashA + "0", String(Self.hashA.dropLast()) + "g", "''"] {
            #expect(
                Self.problems(Self.yaml("- key_alias: a\n  key_hash: \(hash)")) == [
                    "c.yaml:5: keys[0].key_hash: must be the key's SHA-256 as 64 hex digits (fcgi-pass-through keys hash)"
                ], "\(hash)")
        }
    }

    @Test func exactlyOneOfKeyHashAndKey() {
        #expect(
            Self.problems(Self.yaml("- key_alias: a")) == [
                "c.yaml:4: keys[0]: needs key_hash: (the key's SHA-256) or key:"
            ])
        #expect(
            Self.problems(Self.yaml("- key_alias: a\n  key_hash: \(Self.hashA)\n  key: os.environ/K"), ["K": "sk-x"]) == [
                "c.yaml:4: keys[0]: has both key_hash and key; set only one"
            ])
    }

    @Test func aKeyFromTheEnvironmentIsHashed() throws {
        let keys = try Self.keys("- key_alias: a\n  key: os.environ/CLIENT_KEY", ["CLIENT_KEY": "sk-client-a"])
        #expect(keys.first?.digest == KeyDigest(of: "sk-client-a"))
        #expect(
            Self.problems(Self.yaml("- key_alias: a\n  key: os.environ/CLIENT_KEY")) == [
                "c.yaml:5: keys[0].key: environment variable CLIENT_KEY is not set"
            ])
    }

    @Test func aPlainTextKeyWorksButDrawsANoticeNamingTheAliasOnly() throws {
        let (config, notices) = try Self.load(Self.yaml("- key_alias: search-team\n  key: sk-secret-value"))
        #expect(config.keys.first?.digest == KeyDigest(of: "sk-secret-value"))
        #expect(
            notices == [
                "c.yaml:5: keys[0].key: key search-team is written in plain text in the config; use key_hash (fcgi-pass-through keys hash) or key: os.environ/NAME"
            ])
        #expect(!notices.joined().contains("sk-secret-value"))
    }

    @Test func keysFollowTheMasterKeysRules() {
        let cases: [(String, String)] = [
            ("''", "is empty"),
            ("\"sk-\\t1\"", "contains a tab"),
            ("sk-é", "contains non-ASCII characters, which clients cannot send in a header"),
            ("' sk-1'", "starts or ends with whitespace, which HTTP strips from header values"),
            ("\"sk-\\n1\"", "contains a control character (CR, LF, NUL or similar)"),
            ("1234", "must be a string (quote the value)"),
        ]
        for (key, message) in cases {
            let lines = Self.problems(Self.yaml("- key_alias: a\n  key: \(key)"))
            #expect(lines == ["c.yaml:5: keys[0].key: \(message)"], "\(key)")
        }
        #expect(
            Self.problems(Self.yaml("- key_alias: a\n  key: os.environ/K"), ["K": "sk-\u{1}"]) == [
                "c.yaml:5: keys[0].key: environment variable K contains a control character (CR, LF, NUL or similar)"
            ])
    }

    @Test func twoEntriesWithTheSameKeyAreRefusedNamingBoth() {
        let lines = Self.problems(
            Self.yaml("- key_alias: one\n  key_hash: \(Self.hashA)\n- key_alias: two\n  key: os.environ/K"),
            ["K": "sk-client-a"])
        #expect(lines == ["c.yaml:6: keys[1]: keys one (keys[0]) and two are the same key; give each client its own"])
        #expect(!lines.joined().contains("sk-client-a"))
    }

    @Test func aKeyEqualToTheMasterKeyIsRefused() {
        let lines = Self.problems(Self.yaml("- key_alias: a\n  key_hash: \(KeyDigest(of: "sk-master").hex)"))
        #expect(lines == ["c.yaml:4: keys[0]: key a is the master key; a client's key must differ from it"])
        let fromEnvironment = Self.problems(
            "general_settings:\n  keys:\n    - key_alias: a\n      key: os.environ/K\n",
            ["K": "sk-m", "LITELLM_MASTER_KEY": "sk-m"])
        #expect(fromEnvironment == ["c.yaml:3: keys[0]: key a is the master key; a client's key must differ from it"])
    }

    @Test func keysNeedAMasterKey() throws {
        let entry = "general_settings:\n  keys:\n    - key_alias: a\n      key_hash: \(Self.hashA)\n"
        #expect(
            Self.problems(entry) == [
                "c.yaml:2: keys: keys need a master_key: without one authentication is off on every endpoint (set master_key or LITELLM_MASTER_KEY)"
            ])
        #expect(try Self.load(entry, ["LITELLM_MASTER_KEY": "sk-m"]).0.keys.count == 1)
        // A refused master key is reported once, not again as a missing one.
        #expect(
            Self.problems(Self.yaml("- key_alias: a\n  key_hash: \(Self.hashA)", masterKey: "''")) == [
                "c.yaml:2: master_key: is empty"
            ])
    }

    @Test func tooManyKeysAreRefused() {
        let entry = "- {key_alias: a, key_hash: \(Self.hashA)}"
        let body = Array(repeating: entry, count: KeyLimits.maxKeysPerConfig + 1).joined(separator: "\n")
        #expect(
            Self.problems(Self.yaml(body)) == [
                "c.yaml:3: keys: has 16385 keys, more than the 16384 a config may hold"
            ])
    }

    @Test func keysMustBeAListOfMappings() {
        #expect(
            Self.problems("general_settings:\n  master_key: sk-m\n  keys: {a: 1}\n") == [
                "c.yaml:3: keys: must be a list of keys (- key_alias: ... key_hash: ...), not a mapping"
            ])
        #expect(
            Self.problems(Self.yaml("- sk-1")) == [
                "c.yaml:4: keys[0]: must be a mapping with key_alias: and key_hash: or key:, not a single value"
            ])
    }

    // MARK: allowed_routes and models

    @Test func routesMustBePatterns() {
        let rule = "must be a path such as /p (that path) or /p/* (it and everything below it); * only as a final /*"
        #expect(
            Self.entryProblems("  allowed_routes: [/v1/*, v1, /a*, /a/*/b, 7]") == [
                "c.yaml:6: keys[0].allowed_routes[1]: \(rule)",
                "c.yaml:6: keys[0].allowed_routes[2]: \(rule)",
                "c.yaml:6: keys[0].allowed_routes[3]: \(rule)",
                "c.yaml:6: keys[0].allowed_routes[4]: must be a string (quote the value)",
            ])
        #expect(
            Self.entryProblems("  allowed_routes: /v1/*") == [
                "c.yaml:6: keys[0].allowed_routes: must be a list, not a single value"
            ])
    }

    @Test func modelsMustBeNonEmptyStrings() {
        #expect(
            Self.entryProblems("  models: [gpt-4o, '', {a: b}]") == [
                "c.yaml:6: keys[0].models[1]: must not be empty",
                "c.yaml:6: keys[0].models[2]: must be a string, not a mapping",
            ])
    }

    @Test func emptyListsAreRefusedBecauseLiteLLMReadsThemAsNoRestriction() {
        let message =
            "must not be empty: LiteLLM reads an empty list as no restriction; leave the setting out for that, or use blocked: true to stop the key"
        #expect(Self.entryProblems("  allowed_routes: []") == ["c.yaml:6: keys[0].allowed_routes: \(message)"])
        #expect(Self.entryProblems("  models: []") == ["c.yaml:6: keys[0].models: \(message)"])
    }

    // MARK: limits, expires, blocked

    @Test func limitsAreWholeNumbersFromOne() throws {
        #expect(
            try Self.keys("- {key_alias: a, key_hash: \(Self.hashA), rpm_limit: 1_000, max_parallel_requests: 1}")
                .first?.limits == KeyLimits(rpm: 1000, parallel: 1))
        #expect(
            try Self.keys("- {key_alias: a, key_hash: \(Self.hashA), rpm_limit: 1000000000}").first?.rpmLimit
                == 1_000_000_000)
        for value in ["0", "-1", "1.5", "1e3", "'60'", "true", "1000000001", "99999999999999999999", "0600", "0x10", "[1]"] {
            #expect(
                Self.entryProblems("  rpm_limit: \(value)\n  max_parallel_requests: \(value)") == [
                    "c.yaml:6: keys[0].rpm_limit: must be a whole number from 1 to 1000000000",
                    "c.yaml:7: keys[0].max_parallel_requests: must be a whole number from 1 to 1000000000",
                ], "\(value)")
        }
    }

    @Test func expiresTakesQuotedAndYAMLTimestamps() throws {
        for (text, expected) in [
            ("2027-01-31", "2027-01-31T00:00:00Z"), ("'2027-01-31T09:00:00Z'", "2027-01-31T09:00:00Z"),
            ("2027-01-31 09:00:00 +02:00", "2027-01-31T07:00:00Z"), ("\"2027-01-31T09:00:00.5-0100\"", "2027-01-31T10:00:00.5Z"),
        ] {
            let key = try Self.keys("- key_alias: a\n  key_hash: \(Self.hashA)\n  expires: \(text)").first
            #expect(key?.expires == ISO8601Timestamp.parse(expected), "\(text)")
        }
        for text in ["2027-02-30", "tomorrow", "1735689600", "[2027-01-31]"] {
            let lines = Self.entryProblems("  expires: \(text)")
            #expect(lines.count == 1 && lines[0].hasPrefix("c.yaml:6: keys[0].expires: must be"), "\(text)")
        }
    }

    @Test func blockedIsABool() throws {
        #expect(try Self.keys("- {key_alias: a, key_hash: \(Self.hashA), blocked: true}").first?.blocked == true)
        #expect(Self.entryProblems("  blocked: maybe") == ["c.yaml:6: keys[0].blocked: must be true or false"])
    }

    // MARK: metadata

    @Test func metadataKeepsNestingAndYAMLTypes() throws {
        let key = try Self.keys(
            """
            - key_alias: a
              key_hash: \(Self.hashA)
              metadata:
                team: search
                cost_centre: 4711
                ratio: 0.5
                active: yes
                quoted: 'yes'
                nothing: ~
                env: os.environ/NOT_RESOLVED
                owners: [alice, {name: bob, on_call: false}]
                nested: {deeper: {deepest: [1, "2"]}}
            """
        ).first
        #expect(
            key?.metadata
                == .object([
                    ("team", .string("search")), ("cost_centre", .number(4711)), ("ratio", .number(0.5)),
                    ("active", .bool(true)), ("quoted", .string("yes")), ("nothing", .null),
                    ("env", .string("os.environ/NOT_RESOLVED")),
                    ("owners", .array([.string("alice"), .object([("name", .string("bob")), ("on_call", .bool(false))])])),
                    ("nested", .object([("deeper", .object([("deepest", .array([.number(1), .string("2")]))]))])),
                ]))
        #expect(try Self.keys("- {key_alias: a, key_hash: \(Self.hashA), metadata: {}}").first?.metadata == .object([]))
    }

    @Test func metadataMustBeAMapping() {
        #expect(Self.entryProblems("  metadata: [a]") == ["c.yaml:6: keys[0].metadata: must be a mapping, not a list"])
        #expect(
            Self.entryProblems("  metadata: team") == [
                "c.yaml:6: keys[0].metadata: must be a mapping, not a single value"
            ])
        #expect(
            Self.entryProblems("  metadata: {a: 1, a: 2}") == [
                "c.yaml:6: keys[0].metadata.a: key written twice (first at line 6)"
            ])
    }

    // MARK: other fields

    @Test func liteLLMFieldsThisGatewayDoesNotEnforceAreRefused() {
        let message =
            "is a LiteLLM key setting this gateway does not enforce; remove it (a limit written down but not enforced would give false safety)"
        #expect(
            Self.entryProblems("  soft_budget: 10\n  model_tpm_limit: {a: 1}\n  team_id: t") == [
                "c.yaml:6: keys[0].soft_budget: \(message)",
                "c.yaml:7: keys[0].model_tpm_limit: \(message)",
                "c.yaml:8: keys[0].team_id: \(message)",
            ])
    }

    @Test func budgetsAndTokenLimitsDecode() throws {
        let keys = try Self.keys(
            """
            - key_alias: a
              key_hash: \(Self.hashA)
              max_budget: 12.5
              budget_duration: 30d
              tpm_limit: 100_000
            - key_alias: b
              key_hash: \(Self.hashB)
              max_budget: 3
            """)
        #expect(keys[0].maxBudget == 12.5)
        #expect(keys[0].budgetDuration == 30 * 86_400 && keys[0].budgetDurationText == "30d")
        #expect(keys[0].tpmLimit == 100_000)
        #expect(keys[0].limits == KeyLimits(tpm: 100_000, budget: KeyBudget(maxBudget: 12.5, duration: 2_592_000)))
        #expect(keys[1].limits == KeyLimits(budget: KeyBudget(maxBudget: 3)))
        #expect(!keys[1].limits.isEmpty && keys[1].limits.isCharged)
        let info = keys[0].info(spend: 1)
        guard case .object(let top) = info, case .object(let fields)? = top.first(where: { $0.0 == "info" })?.1 else {
            Issue.record("no info object")
            return
        }
        func field(_ name: String) -> JSONValue? { fields.first { $0.0 == name }?.1 }
        #expect(field("max_budget") == .number(12.5))
        #expect(field("budget_duration") == .string("30d"))
        #expect(field("tpm_limit") == .number(100_000))
    }

    @Test(arguments: [("30s", 30), ("1m", 60), ("60m", 3_600), ("1h", 3_600), ("1d", 86_400), ("30d", 2_592_000)])
    func budgetDurationsAreLiteLLMs(text: String, seconds: Int) throws {
        let keys = try Self.keys("- key_alias: a\n  key_hash: \(Self.hashA)\n  max_budget: 1\n  budget_duration: \(text)")
        #expect(keys[0].budgetDuration == seconds)
    }

    @Test func badBudgetsDurationsAndTokenLimitsAreRefused() {
        let duration = "must be a whole number and s, m, h or d, such as 30s, 60m, 1h or 30d"
        let budget = "must be a number of USD above 0 and at most 1000000000, such as 25 or 0.5"
        #expect(
            Self.entryProblems("  max_budget: 0\n  tpm_limit: 0\n  budget_duration: 30") == [
                "c.yaml:6: keys[0].max_budget: \(budget)",
                "c.yaml:7: keys[0].tpm_limit: must be a whole number from 1 to 1000000000",
                "c.yaml:8: keys[0].budget_duration: \(duration)",
            ])
        #expect(
            Self.entryProblems("  max_budget: \"5\"\n  budget_duration: 1w") == [
                "c.yaml:6: keys[0].max_budget: \(budget)",
                "c.yaml:7: keys[0].budget_duration: \(duration)",
            ])
        #expect(
            Self.entryProblems("  max_budget: 5\n  budget_duration: 1mo") == [
                "c.yaml:7: keys[0].budget_duration: calendar months (mo) are not supported: budget windows have a fixed "
                    + "length; use days, such as 30d"
            ])
        #expect(
            Self.entryProblems("  budget_duration: 1d") == [
                "c.yaml:6: keys[0]: budget_duration needs max_budget: it says when the budget starts again"
            ])
        #expect(Self.entryProblems("  max_budget: -1") == ["c.yaml:6: keys[0].max_budget: \(budget)"])
    }

    @Test func unknownFieldsAreRefusedWithASuggestion() {
        #expect(
            Self.entryProblems("  rpm_limt: 5\n  allowed_route: [/a]\n  colour: blue") == [
                "c.yaml:6: keys[0].rpm_limt: unknown key setting (did you mean rpm_limit?)",
                "c.yaml:7: keys[0].allowed_route: unknown key setting (did you mean allowed_routes?)",
                "c.yaml:8: keys[0].colour: unknown key setting",
            ])
    }

    @Test func anEntryWithAProblemIsReportedWithEveryOther() {
        let lines = Self.problems(
            Self.yaml("- key_alias: a\n  rpm_limit: 0\n- key_alias: b\n  key_hash: \(Self.hashB)\n  models: []"))
        #expect(lines.count == 3)
        #expect(lines[0] == "c.yaml:4: keys[0]: needs key_hash: (the key's SHA-256) or key:")
        #expect(lines[1] == "c.yaml:5: keys[0].rpm_limit: must be a whole number from 1 to 1000000000")
        #expect(lines[2].hasPrefix("c.yaml:8: keys[1].models: must not be empty"))
    }

    @Test func noMessageEverHoldsAKey() {
        let lines = Self.problems(
            Self.yaml(
                "- key_alias: a\n  key: sk-plain-one\n- key_alias: b\n  key: sk-plain-one\n- key_alias: c\n  key: 'sk-plain-one '"))
        #expect(!lines.isEmpty)
        #expect(!lines.joined().contains("sk-plain-one"))
    }

    // MARK: limits_file

    @Test func limitsFileIsAnAbsolutePath() throws {
        let config = try Self.load("general_settings:\n  limits_file: /dev/shm/gateway-limits\n").0
        #expect(config.limitsFile == "/dev/shm/gateway-limits")
        #expect(try Self.load("general_settings:\n  limits_file: os.environ/F\n", ["F": "/run/l"]).0.limitsFile == "/run/l")
        #expect(try Self.load("general_settings: {}\n").0.limitsFile == nil)
        #expect(
            Self.problems("general_settings:\n  limits_file: limits.bin\n") == [
                "c.yaml:2: limits_file: must be an absolute path"
            ])
        #expect(
            Self.problems("general_settings:\n  limits_file: [a]\n") == [
                "c.yaml:2: limits_file: must be a string, not a list"
            ])
    }

    @Test func keysAndLimitsFileAreKnownGeneralSettings() throws {
        let (_, notices) = try Self.load(
            Self.yaml("- {key_alias: a, key_hash: \(Self.hashA)}") + "  limits_file: /dev/shm/l\n")
        #expect(notices.isEmpty)
    }
}
