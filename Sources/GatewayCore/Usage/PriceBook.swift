import Foundation

/// What one model costs, from one entry of LiteLLM's `model_prices_and_context_window.json`
/// (USD), or from an endpoint's own `input_cost_per_token` / `output_cost_per_token`.
public struct ModelPrice: Sendable, Equatable {
    /// The entry's name in the map; the model name when only the endpoint prices it.
    public var name: String
    /// `litellm_provider`.
    public var provider: String?
    /// `mode`: `chat`, `embedding`, `rerank`, ...
    public var mode: String?
    public var inputCostPerToken: Double?
    public var outputCostPerToken: Double?
    /// `cache_read_input_token_cost`.
    public var cacheReadInputTokenCost: Double?
    /// `cache_creation_input_token_cost`.
    public var cacheCreationInputTokenCost: Double?
    /// `input_cost_per_query`: Cohere rerank, per search unit.
    public var inputCostPerQuery: Double?

    public init(
        name: String, provider: String? = nil, mode: String? = nil, inputCostPerToken: Double? = nil,
        outputCostPerToken: Double? = nil, cacheReadInputTokenCost: Double? = nil,
        cacheCreationInputTokenCost: Double? = nil, inputCostPerQuery: Double? = nil
    ) {
        self.name = name
        self.provider = provider
        self.mode = mode
        self.inputCostPerToken = inputCostPerToken
        self.outputCostPerToken = outputCostPerToken
        self.cacheReadInputTokenCost = cacheReadInputTokenCost
        self.cacheCreationInputTokenCost = cacheCreationInputTokenCost
        self.inputCostPerQuery = inputCostPerQuery
    }

    /// The prices alone, without the entry's names: what a request's cost is made of,
    /// copied without touching a reference count.
    struct Rates {
        var inputCostPerToken: Double?
        var outputCostPerToken: Double?
        var cacheReadInputTokenCost: Double?
        var cacheCreationInputTokenCost: Double?
        var inputCostPerQuery: Double?

        /// The entry prices tokens or queries at all (an image model's entry may not).
        var pricesUsage: Bool {
            inputCostPerToken != nil || outputCostPerToken != nil || inputCostPerQuery != nil
        }

        /// With the endpoint's own `input_cost_per_token` / `output_cost_per_token` in
        /// place of the map's.
        func overridden(by endpoint: Endpoint) -> Rates {
            var rates = self
            if let input = endpoint.inputCostPerToken { rates.inputCostPerToken = input }
            if let output = endpoint.outputCostPerToken { rates.outputCostPerToken = output }
            return rates
        }
    }

    var rates: Rates {
        get {
            Rates(
                inputCostPerToken: inputCostPerToken, outputCostPerToken: outputCostPerToken,
                cacheReadInputTokenCost: cacheReadInputTokenCost, cacheCreationInputTokenCost: cacheCreationInputTokenCost,
                inputCostPerQuery: inputCostPerQuery)
        }
        set {
            inputCostPerToken = newValue.inputCostPerToken
            outputCostPerToken = newValue.outputCostPerToken
            cacheReadInputTokenCost = newValue.cacheReadInputTokenCost
            cacheCreationInputTokenCost = newValue.cacheCreationInputTokenCost
            inputCostPerQuery = newValue.inputCostPerQuery
        }
    }
}

/// Model prices in LiteLLM's `model_prices_and_context_window.json` format
/// (`general_settings.model_cost_map`), and what a response cost.
public struct PriceBook: Sendable, Equatable {
    /// Entries by their name in the file.
    public private(set) var models: [String: ModelPrice]
    /// Lower-cased names to names: LiteLLM looks names up ignoring case (`_get_model_cost_key`).
    private var folded: [String: String]
    /// Lookups already made, shared by the copies of this book (one per loaded config).
    private let found = FoundPrices()

    /// 64 MiB; LiteLLM's own map is about 1.5 MiB.
    public static let maxFileBytes = 64 << 20

    public init(_ models: [ModelPrice] = []) {
        self.models = [:]
        self.folded = [:]
        for model in models { add(model) }
    }

