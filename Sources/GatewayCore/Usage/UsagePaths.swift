import Foundation

/// The member names on the way to a usage value. Any other name is `other`; `element` stands
/// for a position inside an array.
enum UsageName: UInt8, CaseIterable {
    case other, element
    case usage, model, response, message, meta, delta, tokens
    case promptTokens, completionTokens, totalTokens, promptTokensDetails, cachedTokens
    case inputTokens, outputTokens, inputTokensDetails, cacheReadInputTokens, cacheCreationInputTokens
    case usageMetadata, modelVersion, promptTokenCount, candidatesTokenCount, cachedContentTokenCount, thoughtsTokenCount
    case billedUnits, searchUnits

    /// How JSON spells the name.
    var spelling: String {
        switch self {
        case .other, .element: ""
        case .promptTokens: "prompt_tokens"
        case .completionTokens: "completion_tokens"
        case .totalTokens: "total_tokens"
        case .promptTokensDetails: "prompt_tokens_details"
        case .cachedTokens: "cached_tokens"
        case .inputTokens: "input_tokens"
        case .outputTokens: "output_tokens"
        case .inputTokensDetails: "input_tokens_details"
        case .cacheReadInputTokens: "cache_read_input_tokens"
        case .cacheCreationInputTokens: "cache_creation_input_tokens"
        case .billedUnits: "billed_units"
        case .searchUnits: "search_units"
        default: String(describing: self)
        }
    }

    /// Longer names than this are never looked up.
    static let maxLength = 32

    /// Every spelling one after another, and the names ordered by their spelling's length:
    /// a lookup compares the few byte strings of its length and hashes nothing. Built once
    /// for the process and never freed, so a lookup reads it without touching a reference
    /// count (nested arrays cost a retain and a release per lookup).
    private struct Spellings: @unchecked Sendable {
        let bytes: UnsafeBufferPointer<UInt8>
        /// Where each name's spelling starts in `bytes`, shortest first.
        let entries: UnsafeBufferPointer<(offset: Int, name: UsageName)>
        /// The names of length `n` are `entries[first[n]..<first[n + 1]]`.
        let first: UnsafeBufferPointer<Int>
    }

    private static let spellings: Spellings = {
        let named = allCases.filter { !$0.spelling.isEmpty }.sorted { $0.spelling.utf8.count < $1.spelling.utf8.count }
        var bytes: [UInt8] = []
        var entries: [(offset: Int, name: UsageName)] = []
        var first = [Int](repeating: named.count, count: maxLength + 2)
        for name in named {
            let length = name.spelling.utf8.count
            precondition(length <= maxLength, "a usage name longer than UsageName.maxLength")
            if first[length] == named.count { first[length] = entries.count }
            entries.append((bytes.count, name))
            bytes.append(contentsOf: name.spelling.utf8)
        }
        // A length no name has starts where the next one that has names does.
        for length in stride(from: maxLength, through: 0, by: -1) where first[length] == named.count {
            first[length] = first[length + 1]
        }
        func immortal<Element>(_ array: [Element]) -> UnsafeBufferPointer<Element> {
            let buffer = UnsafeMutableBufferPointer<Element>.allocate(capacity: array.count)
            _ = buffer.initialize(from: array)
            return UnsafeBufferPointer(buffer)
        }
        return Spellings(bytes: immortal(bytes), entries: immortal(entries), first: immortal(first))
    }()

    static func named(_ bytes: UnsafeBufferPointer<UInt8>) -> UsageName {
        guard bytes.count <= maxLength, let base = bytes.baseAddress, let all = spellings.bytes.baseAddress else { return .other }
        let table = spellings
        for candidate in table.entries[table.first[bytes.count]..<table.first[bytes.count + 1]]
        where all[candidate.offset] == base[0] && memcmp(all + candidate.offset, base, bytes.count) == 0 {
            return candidate.name
        }
        return .other
    }

    static func named(_ bytes: [UInt8]) -> UsageName {
        bytes.withUnsafeBufferPointer { named($0) }
    }

    var bit: UInt64 { 1 << UInt64(rawValue) }
}

/// What a value found at a known path counts towards.
enum UsageField: Int, CaseIterable {
    case input, output, cacheRead, cacheWrite, searchUnits
    /// A total only: the input when nothing else is given (embeddings that report only
    /// `total_tokens`).
    case total
    /// Gemini's thinking tokens: billed as output, not part of `candidatesTokenCount`.
    case thoughts
    /// Cohere's `tokens`, used only where `billed_units` has no such count.
    case inputUnbilled, outputUnbilled
    case model

    var bit: UInt16 { 1 << UInt16(rawValue) }
}

