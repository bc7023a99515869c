import Foundation

/// An endpoint's `headers`, with LiteLLM's two special names taken out.
struct DecodedHeaders {
    package var headers = HTTPHeaders()
    /// `litellm_user_api_key: <client header>`, lower-cased.
    var userKeyHeader: String?
}

/// `headers: {name: value}`: the headers sent upstream (docs/BEHAVIOUR.md §1, §3).
extension ConfigDecoder {
    /// The gateway frames the upstream request itself; a configured value for these
    /// would contradict it (request smuggling) or be dropped by libcurl.
    static let framingHeaders = HopByHop.names.union(["content-length"])
    /// Header values longer than this are refused: upstreams commonly cap a header line
    /// at 8 KiB, and a value that long is more likely a wrong file than a key.
    static let maxHeaderValueBytes = 8192

    mutating func decodeHeaders(_ node: YAMLNode, at location: String) -> DecodedHeaders? {
        guard let entries = entries(of: node, at: location) else { return nil }
        var result = DecodedHeaders()
        var firstLine: [String: Int] = [:]
        var langfuse: [String: (entry: Entry, value: String)] = [:]
        for entry in entries {
            let here = Self.join(location, entry.key)
            guard HTTPSyntax.isToken(entry.key) else {
                problem("is not a valid header name (RFC 9110 token)", at: here, line: entry.line)
                continue
            }
            let name = entry.key.asciiLowercased
            // YAML keys are case-sensitive, header names are not: both would be sent.
            if let first = firstLine[name] {
                problem(
                    "header set twice (first at line \(first); names ignore letter case)", at: here, line: entry.line)
                continue
            }
            firstLine[name] = entry.line
            switch name {
            case "litellm_user_api_key":
                result.userKeyHeader = headerName(entry.value, at: here)
            case "langfuse_public_key", "langfuse_secret_key":
                if let value = text(entry.value, at: here) {
                    noteSecrets(value.variables)
                    langfuse[name] = (entry, value.value)
                }
            case let framing where Self.framingHeaders.contains(framing):
                problem("is set by the gateway itself and cannot be configured", at: here, line: entry.line)
            default:
                guard let value = text(entry.value, at: here),
                    checkHeaderValue(value.value, variables: value.variables, at: here, line: entry.line)
                else { continue }
                noteSecrets(value.variables)
                result.headers.append(entry.key, value.value)
            }
        }
        let authorization = entries.first {
            $0.key.asciiLowercased == "authorization" && result.headers.contains($0.key)
        }
        addLangfuseAuthorization(langfuse, to: &result.headers, at: location, authorization: authorization)
        return result
    }

    mutating func checkHeaderValue(
        _ value: String, variables: [String], at location: String, line: Int
    ) -> Bool {
        let origin = variables.isEmpty ? "" : " (after os.environ/\(variables.joined(separator: ", os.environ/")))"
        guard let message = Self.headerValueProblem(value, origin: origin) else { return true }
        problem(message, at: location, line: line)
        return false
    }

    private static func headerValueProblem(_ value: String, origin: String) -> String? {
        if !ConfigSyntax.isASCII(value) {
            return "contains non-ASCII characters\(origin), which HTTP header values do not carry reliably"
        }
        if ConfigSyntax.hasOuterWhitespace(value) {
            return "starts or ends with whitespace\(origin), which HTTP strips"
        }
        if value.utf8.count > maxHeaderValueBytes { return "is longer than \(maxHeaderValueBytes) bytes\(origin)" }
        return nil
    }

    /// LiteLLM's Langfuse shortcut: `LANGFUSE_PUBLIC_KEY` + `LANGFUSE_SECRET_KEY` become
    /// `Authorization: Basic base64("public:secret")` and are not sent themselves.
    private mutating func addLangfuseAuthorization(
        _ pair: [String: (entry: Entry, value: String)], to headers: inout HTTPHeaders, at location: String,
        authorization: Entry?
    ) {
        guard let user = pair["langfuse_public_key"], let password = pair["langfuse_secret_key"] else {
            guard let entry = pair.values.first?.entry else { return }
            let (present, missing) =
                pair["langfuse_public_key"] != nil
                ? ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY") : ("LANGFUSE_SECRET_KEY", "LANGFUSE_PUBLIC_KEY")
            problem(
                "\(present) needs \(missing) too (the pair becomes Authorization: Basic)",
                at: Self.join(location, entry.key), line: entry.line)
            return
        }
        var usable = true
        for (entry, value) in [user, password] where value.isEmpty {
            problem("is empty", at: Self.join(location, entry.key), line: entry.line)
            usable = false
        }
        // RFC 7617 §2: the user-id of Basic credentials cannot contain a colon.
        if user.value.contains(":") {
            problem(
                "must not contain ':' (it is the user name of Basic credentials)",
                at: Self.join(location, user.entry.key), line: user.entry.line)
            usable = false
        }
        if let authorization {
            problem(
                "conflicts with the LANGFUSE_PUBLIC_KEY/LANGFUSE_SECRET_KEY pair, which sets Authorization; keep one",
                at: Self.join(location, authorization.key), line: authorization.line)
            usable = false
        }
        guard usable else { return }
        let credentials = Data("\(user.value):\(password.value)".utf8).base64EncodedString()
        noteSecret(credentials)
        headers.append("Authorization", "Basic \(credentials)")
    }
}
