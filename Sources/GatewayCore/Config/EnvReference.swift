/// `os.environ/NAME` references inside config strings (docs/BEHAVIOUR.md §1).
///
/// Unlike LiteLLM, which takes everything after `os.environ/` as the name and silently
/// keeps the literal text when the variable is unset, a reference here is
/// `[A-Za-z_][A-Za-z0-9_]*`, may stand anywhere, may repeat, and must resolve.
enum EnvReference {
    static let prefix = "os.environ/"

    /// Why a value could not be resolved. Each names a variable, never a value.
    enum Problem: Sendable, Equatable {
        case unset(String)
        case empty(String)
        case controlCharacter(String)
        /// `os.environ/` not followed by a valid name.
        case malformed

        package var message: String {
            switch self {
            case .unset(let name): "environment variable \(name) is not set"
            case .empty(let name): "environment variable \(name) is empty"
            case .controlCharacter(let name):
                "environment variable \(name) contains a control character (CR, LF, NUL or similar)"
            case .malformed:
                "os.environ/ must be followed by a variable name ([A-Za-z_][A-Za-z0-9_]*)"
            }
        }
    }

    enum Outcome: Sendable, Equatable {
        /// `names` lists the variables used, in order; empty when the text had no reference.
        case resolved(String, names: [String])
        case failed([Problem])
    }

    /// Replaces every reference in `text` with the variable's value from `environment`.
    static func resolve(_ text: String, in environment: Environment) -> Outcome {
        guard text.contains(prefix) else { return .resolved(text, names: []) }
        var output = ""
        var names: [String] = []
        var problems: [Problem] = []
        var rest = Substring(text)
        while let found = rest.firstRange(of: prefix) {
            output += rest[..<found.lowerBound]
            let afterPrefix = rest[found.upperBound...]
            let name = leadingName(afterPrefix)
            guard !name.isEmpty else {
                problems.append(.malformed)
                rest = afterPrefix
                continue
            }
            rest = afterPrefix[name.endIndex...]
            names.append(String(name))
            switch environment[String(name)] {
            case nil: problems.append(.unset(String(name)))
            case let value? where value.isEmpty: problems.append(.empty(String(name)))
            case let value? where HTTPSyntax.hasControlCharacter(value):
                problems.append(.controlCharacter(String(name)))
            case let value?: output += value
            }
        }
        output += rest
        return problems.isEmpty ? .resolved(output, names: names) : .failed(problems)
    }

    /// The longest `[A-Za-z_][A-Za-z0-9_]*` at the start of `text`; empty when none.
    static func leadingName(_ text: Substring) -> Substring {
        guard let first = text.utf8.first, ConfigSyntax.isNameStart(first) else {
            return text[text.startIndex..<text.startIndex]
        }
        let length = text.utf8.prefix { ConfigSyntax.isNameStart($0) || ($0 >= 0x30 && $0 <= 0x39) }.count
        // Cut by UTF-8 offset: a combining mark after the name must not join it.
        return text[..<text.utf8.index(text.startIndex, offsetBy: length)]
    }
}