/// The values one reading captured: the last readable value for each field wins, as the
/// streamed formats repeat cumulative counts and the last one is the final count.
/// Held inline (no allocation): one is made for every metered response.
struct UsageCaptures: Equatable {
    /// One count per `UsageField`, valid where `present` has the field's bit.
    private var counts = InlineArray<10, Int>(repeating: 0)
    private var present: UInt16 = 0
    var model: String?

    subscript(field: UsageField) -> Int? {
        get { present & field.bit != 0 ? counts[field.rawValue] : nil }
        set {
            if let newValue {
                counts[field.rawValue] = newValue
                present |= field.bit
            } else {
                present &= ~field.bit
            }
        }
    }

    var hasCounts: Bool { present != 0 }

    /// Forgets every value.
    mutating func clear() {
        present = 0
        model = nil
    }

    /// Takes every value `newer` has over the ones kept.
    mutating func merge(_ newer: UsageCaptures) {
        for field in UsageField.allCases where newer.present & field.bit != 0 { counts[field.rawValue] = newer.counts[field.rawValue] }
        present |= newer.present
        if let model = newer.model { self.model = model }
    }

    static func == (lhs: UsageCaptures, rhs: UsageCaptures) -> Bool {
        lhs.present == rhs.present && lhs.model == rhs.model
            && UsageField.allCases.allSatisfy { lhs[$0] == rhs[$0] }
    }
}

/// Where a format puts its usage: the member names from the top of one JSON document (one
/// body, one SSE event, or one element of a top-level array) to a number, or to the
/// response's model name. Paths never go through arrays.
///
/// There is one per format, made once for the process. Its tables are never freed, so a
/// meter copies it without touching a reference count: every request's meter would
/// otherwise retain and release the same shared arrays from every thread.
struct UsagePaths: @unchecked Sendable {
    /// Paths are at most this long: a path and its length fit in one `UInt64` (`code`).
    static let maxLength = 7

    let maxDepth: Int
    /// The names values sit under (the last of each path), as `UsageName.bit`s: most values
    /// are turned away by this alone.
    let leaves: UInt64
    /// The names some path has at each depth, as `UsageName.bit`s: a member whose name is
    /// not among them at its depth holds no usage, however deep its value goes.
    private let namesByDepth: InlineArray<7, UInt64>  // `maxLength` entries
    /// Each target's `code`, and its field at the same index: a value's field is found by
    /// comparing one number per target, not its path name by name.
    private let codes: UnsafeBufferPointer<UInt64>
    private let fields: UnsafeBufferPointer<UsageField>

    /// Only for the static tables below: each one's buffers are never freed.
    private init(_ targets: [(path: [UsageName], field: UsageField)]) {
        self.maxDepth = targets.map(\.path.count).max() ?? 0
        self.leaves = targets.reduce(0) { $0 | ($1.path.last?.bit ?? 0) }
        var namesByDepth = InlineArray<7, UInt64>(repeating: 0)
        for target in targets {
            precondition(target.path.count <= Self.maxLength, "a usage path longer than UsagePaths.maxLength")
            for (depth, name) in target.path.enumerated() { namesByDepth[depth] |= name.bit }
        }
        self.namesByDepth = namesByDepth
        codes = Self.immortal(targets.map { Self.code($0.path) })
        fields = Self.immortal(targets.map(\.field))
    }

    private static func immortal<Element>(_ array: [Element]) -> UnsafeBufferPointer<Element> {
        let buffer = UnsafeMutableBufferPointer<Element>.allocate(capacity: array.count)
        _ = buffer.initialize(from: array)
        return UnsafeBufferPointer(buffer)
    }

    /// A path as one number: a name's raw value per byte from the lowest, the length in
    /// the top byte (so a path and the same path followed by `other`, raw value 0, differ).
    static func code(_ path: some Collection<UsageName>) -> UInt64 {
        var code = UInt64(path.count) << 56
        for (offset, name) in path.enumerated() { code |= UInt64(name.rawValue) << (8 * offset) }
        return code
    }

    /// The field of the path `code` stands for, if it is a target's.
    @inline(__always)
    func field(code: UInt64) -> UsageField? {
        for index in codes.indices where codes[index] == code { return fields[index] }
        return nil
    }

    /// Whether a usage path can go through `name` at `depth` (0 for a document's own members).
    @inline(__always)
    func mayLeadSomewhere(_ name: UsageName, atDepth depth: Int) -> Bool {
        depth < maxDepth && namesByDepth[depth] & name.bit != 0
    }

    static func paths(for format: UsageFormat) -> UsagePaths {
        switch format {
        case .openai: return openai
        case .anthropic: return anthropic
        case .gemini: return gemini
        case .cohere: return cohere
        case .none: return none
        }
    }

