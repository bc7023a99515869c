import Foundation

/// `general_settings.keys` and `general_settings.limits_file`: clients' own keys
/// (docs/KEYS.md). A key's value never appears in a message; its alias does.
extension ConfigDecoder {
    static let keyFields = [
        "key_alias", "key_hash", "key", "allowed_routes", "models", "rpm_limit", "max_parallel_requests", "tpm_limit",
        "max_budget", "budget_duration", "expires", "blocked", "metadata",
    ]
    /// LiteLLM key fields this gateway does not enforce. Refused rather than ignored: a
    /// budget written in the file but not enforced would look like protection. Written
    /// as null they set nothing and are accepted.
    static let unenforcedKeyFields: Set<String> = [
        "soft_budget", "spend", "model_max_budget", "model_rpm_limit",
        "model_tpm_limit", "team_id", "user_id", "budget_reset_at", "permissions", "aliases", "config", "tags",
        "guardrails",
    ]
    /// The largest `max_budget` (USD): more is a typo, not a budget.
    package static let maxKeyBudget = 1_000_000_000.0
    /// The longest `budget_duration`: ten years (windows are counted in 32-bit seconds).
    package static let maxBudgetDuration = 10 * 366 * 86_400
    /// The largest `rpm_limit`, `tpm_limit` or `max_parallel_requests`: more is a typo, not a limit.
    package static let maxKeyLimit = 1_000_000_000
    /// What the master key's requests are logged as; no key may take the name.
    package static let masterKeyAlias = "master_key"
    package static let maxAliasBytes = 128

    /// A key and where its parts were written, for the checks across keys.
    private struct DecodedKey {
        var key: VirtualKey
        var line: Int
        var aliasLine: Int
    }

    /// - Parameters:
    ///   - hasMasterKey: whether `master_key` or `LITELLM_MASTER_KEY` is set (even if refused).
    ///   - masterKey: the master key, when valid.
    mutating func decodeKeys(_ node: YAMLNode, line: Int, hasMasterKey: Bool, masterKey: String?) -> [VirtualKey] {
        guard case .sequence(let items) = node.kind else {
            problem(
                "must be a list of keys (- key_alias: ... key_hash: ...), not \(node.kindDescription)", at: "keys",
                line: node.line)
            return []
        }
        guard !items.isEmpty else { return [] }
        if !hasMasterKey {
            problem(
                "keys need a master_key: without one authentication is off on every endpoint "
                    + "(set master_key or LITELLM_MASTER_KEY)", at: "keys", line: line)
        }
        guard items.count <= KeyLimits.maxKeysPerConfig else {
            problem(
                "has \(items.count) keys, more than the \(KeyLimits.maxKeysPerConfig) a config may hold",
                at: "keys", line: line)
            return []
        }
        var decoded: [DecodedKey] = []
        for (index, item) in items.enumerated() {
            if let key = decodeKey(item, at: "keys[\(index)]") { decoded.append(key) }
        }
        checkAcrossKeys(decoded, masterKey: masterKey)
        return decoded.map(\.key)
    }

    /// An absolute path setting whose file need not exist yet: `limits_file` (where the
    /// shared table of the keys' counts lives), `usage_db`.
    mutating func absolutePath(_ node: YAMLNode, at location: String) -> String? {
        guard let path = string(node, at: location) else { return nil }
        guard path.hasPrefix("/") else {
            problem("must be an absolute path", at: location, line: node.line)
            return nil
        }
        return path
    }

