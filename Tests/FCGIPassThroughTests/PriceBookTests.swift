import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

/// Prices from a small map in LiteLLM's `model_prices_and_context_window.json` format:
/// how model names are found, and what a response costs.
@Suite struct PriceBookTests {
    static let mapPath = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/prices/model_prices.json").path

    static func book() throws -> PriceBook {
        try PriceBook(json: try Data(contentsOf: URL(fileURLWithPath: mapPath)))
    }

    static func endpoint(
        provider: Provider? = nil, usage: UsageFormat = .none, costPerRequest: Double? = nil,
        input: Double? = nil, output: Double? = nil
    ) -> Endpoint {
        Endpoint(
            path: "/p", target: TestSupport.target("https://upstream.test"), costPerRequest: costPerRequest,
            provider: provider, usageFormat: usage, inputCostPerToken: input, outputCostPerToken: output)
    }

    /// The name of the entry that prices `model`, or `nil`.
    static func entry(_ model: String?, on endpoint: Endpoint, provider: String? = nil) throws -> String? {
        try book().price(model: model, provider: provider, endpoint: endpoint)?.name
    }

    /// Costs are sums of products of small decimals: equal to about 1e-15 USD.
    static func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) < 1e-15 }

    // MARK: reading the map

    @Test func readsLiteLLMEntriesAndSkipsTheSampleSpec() throws {
        let book = try Self.book()
        #expect(book.models.count == 12)
        #expect(book.models["sample_spec"] == nil)
        #expect(book.models["not-an-entry"] == nil)
        #expect(
            book.models["claude-3-5-sonnet-20240620"]
                == ModelPrice(
                    name: "claude-3-5-sonnet-20240620", provider: "anthropic", mode: "chat", inputCostPerToken: 3e-06,
                    outputCostPerToken: 1.5e-05, cacheReadInputTokenCost: 3e-07, cacheCreationInputTokenCost: 3.75e-06))
        #expect(book.models["rerank-english-v3.0"]?.inputCostPerQuery == 0.002)
        // A price written as a string, as LiteLLM's _get_cost_per_unit accepts it.
        #expect(book.models["mistral/mistral-large-latest"]?.inputCostPerToken == 2e-06)
    }

    @Test func refusesWhatIsNotAPriceMap() {
        #expect(throws: PriceBook.LoadError(message: "is not valid JSON")) {
            try PriceBook(json: Data("{\"gpt-4o\": ".utf8))
        }
        #expect(
            throws: PriceBook.LoadError(
                message: "must be a JSON object of model names (LiteLLM's model_prices_and_context_window.json)")
        ) {
            try PriceBook(json: Data("[1, 2]".utf8))
        }
    }

    // MARK: finding a model's price

    @Test func exactNamesIgnoringCase() throws {
        let openai = Self.endpoint(provider: .openai)
        #expect(try Self.entry("gpt-4o", on: openai) == "gpt-4o")
        #expect(try Self.entry("GPT-4o", on: openai) == "gpt-4o")
        #expect(try Self.entry("gpt-5-unknown", on: openai) == nil)
        #expect(try Self.entry("sample_spec", on: Self.endpoint()) == nil)
    }

    @Test func aBookRemembersItsLookupsPerProviderAndStaysBounded() throws {
        let book = try Self.book()
        let asked: [(String, Endpoint, String?)] = [
            ("llama3-8b-8192", Self.endpoint(provider: .groq), "groq/llama3-8b-8192"),
            ("llama3-8b-8192", Self.endpoint(provider: .openai), nil),
            ("gpt-4o", Self.endpoint(provider: .openai), "gpt-4o"),
            ("gpt-4o", Self.endpoint(usage: .anthropic), nil),
        ]
        // Twice over: the second round is answered from what the first found.
        for _ in 0..<2 {
            for (model, endpoint, name) in asked { #expect(book.price(model: model, provider: nil, endpoint: endpoint)?.name == name) }
        }
        // Each twice in a row: the second is answered by the last lookup, which must match
        // the provider as well as the name.
        for (model, endpoint, name) in asked + asked.reversed() {
            for _ in 0..<2 { #expect(book.price(model: model, provider: nil, endpoint: endpoint)?.name == name) }
        }
        // Thousands of names nothing prices (clients choose them) fill the memory and it
        // starts over: known names are still found.
        let openai = Self.endpoint(provider: .openai)
        for index in 0..<10_000 { #expect(book.price(model: "made-up-\(index)", provider: nil, endpoint: openai) == nil) }
        #expect(book.price(model: "GPT-4o", provider: nil, endpoint: openai)?.name == "gpt-4o")
    }

    @Test func providerSlashModelWithTheEndpointsProvider() throws {
        #expect(try Self.entry("llama3-8b-8192", on: Self.endpoint(provider: .groq)) == "groq/llama3-8b-8192")
        #expect(try Self.entry("mistral-large-latest", on: Self.endpoint(provider: .mistral)) == "mistral/mistral-large-latest")
        // OpenRouter's names carry the upstream's own prefix.
        #expect(
            try Self.entry("anthropic/claude-3.5-sonnet", on: Self.endpoint(provider: .openrouter))
                == "openrouter/anthropic/claude-3.5-sonnet")
        // The caller's provider wins over the endpoint's.
        #expect(
            try Self.entry("llama3-8b-8192", on: Self.endpoint(provider: .openai), provider: "groq")
                == "groq/llama3-8b-8192")
    }

    @Test func theUsageFormatNamesTheProviderWhenTheEndpointDoesNot() throws {
        let anthropic = Self.endpoint(usage: .anthropic)
        #expect(try Self.entry("claude-3-5-sonnet-20240620", on: anthropic) == "claude-3-5-sonnet-20240620")
        // An OpenAI model is no Anthropic price (LiteLLM's _check_provider_match).
        #expect(try Self.entry("gpt-4o", on: anthropic) == nil)
        #expect(try Self.entry("gpt-4o", on: Self.endpoint(provider: .anthropic)) == nil)
    }

    @Test func aProviderPrefixTheClientSentIsStripped() throws {
        let model = "anthropic/claude-3-5-sonnet-20240620"
        #expect(try Self.entry(model, on: Self.endpoint(provider: .anthropic)) == "claude-3-5-sonnet-20240620")
        // No provider known: the prefix names it.
        #expect(try Self.entry(model, on: Self.endpoint()) == "claude-3-5-sonnet-20240620")
        #expect(try Self.entry("groq/llama3-8b-8192", on: Self.endpoint()) == "groq/llama3-8b-8192")
    }

    @Test func geminiNames() throws {
        let gemini = Self.endpoint(provider: .gemini)
        #expect(try Self.entry("models/gemini-1.5-pro", on: gemini) == "gemini/gemini-1.5-pro")
        #expect(try Self.entry("gemini-1.5-pro", on: gemini) == "gemini/gemini-1.5-pro")
        // The numeric version is stripped for Gemini (LiteLLM's _strip_stable_vertex_version).
        #expect(try Self.entry("gemini-1.5-pro-002", on: gemini) == "gemini/gemini-1.5-pro")
        // Without a provider, the bare name is Vertex AI's entry, as in LiteLLM.
        #expect(try Self.entry("gemini-1.5-pro", on: Self.endpoint()) == "gemini-1.5-pro")
    }

    @Test func cohereChatModelsAndFineTunes() throws {
        #expect(try Self.entry("command-r", on: Self.endpoint(provider: .cohere)) == "command-r")
        #expect(
            try Self.entry("ft:gpt-4o-mini-2024-07-18:my-org:custom:abc123", on: Self.endpoint(provider: .openai))
                == "ft:gpt-4o-mini-2024-07-18")
    }

    @Test func endpointPricesOverrideTheMap() throws {
        let book = try Self.book()
        let cheaper = Self.endpoint(provider: .openai, input: 1e-06)
        let price = try #require(book.price(model: "gpt-4o", provider: nil, endpoint: cheaper))
        #expect(price.inputCostPerToken == 1e-06)
        #expect(price.outputCostPerToken == 1e-05)
        #expect(price.cacheReadInputTokenCost == 1.25e-06)
        // They price a model the map lacks, and a response that names none.
        let own = Self.endpoint(provider: .openai, input: 1e-06, output: 2e-06)
        #expect(
            book.price(model: "in-house-model", provider: nil, endpoint: own)
                == ModelPrice(name: "in-house-model", provider: "openai", inputCostPerToken: 1e-06, outputCostPerToken: 2e-06))
        #expect(book.price(model: nil, provider: nil, endpoint: own)?.outputCostPerToken == 2e-06)
        #expect(book.price(model: nil, provider: nil, endpoint: Self.endpoint(provider: .openai)) == nil)
        #expect(PriceBook().price(model: "gpt-4o", provider: nil, endpoint: cheaper)?.inputCostPerToken == 1e-06)
    }

    // MARK: what a response costs

    @Test func openAICachedTokensArePartOfTheInput() throws {
        let usage = Usage(model: "gpt-4o", inputTokens: 1000, outputTokens: 200, cacheReadTokens: 400)
        let (cost, priced) = try Self.book().cost(of: usage, format: .openai, endpoint: Self.endpoint(provider: .openai))
        // 600 × 2.5e-6 + 400 × 1.25e-6 + 200 × 1e-5
        #expect(Self.close(cost, 0.0015 + 0.0005 + 0.002))
        #expect(priced)
    }

    @Test func geminiCachedTokensArePartOfTheInput() throws {
        let usage = Usage(model: "gemini-1.5-pro-002", inputTokens: 2000, outputTokens: 100, cacheReadTokens: 1000)
        let (cost, priced) = try Self.book().cost(of: usage, format: .gemini, endpoint: Self.endpoint(provider: .gemini))
        // 1000 × 1.25e-6 + 1000 × 3.125e-7 + 100 × 5e-6
        #expect(Self.close(cost, 0.00125 + 0.0003125 + 0.0005))
        #expect(priced)
    }

    @Test func anthropicCacheTokensComeOnTopOfTheInput() throws {
        let usage = Usage(
            model: "claude-3-5-sonnet-20240620", inputTokens: 100, outputTokens: 50, cacheReadTokens: 1000,
            cacheWriteTokens: 200)
        let (cost, priced) = try Self.book().cost(
            of: usage, format: .anthropic, endpoint: Self.endpoint(provider: .anthropic))
        // 100 × 3e-6 + 1000 × 3e-7 + 200 × 3.75e-6 + 50 × 1.5e-5
        #expect(Self.close(cost, 0.0003 + 0.0003 + 0.00075 + 0.00075))
        #expect(priced)
    }

    @Test func aMissingCachePriceIsTheInputPrice() throws {
        let usage = Usage(model: "gpt-3.5-turbo", inputTokens: 1000, outputTokens: 10, cacheReadTokens: 400)
        let (cost, _) = try Self.book().cost(of: usage, format: .openai, endpoint: Self.endpoint(provider: .openai))
        // 600 × 5e-7 + 400 × 5e-7 + 10 × 1.5e-6
        #expect(Self.close(cost, 0.0003 + 0.0002 + 0.000015))
    }

    @Test func cohereRerankPricesSearchUnitsPlusTheRequest() throws {
        let usage = Usage(model: "rerank-english-v3.0", searchUnits: 3)
        let endpoint = Self.endpoint(provider: .cohere, costPerRequest: 0.001)
        let (cost, priced) = try Self.book().cost(of: usage, format: .cohere, endpoint: endpoint)
        #expect(Self.close(cost, 3 * 0.002 + 0.001))
        #expect(priced)
    }

    @Test func unpricedModelsCostOnlyTheRequest() throws {
        let book = try Self.book()
        let endpoint = Self.endpoint(provider: .openai, costPerRequest: 0.01)
        let unknown = book.cost(
            of: Usage(model: "gpt-unknown", inputTokens: 1000, outputTokens: 1000), format: .openai, endpoint: endpoint)
        #expect(unknown.cost == 0.01 && !unknown.priced)
        // An entry without token prices (an image model) prices nothing either.
        let image = book.cost(of: Usage(model: "dall-e-3", inputTokens: 1000), format: .openai, endpoint: endpoint)
        #expect(image.cost == 0.01 && !image.priced)
        let nameless = book.cost(of: Usage(inputTokens: 5), format: .openai, endpoint: Self.endpoint())
        #expect(nameless.cost == 0 && !nameless.priced)
    }

    @Test func overridesAndCostPerRequestAddUp() throws {
        let usage = Usage(model: "gpt-4o", inputTokens: 1000, outputTokens: 100)
        let endpoint = Self.endpoint(provider: .openai, costPerRequest: 0.5, input: 1e-06, output: 2e-06)
        let (cost, priced) = try Self.book().cost(of: usage, format: .openai, endpoint: endpoint)
        #expect(Self.close(cost, 0.5 + 0.001 + 0.0002))
        #expect(priced)
        // Without a map, the endpoint's own prices still count.
        let alone = PriceBook().cost(of: usage, format: .openai, endpoint: endpoint)
        #expect(Self.close(alone.cost, 0.5012) && alone.priced)
    }
}
