/// YAML 1.1 typing of plain scalars, as PyYAML's resolver does it: LiteLLM loads
/// `config.yaml` with PyYAML, so `yes` is a bool and `0.5` a number there, and a
/// config must mean the same thing here.
extension YAMLNode {
    /// A plain `null`, `~` or empty value (`key:` with nothing after it).
    var isNull: Bool {
        guard case .scalar(let text, .plain) = kind else { return false }
        return YAMLScalarRules.isNull(text)
    }

    /// A scalar that YAML types as a string (quoted, or plain but not null, bool or number).
    var isString: Bool {
        switch kind {
        case .scalar(_, .quoted): true
        case .scalar(let text, .plain): YAMLScalarRules.implicitType(of: text) == .string
        default: false
        }
    }
}

package enum YAMLScalarRules {
    package enum ImplicitType: Equatable { case null, bool, number, string }

    package static func implicitType(of plain: String) -> ImplicitType {
        if isNull(plain) { return .null }
        if plainBool(plain) != nil { return .bool }
        if isYAMLNumber(plain) { return .number }
        return .string
    }

    static func isNull(_ text: String) -> Bool {
        text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL"
    }

    /// YAML 1.1 booleans, in any letter case: true/false, yes/no, on/off.
    static func plainBool(_ text: String) -> Bool? {
        switch text.asciiLowercased {
        case "true", "yes", "on": true
        case "false", "no", "off": false
        default: nil
        }
    }

    /// A string meant as a bool: `"true"`/`"false"` in any case, as LiteLLM's
    /// `str(value).lower() == "true"` accepts them.
    static func quotedBool(_ text: String) -> Bool? {
        switch text.asciiLowercased {
        case "true": true
        case "false": false
        default: nil
        }
    }

    /// A decimal number such as `30`, `-1.5`, `.5` or `1e3`; `nil` for anything else
    /// (hex, `.inf`, `.nan`, sexagesimal, which no setting here needs).
    static func decimal(_ text: String) -> Double? {
        guard text.wholeMatch(of: #/[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?/#) != nil
        else { return nil }
        return Double(text.filter { $0 != "_" })
    }

    /// PyYAML's int and float patterns: what a plain scalar must look like to be a number.
    static func isYAMLNumber(_ text: String) -> Bool {
        let int = #/[-+]?(?:0b[0-1_]+|0[0-7_]+|0|[1-9][0-9_]*|0x[0-9a-fA-F_]+|[1-9][0-9_]*(?::[0-5]?[0-9])+)/#
        let float =
            #/[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|\.(?:inf|Inf|INF))|\.(?:nan|NaN|NAN)/#
        return text.wholeMatch(of: int) != nil || text.wholeMatch(of: float) != nil
    }
}
