/// Walks the YAML tree of one config file and builds the `GatewayConfig`.
///
/// Every check records a problem and carries on, so one run lists everything that is
/// wrong (like `nginx -t`). Messages name keys and variables, never a value: any string
/// may hold a secret once `os.environ/` references are resolved.
package struct ConfigDecoder {
    /// One `key: value` of a mapping, the key as text.
    struct Entry {
        package var key: String
        package var line: Int
        var value: YAMLNode
    }

    let file: String
    /// The injected environment with `environment_variables` laid over it.
    private(set) var environment: Environment
    package private(set) var problems: [ConfigProblem] = []
    package private(set) var notices: [ConfigProblem] = []
    /// Values of variables sent upstream as credentials (`GatewayConfig.secrets`).
    private(set) var secrets: Set<String> = []

    package init(file: String, environment: Environment) {
        self.file = file
        self.environment = environment
    }

    package mutating func problem(_ message: String, at location: String, line: Int?) {
        problems.append(ConfigProblem(file: file, line: line, location: location, message: message))
    }

    mutating func notice(_ message: String, at location: String, line: Int?) {
        notices.append(ConfigProblem(file: file, line: line, location: location, message: message))
    }

    /// Records the values of `variables` as secrets: they are what an upstream's answer
    /// must never carry back to a client.
    mutating func noteSecrets(_ variables: [String]) {
        for name in variables {
            if let value = environment[name] { secrets.insert(value) }
        }
    }

    mutating func noteSecret(_ value: String) {
        secrets.insert(value)
    }

    mutating func setVariable(_ name: String, _ value: String) {
        environment.values[name] = value
    }

    static func join(_ location: String, _ key: String) -> String {
        let key = ConfigSyntax.displayKey(key)
        return location.isEmpty ? key : "\(location).\(key)"
    }

    /// The entries of a mapping, in file order. A key written twice is a problem
    /// (PyYAML would silently keep the last one); only the first is returned.
    /// - Returns: `nil` after a problem when `node` is not a mapping.
    mutating func entries(of node: YAMLNode, at location: String, what: String = "a mapping") -> [Entry]? {
        guard case .mapping(let pairs) = node.kind else {
            problem("must be \(what), not \(node.kindDescription)", at: location, line: node.line)
            return nil
        }
        var firstLine: [String: Int] = [:]
        var entries: [Entry] = []
        for pair in pairs {
            guard let key = pair.key.scalarText else {
                problem("keys must be plain text, not \(pair.key.kindDescription)", at: location, line: pair.key.line)
                continue
            }
            if let first = firstLine[key] {
                problem("key written twice (first at line \(first))", at: Self.join(location, key), line: pair.key.line)
                continue
            }
            firstLine[key] = pair.key.line
            entries.append(Entry(key: key, line: pair.key.line, value: pair.value))
        }
        return entries
    }

    /// Resolves every `os.environ/` reference in `text`; also refuses control characters
    /// written literally (`"\r\n"` in a double-quoted value).
    /// - Returns: the value and the variables it used, or `nil` after a problem.
    mutating func resolve(_ text: String, at location: String, line: Int) -> (value: String, variables: [String])? {
        switch EnvReference.resolve(text, in: environment) {
        case .failed(let failures):
            for failure in failures { problem(failure.message, at: location, line: line) }
            return nil
        case .resolved(let value, let names):
            guard !HTTPSyntax.hasControlCharacter(value) else {
                problem("contains a control character (CR, LF, NUL or similar)", at: location, line: line)
                return nil
            }
            return (value, names)
        }
    }
}
