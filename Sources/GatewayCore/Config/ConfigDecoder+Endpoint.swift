/// One entry of `pass_through_endpoints`, with the keys of the endpoint table of docs/BEHAVIOUR.md §1.
extension ConfigDecoder {
    static let endpointKeys = [
        "path", "target", "headers", "forward_headers", "include_subpath", "merge_query_params", "auth",
        "methods", "default_query_params", "timeout", "cost_per_request", "id", "provider", "usage",
        "input_cost_per_token", "output_cost_per_token",
    ]
    /// LiteLLM endpoint keys with no meaning here; a notice says they are ignored.
    static let unsupportedEndpointKeys: Set<String> = ["guardrails", "custom_auth_parser", "is_from_config"]

    /// A decoded endpoint and where its parts were written, for the checks across endpoints.
    struct DecodedEndpoint {
        var endpoint: Endpoint
        package var line: Int
        var pathLine: Int
        var idLine: Int?
    }

    mutating func decodeEndpoints(_ node: YAMLNode) -> [Endpoint] {
        guard case .sequence(let items) = node.kind else {
            problem(
                "must be a list of endpoints (- path: ... target: ...), not \(node.kindDescription)",
                at: "pass_through_endpoints", line: node.line)
            return []
        }
        var decoded: [DecodedEndpoint] = []
        for (index, item) in items.enumerated() {
            if let endpoint = decodeEndpoint(item, at: "pass_through_endpoints[\(index)]") { decoded.append(endpoint) }
        }
        checkRoutes(decoded)
        return decoded.map(\.endpoint)
    }

    /// - Returns: `nil` when the entry has any problem (recorded).
    private mutating func decodeEndpoint(_ node: YAMLNode, at location: String) -> DecodedEndpoint? {
        guard let entries = entries(of: node, at: location, what: "a mapping with path: and target:") else {
            return nil
        }
        let problemsBefore = problems.count
        var path: String?
        var pathLine = node.line
        var idLine: Int?
        var target: TargetURL?
        var headers = DecodedHeaders()
        var methods = Endpoint.defaultMethods
        var flags: [String: Bool] = [:]
        var queryParams: [(name: String, value: String)] = []
        var id: String?
        var timeout: Double?
        var cost: Double?
        var tokenCosts: [String: Double] = [:]
        var provider: (preset: Provider, line: Int)?
        var usageFormat: UsageFormat?
        for entry in entries {
            let here = Self.join(location, entry.key)
            // A null value (`timeout:` with nothing after it) means "not set".
            if entry.value.isNull, Self.endpointKeys.contains(entry.key) { continue }
            switch entry.key {
            case "path":
                pathLine = entry.line
                path = routePath(entry.value, at: here)
            case "target":
                target = targetURL(entry.value, at: here)
            case "headers":
                headers = decodeHeaders(entry.value, at: here) ?? headers
            case "forward_headers", "include_subpath", "merge_query_params", "auth":
                flags[entry.key] = bool(entry.value, at: here)
            case "methods":
                methods = decodeMethods(entry.value, at: here) ?? methods
            case "default_query_params":
                queryParams = decodeQueryParams(entry.value, at: here) ?? []
            case "timeout":
                timeout = number(entry.value, at: here, above: 0)
            case "cost_per_request":
                cost = number(entry.value, at: here, above: 0, orEqual: true)
            case "provider":
                provider = (choice(entry.value, at: here) as Provider?).map { (preset: $0, line: entry.line) }
            case "usage":
                usageFormat = choice(entry.value, at: here)
            case "input_cost_per_token", "output_cost_per_token":
                tokenCosts[entry.key] = number(entry.value, at: here, above: 0, orEqual: true)
            case "id":
                idLine = entry.line
                id = string(entry.value, at: here)
                if id == "" { problem("must not be empty", at: here, line: entry.line) }
            case let key where Self.unsupportedEndpointKeys.contains(key):
                notice("LiteLLM setting not supported by this gateway, ignored", at: here, line: entry.line)
            default:
                notice(
                    "unknown key, ignored" + KeySuggestion.hint(for: entry.key, among: Self.endpointKeys),
                    at: here, line: entry.line)
            }
        }
        let present = Set(entries.filter { !$0.value.isNull }.map(\.key))
        // A provider supplies the target; a misspelt one is its own problem.
        let requiredKeys = present.contains("provider") ? ["path"] : ["path", "target"]
        for required in requiredKeys where !present.contains(required) {
            problem("is required", at: Self.join(location, required), line: node.line)
        }
        if let provider {
            addPresetHeaders(provider.preset, to: &headers.headers, at: Self.join(location, "provider"), line: provider.line)
        }
        guard problems.count == problemsBefore, let path, let target = target ?? provider?.preset.baseURL else {
            return nil
        }
        let endpoint = Endpoint(
            location: location, id: id, path: path, target: target,
            headers: headers.headers, userKeyHeader: headers.userKeyHeader,
            forwardHeaders: flags["forward_headers"] ?? false,
            includeSubpath: flags["include_subpath"] ?? (provider != nil),
            methods: methods,
            auth: flags["auth"] ?? true,
            mergeQueryParams: flags["merge_query_params"] ?? false,
            defaultQueryParams: queryParams,
            timeout: timeout, costPerRequest: cost,
            provider: provider?.preset,
            usageFormat: usageFormat ?? provider?.preset.usageFormat ?? UsageFormat.none,
            inputCostPerToken: tokenCosts["input_cost_per_token"],
            outputCostPerToken: tokenCosts["output_cost_per_token"])
        return DecodedEndpoint(endpoint: endpoint, line: node.line, pathLine: pathLine, idLine: idLine)
    }

