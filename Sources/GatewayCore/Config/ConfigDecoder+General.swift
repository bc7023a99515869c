import Foundation

/// `general_settings`: the master key, timeouts, the key header and the endpoints.
/// LiteLLM has dozens of other general settings (`alerting`, `store_model_in_db`, ...);
/// they are listed in one notice and not read, not even for `os.environ/` references.
extension ConfigDecoder {
    static let generalKeys = [
        "master_key", "pass_through_endpoints", "pass_through_request_timeout", "litellm_key_header_name",
        "transport", "ssl_ca_file", "max_temp_file_size", "keys", "limits_file", "model_cost_map", "usage_db",
        "database_url", "redis_url", "shared_state_failure", "host_id",
    ]

    mutating func decodeGeneralSettings(_ node: YAMLNode, line: Int, into config: inout GatewayConfig) {
        guard let entries = entries(of: node, at: "general_settings") else { return }
        var masterKey: Entry?
        var keys: Entry?
        var databaseURL: Entry?
        var redisURL: Entry?
        var ignored: [String] = []
        for entry in entries where !entry.value.isNull {
            switch entry.key {
            case "master_key":
                masterKey = entry
            case "pass_through_endpoints":
                config.endpoints = decodeEndpoints(entry.value)
            case "pass_through_request_timeout":
                if let seconds = number(entry.value, at: entry.key, above: 0) { config.defaultTimeout = seconds }
            case "litellm_key_header_name":
                config.keyHeaderName = headerName(entry.value, at: entry.key)
            case "transport":
                if let transport = transport(entry.value, at: entry.key) { config.transport = transport }
            case "ssl_ca_file":
                config.caFile = readableFile(entry.value, at: entry.key)
            case "max_temp_file_size":
                if let bytes = byteCount(entry.value, at: entry.key) { config.maxTempFileSize = bytes }
            case "keys":
                keys = entry
            case "limits_file":
                config.limitsFile = absolutePath(entry.value, at: entry.key)
            case "model_cost_map":
                if let loaded = modelCostMap(entry.value, at: entry.key) {
                    config.modelCostMap = loaded.path
                    config.prices = loaded.prices
                }
            case "usage_db":
                config.usageDB = absolutePath(entry.value, at: entry.key)
            case "host_id":
                if let id = string(entry.value, at: entry.key) {
                    if id.isEmpty || HTTPSyntax.hasControlCharacter(id) {
                        problem("must be a non-empty name without control characters", at: entry.key, line: entry.value.line)
                    } else {
                        config.hostID = id
                    }
                }
            case "database_url":
                databaseURL = entry
            case "redis_url":
                redisURL = entry
            case "shared_state_failure":
                if let name = string(entry.value, at: entry.key) {
                    if let failure = SharedStateSettings.Failure(rawValue: name) {
                        config.sharedState.failure = failure
                    } else {
                        problem("must be open or closed", at: entry.key, line: entry.value.line)
                    }
                }
            default:
                ignored.append(
                    ConfigSyntax.displayKey(entry.key) + KeySuggestion.hint(for: entry.key, among: Self.generalKeys))
            }
        }
        if !ignored.isEmpty {
            notice(
                "ignored keys this gateway does not use: \(ignored.joined(separator: ", "))",
                at: "general_settings", line: line)
        }
        if let masterKey {
            if let key = string(masterKey.value, at: "master_key"),
                checkMasterKey(key, at: "master_key", line: masterKey.line, source: "")
            {
                config.masterKey = key
            }
        } else {
            config.masterKey = masterKeyFromEnvironment()
        }
        config.sharedState.databaseURL = decodeDatabaseURL(databaseURL)
        config.sharedState.redis = decodeRedis(redisURL)
        // After the master key: a key must differ from it, and keys need one.
        if let keys {
            config.keys = decodeKeys(
                keys.value, line: keys.line, hasMasterKey: masterKey != nil || environment["LITELLM_MASTER_KEY"] != nil,
                masterKey: config.masterKey)
        }
    }