    /// - Returns: `nil` when the entry has any problem (recorded).
    private mutating func decodeKey(_ node: YAMLNode, at location: String) -> DecodedKey? {
        guard let entries = entries(of: node, at: location, what: "a mapping with key_alias: and key_hash: or key:")
        else { return nil }
        let problemsBefore = problems.count
        var alias: String?
        var aliasLine = node.line
        var digest: KeyDigest?
        var digestFields: [String] = []
        var plainText = false
        var key = VirtualKey(alias: "", digest: KeyDigest(words: (0, 0, 0, 0)), location: location)
        for entry in entries {
            let here = Self.join(location, entry.key)
            if entry.value.isNull, Self.keyFields.contains(entry.key) || Self.unenforcedKeyFields.contains(entry.key) {
                continue
            }
            switch entry.key {
            case "key_alias":
                aliasLine = entry.line
                alias = keyAlias(entry.value, at: here)
            case "key_hash":
                digestFields.append(entry.key)
                digest = keyHash(entry.value, at: here)
            case "key":
                digestFields.append(entry.key)
                if let found = plainKey(entry.value, at: here) {
                    digest = found.digest
                    plainText = found.plainText
                }
            case "allowed_routes":
                key.allowedRoutes = nonEmptyList(entry.value, at: here) { decoder, item, at in
                    decoder.routePattern(item, at: at)
                }
            case "models":
                key.models = nonEmptyList(entry.value, at: here) { decoder, item, at in
                    decoder.modelPattern(item, at: at)
                }
            case "rpm_limit":
                key.rpmLimit = limit(entry.value, at: here)
            case "max_parallel_requests":
                key.maxParallelRequests = limit(entry.value, at: here)
            case "tpm_limit":
                key.tpmLimit = limit(entry.value, at: here)
            case "max_budget":
                key.maxBudget = budget(entry.value, at: here)
            case "budget_duration":
                if let duration = budgetDuration(entry.value, at: here) {
                    key.budgetDuration = duration.seconds
                    key.budgetDurationText = duration.text
                }
            case "expires":
                key.expires = expiry(entry.value, at: here)
            case "blocked":
                key.blocked = bool(entry.value, at: here) ?? false
            case "metadata":
                key.metadata = metadata(entry.value, at: here)
            case let field where Self.unenforcedKeyFields.contains(field):
                problem(
                    "is a LiteLLM key setting this gateway does not enforce; remove it "
                        + "(a limit written down but not enforced would give false safety)", at: here, line: entry.line)
            default:
                problem(
                    "unknown key setting" + KeySuggestion.hint(for: entry.key, among: Self.keyFields), at: here,
                    line: entry.line)
            }
        }
        if key.budgetDuration != nil && !entries.contains(where: { $0.key == "max_budget" && !$0.value.isNull }) {
            problem(
                "budget_duration needs max_budget: it says when the budget starts again", at: location,
                line: entries.first { $0.key == "budget_duration" }?.line ?? node.line)
        }
        if !entries.contains(where: { $0.key == "key_alias" && !$0.value.isNull }) {
            problem("needs key_alias: (a unique name for logs and metrics)", at: location, line: node.line)
        }
        switch digestFields.count {
        case 0:
            problem("needs key_hash: (the key's SHA-256) or key:", at: location, line: node.line)
        case 1:
            break
        default:
            problem("has both key_hash and key; set only one", at: location, line: node.line)
        }
        guard problems.count == problemsBefore, let alias, let digest else { return nil }
        if plainText {
            notice(
                "key \(alias) is written in plain text in the config; use key_hash (fcgi-pass-through keys hash) "
                    + "or key: os.environ/NAME", at: Self.join(location, "key"),
                line: entries.first { $0.key == "key" }?.line)
        }
        key.alias = alias
        key.digest = digest
        return DecodedKey(key: key, line: node.line, aliasLine: aliasLine)
    }

    /// Unique aliases, unique keys, none equal to the master key.
    private mutating func checkAcrossKeys(_ keys: [DecodedKey], masterKey: String?) {
        let masterDigest = masterKey.map { KeyDigest(of: $0) }
        var aliases: [String: DecodedKey] = [:]
        var digests: [KeyDigest: DecodedKey] = [:]
        for decoded in keys {
            let key = decoded.key
            if let first = aliases[key.alias] {
                problem(
                    "alias used twice (first at \(first.key.location), line \(first.aliasLine))",
                    at: Self.join(key.location, "key_alias"), line: decoded.aliasLine)
            } else {
                aliases[key.alias] = decoded
            }
            if key.digest == masterDigest {
                problem(
                    "key \(key.alias) is the master key; a client's key must differ from it", at: key.location,
                    line: decoded.line)
            } else if let first = digests[key.digest] {
                problem(
                    "keys \(first.key.alias) (\(first.key.location)) and \(key.alias) are the same key; "
                        + "give each client its own", at: key.location, line: decoded.line)
            } else {
                digests[key.digest] = decoded
            }
        }
    }

