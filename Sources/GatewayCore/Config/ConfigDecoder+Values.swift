/// Typed reads of scalar settings. Each returns `nil` after recording a problem; callers
/// treat a YAML null (`key:` with no value) as "not set" before calling these.
extension ConfigDecoder {
    /// A string setting with references resolved. Plain numbers and bools are refused,
    /// as YAML types them: `master_key: 1234` is an int, not a key.
    mutating func string(_ node: YAMLNode, at location: String) -> String? {
        stringAndVariables(node, at: location)?.value
    }

    mutating func stringAndVariables(_ node: YAMLNode, at location: String) -> (value: String, variables: [String])? {
        guard case .scalar(let text, _) = node.kind else {
            problem("must be a string, not \(node.kindDescription)", at: location, line: node.line)
            return nil
        }
        guard node.isString else {
            let message = node.isNull ? "must be a string, not empty" : "must be a string (quote the value)"
            problem(message, at: location, line: node.line)
            return nil
        }
        return resolve(text, at: location, line: node.line)
    }

    /// Any scalar's text, numbers and bools as written (`X-Retries: 3`), references resolved.
    mutating func text(_ node: YAMLNode, at location: String) -> (value: String, variables: [String])? {
        guard case .scalar(let text, _) = node.kind else {
            problem("must be a single value, not \(node.kindDescription)", at: location, line: node.line)
            return nil
        }
        guard !node.isNull else {
            problem("has no value (write \"\" for an empty one)", at: location, line: node.line)
            return nil
        }
        return resolve(text, at: location, line: node.line)
    }

    /// `true`/`false`/`yes`/`no`/`on`/`off` unquoted in any case, or the string
    /// `"true"`/`"false"` in any case (LiteLLM compares `str(value).lower()`).
    mutating func bool(_ node: YAMLNode, at location: String) -> Bool? {
        guard case .scalar(let text, let style) = node.kind else {
            problem("must be true or false, not \(node.kindDescription)", at: location, line: node.line)
            return nil
        }
        if style == .plain, let value = YAMLScalarRules.plainBool(text) { return value }
        guard node.isString else {
            problem("must be true or false", at: location, line: node.line)
            return nil
        }
        guard let resolved = resolve(text, at: location, line: node.line) else { return nil }
        guard let value = YAMLScalarRules.quotedBool(resolved.value) else {
            problem("must be true or false", at: location, line: node.line)
            return nil
        }
        return value
    }

    /// A finite decimal number, written as a number or a numeric string (`"30"`,
    /// `os.environ/TIMEOUT`), above `minimum` (or at least it when `orEqual`).
    mutating func number(_ node: YAMLNode, at location: String, above minimum: Double, orEqual: Bool = false) -> Double? {
        let rule =
            orEqual ? "a number, \(Self.format(minimum)) or more" : "a number greater than \(Self.format(minimum))"
        guard case .scalar(let text, let style) = node.kind,
            style == .quoted || YAMLScalarRules.implicitType(of: text) == .number || node.isString
        else {
            problem("must be \(rule)", at: location, line: node.line)
            return nil
        }
        guard let resolved = resolve(text, at: location, line: node.line) else { return nil }
        guard let value = YAMLScalarRules.decimal(resolved.value), value.isFinite,
            orEqual ? value >= minimum : value > minimum
        else {
            problem("must be \(rule)", at: location, line: node.line)
            return nil
        }
        return value
    }

    /// A size in bytes, 0 or more: a whole number, or digits with `k`, `m` or `g`
    /// (`512m`, `1g`), as `--max-body-size` takes it; references resolved.
    mutating func byteCount(_ node: YAMLNode, at location: String) -> Int? {
        let rule = "must be a size in bytes, such as 0, 65536, 512k, 64m or 1g"
        guard case .scalar(let text, _) = node.kind else {
            problem(rule, at: location, line: node.line)
            return nil
        }
        guard let resolved = resolve(text, at: location, line: node.line) else { return nil }
        guard let bytes = ByteCount.parse(resolved.value) else {
            problem(rule, at: location, line: node.line)
            return nil
        }
        return bytes
    }

    private static func format(_ number: Double) -> String {
        number == number.rounded() ? String(Int(number)) : String(number)
    }
}
