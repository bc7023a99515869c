import Testing

@testable import GatewayCore

/// The word-at-a-time search against the byte-at-a-time rule it stands for.
@Suite struct JSONStringRunTests {
    static func naive(_ bytes: [UInt8], from start: Int, stoppingAtNonASCII: Bool) -> Int {
        var index = start
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x22 || byte == 0x5C || byte < 0x20 || (stoppingAtNonASCII && byte >= 0x80) { return index }
            index += 1
        }
        return bytes.count
    }

    @Test func findsTheSameByteAsTheByteWiseRule() {
        var generator = SystemRandomNumberGenerator()
        // Plain text with, now and then, each kind of byte that stops a run, and bytes
        // next to them (0x1F/0x20, 0x21/0x23, 0x5B/0x5D, 0x7F/0x80) that must not.
        let rare: [UInt8] = [0x22, 0x5C, 0x00, 0x1F, 0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7F, 0x80, 0xC3, 0xFF, 0x0A]
        for _ in 0..<4000 {
            let length = Int.random(in: 0...80, using: &generator)
            let bytes: [UInt8] = (0..<length).map { _ in
                Int.random(in: 0..<6, using: &generator) == 0
                    ? rare.randomElement(using: &generator)! : UInt8.random(in: 0x23...0x5B, using: &generator)
            }
            let start = length == 0 ? 0 : Int.random(in: 0...length, using: &generator)
            for stopping in [false, true] {
                let found = bytes.withUnsafeBufferPointer {
                    JSONStringRun.end(in: $0, from: start, stoppingAtNonASCII: stopping)
                }
                #expect(found == Self.naive(bytes, from: start, stoppingAtNonASCII: stopping), "\(bytes) from \(start)")
            }
        }
    }

    @Test func aLongPlainRunIsPassedWhole() {
        let text = Array(String(repeating: "plain text, no stops ", count: 50).utf8) + [0x22]
        let found = text.withUnsafeBufferPointer { JSONStringRun.end(in: $0, from: 3, stoppingAtNonASCII: true) }
        #expect(found == text.count - 1)
    }
}
