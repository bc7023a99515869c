/// Chooses the `model` label of one worker's cost, token and unpriced series, and bounds
/// how many such series it makes.
///
/// Model names come from clients and upstream responses, so they are hostile input: a
/// client sending a new name per request must not grow the metrics (or this worker's
/// `MetricsRegion` slot) without end. A (route, key_alias, model) combination is admitted
/// while all three bounds hold; any other request is counted under the model `other`:
/// - names of at most `maxModelBytes` bytes (UTF-8);
/// - at most `maxModels` distinct names per worker;
/// - the worst-case encoded size of the admitted combinations' lines within `byteBudget`.
///
/// Slot size: a combination makes at most six lines in the region encoding (four `tk`,
/// one `cm`, one `up`), each at most 40 bytes plus its escaped route, alias and model
/// (kind, five separators, a type of 11 bytes, a count of 20 digits or a Double of 24
/// characters). `cost(of:)` charges exactly that, so the admitted lines take at most
/// `byteBudget` (1 MiB) of the 2 MiB slot, however hostile the names: a 128-byte model
/// of `%` escapes to 384 bytes, which caps such a worker at about 400 combinations;
/// typical names (`chat`, `team-a`, `gpt-4o-mini`) cost about 370 bytes, about 2,800
/// combinations. The `other` combinations are not charged: there is at most one per
/// route and key alias, both from the configuration, so they grow with it like
/// `requests_total` does (route × method × status × key_alias), as do `su` and `um`;
/// those and the older kinds share the remaining 1 MiB.
struct ModelLabels: Sendable {
    static let other = "other"
    static let maxModels = 500
    static let maxModelBytes = 128
    static let byteBudget = 1 << 20

    private(set) var models: Set<String> = []
    private var admitted: Set<MetricCounters.SpendKey> = []
    /// The worst-case encoded size of the admitted combinations' lines.
    private(set) var bytes = 0

    init() {}

    /// The label for `model` on `route` and `keyAlias`: empty for none (the label is
    /// left out), the name itself when admitted, else `other`.
    mutating func label(route: String, keyAlias: String, model: String?) -> String {
        guard let model, !model.isEmpty else { return "" }
        guard model.utf8.count <= Self.maxModelBytes, model != Self.other else { return Self.other }
        let key = MetricCounters.SpendKey(route: route, keyAlias: keyAlias, model: model)
        if admitted.contains(key) { return model }
        let cost = Self.cost(of: key)
        guard models.contains(model) || models.count < Self.maxModels, bytes + cost <= Self.byteBudget else {
            return Self.other
        }
        models.insert(model)
        admitted.insert(key)
        bytes += cost
        return model
    }

    /// Takes over the combinations of a predecessor's counters (a recycled worker's slot),
    /// admitted already, so they keep their labels even beyond the bounds.
    mutating func adopt(_ counters: MetricCounters) {
        let keys =
            counters.spend.keys
            .filter { !$0.model.isEmpty && $0.model != Self.other }
        for key in keys where admitted.insert(key).inserted {
            models.insert(key.model)
            bytes += Self.cost(of: key)
        }
    }

    /// The most bytes a combination's lines can take in the region encoding.
    static func cost(of key: MetricCounters.SpendKey) -> Int {
        let fields = [key.route, key.keyAlias, key.model].reduce(0) { $0 + MetricCounters.escape($1).utf8.count }
        return 6 * (40 + fields)
    }
}
