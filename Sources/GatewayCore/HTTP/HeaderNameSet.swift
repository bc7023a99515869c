/// A fixed set of lower-case header names, asked about every field of every request and
/// response. Most fields are not in it, and most of those have a length no member has:
/// they are turned away by one bit test, without hashing the name (SipHash over the
/// whole name, about as much as the rest of the check).
package struct HeaderNameSet: Sendable, Equatable, ExpressibleByArrayLiteral {
    package let names: Set<String>
    /// Bit n set: some member is n bytes long (bit 63: 63 or longer).
    private let lengths: UInt64

    package init(_ names: some Sequence<String>) {
        self.names = Set(names)
        lengths = self.names.reduce(0) { $0 | Self.bit($1.utf8.count) }
    }

    package init(arrayLiteral names: String...) { self.init(names) }

    /// Whether `name` (already lower-case) is a member.
    package func contains(_ name: String) -> Bool {
        admitsLength(of: name) && names.contains(name)
    }

    /// Whether some member is as long as `name`, in any letter case: false rules it out.
    package func admitsLength(of name: String) -> Bool {
        lengths & Self.bit(name.utf8.count) != 0
    }

    package var isEmpty: Bool { names.isEmpty }

    package func union(_ other: some Sequence<String>) -> HeaderNameSet {
        HeaderNameSet(names.union(other))
    }

    private static func bit(_ length: Int) -> UInt64 { 1 << UInt64(min(length, 63)) }
}

extension String {
    /// Whether the UTF-8 bytes begin with `prefix`'s: `hasPrefix` compares Characters,
    /// several times the cost, and header names are ASCII.
    package func hasBytePrefix(_ prefix: StaticString) -> Bool {
        let wanted = UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount)
        return utf8.starts(with: wanted)
    }
}
