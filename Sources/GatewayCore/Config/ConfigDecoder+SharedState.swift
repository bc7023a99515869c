/// `database_url` and `redis_url`, and LiteLLM's variables for them (docs/SHARED_STATE.md).
/// The setting wins over the variable; a variable that is not a URL this gateway can use
/// leaves that state per host, with a notice, since LiteLLM's own deployments may set it
/// for other reasons.
extension ConfigDecoder {
    /// A setting written as one `os.environ/NAME` whose variable is unset or empty means
    /// "not set", as in LiteLLM (whose own configs write `database_url:
    /// os.environ/DATABASE_URL` whether or not a database is there): noticed, not refused.
    private mutating func isUnsetReference(_ entry: Entry) -> Bool {
        guard case .scalar(let text, _) = entry.value.kind, entry.value.isString, text.hasPrefix(EnvReference.prefix)
        else { return false }
        let name = text.dropFirst(EnvReference.prefix.count)
        guard !name.isEmpty, EnvReference.leadingName(name) == name, environment[String(name)]?.isEmpty ?? true else {
            return false
        }
        notice(
            "environment variable \(name) is not set: \(entry.key) is left unset", at: entry.key, line: entry.value.line)
        return true
    }

    mutating func decodeDatabaseURL(_ entry: Entry?) -> String? {
        if let entry {
            if isUnsetReference(entry) { return nil }
            guard let url = string(entry.value, at: entry.key) else { return nil }
            guard PostgresURL.isPostgres(url) else {
                problem("must be a postgresql:// URL (the ledger is SQLite without it)", at: entry.key, line: entry.value.line)
                return nil
            }
            return url
        }
        guard let url = environment["DATABASE_URL"], !url.isEmpty else { return nil }
        guard PostgresURL.isPostgres(url) else {
            notice("DATABASE_URL is not a postgresql:// URL: the ledger stays in SQLite", at: "general_settings", line: nil)
            return nil
        }
        return url
    }

    mutating func decodeRedis(_ entry: Entry?) -> RedisAddress? {
        if let entry {
            if isUnsetReference(entry) { return nil }
            guard let url = string(entry.value, at: entry.key) else { return nil }
            switch RedisAddress.parse(url) {
            case .success(let address): return address
            case .failure(let error):
                problem(error.message, at: entry.key, line: entry.value.line)
                return nil
            }
        }
        if let url = environment["REDIS_URL"], !url.isEmpty {
            switch RedisAddress.parse(url) {
            case .success(let address): return address
            case .failure(let error):
                problem("REDIS_URL " + error.message, at: "general_settings", line: nil)
                return nil
            }
        }
        guard let host = environment["REDIS_HOST"], !host.isEmpty else { return nil }
        var port = 6379
        if let text = environment["REDIS_PORT"], !text.isEmpty {
            guard let number = Int(text), (1...65535).contains(number) else {
                problem("REDIS_PORT must be a port number (1-65535)", at: "general_settings", line: nil)
                return nil
            }
            port = number
        }
        let password = environment["REDIS_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
        return RedisAddress(host: host, port: port, username: environment["REDIS_USERNAME"], password: password)
    }
}