    private static let none = UsagePaths([])

    /// OpenAI. Chat completions, completions and embeddings put `usage` at the top:
    /// `prompt_tokens` counts the whole prompt, the cached part (`prompt_tokens_details.
    /// cached_tokens`) included, so input stays `prompt_tokens` and cache reads are a share
    /// of it, priced at a discount; `completion_tokens` includes reasoning tokens. A stream
    /// with `stream_options.include_usage` sends `"usage": null` on every chunk and the
    /// counts on the last one before `[DONE]`. Embeddings give `prompt_tokens` and
    /// `total_tokens` (no output). The Responses API says `input_tokens` /
    /// `output_tokens` / `input_tokens_details.cached_tokens` (cached again included in
    /// input), at the top of its JSON body or under `response` in its stream's
    /// `response.completed` event (earlier events carry `"usage": null`).
    static let openai = UsagePaths(
        openAIUsage(under: [.usage]) + openAIUsage(under: [.response, .usage]) + [
            ([.model], .model), ([.response, .model], .model),
        ])

    private static func openAIUsage(under prefix: [UsageName]) -> [(path: [UsageName], field: UsageField)] {
        [
            (prefix + [.promptTokens], .input), (prefix + [.completionTokens], .output),
            (prefix + [.promptTokensDetails, .cachedTokens], .cacheRead), (prefix + [.totalTokens], .total),
            (prefix + [.inputTokens], .input), (prefix + [.outputTokens], .output),
            (prefix + [.inputTokensDetails, .cachedTokens], .cacheRead),
        ]
    }

    /// Anthropic messages. `input_tokens` counts only the prompt after the last cache
    /// breakpoint: `cache_read_input_tokens` and `cache_creation_input_tokens` come on top
    /// of it and are priced apart (reads cheaper, writes dearer). A stream's
    /// `message_start` carries `message.usage` (input and cache counts, `output_tokens`
    /// usually 1) and `message.model`; each `message_delta` carries `usage.output_tokens`,
    /// cumulative, and lately the input and cache counts again: the last value of each wins.
    static let anthropic = UsagePaths(
        anthropicUsage(under: [.usage]) + anthropicUsage(under: [.message, .usage]) + [
            ([.model], .model), ([.message, .model], .model),
        ])

    private static func anthropicUsage(under prefix: [UsageName]) -> [(path: [UsageName], field: UsageField)] {
        [
            (prefix + [.inputTokens], .input), (prefix + [.outputTokens], .output),
            (prefix + [.cacheReadInputTokens], .cacheRead), (prefix + [.cacheCreationInputTokens], .cacheWrite),
        ]
    }

    /// Gemini (and Vertex) generateContent. `usageMetadata.promptTokenCount` counts the
    /// whole prompt, `cachedContentTokenCount` (cache reads) included, as OpenAI does;
    /// `candidatesTokenCount` leaves out `thoughtsTokenCount`, which is billed as output
    /// and so added to it. The model is `modelVersion`. streamGenerateContent (SSE with
    /// `alt=sse`, else one JSON array whose elements arrive one by one) repeats
    /// `usageMetadata` in its chunks, cumulative: the last wins.
    static let gemini = UsagePaths([
        ([.usageMetadata, .promptTokenCount], .input), ([.usageMetadata, .candidatesTokenCount], .output),
        ([.usageMetadata, .cachedContentTokenCount], .cacheRead), ([.usageMetadata, .thoughtsTokenCount], .thoughts),
        ([.modelVersion], .model),
    ])

    /// Cohere. What is billed is `billed_units`; `tokens` (the raw counts, which include
    /// the prompt template) are read only where `billed_units` lacks a count. Rerank bills
    /// `meta.billed_units.search_units`; embed `meta.billed_units.input_tokens`; chat v1
    /// `meta.billed_units` (and `response.meta` in its newline-delimited stream's
    /// `stream-end`); chat v2 `usage.billed_units`, streamed in the `message-end` event's
    /// `delta.usage.billed_units`.
    static let cohere = UsagePaths(
        cohereUsage(under: [.meta]) + cohereUsage(under: [.usage]) + cohereUsage(under: [.delta, .usage])
            + cohereUsage(under: [.response, .meta]) + [([.model], .model)])

    private static func cohereUsage(under prefix: [UsageName]) -> [(path: [UsageName], field: UsageField)] {
        [
            (prefix + [.billedUnits, .inputTokens], .input), (prefix + [.billedUnits, .outputTokens], .output),
            (prefix + [.billedUnits, .searchUnits], .searchUnits), (prefix + [.tokens, .inputTokens], .inputUnbilled),
            (prefix + [.tokens, .outputTokens], .outputUnbilled),
        ]
    }
}