    /// LiteLLM's fallback when `master_key` is absent or null: `LITELLM_MASTER_KEY`,
    /// read after `environment_variables` were applied.
    mutating func masterKeyFromEnvironment() -> String? {
        guard let key = environment["LITELLM_MASTER_KEY"] else { return nil }
        let source = "LITELLM_MASTER_KEY (used because master_key is not set) "
        guard checkMasterKey(key, at: "master_key", line: nil, source: source) else { return nil }
        return key
    }

    /// A key clients must be able to send in a header, byte for byte. An empty key
    /// would fail open in LiteLLM (issue #1851); it refuses to start here.
    private mutating func checkMasterKey(_ key: String, at location: String, line: Int?, source: String) -> Bool {
        guard let message = Self.masterKeyProblem(key) else { return true }
        problem(source + message, at: location, line: line)
        return false
    }

    /// Why `key` cannot be sent in a header as it is (shared by client keys and `keys hash`), or `nil`.
    package static func masterKeyProblem(_ key: String) -> String? {
        if key.isEmpty { return "is empty" }
        if HTTPSyntax.hasControlCharacter(key) { return "contains a control character (CR, LF, NUL or similar)" }
        if key.utf8.contains(0x09) { return "contains a tab" }
        if !ConfigSyntax.isASCII(key) { return "contains non-ASCII characters, which clients cannot send in a header" }
        if ConfigSyntax.hasOuterWhitespace(key) {
            return "starts or ends with whitespace, which HTTP strips from header values"
        }
        return nil
    }

    mutating func transport(_ node: YAMLNode, at location: String) -> UpstreamTransport? {
        guard let name = string(node, at: location) else { return nil }
        guard let transport = UpstreamTransport(rawValue: name) else {
            let names = UpstreamTransport.allCases.map(\.rawValue).joined(separator: " or ")
            problem("must be \(names)", at: location, line: node.line)
            return nil
        }
        return transport
    }

    /// A file the gateway reads at start (a CA bundle): absolute, and readable now,
    /// so a typo stops the start rather than every TLS request.
    mutating func readableFile(_ node: YAMLNode, at location: String) -> String? {
        guard let path = string(node, at: location) else { return nil }
        guard path.hasPrefix("/") else {
            problem("must be an absolute path", at: location, line: node.line)
            return nil
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            problem("cannot be read (missing file or no permission)", at: location, line: node.line)
            return nil
        }
        return path
    }

    /// `model_cost_map`: LiteLLM's price file, read now so a bad one stops the start.
    mutating func modelCostMap(_ node: YAMLNode, at location: String) -> (path: String, prices: PriceBook)? {
        guard let path = readableFile(node, at: location) else { return nil }
        // Checked before reading: a wrong path could name a huge file.
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        if let size = (attributes?[.size] as? NSNumber)?.int64Value, size > Int64(PriceBook.maxFileBytes) {
            problem("is larger than \(PriceBook.maxFileBytes >> 20) MiB", at: location, line: node.line)
            return nil
        }
        guard let data = FileManager.default.contents(atPath: path), data.count <= PriceBook.maxFileBytes else {
            problem("cannot be read (a directory, or larger than \(PriceBook.maxFileBytes >> 20) MiB)", at: location, line: node.line)
            return nil
        }
        switch Result(catching: { () throws(PriceBook.LoadError) in try PriceBook(json: data) }) {
        case .success(let prices):
            return (path, prices)
        case .failure(let error):
            problem(error.message, at: location, line: node.line)
            return nil
        }
    }

    /// A header name setting (`litellm_key_header_name`, `litellm_user_api_key`), lower-cased.
    mutating func headerName(_ node: YAMLNode, at location: String) -> String? {
        guard let name = string(node, at: location) else { return nil }
        guard HTTPSyntax.isToken(name) else {
            problem("must be a header name (letters, digits and !#$%&'*+-.^_`|~)", at: location, line: node.line)
            return nil
        }
        return name.asciiLowercased
    }
}
