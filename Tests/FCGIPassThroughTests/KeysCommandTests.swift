import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import GatewayCore
@testable import GatewayCrypto

/// `fcgi-pass-through keys new|hash` (docs/KEYS.md, "Making a key").
@Suite struct KeysCommandTests {
    struct Outcome {
        var code: GatewayProcess.ExitCode
        var output: String
        var error: String
    }

    static func run(_ arguments: [String], input: String = "") -> Outcome {
        var output = ""
        var error = ""
        let code = KeysCommand.run(
            arguments, input: { Data(input.utf8) }, output: { output += $0 }, errorOutput: { error += $0 })
        return Outcome(code: code, output: output, error: error)
    }

    /// The entry loaded as the config's only key.
    static func decode(_ entry: String) throws -> VirtualKey? {
        let yaml = "general_settings:\n  master_key: sk-master\n  keys:\n" + entry
        return try ConfigLoader.load(yaml: yaml, file: "c.yaml", environment: Environment()).0.keys.first
    }

    // MARK: new

    @Test func newPrintsTheKeyThenAnEntryThatLoads() throws {
        let outcome = Self.run([
            "new", "--alias", "search-team", "--rpm", "600", "--parallel=20", "--routes", "/v1/rerank,/anthropic/*",
            "--models", "rerank-english-v3.0,claude-*",
        ])
        #expect(outcome.code == .ok)
        #expect(outcome.error.isEmpty)
        let lines = outcome.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let key = try #require(lines.first)
        #expect(key.wholeMatch(of: #/sk-[0-9a-f]{64}/#) != nil)
        let hash = KeyDigest(of: key).hex
        #expect(
            Array(lines.dropFirst()) == [
                "    - key_alias: search-team",
                "      key_hash: \(hash)",
                "      allowed_routes: [\"/v1/rerank\", \"/anthropic/*\"]",
                "      models: [\"rerank-english-v3.0\", \"claude-*\"]",
                "      rpm_limit: 600",
                "      max_parallel_requests: 20",
                "",
            ])
        let decoded = try #require(try Self.decode(lines.dropFirst().joined(separator: "\n")))
        #expect(decoded.alias == "search-team")
        #expect(decoded.digest == KeyDigest(of: key))
        #expect(decoded.allowedRoutes?.map(\.text) == ["/v1/rerank", "/anthropic/*"])
        #expect(decoded.models?.map(\.text) == ["rerank-english-v3.0", "claude-*"])
        #expect(decoded.limits == KeyLimits(rpm: 600, parallel: 20))
    }

    @Test func onlyTheAliasIsNeededAndEveryKeyIsNew() throws {
        let first = Self.run(["new", "--alias=ci"])
        let second = Self.run(["new", "--alias=ci"])
        #expect(first.code == .ok)
        let lines = first.output.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[1] == "    - key_alias: ci")
        #expect(first.output.split(separator: "\n").first != second.output.split(separator: "\n").first)
        #expect(try Self.decode(lines.dropFirst().joined(separator: "\n")) != nil)
    }

    @Test func aliasesYAMLWouldReadOtherwiseAreQuoted() throws {
        for alias in ["yes", "null", "123", "2027-01-31", "team: search", "a \"b\" \\ c", "#tag", "- x", "x y"] {
            let outcome = Self.run(["new", "--alias", alias])
            #expect(outcome.code == .ok, "\(alias)")
            let entry = outcome.output.split(separator: "\n").dropFirst().joined(separator: "\n")
            #expect(entry.hasPrefix("    - key_alias: \""), "\(alias)")
            #expect(try Self.decode(entry)?.alias == alias, "\(alias)")
        }
    }

    @Test func newRefusesWhatTheConfigWouldRefuse() {
        let cases: [([String], String)] = [
            ([], "keys new needs --alias NAME"),
            (["--alias"], "--alias needs a value"),
            (["--alias", ""], "--alias must not be empty"),
            (["--alias", "master_key"], "--alias master_key is reserved: it names the master key in logs and metrics"),
            (["--alias", "équipe"], "--alias must be printable ASCII (letters, digits, punctuation, inner spaces)"),
            (["--alias", "a "], "--alias must not start or end with a space"),
            (["--alias", "a", "--alias", "b"], "--alias given twice"),
            (["--alias", "a", "--rpm", "0"], "--rpm expects a whole number from 1 to 1000000000"),
            (["--alias", "a", "--rpm", "1.5"], "--rpm expects a whole number from 1 to 1000000000"),
            (["--alias", "a", "--parallel", "-3"], "--parallel expects a whole number from 1 to 1000000000"),
            (["--alias", "a", "--parallel", "1000000001"], "--parallel expects a whole number from 1 to 1000000000"),
            (
                ["--alias", "a", "--routes", "/v1,v2"],
                "--routes: v2 must be a path such as /p (that path) or /p/* (it and everything below it); * only as a final /*"
            ),
            (["--alias", "a", "--routes", ""], "--routes expects a comma-separated list without empty items"),
            (["--alias", "a", "--models", "a,,b"], "--models expects a comma-separated list without empty items"),
            (["--alias", "a", "--models", "a\nb"], "--models contains a control character"),
            (["--alias", "a", "--budget", "5"], "unknown option --budget for keys new (see keys --help)"),
            (["--alias", "a", "extra"], "unknown option extra for keys new (see keys --help)"),
        ]
        for (arguments, message) in cases {
            let outcome = Self.run(["new"] + arguments)
            #expect(outcome.code == .usage, "\(arguments)")
            #expect(outcome.output.isEmpty, "\(arguments)")
            #expect(outcome.error == "fcgi-pass-through: keys: \(message)\n", "\(arguments)")
        }
    }

    // MARK: hash

    @Test func hashReadsTheKeyFromStandardInput() {
        let expected = SHA256.hex(Array("sk-abc".utf8))
        for input in ["sk-abc", "sk-abc\n", "sk-abc\r\n"] {
            let outcome = Self.run(["hash"], input: input)
            #expect(outcome.code == .ok)
            #expect(outcome.output == expected + "\n")
            #expect(outcome.error.isEmpty)
        }
    }

    @Test func hashRefusesWhatCannotBeAKeyWithoutShowingIt() {
        let cases: [(String, String)] = [
            ("", "hash: no key on standard input"),
            ("\n", "hash: no key on standard input"),
            ("sk-abc\n\n", "hash: the key contains a control character (CR, LF, NUL or similar)"),
            (" sk-abc", "hash: the key starts or ends with whitespace, which HTTP strips from header values"),
            ("sk-é", "hash: the key contains non-ASCII characters, which clients cannot send in a header"),
        ]
        for (input, message) in cases {
            let outcome = Self.run(["hash"], input: input)
            #expect(outcome.code == .usage, "\(input)")
            #expect(outcome.output.isEmpty)
            #expect(outcome.error == "fcgi-pass-through: keys: \(message)\n")
        }
        let invalid = KeysCommand.run(
            ["hash"], input: { Data([0x73, 0x6B, 0xFF]) }, output: { _ in }, errorOutput: { _ in })
        #expect(invalid == .usage)
    }

    @Test func hashTakesNoKeyOnTheCommandLine() {
        let outcome = Self.run(["hash", "sk-abc"])
        #expect(outcome.code == .usage)
        #expect(!outcome.error.contains("sk-abc"))
    }

    // MARK: usage

    @Test func keysWithoutAKnownSubcommandShowsTheUsage() {
        for arguments in [[], ["generate"]] {
            let outcome = Self.run(arguments)
            #expect(outcome.code == .usage)
            #expect(outcome.error.contains(KeysCommand.usage))
        }
        let help = Self.run(["--help"])
        #expect(help.code == .ok)
        #expect(help.output == KeysCommand.usage + "\n")
        #expect(CommandLineOptions.usage.contains("keys new") && CommandLineOptions.usage.contains("keys hash"))
    }
}