    /// One of a fixed set of names (`provider`, `usage`), with a "did you mean" hint.
    private mutating func choice<Choice: CaseIterable & RawRepresentable>(
        _ node: YAMLNode, at location: String
    ) -> Choice? where Choice.RawValue == String {
        guard let name = string(node, at: location) else { return nil }
        guard let choice = Choice(rawValue: name) else {
            let names = Choice.allCases.map(\.rawValue)
            problem(
                "must be \(Self.alternatives(names))" + KeySuggestion.hint(for: name, among: names),
                at: location, line: node.line)
            return nil
        }
        return choice
    }

    /// `a, b or c`.
    private static func alternatives(_ names: [String]) -> String {
        names.dropLast().joined(separator: ", ") + " or " + (names.last ?? "")
    }

    /// The preset's headers that the endpoint does not write itself (names compared
    /// ignoring case), resolved like written ones: an unset key variable is a problem.
    private mutating func addPresetHeaders(
        _ provider: Provider, to headers: inout HTTPHeaders, at location: String, line: Int
    ) {
        var preset = HTTPHeaders()
        for (name, value) in provider.headers where !headers.contains(name) {
            switch EnvReference.resolve(value, in: environment) {
            case .failed(let failures):
                for failure in failures {
                    problem(
                        "\(failure.message) (the \(provider.rawValue) preset sends it as \(name); "
                            + "set it or write headers.\(name))", at: location, line: line)
                }
            case .resolved(let resolved, let variables):
                guard checkHeaderValue(resolved, variables: variables, at: location, line: line) else { continue }
                noteSecrets(variables)
                preset.append(name, resolved)
            }
        }
        headers = HTTPHeaders(preset.fields + headers.fields)
    }

    private mutating func targetURL(_ node: YAMLNode, at location: String) -> TargetURL? {
        guard let (text, variables) = stringAndVariables(node, at: location) else { return nil }
        guard let url = TargetURL(parsing: text) else {
            problem(
                "must be an absolute http:// or https:// URL (no user:password@, #fragment or spaces)",
                at: location, line: node.line)
            return nil
        }
        // A key in the query (`?key=os.environ/GEMINI_API_KEY`) is a credential; a variable
        // holding the whole URL or its host is not.
        if let query = url.query {
            noteSecrets(variables.filter { name in environment[name].map { query.contains($0) } ?? false })
        }
        return url
    }

    /// Upper-cased method names; an empty list means the default five.
    private mutating func decodeMethods(_ node: YAMLNode, at location: String) -> Set<String>? {
        guard case .sequence(let items) = node.kind else {
            problem(
                "must be a list of methods such as [GET, POST], not \(node.kindDescription)", at: location,
                line: node.line)
            return nil
        }
        var methods = Set<String>()
        for (index, item) in items.enumerated() {
            let here = "\(location)[\(index)]"
            guard let name = string(item, at: here) else { continue }
            guard HTTPSyntax.isToken(name) else {
                problem("must be an HTTP method name such as GET", at: here, line: item.line)
                continue
            }
            let method = ConfigSyntax.asciiUppercased(name)
            // CONNECT opens a tunnel and TRACE echoes the request, injected secrets included.
            guard method != "CONNECT", method != "TRACE" else {
                problem("\(method) is never forwarded", at: here, line: item.line)
                continue
            }
            methods.insert(method)
        }
        return methods.isEmpty ? Endpoint.defaultMethods : methods
    }

    /// `default_query_params: {name: value}`, in file order, values as written.
    private mutating func decodeQueryParams(_ node: YAMLNode, at location: String) -> [(name: String, value: String)]? {
        guard let entries = entries(of: node, at: location) else { return nil }
        var params: [(name: String, value: String)] = []
        for entry in entries {
            let here = Self.join(location, entry.key)
            guard !entry.key.isEmpty, !HTTPSyntax.hasControlCharacter(entry.key) else {
                problem("parameter names must not be empty or contain control characters", at: here, line: entry.line)
                continue
            }
            guard let value = text(entry.value, at: here) else { continue }
            noteSecrets(value.variables)
            params.append((entry.key, value.value))
        }
        return params
    }
}
