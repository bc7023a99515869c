import Foundation
import Testing

@testable import FCGIPassThrough
@testable import GatewayCore
@testable import Operations

@Suite struct LogFieldTests {
    /// The hand-built timestamp writes what `Date.ISO8601FormatStyle` writes, milliseconds
    /// cut. Compared half-way through each millisecond: a `Date` holds seconds as a
    /// `Double` from 2001, so the style itself can land a whole millisecond low.
    @Test func timestampMatchesTheISO8601FormatStyle() {
        let style = Date.ISO8601FormatStyle().year().month().day().time(includingFractionalSeconds: true)
            .timeZone(separator: .omitted)
        var instants: [(seconds: Int, millisecond: Int)] = [(0, 0), (1, 999), (951_782_400, 500), (1_796_624_432, 328)]
        instants += [(4_102_444_799, 1), (253_402_300_799, 999), (1_709_164_800, 0), (1_709_251_199, 998)]
        var seed: UInt64 = 7
        for _ in 0..<2_000 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            instants.append((Int(seed >> 33) % 4_102_444_800, Int(seed >> 20) % 1000))
        }
        for (seconds, millisecond) in instants {
            let date = Date(timeIntervalSince1970: Double(seconds) + (Double(millisecond) + 0.5) / 1000)
            let written = Logger.timestamp(seconds: seconds, nanoseconds: millisecond * 1_000_000 + 500_000)
            #expect(written == date.formatted(style), "\(seconds) s \(millisecond) ms")
            // The cut, not a rounding: the last nanosecond of the millisecond stays in it.
            #expect(Logger.timestamp(seconds: seconds, nanoseconds: millisecond * 1_000_000 + 999_999) == written)
        }
        #expect(Logger.timestamp().utf8.count == 24)
    }

    /// The integer formatting of `ms` and `ttfb_ms` writes what `%.1f` writes, ties included.
    @Test func millisecondsMatchPrintfOneDecimal() {
        var durations: [Duration] = [.zero, .nanoseconds(1), .microseconds(49), .microseconds(50), .microseconds(51)]
        durations += [.microseconds(150), .microseconds(250), .microseconds(1_050), .milliseconds(999), .seconds(600)]
        durations += [.seconds(200_000), .nanoseconds(123_456_789), .nanoseconds(2_345_000), .nanoseconds(2_355_000)]
        var seed: UInt64 = 42
        for _ in 0..<20_000 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            durations.append(.nanoseconds(Int64(seed >> 34)))
        }
        for duration in durations {
            #expect(Gateway.milliseconds(duration) == String(format: "%.1f", duration.seconds * 1000), "\(duration)")
        }
    }

    /// A model name comes from a client or an upstream: nothing in it can forge a line.
    @Test func modelNamesAreMadePrintableAndCut() {
        #expect(Gateway.printable("gpt-4o-mini") == "gpt-4o-mini")
        #expect(Gateway.printable("a\nrequest route=/x") == "a?request route=/x")
        #expect(Gateway.printable("a\\b\u{7F}c\u{85}d\u{2028}e") == "a?b?c?d?e")
        #expect(Gateway.printable("modèle-ü") == "modèle-ü")
        #expect(Gateway.printable(String(repeating: "m", count: 300)) == String(repeating: "m", count: 128))
        #expect(Gateway.printable(String(repeating: "é", count: 300)) == String(repeating: "é", count: 128))
    }

    @Test func valuesAreQuotedOnlyWhenTheyHoldASpaceAQuoteOrAnEqualsSign() {
        #expect(Logger.quotedIfNeeded("/v1/rerank") == "/v1/rerank")
        #expect(Logger.quotedIfNeeded("") == "\"\"")
        #expect(Logger.quotedIfNeeded("a b") == "\"a b\"")
        #expect(Logger.quotedIfNeeded("a\"b") == "\"a\\\"b\"")
        #expect(Logger.quotedIfNeeded("a=b") == "\"a=b\"")
        // A space joined to a combining mark still splits the line for a parser: quoted.
        #expect(Logger.quotedIfNeeded("a \u{301}b") == "\"a \u{301}b\"")
    }

    @Test func fieldsAreWrittenIntoTheLineAsTheyAreAdded() {
        // A small buffer, so the line must grow several times.
        var fields = LogFields(json: false, capacity: 16)
        fields.add("status", 200)
        fields.add("zero", 0)
        fields.add("negative", -42)
        fields.add("largest", Int.max)
        fields.add("smallest", Int.min)
        fields.add("route", "/v1/rerank")
        fields.add("reason", "upstream said \"no\"")
        fields.add("empty", "")
        let long = String(repeating: "x", count: 3_000)
        fields.add("long", long)
        fields.add(String("dynamic"), "k=v")
        let line = fields.line.withBytes { String(decoding: $0, as: UTF8.self) }
        #expect(
            line
                == " status=200 zero=0 negative=-42 largest=\(Int.max) smallest=\(Int.min) route=/v1/rerank"
                + " reason=\"upstream said \\\"no\\\"\" empty=\"\" long=\(long) dynamic=\"k=v\"")
    }

    /// A number's field reads exactly as `String(value)`: the ledger, `/spend/logs` and
    /// `/metrics` show the same value, and a reader may compare the texts.
    @Test func numbersAreWrittenAsStringWritesThem() {
        var generator = SystemRandomNumberGenerator()
        var values: [Double] = [
            0, -0.0, 1e-4, 1e-4 - 1e-12, 0.00011, 9.9e-5, 0.002, 0.1 + 0.2, 1, 2.5, 100.5, 0.000001, 0.0000015,
            999_999_999.999999, 1e9, 1e9 - 1e-6, 123_456.000001, 1e16, -0.002, .nan, .infinity, .pi, 1.0 / 3,
            Double.ulpOfOne, .leastNonzeroMagnitude,
        ]
        for _ in 0..<20_000 {
            // Whole millionths (prices, costs and their sums), near misses and anything.
            // Up to 2e9, so about half land in the plain-decimal range and half above it;
            // and a spread over every magnitude.
            let millionths = Double(Int.random(in: 0..<2_000_000_000_000_000, using: &generator))
            let magnitude =
                Double(Int.random(in: 1..<1_000_000, using: &generator)) * pow(10, Double(Int.random(in: -9...9, using: &generator)))
            values.append((magnitude * 1e6).rounded() / 1e6)
            values.append(millionths / 1e6)
            values.append((millionths / 1e6).nextUp)
            values.append(Double(Int.random(in: 1..<1_000_000, using: &generator)) * 0.000001)
            values.append(Double(bitPattern: UInt64.random(in: 0...UInt64.max, using: &generator)))
        }
        for value in values {
            var fields = LogFields(json: false, capacity: 16)
            fields.add("cost", value)
            let line = fields.line.withBytes { String(decoding: $0, as: UTF8.self) }
            #expect(line == " cost=" + String(value), "\(value.bitPattern)")
        }
    }

    @Test func jsonLinesKeepTheFieldsAsPairs() {
        var fields = LogFields(json: true, capacity: 16)
        fields.add("status", 503)
        fields.add("route", "/a b")
        #expect(fields.pairs.map { "\($0.0)=\($0.1)" } == ["status=503", "route=/a b"])
        #expect(fields.line.count == 0)
    }

    @Test func sameBytesComparesUTF8NotCanonicalEquivalence() {
        #expect(UTF8Text.sameBytes("rerank-english-v3.0", "rerank-english-" + "v3.0"))
        #expect(!UTF8Text.sameBytes("gpt-4o", "gpt-4o-mini"))
        #expect(!UTF8Text.sameBytes("gpt-4o", "gpt-4O"))
        #expect(UTF8Text.sameBytes("", ""))
        // Equal as Strings, different bytes: kept apart.
        #expect("caf\u{E9}" == "cafe\u{301}")
        #expect(!UTF8Text.sameBytes("caf\u{E9}", "cafe\u{301}"))
    }
}
