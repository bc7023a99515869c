import Foundation
import Testing

@testable import FCGIPassThrough
@testable import GatewayCore
@testable import Operations

@Suite struct LogFieldTests {
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
}
