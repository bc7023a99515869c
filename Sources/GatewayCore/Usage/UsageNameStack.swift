/// The member names from the top of a document to the current value: at most
/// `UsageJSONScanner.maxDepth`, kept inline.
struct UsageNameStack {
    private var names = InlineArray<64, UsageName>(repeating: .other)
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }
    var first: UsageName? { count > 0 ? names[0] : nil }

    /// The innermost entry; set only while there is one.
    var last: UsageName? {
        get { count > 0 ? names[count - 1] : nil }
        set { if let newValue, count > 0 { names[count - 1] = newValue } }
    }

    /// The caller keeps `count` below `UsageJSONScanner.maxDepth`.
    mutating func push(_ name: UsageName) {
        names[count] = name
        count += 1
    }

    mutating func pop() -> UsageName {
        count -= 1
        return names[count]
    }

    mutating func removeAll() { count = 0 }

    /// The field the entries from `start` on lead to, if `paths` names them.
    @inline(__always)
    func field(in paths: UsagePaths, from start: Int) -> UsageField? {
        let length = count - start
        guard length > 0, length <= paths.maxDepth, paths.leaves & names[count - 1].bit != 0 else { return nil }
        // `UsagePaths.code` of the entries, made where they lie.
        var code = UInt64(length) << 56
        for offset in 0..<length { code |= UInt64(names[start + offset].rawValue) << (8 * offset) }
        return paths.field(code: code)
    }
}
