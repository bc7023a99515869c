/// "did you mean ...?" for misspelt keys (`include_subpaths` → `include_subpath`).
enum KeySuggestion {
    /// The closest known key within a small edit distance, ignoring letter case.
    static func closest(to key: String, among known: [String]) -> String? {
        let word = Array(key.asciiLowercased.utf8)
        // Known keys are short; a long key is no typo of one, and the table would be large.
        guard word.count <= 64 else { return nil }
        let allowed = max(1, min(2, word.count / 4))
        let scored = known.map { ($0, distance(word, Array($0.utf8))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= allowed else { return nil }
        return best.0
    }

    /// `" (did you mean path?)"` or the empty string.
    static func hint(for key: String, among known: [String]) -> String {
        closest(to: key, among: known).map { " (did you mean \($0)?)" } ?? ""
    }

    /// Edit distance counting a swap of neighbours as one edit (optimal string
    /// alignment), so `targte` is one edit from `target`.
    static func distance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }
}
