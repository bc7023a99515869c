import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

@Suite struct QueryMergerTests {
    /// Runs the whole query pipeline the rewriter uses.
    static func query(
        client: String?, target: String?, defaults: [(name: String, value: String)] = [], merge: Bool = false
    ) throws -> String? {
        QueryMerger.query(
            client: try QueryMerger.normalizedClientQuery(client?[...]), target: target, defaults: defaults, merge: merge)
    }

    @Test(
        arguments: [
            // Reference §1.5: without merging the client's query replaces the target's...
            ("q=litellm", "setLang=en-US", "q=litellm"),
            // ...and the target's is kept when the client sent none, or an empty `?`.
            (nil, "alt=sse", "alt=sse"),
            ("", "alt=sse", "alt=sse"),
            (nil, nil, nil),
            ("", nil, nil),
            (nil, "", nil),
            // Forwarded exactly as written: order, repeats, `;`, encodings, empty pieces.
            ("a=1&a=2;b=3", "x=1", "a=1&a=2;b=3"),
            ("b=2&a=1&&c", nil, "b=2&a=1&&c"),
            ("x=%2F%2f&y=a+b&z=%E2%82%AC", nil, "x=%2F%2f&y=a+b&z=%E2%82%AC"),
            ("redirect=/a/b?c=d:e@f!$'()*,", nil, "redirect=/a/b?c=d:e@f!$'()*,"),
            ("ids[]=1&ids[]=2", nil, "ids[]=1&ids[]=2"),
        ] as [(String?, String?, String?)])
    func withoutMergingTheClientReplaces(client: String?, target: String?, expected: String?) throws {
        #expect(try Self.query(client: client, target: target) == expected)
    }

    @Test(
        arguments: [
            // Reference §1.5 merge example.
            ("q=litellm", "setLang=en-US&mkt=en-US", "setLang=en-US&mkt=en-US&q=litellm"),
            // The client wins; its key drops every target value of that key.
            ("api-version=2", "api-version=1", "api-version=2"),
            ("a=9", "a=1&a=2&b=3", "b=3&a=9"),
            // Repeated client keys all stay, in order.
            ("a=1&a=2", "a=0", "a=1&a=2"),
            // Keys compare decoded (`%2D` is `-`, `+` and `%20` are spaces); raw text is kept.
            ("api-version=2", "api%2Dversion=1&x=1", "x=1&api-version=2"),
            ("a+b=1", "a%20b=2", "a+b=1"),
            ("k%65y=1", "key=2", "k%65y=1"),
            // A bare key counts as that key.
            ("flag", "flag=1&other=2", "other=2&flag"),
            // `;` is not a separator (Go CVE-2021-44716): the target pair's key is `a`.
            ("b=3", "a=1;b=2", "a=1;b=2&b=3"),
            // Empty pieces and an empty client query disappear.
            ("a=1&&b=2", nil, "a=1&b=2"),
            ("", "x=1", "x=1"),
            (nil, nil, nil),
            ("&", nil, nil),
        ] as [(String?, String?, String?)])
    func mergingKeepsTargetUnlessTheClientSetsTheKey(client: String?, target: String?, expected: String?) throws {
        #expect(try Self.query(client: client, target: target, merge: true) == expected)
    }

    @Test func defaultsApplyEvenWithoutMerge() throws {
        // Reference §1.5: defaults {api-version, setLang} + client `limit=5&api-version=client-version`.
        let defaults = [(name: "api-version", value: "2024-01-01"), (name: "setLang", value: "en-US")]
        #expect(
            try Self.query(client: "limit=5&api-version=client-version", target: nil, defaults: defaults)
                == "setLang=en-US&limit=5&api-version=client-version")
        #expect(try Self.query(client: nil, target: nil, defaults: defaults) == "api-version=2024-01-01&setLang=en-US")
    }

    @Test func precedenceIsDefaultsThenTargetThenClient() throws {
        let defaults = [(name: "a", value: "d"), (name: "b", value: "d"), (name: "c", value: "d")]
        #expect(try Self.query(client: "c=client", target: "b=target&c=target", defaults: defaults) == "a=d&b=target&c=client")
        #expect(try Self.query(client: "b=client", target: "b=t1&b=t2", defaults: defaults, merge: true) == "a=d&c=d&b=client")
    }

    @Test func defaultsAreEncodedKeepingUnreserved() throws {
        let defaults = [(name: "my key", value: "a b&c=d/é~-._"), (name: "plus", value: "1+1")]
        #expect(
            try Self.query(client: nil, target: nil, defaults: defaults)
                == "my%20key=a%20b%26c%3Dd%2F%C3%A9~-._&plus=1%2B1")
        // Compared by key: a client `my+key` overrides the encoded default.
        #expect(try Self.query(client: "my+key=x", target: nil, defaults: defaults) == "plus=1%2B1&my+key=x")
    }

    @Test(arguments: [
        ("q=a b", "q=a%20b"),
        ("q=\"<>\\^`{|}", "q=%22%3C%3E%5C%5E%60%7B%7C%7D"),
        ("q=é", "q=%C3%A9"),
        ("q=\u{01}\u{7F}", "q=%01%7F"),
        ("q=%41%2b+", "q=%41%2b+"),
    ])
    func clientBytesInvalidInAQueryAreEncoded(raw: String, expected: String) throws {
        #expect(try QueryMerger.normalizedClientQuery(raw[...]) == expected)
    }

    @Test(arguments: ["a=1#frag", "#", "a=%zz", "a=%", "a=1&b=%2", "%g0=1", "a=%%41"])
    func fragmentsAndMalformedEscapesAreRefused(raw: String) {
        let error = #expect(throws: GatewayError.self) { try QueryMerger.normalizedClientQuery(raw[...]) }
        #expect(error?.status == 400)
        #expect(error?.message.contains(raw) == false)
    }
}