    private mutating func add(_ model: ModelPrice) {
        models[model.name] = model
        let key = model.name.lowercased()
        // Two names differing in case: the first in sorted order answers a folded lookup.
        if let other = folded[key], other < model.name { return }
        folded[key] = model.name
    }

    /// Why a price file cannot be used (for a config problem; never quotes the file).
    public struct LoadError: Error, Sendable, Equatable {
        public var message: String
    }

    /// Reads LiteLLM's JSON: an object of model names to entries. `sample_spec` (the
    /// format's own documentation) is skipped, as are entries that are not objects.
    /// Prices are numbers ≥ 0, or numeric strings as LiteLLM's `_get_cost_per_unit`
    /// accepts them; anything else leaves that price unset.
    public init(json data: Data) throws(LoadError) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw LoadError(message: "is not valid JSON")
        }
        guard let entries = object as? [String: Any] else {
            throw LoadError(message: "must be a JSON object of model names (LiteLLM's model_prices_and_context_window.json)")
        }
        self.init()
        for (name, value) in entries where name != "sample_spec" {
            guard let fields = value as? [String: Any] else { continue }
            add(
                ModelPrice(
                    name: name,
                    provider: fields["litellm_provider"] as? String,
                    mode: fields["mode"] as? String,
                    inputCostPerToken: Self.cost(fields["input_cost_per_token"]),
                    outputCostPerToken: Self.cost(fields["output_cost_per_token"]),
                    cacheReadInputTokenCost: Self.cost(fields["cache_read_input_token_cost"]),
                    cacheCreationInputTokenCost: Self.cost(fields["cache_creation_input_token_cost"]),
                    inputCostPerQuery: Self.cost(fields["input_cost_per_query"])))
        }
    }

    private static func cost(_ value: Any?) -> Double? {
        let number: Double?
        switch value {
        case let text as String: number = Double(text)
        case let double as Double: number = double
        case let int as Int: number = Double(int)
        case let value as NSNumber: number = value.doubleValue
        default: number = nil
        }
        guard let number, number.isFinite, number >= 0 else { return nil }
        return number
    }

    public var isEmpty: Bool { models.isEmpty }

    public static func == (lhs: PriceBook, rhs: PriceBook) -> Bool { lhs.models == rhs.models }

    /// The price of `model` on `endpoint`, found as LiteLLM's `_get_model_info_helper`
    /// finds it (litellm/utils.py), with `provider` (else the endpoint's provider, else
    /// its usage format's) as LiteLLM's `custom_llm_provider`:
    ///
    /// 1. `provider/model`, 2. `model`, 3. `provider/stripped`, 4. `stripped`,
    /// 5. `model` without a leading `provider/` (an `anthropic/claude-...` the client sent),
    ///
    /// each ignoring case, and an entry counts only if its `litellm_provider` is the
    /// provider (LiteLLM's `_check_provider_match`; Cohere's chat models are `cohere_chat`).
    /// `stripped` drops a Gemini model's numeric version (`gemini-1.5-pro-002` →
    /// `gemini-1.5-pro`) and an OpenAI fine-tune's suffix (`ft:gpt-4o:org:name:id` →
    /// `ft:gpt-4o`), as LiteLLM's `_strip_model_name` does. With no provider at all, a
    /// known provider prefix in the name stands in for one (LiteLLM's `get_llm_provider`).
    /// Gemini's `models/` prefix (`models/gemini-1.5-pro` in its URLs) is dropped first.
    ///
    /// The endpoint's `input_cost_per_token` / `output_cost_per_token` replace the map's;
    /// they price a model the map lacks (or a response naming no model) on their own.
    /// - Returns: `nil` when nothing prices the model.
    public func price(model: String?, provider: String?, endpoint: Endpoint) -> ModelPrice? {
        let provider = provider ?? Self.provider(of: endpoint)
        var found = model.flatMap { cachedLookup($0, provider: provider).price }
        if Self.overridesPrices(endpoint) {
            var price = found ?? ModelPrice(name: model ?? endpoint.label, provider: provider)
            price.rates = price.rates.overridden(by: endpoint)
            found = price
        }
        return found
    }

    /// `price(model:provider: nil, endpoint:)`'s rates, without its names.
    func rates(model: String?, endpoint: Endpoint) -> ModelPrice.Rates? {
        let found = model.flatMap { cachedRates($0, provider: Self.provider(of: endpoint)) }
        guard Self.overridesPrices(endpoint) else { return found }
        return (found ?? ModelPrice.Rates()).overridden(by: endpoint)
    }

    private static func provider(of endpoint: Endpoint) -> String? {
        endpoint.provider?.rawValue ?? endpoint.usageFormat.litellmProvider
    }

    private static func overridesPrices(_ endpoint: Endpoint) -> Bool {
        endpoint.inputCostPerToken != nil || endpoint.outputCostPerToken != nil
    }

    /// `cachedLookup`'s rates, read under the cache's lock when the entry is there: the
    /// entry is shared by every thread, and taking it out of the lock would retain and
    /// release it, its reference count's cache line passing from core to core.
    private func cachedRates(_ model: String, provider: String?) -> ModelPrice.Rates? {
        let key = FoundPrices.Key(model: model, provider: provider)
        let known = found.entries.withLock { cache -> ModelPrice.Rates?? in
            if let last = cache.last, last.key == key { return .some(last.rates) }
            guard let known = cache.entries[key] else { return nil }
            cache.last = known
            return .some(known.rates)
        }
        if let known { return known }
        return cachedLookup(model, provider: provider).rates
    }

    /// `lookup`, remembered: a response's model is usually one seen before, and the lookup
    /// builds up to five names (and a regular expression's match) each time.
    private func cachedLookup(_ model: String, provider: String?) -> FoundPrices.Entry {
        let key = FoundPrices.Key(model: model, provider: provider)
        // The last name looked up is compared before any hashing: requests to one
        // endpoint mostly name one model, and two strings' hashes cost more than comparing them.
        if let known = found.entries.withLock({ cache -> FoundPrices.Entry? in
            if let last = cache.last, last.key == key { return last }
            guard let known = cache.entries[key] else { return nil }
            cache.last = known
            return known
        }) {
            return known
        }
        let entry = FoundPrices.Entry(key: key, price: lookup(model, provider: provider))
        found.entries.withLock { cache in
            // Model names come from clients and upstreams: the cache is bounded, and starts
            // over when full rather than growing with whatever names arrive.
            if cache.entries.count >= FoundPrices.capacity { cache.entries.removeAll(keepingCapacity: true) }
            cache.entries[key] = entry
            cache.last = entry
        }
        return entry
    }

    private func lookup(_ written: String, provider: String?) -> ModelPrice? {
        var model = written
        if model.hasPrefix("models/") { model.removeFirst("models/".count) }
        guard !model.isEmpty else { return nil }
        var provider = provider
        var split = model
        if let slash = model.firstIndex(of: "/") {
            let prefix = String(model[..<slash])
            if provider == nil, Provider(rawValue: prefix) != nil { provider = prefix }
            if prefix == provider { split = String(model[model.index(after: slash)...]) }
        }
        let stripped = Self.strip(split, provider: provider)
        let candidates: [String]
        if let provider {
            candidates = ["\(provider)/\(split)", model, "\(provider)/\(stripped)", stripped, split]
        } else {
            candidates = [model, stripped]
        }
        for name in candidates {
            guard let key = models[name] != nil ? name : folded[name.lowercased()], let price = models[key] else {
                continue
            }
            if Self.matches(price.provider, provider) { return price }
        }
        return nil
    }

    /// LiteLLM's `_check_provider_match`: an entry without `litellm_provider`, or any entry
    /// when no provider is known, matches.
    private static func matches(_ entryProvider: String?, _ provider: String?) -> Bool {
        guard let provider, let entryProvider, entryProvider != provider else { return true }
        return provider == "cohere" && entryProvider == "cohere_chat"
    }

    private static func strip(_ model: String, provider: String?) -> String {
        if provider == "gemini", let match = model.firstMatch(of: #/-[0-9]+$/#) {
            return String(model[..<match.range.lowerBound])
        }
        if model.contains("ft:"), let match = model.firstMatch(of: #/(?::[^:]+){3}$/#) {
            return String(model[..<match.range.lowerBound])
        }
        return model
    }

    /// What `usage` cost on `endpoint`: its `cost_per_request` plus the tokens' cost at
    /// the model's price. No price for the model: the tokens cost 0 and `priced` is false
    /// (`cost_per_request` still counts).
    ///
    /// As LiteLLM prices them (litellm_core_utils/llm_cost_calc/utils.py,
    /// `generic_cost_per_token` and `_calculate_input_cost`):
    /// - OpenAI, Gemini (and an endpoint without `usage`): cache reads and writes are part
    ///   of the input count, so `(input − cacheRead − cacheWrite) × input price +
    ///   cacheRead × cache_read price + cacheWrite × cache_creation price`.
    /// - Anthropic: `input_tokens` excludes the cache (LiteLLM adds the cache tokens to
    ///   `prompt_tokens` before subtracting them again), so `input × input price +
    ///   cacheRead × cache_read price + cacheWrite × cache_creation price`.
    /// - Cohere: `searchUnits × input_cost_per_query` (LiteLLM's cohere `cost_per_query`),
    ///   plus any tokens as OpenAI's.
    /// - Every format: `output × output price`.
    ///
    /// A missing cache price falls back to the input price. LiteLLM differs here: its
    /// `_get_cost_per_unit` defaults a missing cache price to 0 (except in tiered pricing,
    /// where it falls back to the input rate as here); billing a cached token at the full
    /// input price never undercounts spend.
    public func cost(of usage: Usage, format: UsageFormat, endpoint: Endpoint) -> (cost: Double, priced: Bool) {
        let perRequest = endpoint.costPerRequest ?? 0
        guard let found = rates(model: usage.model, endpoint: endpoint), found.pricesUsage else {
            return (perRequest, false)
        }
        let input = found.inputCostPerToken ?? 0
        let cacheRead = found.cacheReadInputTokenCost ?? input
        let cacheWrite = found.cacheCreationInputTokenCost ?? input
        let cached = Double(usage.cacheReadTokens) * cacheRead + Double(usage.cacheWriteTokens) * cacheWrite
        let uncachedInput: Int
        switch format {
        case .anthropic:
            uncachedInput = usage.inputTokens
        case .openai, .gemini, .cohere, .none:
            uncachedInput = max(usage.inputTokens - usage.cacheReadTokens - usage.cacheWriteTokens, 0)
        }
        var tokens = Double(uncachedInput) * input + cached + Double(usage.outputTokens) * (found.outputCostPerToken ?? 0)
        if usage.searchUnits > 0 {
            tokens += Double(usage.searchUnits) * (found.inputCostPerQuery ?? 0)
        }
        return (perRequest + tokens, true)
    }
}

