internal import CYAML
import GatewayCore

/// Reads YAML text into a `YAMLNode` tree with libyaml's event parser.
///
/// The only file that touches libyaml. The event API (rather than `yaml_parser_load`)
/// keeps each scalar's tag and quoting, and lets aliases be counted as they are expanded.
enum YAMLReader {
    /// Bounds on the expanded tree. A config needs a few hundred nodes; the bounds stop
    /// an alias bomb ("billion laughs") before it costs memory or time.
    struct Limits: Sendable {
        var maxNodes = 100_000
        var maxDepth = 64
    }

    /// Invalid YAML or a tree over the limits; `line` is 1-based.
    struct Failure: Error, Sendable, Equatable {
        var line: Int?
        package var message: String
    }

    /// - Returns: the document's root node, or `nil` when the stream holds no document.
    package static func read(_ text: String, limits: Limits = Limits()) throws(Failure) -> YAMLNode? {
        let bytes = Array(text.utf8)
        // libyaml asserts on a NULL input pointer, which an empty array may give.
        guard !bytes.isEmpty else { return nil }

        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw Failure(line: nil, message: "cannot start the YAML parser (out of memory)")
        }
        defer { yaml_parser_delete(&parser) }

        // The parser reads `bytes` lazily, so every parse call stays inside this closure.
        let result: Result<YAMLNode?, Failure> = bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var builder = YAMLTreeBuilder(limits: limits)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    return .failure(syntaxFailure(parser, bytes: buffer))
                }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { return .success(builder.root) }
                do throws(Failure) {
                    try builder.consume(YAMLEvent(event))
                } catch {
                    return .failure(error)
                }
            }
        }
        return try result.get()
    }

    /// libyaml's own problem text with the line it points at.
    private static func syntaxFailure(_ parser: yaml_parser_t, bytes: UnsafeBufferPointer<UInt8>) -> Failure {
        let problem = parser.problem.map { String(cString: $0) } ?? "unknown error"
        let line: Int?
        switch parser.error {
        case YAML_READER_ERROR:
            // Reader errors (bad UTF-8, control characters) carry an offset, not a mark.
            let end = min(parser.problem_offset, bytes.count)
            line = 1 + bytes[..<end].reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
        case YAML_SCANNER_ERROR, YAML_PARSER_ERROR:
            line = parser.problem_mark.line + 1
        default:
            line = nil
        }
        var message = "invalid YAML: \(problem)"
        if let context = parser.context.map({ String(cString: $0) }) {
            message += " (\(context) that starts at line \(parser.context_mark.line + 1))"
        }
        return Failure(line: line, message: message)
    }
}

/// The parts of a libyaml event the tree builder needs, copied out before the event is freed.
struct YAMLEvent: Sendable {
    enum Kind: Sendable, Equatable {
        case documentStart, scalar, alias, sequenceStart, sequenceEnd, mappingStart, mappingEnd, other
    }

    var kind: Kind
    var line: Int
    var anchor: String?
    var text: String = ""
    var style: YAMLNode.ScalarStyle = .plain

    init(kind: Kind, line: Int, anchor: String? = nil, text: String = "", style: YAMLNode.ScalarStyle = .plain) {
        self.kind = kind
        self.line = line
        self.anchor = anchor
        self.text = text
        self.style = style
    }

    fileprivate init(_ event: yaml_event_t) {
        let line = event.start_mark.line + 1
        func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
        }
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            self.init(kind: .documentStart, line: line)
        case YAML_ALIAS_EVENT:
            self.init(kind: .alias, line: line, anchor: string(event.data.alias.anchor))
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let text =
                scalar.value.map {
                    String(decoding: UnsafeBufferPointer(start: $0, count: scalar.length), as: UTF8.self)
                } ?? ""
            let tag = string(scalar.tag)
            // YAML 1.1: quoting, a block style, `!` or `!!str` make a scalar a string.
            let isString = scalar.style != YAML_PLAIN_SCALAR_STYLE || tag == "!" || tag == "tag:yaml.org,2002:str"
            self.init(
                kind: .scalar, line: line, anchor: string(scalar.anchor), text: text, style: isString ? .quoted : .plain
            )
        case YAML_SEQUENCE_START_EVENT:
            self.init(kind: .sequenceStart, line: line, anchor: string(event.data.sequence_start.anchor))
        case YAML_SEQUENCE_END_EVENT:
            self.init(kind: .sequenceEnd, line: line)
        case YAML_MAPPING_START_EVENT:
            self.init(kind: .mappingStart, line: line, anchor: string(event.data.mapping_start.anchor))
        case YAML_MAPPING_END_EVENT:
            self.init(kind: .mappingEnd, line: line)
        default:
            self.init(kind: .other, line: line)
        }
    }
}
