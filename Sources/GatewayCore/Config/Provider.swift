/// An endpoint's `provider:`: a preset with what LiteLLM's built-in pass-through route
/// for that provider does (`/anthropic/...`, `/gemini/...`), so that
/// `- {path: /anthropic, provider: anthropic}` is a complete endpoint. Whatever the
/// endpoint writes itself wins: its `target`, `include_subpath` and `usage`, and its
/// `headers` name by name (docs/USAGE.md, "Providers and prices").
///
/// The raw value is LiteLLM's provider name, as `litellm_provider` spells it in
/// `model_prices_and_context_window.json`, so it also selects prices.
public enum Provider: String, Sendable, CaseIterable {
    case openai, anthropic, gemini, cohere, mistral, groq, deepseek, openrouter

    /// The upstream's base URL; requests keep their subpath (`include_subpath: true`).
    ///
    /// LiteLLM's routes (proxy/pass_through_endpoints/llm_passthrough_endpoints.py) use
    /// `https://api.openai.com/`, `https://api.anthropic.com`,
    /// `https://generativelanguage.googleapis.com`, `https://api.cohere.com` and
    /// `https://api.mistral.ai`. It has no route of its own for Groq, DeepSeek or
    /// OpenRouter; theirs are the OpenAI-compatible bases of LiteLLM's providers, without
    /// the `/v1` a client already sends (`/groq/v1/chat/completions`).
    public var baseURL: TargetURL {
        let host: String
        var path = ""
        switch self {
        case .openai: host = "api.openai.com"
        case .anthropic: host = "api.anthropic.com"
        case .gemini: host = "generativelanguage.googleapis.com"
        case .cohere: host = "api.cohere.com"
        case .mistral: host = "api.mistral.ai"
        case .groq:
            host = "api.groq.com"
            path = "/openai"
        case .deepseek: host = "api.deepseek.com"
        case .openrouter:
            host = "openrouter.ai"
            path = "/api"
        }
        return TargetURL(scheme: "https", authority: host, path: path, query: nil)
    }

    /// The variable holding the provider's key, as LiteLLM names it.
    public var apiKeyVariable: String {
        "\(ConfigSyntax.asciiUppercased(rawValue))_API_KEY"
    }

    /// The headers the preset sends, values with `os.environ/` references still in them.
    ///
    /// LiteLLM sends Anthropic's key as `x-api-key` and forwards the client's own headers
    /// (so the client supplies `anthropic-version`); the preset does not forward client
    /// headers and sets the version itself. LiteLLM puts Gemini's key in the query
    /// (`?key=`); the preset sends it as `x-goog-api-key`, which Google accepts as well and
    /// which stays out of URLs and logs.
    public var headers: [(name: String, value: String)] {
        let key = EnvReference.prefix + apiKeyVariable
        switch self {
        case .anthropic: return [("x-api-key", key), ("anthropic-version", "2023-06-01")]
        case .gemini: return [("x-goog-api-key", key)]
        case .openai, .cohere, .mistral, .groq, .deepseek, .openrouter: return [("Authorization", "Bearer \(key)")]
        }
    }

    /// How the provider's responses report usage; the OpenAI-compatible ones as OpenAI.
    public var usageFormat: UsageFormat {
        switch self {
        case .anthropic: .anthropic
        case .gemini: .gemini
        case .cohere: .cohere
        case .openai, .mistral, .groq, .deepseek, .openrouter: .openai
        }
    }
}

extension UsageFormat {
    /// LiteLLM's provider name for prices of a format's responses when the endpoint names
    /// no provider (`usage: anthropic` on a hand-written endpoint).
    public var litellmProvider: String? {
        switch self {
        case .openai: "openai"
        case .anthropic: "anthropic"
        case .gemini: "gemini"
        case .cohere: "cohere"
        case .none: nil
        }
    }
}