/// The prices a `PriceBook` has looked up, by model and provider; `nil` remembers that
/// nothing prices the model.
private final class FoundPrices: Sendable {
    struct Key: Hashable {
        var model: String
        var provider: String?

        /// By bytes: names that differ only in their Unicode normalisation hash alike but
        /// stay apart, and the common case costs a `memcmp`.
        static func == (a: Key, b: Key) -> Bool {
            guard UTF8Text.sameBytes(a.model, b.model) else { return false }
            switch (a.provider, b.provider) {
            case (nil, nil): return true
            case (let x?, let y?): return UTF8Text.sameBytes(x, y)
            default: return false
            }
        }
    }

    static let capacity = 4096

    /// One lookup's answer, by reference: taking it from the cache, or comparing the
    /// last one, copies a pointer rather than the price's names.
    final class Entry: Sendable {
        let key: Key
        let price: ModelPrice?
        /// `price`'s rates, kept apart: read through `price`, each request copied the
        /// entry's three names (three retains and releases) to get at them.
        let rates: ModelPrice.Rates?

        init(key: Key, price: ModelPrice?) {
            self.key = key
            self.price = price
            rates = price?.rates
        }
    }

    struct Cache {
        var entries: [Key: Entry] = [:]
        var last: Entry?
    }

    let entries = Locked(Cache())
}
