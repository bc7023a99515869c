/// "did you mean ...?" for misspelt keys (`include_subpaths` → `include_subpath`).
enum KeySuggestion {
    /// The closest known key within a small edit distance, ignoring letter case.
    static func closest(to key: String, among known: [String]) -> String? {
        let word = Array(key.asciiLowercased.utf8)
        let allowed = max(1, min(2, word.count / 4))
        let scored = known.map { ($0, distance(word, Array($0.utf8))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= allowed else { return nil }
        return best.0
    }

    /// `" (did you mean path?)"` or the empty string.
    static func hint(for key: String, among known: [String]) -> String {
        closest(to: key, among: known).map { " (did you mean \($0)?)" } ?? ""
    }

    /// Levenshtein distance.
    static func distance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        var current = previous
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