    /// The alias is shown in logs, metrics and messages, which never show a value from
    /// the environment: it is written out in the file.
    private mutating func keyAlias(_ node: YAMLNode, at location: String) -> String? {
        guard let (alias, variables) = stringAndVariables(node, at: location) else { return nil }
        guard variables.isEmpty else {
            problem(
                "must be written out, not taken from the environment (logs and metrics show it)", at: location,
                line: node.line)
            return nil
        }
        if let message = Self.aliasProblem(alias) {
            problem(message, at: location, line: node.line)
            return nil
        }
        return alias
    }

    /// Why `alias` cannot name a key (shared with `keys new`), or `nil`.
    package static func aliasProblem(_ alias: String) -> String? {
        if alias.isEmpty { return "must not be empty" }
        if alias.utf8.count > maxAliasBytes { return "is longer than \(maxAliasBytes) bytes" }
        if !alias.utf8.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E }) {
            return "must be printable ASCII (letters, digits, punctuation, inner spaces)"
        }
        if alias.utf8.first == 0x20 || alias.utf8.last == 0x20 { return "must not start or end with a space" }
        if alias == masterKeyAlias { return "master_key is reserved: it names the master key in logs and metrics" }
        return nil
    }

    private mutating func keyHash(_ node: YAMLNode, at location: String) -> KeyDigest? {
        // Any scalar: 64 decimal digits would be a YAML int, and are still a digest.
        guard let written = text(node, at: location) else { return nil }
        guard let digest = KeyDigest(hex: written.value) else {
            problem(
                "must be the key's SHA-256 as 64 hex digits (fcgi-pass-through keys hash)", at: location,
                line: node.line)
            return nil
        }
        return digest
    }

    /// `key`: the key itself, normally `os.environ/NAME`; held only as its digest.
    /// - Returns: the digest, and whether the key was written in the file itself.
    private mutating func plainKey(_ node: YAMLNode, at location: String) -> (digest: KeyDigest, plainText: Bool)? {
        guard let resolved = stringAndVariables(node, at: location) else { return nil }
        if let message = Self.masterKeyProblem(resolved.value) {
            problem(message, at: location, line: node.line)
            return nil
        }
        return (KeyDigest(of: resolved.value), resolved.variables.isEmpty)
    }

    /// A list that, when given, has at least one item; `nil` after a problem.
    private mutating func nonEmptyList<Item>(
        _ node: YAMLNode, at location: String, item read: (inout ConfigDecoder, YAMLNode, String) -> Item?
    ) -> [Item]? {
        guard case .sequence(let nodes) = node.kind else {
            problem("must be a list, not \(node.kindDescription)", at: location, line: node.line)
            return nil
        }
        guard !nodes.isEmpty else {
            problem(
                "must not be empty: LiteLLM reads an empty list as no restriction; "
                    + "leave the setting out for that, or use blocked: true to stop the key", at: location,
                line: node.line)
            return nil
        }
        var items: [Item] = []
        var failed = false
        for (index, item) in nodes.enumerated() {
            if let value = read(&self, item, "\(location)[\(index)]") { items.append(value) } else { failed = true }
        }
        return failed ? nil : items
    }

    private mutating func routePattern(_ node: YAMLNode, at location: String) -> RoutePattern? {
        guard let written = string(node, at: location) else { return nil }
        guard let pattern = RoutePattern(written) else {
            problem(Self.routePatternRule, at: location, line: node.line)
            return nil
        }
        return pattern
    }

    package static let routePatternRule =
        "must be a path such as /p (that path) or /p/* (it and everything below it); * only as a final /*"

    private mutating func modelPattern(_ node: YAMLNode, at location: String) -> ModelPattern? {
        guard let written = string(node, at: location) else { return nil }
        guard !written.isEmpty else {
            problem("must not be empty", at: location, line: node.line)
            return nil
        }
        return ModelPattern(written)
    }

    /// A whole number from 1 to `maxKeyLimit`, written as a YAML int.
    private mutating func limit(_ node: YAMLNode, at location: String) -> Int? {
        guard case .scalar(let text, .plain) = node.kind, let value = Self.limitValue(text) else {
            problem("must be a whole number from 1 to \(Self.maxKeyLimit)", at: location, line: node.line)
            return nil
        }
        return value
    }

    /// `text` as a limit (shared with `keys new`): decimal digits, no sign or leading zero
    /// (YAML 1.1 reads `0600` as octal), `_` allowed between digits as YAML allows it.
    package static func limitValue(_ text: String) -> Int? {
        guard text.wholeMatch(of: #/[1-9][0-9_]*/#) != nil, let value = Int(text.filter { $0 != "_" }),
            (1...maxKeyLimit).contains(value)
        else { return nil }
        return value
    }

    /// `max_budget`: USD, a number above 0 (LiteLLM's float), written as a YAML number.
    private mutating func budget(_ node: YAMLNode, at location: String) -> Double? {
        guard case .scalar(let text, .plain) = node.kind, YAMLScalarRules.implicitType(of: text) == .number,
            let value = YAMLScalarRules.decimal(text), value.isFinite, value > 0, value <= Self.maxKeyBudget
        else {
            problem(
                "must be a number of USD above 0 and at most \(Int(Self.maxKeyBudget)), such as 25 or 0.5", at: location,
                line: node.line)
            return nil
        }
        return value
    }

    /// `budget_duration`, LiteLLM's duration: a whole number and `s`, `m`, `h` or `d`
    /// (`30s`, `60m`, `1h`, `30d`).
    private mutating func budgetDuration(_ node: YAMLNode, at location: String) -> (seconds: Int, text: String)? {
        guard let written = text(node, at: location) else { return nil }
        switch Self.durationSeconds(written.value) {
        case .success(let seconds):
            return (seconds, written.value)
        case .failure(let problem):
            self.problem(problem.message, at: location, line: node.line)
            return nil
        }
    }

    package struct DurationProblem: Error {
        package var message: String
    }

    /// LiteLLM's duration text in seconds (shared with `keys new`).
    package static func durationSeconds(_ text: String) -> Result<Int, DurationProblem> {
        let rule = "must be a whole number and s, m, h or d, such as 30s, 60m, 1h or 30d"
        if text.wholeMatch(of: #/[1-9][0-9]*mo/#) != nil {
            return .failure(
                DurationProblem(
                    message: "calendar months (mo) are not supported: budget windows have a fixed length; "
                        + "use days, such as 30d"))
        }
        guard let match = text.wholeMatch(of: #/([1-9][0-9]{0,9})([smhd])/#), let count = Int(match.1) else {
            return .failure(DurationProblem(message: rule))
        }
        let unit =
            switch match.2 {
            case "s": 1
            case "m": 60
            case "h": 3_600
            default: 86_400
            }
        let (seconds, overflow) = count.multipliedReportingOverflow(by: unit)
        guard !overflow, seconds <= maxBudgetDuration else {
            return .failure(DurationProblem(message: "must be at most ten years (3660d)"))
        }
        return .success(seconds)
    }

    private mutating func expiry(_ node: YAMLNode, at location: String) -> Date? {
        guard let written = text(node, at: location) else { return nil }
        guard let date = ISO8601Timestamp.parse(written.value) else {
            problem(
                "must be an ISO 8601 date-time such as 2027-01-31T00:00:00Z or 2027-01-31 09:00:00 +02:00",
                at: location, line: node.line)
            return nil
        }
        return date
    }

    /// `metadata`: any mapping, carried as JSON to `/key/info`. References are not
    /// resolved: whatever it holds is shown to the key's holder.
    private mutating func metadata(_ node: YAMLNode, at location: String) -> JSONValue? {
        guard case .mapping = node.kind else {
            problem("must be a mapping, not \(node.kindDescription)", at: location, line: node.line)
            return nil
        }
        return json(node, at: location)
    }

    private mutating func json(_ node: YAMLNode, at location: String) -> JSONValue? {
        switch node.kind {
        case .scalar(let text, .quoted):
            return .string(text)
        case .scalar(let text, .plain):
            switch YAMLScalarRules.implicitType(of: text) {
            case .null: return .null
            case .bool: return YAMLScalarRules.plainBool(text).map(JSONValue.bool)
            case .number: return YAMLScalarRules.decimal(text).map(JSONValue.number) ?? .string(text)
            case .string: return .string(text)
            }
        case .sequence(let items):
            var values: [JSONValue] = []
            for (index, item) in items.enumerated() {
                guard let value = json(item, at: "\(location)[\(index)]") else { return nil }
                values.append(value)
            }
            return .array(values)
        case .mapping:
            guard let entries = entries(of: node, at: location) else { return nil }
            var fields: [(String, JSONValue)] = []
            for entry in entries {
                guard let value = json(entry.value, at: Self.join(location, entry.key)) else { return nil }
                fields.append((entry.key, value))
            }
            return .object(fields)
        }
    }
}
