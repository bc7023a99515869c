/// An ordered list of header fields with case-insensitive lookup.
///
/// Order and duplicates are kept: the gateway must see a duplicated
/// `Authorization` to reject it, and forwarded headers keep the client's order.
public struct HTTPHeaders: Sendable, Equatable, Sequence {
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public private(set) var fields: [Field]

    public init(_ fields: [Field] = []) { self.fields = fields }

    public init(_ pairs: [(String, String)]) {
        self.fields = pairs.map { Field(name: $0.0, value: $0.1) }
    }

    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }

    public var isEmpty: Bool { fields.isEmpty }
    public var count: Int { fields.count }

    // Lookups walk the fields by index: `first(where:)` and friends copy each field out
    // of the array (two retains and two releases per field), several times the cost of
    // comparing its name. A name's length is compared here, in line, before its letters:
    // most fields differ in length, and a call to compare them costs more than that.

    @inline(__always)
    private func field(_ index: Int, isNamed name: String, length: Int) -> Bool {
        fields[index].name.utf8.count == length && fields[index].name.caseInsensitiveEquals(name)
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        let length = name.utf8.count
        var values: [String] = []
        for index in fields.indices where field(index, isNamed: name, length: length) { values.append(fields[index].value) }
        return values
    }

    /// How many fields are named `name`, counted without collecting their values.
    public func count(of name: String) -> Int {
        let length = name.utf8.count
        var count = 0
        for index in fields.indices where field(index, isNamed: name, length: length) { count += 1 }
        return count
    }

    /// The first value of `name`.
    public subscript(_ name: String) -> String? {
        let length = name.utf8.count
        for index in fields.indices where field(index, isNamed: name, length: length) { return fields[index].value }
        return nil
    }

    public func contains(_ name: String) -> Bool {
        let length = name.utf8.count
        for index in fields.indices where field(index, isNamed: name, length: length) { return true }
        return false
    }

    public mutating func append(_ name: String, _ value: String) {
        fields.append(Field(name: name, value: value))
    }

    public mutating func remove(_ name: String) {
        fields.removeAll { $0.name.caseInsensitiveEquals(name) }
    }

    /// Replaces every field named `name` with one field.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        append(name, value)
    }
}

extension String {
    /// ASCII case-insensitive comparison, as header names compare (RFC 9110 §5.1).
    /// Compares the contiguous UTF-8 buffers: every lookup in `HTTPHeaders` runs this once
    /// per field, and a zip of the two UTF-8 views costs several times as much. Read in
    /// place, not through `withUTF8` on copies, which retain and release both strings.
    @inlinable
    package func caseInsensitiveEquals(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        let inPlace = utf8.withContiguousStorageIfAvailable { x in
            other.utf8.withContiguousStorageIfAvailable { y in Self.asciiCaseInsensitiveEqual(x, y) }
        }
        if let inPlace, let inPlace { return inPlace }
        // A string bridged from elsewhere has no contiguous UTF-8 to lend.
        var a = self, b = other
        return a.withUTF8 { x in b.withUTF8 { y in Self.asciiCaseInsensitiveEqual(x, y) } }
    }

    /// Two buffers of the same length, equal but for the case of ASCII letters.
    @inlinable
    package static func asciiCaseInsensitiveEqual(_ x: UnsafeBufferPointer<UInt8>, _ y: UnsafeBufferPointer<UInt8>) -> Bool {
        for i in 0..<x.count where x[i] != y[i] {
            let lower = x[i] | 0x20
            guard lower == y[i] | 0x20, lower >= 0x61, lower <= 0x7A else { return false }
        }
        return true
    }

    /// ASCII lower-casing; header names are ASCII tokens. A name with no upper-case
    /// letter (every HTTP/2 name, most others) is returned as it is, without a copy.
    package var asciiLowercased: String {
        var text = self
        return text.withUTF8 { bytes in
            guard bytes.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) else { return self }
            return String(unsafeUninitializedCapacity: bytes.count) { out in
                for (index, byte) in bytes.enumerated() { out[index] = (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte }
                return bytes.count
            }
        }
    }
}
