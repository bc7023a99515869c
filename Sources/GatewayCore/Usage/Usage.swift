/// What one response used, as read from it while it passed (docs/USAGE.md).
///
/// Token counts follow the provider's own accounting, unconverted: `inputTokens` is
/// OpenAI's `prompt_tokens` (cached tokens included, as OpenAI counts them) or
/// Anthropic's `input_tokens` (cache reads and writes not included, as Anthropic counts
/// them); pricing knows the difference (`UsageFormat`).
public struct Usage: Sendable, Equatable {
    /// The model the response names, when it names one.
    public var model: String?
    public var inputTokens = 0
    public var outputTokens = 0
    /// Tokens read from the provider's prompt cache.
    public var cacheReadTokens = 0
    /// Tokens written to the provider's prompt cache.
    public var cacheWriteTokens = 0
    /// Cohere's billed search units (rerank).
    public var searchUnits = 0
    /// The response was read and carried usage in a shape the format knows.
    public var metered = false
    /// The response ended early (client gone, upstream cut it): what was seen is kept.
    public var partial = false

    public init(
        model: String? = nil, inputTokens: Int = 0, outputTokens: Int = 0, cacheReadTokens: Int = 0,
        cacheWriteTokens: Int = 0, searchUnits: Int = 0, metered: Bool = false, partial: Bool = false
    ) {
        self.model = model
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cacheReadTokens = cacheReadTokens
        self.cacheWriteTokens = cacheWriteTokens
        self.searchUnits = searchUnits
        self.metered = metered
        self.partial = partial
    }

    /// Input and output tokens, as LiteLLM's `total_tokens` and `tpm_limit` count them.
    public var totalTokens: Int { inputTokens + outputTokens }
}

/// How an endpoint's responses report usage: `usage:` on the endpoint, or its provider's.
public enum UsageFormat: String, Sendable, CaseIterable {
    case openai, anthropic, gemini, cohere, none
}
