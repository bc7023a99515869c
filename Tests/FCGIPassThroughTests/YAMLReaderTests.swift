import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

@Suite struct YAMLReaderTests {
    private func read(_ text: String, limits: YAMLReader.Limits = YAMLReader.Limits()) throws -> YAMLNode? {
        try YAMLReader.read(text, limits: limits)
    }

    private func failure(_ text: String, limits: YAMLReader.Limits = YAMLReader.Limits()) -> YAMLReader.Failure? {
        #expect(throws: YAMLReader.Failure.self) { try YAMLReader.read(text, limits: limits) }
    }

    @Test func mappingKeepsOrderLinesAndScalarStyles() throws {
        let root = try read(
            """
            # comment
            b: plain
            a: "double"
            c: 'single'
            d: |
              block
            e: !!str 42
            f: 42
            """)
        let expected = YAMLNode(
            .mapping([
                YAMLPair(key: .scalar("b", line: 2), value: .scalar("plain", line: 2)),
                YAMLPair(key: .scalar("a", line: 3), value: .scalar("double", .quoted, line: 3)),
                YAMLPair(key: .scalar("c", line: 4), value: .scalar("single", .quoted, line: 4)),
                YAMLPair(key: .scalar("d", line: 5), value: .scalar("block\n", .quoted, line: 5)),
                YAMLPair(key: .scalar("e", line: 7), value: .scalar("42", .quoted, line: 7)),
                YAMLPair(key: .scalar("f", line: 8), value: .scalar("42", line: 8)),
            ]), line: 2)
        #expect(root == expected)
    }

    @Test func emptyAndCommentOnlyStreamsHaveNoDocument() throws {
        #expect(try read("") == nil)
        #expect(try read("# nothing here\n") == nil)
        #expect(try read("---\n")?.isNull == true)
    }

    @Test func aliasesAreExpanded() throws {
        let root = try read(
            """
            base: &auth
              Authorization: x
            copy: *auth
            list: [&n 1, *n]
            """)
        guard case .mapping(let pairs) = root?.kind else { Issue.record("not a mapping"); return }
        #expect(pairs[1].value == pairs[0].value)
        guard case .sequence(let items) = pairs[2].value.kind else { Issue.record("not a list"); return }
        #expect(items.map(\.scalarText) == ["1", "1"])
    }

    @Test func mergeKeysLetWrittenKeysWinAndEarlierSourcesWin() throws {
        let root = try read(
            """
            a: &a {x: 1, y: 1}
            b: &b {y: 2, z: 2}
            c:
              <<: [*a, *b]
              x: 3
            d:
              <<: *b
            """)
        guard case .mapping(let pairs) = root?.kind,
            case .mapping(let c) = pairs[2].value.kind,
            case .mapping(let d) = pairs[3].value.kind
        else { Issue.record("unexpected shape"); return }
        let merged = c.map { ($0.key.scalarText ?? "", $0.value.scalarText ?? "") }
        #expect(merged.map(\.0) == ["y", "z", "x"])
        #expect(merged.map(\.1) == ["1", "2", "3"])
        #expect(d.map(\.key.scalarText) == ["y", "z"])
    }

    @Test func mergeOfAScalarIsRefused() {
        #expect(
            failure("a:\n  <<: 1\n")
                == YAMLReader.Failure(
                    line: 2, message: "invalid YAML: a << merge key needs a mapping or a list of mappings"))
    }

    @Test func quotedMergeKeyIsAnOrdinaryKey() throws {
        let root = try read("\"<<\": {a: 1}\n")
        guard case .mapping(let pairs) = root?.kind else { Issue.record("not a mapping"); return }
        #expect(pairs.first?.key.scalarText == "<<")
    }

    /// "Billion laughs": nine levels of nine aliases would be 9^9 nodes.
    @Test func aliasBombStopsAtTheNodeLimit() {
        var lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for level in 1...9 {
            let refs = Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ")
            lines.append("a\(level): &a\(level) [\(refs)]")
        }
        let failure = failure(lines.joined(separator: "\n"))
        #expect(failure?.message == "YAML expands to more than 100000 nodes (too many aliases?)")
        #expect(failure?.line == 6)
    }

    @Test func nodeLimitCountsExpandedAliases() throws {
        // mapping, a, [1, 2, 3], b, and the alias's 4 nodes: 11.
        let limits = YAMLReader.Limits(maxNodes: 11, maxDepth: 64)
        #expect(try read("a: &a [1, 2, 3]\nb: *a\n", limits: limits) != nil)
        #expect(failure("a: &a [1, 2, 3]\nb: *a\nc: *a\n", limits: limits)?.line == 3)
    }

    @Test func depthIsBounded() {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(failure(deep)?.message == "YAML nested deeper than 64 levels")
        let fine = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect((try? read(fine)) != nil)
    }

    /// An alias to the collection it sits in is never defined yet: no cycle can form.
    @Test func selfReferenceIsAnUndefinedAlias() {
        #expect(
            failure("a: &a [*a]\n")
                == YAMLReader.Failure(
                    line: 1, message: "invalid YAML: alias names an anchor not defined before it"))
        #expect(failure("a: *nowhere\n")?.line == 1)
    }

    @Test func syntaxErrorsCarryLibyamlsTextAndLine() {
        #expect(
            failure("a: 1\nb: [1, 2\nc: 3\n")
                == YAMLReader.Failure(
                    line: 3,
                    message:
                        "invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence that starts at line 2)"
                ))
        #expect(
            failure("a:\n  b: 1\n c: 2\n")
                == YAMLReader.Failure(
                    line: 3,
                    message:
                        "invalid YAML: did not find expected key (while parsing a block mapping that starts at line 1)")
        )
        #expect(failure("a: 1\n\tb: 2\n")?.line == 2)
    }

    @Test func readerErrorsPointAtTheirLine() {
        #expect(
            failure("a: 1\nb: \u{0}\n")
                == YAMLReader.Failure(line: 2, message: "invalid YAML: control characters are not allowed"))
    }

    @Test func secondDocumentIsRefused() {
        #expect(
            failure("a: 1\n---\nb: 2\n")
                == YAMLReader.Failure(
                    line: 2, message: "invalid YAML: expected a single document, found a second one"))
    }

    @Test func scalarTypingFollowsYAML11() {
        for text in ["", "~", "null", "Null", "NULL"] { #expect(YAMLScalarRules.implicitType(of: text) == .null) }
        for text in ["true", "TRUE", "yes", "Yes", "on", "OFF", "No", "false", "tRuE"] {
            #expect(YAMLScalarRules.implicitType(of: text) == .bool, "\(text)")
        }
        for text in ["0", "42", "-7", "0x1F", "0755", "1_000", "3.5", ".5", "-1.5e+3", ".inf", ".NaN", "1:30"] {
            #expect(YAMLScalarRules.implicitType(of: text) == .number, "\(text)")
        }
        for text in ["sk-1234", "1e3", "nulls", "y", "n", "v1", "/v1/rerank", "https://x"] {
            #expect(YAMLScalarRules.implicitType(of: text) == .string, "\(text)")
        }
        #expect(YAMLScalarRules.decimal("1_000.5") == 1000.5)
        #expect(YAMLScalarRules.decimal("1e3") == 1000)
        #expect(YAMLScalarRules.decimal("0x10") == nil)
        #expect(YAMLScalarRules.decimal("nan") == nil)
        #expect(YAMLScalarRules.decimal("") == nil)
    }
}
