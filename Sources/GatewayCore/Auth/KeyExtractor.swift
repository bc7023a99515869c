/// Finds the gateway key a client presented, in LiteLLM's precedence order (docs/BEHAVIOUR.md §4).
struct KeyExtractor: Sendable {
    enum Outcome: Sendable, Equatable {
        case key(String)
        /// No header that can carry the key is present (or all are blank).
        case missing
        /// `Authorization` present without the `Bearer` scheme.
        case malformed
        /// A key-carrying header appears more than once: guessing which copy counts could
        /// let a proxy in front and the gateway disagree, so the request is refused.
        case ambiguous
    }

    /// How a header's value holds the key.
    enum Form: Sendable, Equatable {
        /// The value is the key.
        case raw
        /// `Bearer <key>` or the bare key.
        case optionalBearer
        /// Must be `Bearer <key>`, scheme case-insensitive (RFC 9110 §11.1).
        case bearer
    }

    /// The standard headers after the endpoint's own, in precedence order.
    static let standardSources: [(name: String, form: Form)] = [
        ("x-litellm-api-key", .optionalBearer),
        ("authorization", .bearer),
        ("api-key", .raw),
        ("x-api-key", .raw),
        ("x-goog-api-key", .raw),
        ("ocp-apim-subscription-key", .raw),
    ]

    /// Where the key is read from, first found wins.
    let sources: [(name: String, form: Form)]
    /// The sources' names: most fields of a request are no source, and their length alone
    /// turns them away.
    private let sourceNames: HeaderNameSet

    /// - Parameters:
    ///   - keyHeaderName: `litellm_key_header_name`; when set it is the only source.
    ///   - userKeyHeader: the endpoint's `litellm_user_api_key`, read before the standard list.
    init(keyHeaderName: String?, userKeyHeader: String?) {
        if let keyHeaderName {
            sources = [(keyHeaderName, .optionalBearer)]
        } else if let userKeyHeader {
            sources =
                [(userKeyHeader, .optionalBearer)]
                + Self.standardSources.filter { !$0.name.caseInsensitiveEquals(userKeyHeader) }
        } else {
            sources = Self.standardSources
        }
        sourceNames = HeaderNameSet(sources.map(\.name))
        precondition(sources.count <= 8, "extract keeps one slot per source, eight at most")
    }

    func extract(from headers: HTTPHeaders) -> Outcome {
        // One pass over the fields finds each source's field, and any source named twice:
        // duplicates are checked on every source first, so the answer does not depend on
        // which header happens to win the precedence.
        let fields = headers.fields
        var firstField = InlineArray<8, Int>(repeating: -1)
        for index in fields.indices where sourceNames.admitsLength(of: fields[index].name) {
            for source in sources.indices where fields[index].name.caseInsensitiveEquals(sources[source].name) {
                if firstField[source] >= 0 { return .ambiguous }
                firstField[source] = index
            }
        }
        for (position, source) in sources.enumerated() where firstField[position] >= 0 {
            let value = HTTPSyntax.trimmingWhitespace(fields[firstField[position]].value)
            guard !value.isEmpty else { continue }
            let token = Self.bearerToken(value)
            switch source.form {
            case .raw: return .key(String(value))
            case .optionalBearer: return .key(String(token ?? value))
            case .bearer:
                guard let token else { return .malformed }
                return .key(String(token))
            }
        }
        return .missing
    }

    /// The token after a `Bearer` scheme and whitespace, or `nil` for any other value.
    static func bearerToken(_ value: Substring) -> Substring? {
        let scheme = "bearer".utf8
        let bytes = value.utf8
        guard bytes.count > scheme.count,
            zip(bytes, scheme).allSatisfy({ $0 | 0x20 == $1 }),
            HTTPSyntax.isWhitespace(bytes[bytes.index(bytes.startIndex, offsetBy: scheme.count)])
        else { return nil }
        return HTTPSyntax.trimmingWhitespace(value.dropFirst(scheme.count))
    }
}
