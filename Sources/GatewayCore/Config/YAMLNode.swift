/// A YAML document as plain Swift values, so that nothing past the reader sees libyaml.
///
/// Aliases are already expanded and `<<` merge keys applied. Scalars keep their text
/// untyped: whether `yes` is a bool or a string depends on the key it belongs to, and
/// only the loader knows that (see `YAMLNode+Scalar.swift`).
package struct YAMLNode: Sendable, Equatable {
    package enum Kind: Sendable, Equatable {
        case scalar(String, ScalarStyle)
        case mapping([YAMLPair])
        case sequence([YAMLNode])
    }

    /// Whether YAML's implicit typing applies to a scalar.
    package enum ScalarStyle: Sendable, Equatable {
        /// Unquoted and untagged: `null`, `true`, `42` get their YAML 1.1 types.
        case plain
        /// Quoted, block (`|`, `>`) or tagged: always a string.
        case quoted
    }

    package var kind: Kind
    /// 1-based line where the node starts.
    package var line: Int

    package init(_ kind: Kind, line: Int) {
        self.kind = kind
        self.line = line
    }

    package static func scalar(_ text: String, _ style: ScalarStyle = .plain, line: Int) -> YAMLNode {
        YAMLNode(.scalar(text, style), line: line)
    }

    /// The scalar's text, or `nil` for a mapping or sequence.
    package var scalarText: String? {
        if case .scalar(let text, _) = kind { return text }
        return nil
    }

    /// A word for messages: "a mapping", "a list", "a value".
    var kindDescription: String {
        switch kind {
        case .scalar: "a single value"
        case .mapping: "a mapping"
        case .sequence: "a list"
        }
    }
}

/// One `key: value` entry of a mapping, in file order.
package struct YAMLPair: Sendable, Equatable {
    package var key: YAMLNode
    package var value: YAMLNode

    package init(key: YAMLNode, value: YAMLNode) {
        self.key = key
        self.value = value
    }
}
