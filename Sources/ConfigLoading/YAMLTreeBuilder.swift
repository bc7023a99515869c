import GatewayCore

/// Assembles `YAMLEvent`s into a `YAMLNode` tree: expands aliases, applies `<<` merge
/// keys, and enforces `YAMLReader.Limits` while doing so.
///
/// Iterative (an explicit stack of open collections), so deep input cannot overflow the
/// call stack. Every alias adds the full size of the node it names to the count, which is
/// what a later walk over the tree would cost.
struct YAMLTreeBuilder {
    private struct OpenCollection {
        var isMapping: Bool
        var line: Int
        var anchor: String?
        /// For a mapping: keys and values alternating.
        var items: [YAMLNode] = []
        /// Nodes in this subtree, aliases expanded, the collection itself included.
        var size = 1
    }

    private let limits: YAMLReader.Limits
    private var stack: [OpenCollection] = []
    private var anchors: [String: (node: YAMLNode, size: Int)] = [:]
    private var nodeCount = 0
    private var documents = 0
    private(set) var root: YAMLNode?

    init(limits: YAMLReader.Limits) { self.limits = limits }

    mutating func consume(_ event: YAMLEvent) throws(YAMLReader.Failure) {
        switch event.kind {
        case .documentStart:
            documents += 1
            // As PyYAML's safe_load, which LiteLLM uses: one document per file.
            guard documents == 1 else {
                throw YAMLReader.Failure(
                    line: event.line, message: "invalid YAML: expected a single document, found a second one")
            }
        case .alias:
            guard let name = event.anchor, let target = anchors[name] else {
                throw YAMLReader.Failure(
                    line: event.line, message: "invalid YAML: alias names an anchor not defined before it")
            }
            try count(target.size, line: event.line)
            try add(target.node, size: target.size)
        case .scalar:
            try count(1, line: event.line)
            let node = YAMLNode.scalar(event.text, event.style, line: event.line)
            if let anchor = event.anchor { anchors[anchor] = (node, 1) }
            try add(node, size: 1)
        case .sequenceStart, .mappingStart:
            guard stack.count < limits.maxDepth else {
                throw YAMLReader.Failure(line: event.line, message: "YAML nested deeper than \(limits.maxDepth) levels")
            }
            try count(1, line: event.line)
            stack.append(OpenCollection(isMapping: event.kind == .mappingStart, line: event.line, anchor: event.anchor))
        case .sequenceEnd, .mappingEnd:
            guard let open = stack.popLast() else { return }
            let node: YAMLNode
            if open.isMapping {
                node = YAMLNode(.mapping(try Self.pairs(open.items)), line: open.line)
            } else {
                node = YAMLNode(.sequence(open.items), line: open.line)
            }
            if let anchor = open.anchor { anchors[anchor] = (node, open.size) }
            try add(node, size: open.size)
        case .other:
            break
        }
    }

    private mutating func count(_ nodes: Int, line: Int) throws(YAMLReader.Failure) {
        nodeCount += nodes
        guard nodeCount <= limits.maxNodes else {
            throw YAMLReader.Failure(
                line: line,
                message: "YAML expands to more than \(limits.maxNodes) nodes (too many aliases?)")
        }
    }

    private mutating func add(_ node: YAMLNode, size: Int) throws(YAMLReader.Failure) {
        guard !stack.isEmpty else {
            root = node
            return
        }
        stack[stack.count - 1].items.append(node)
        stack[stack.count - 1].size += size
    }

    /// Pairs up keys and values and applies `<<` merge keys
    /// (https://yaml.org/type/merge.html): keys written in the mapping win over merged
    /// ones, and an earlier merged mapping wins over a later one.
    private static func pairs(_ items: [YAMLNode]) throws(YAMLReader.Failure) -> [YAMLPair] {
        var written: [YAMLPair] = []
        var sources: [[YAMLPair]] = []
        for index in stride(from: 0, to: items.count - 1, by: 2) {
            let key = items[index]
            let value = items[index + 1]
            guard case .scalar("<<", .plain) = key.kind else {
                written.append(YAMLPair(key: key, value: value))
                continue
            }
            switch value.kind {
            case .mapping(let pairs):
                sources.append(pairs)
            case .sequence(let nodes):
                for node in nodes {
                    guard case .mapping(let pairs) = node.kind else { throw mergeFailure(node.line) }
                    sources.append(pairs)
                }
            case .scalar:
                throw mergeFailure(value.line)
            }
        }
        guard !sources.isEmpty else { return written }
        var seen = Set(written.compactMap(\.key.scalarText))
        var merged: [YAMLPair] = []
        for pair in sources.joined() {
            if let key = pair.key.scalarText {
                guard seen.insert(key).inserted else { continue }
            }
            merged.append(pair)
        }
        return merged + written
    }

    private static func mergeFailure(_ line: Int) -> YAMLReader.Failure {
        YAMLReader.Failure(line: line, message: "invalid YAML: a << merge key needs a mapping or a list of mappings")
    }
}
