import Foundation
import GatewayCore
import GatewayCrypto

/// `fcgi-pass-through keys new|hash`: makes a client key and its `general_settings.keys`
/// entry, or hashes a key for `key_hash` (docs/KEYS.md, "Making a key"). Inputs are
/// checked with the config's own rules, so a pasted entry loads.
enum KeysCommand {
    typealias UsageError = CommandLineOptions.UsageError

    static let usage = """
        Usage: fcgi-pass-through keys new --alias NAME [--rpm N] [--parallel N] [--routes a,b] [--models a,b]
               fcgi-pass-through keys hash < FILE

          new    print a new key (shown once), then its entry to paste under general_settings.keys
                   --alias NAME    key_alias: unique, printable ASCII, up to 128 bytes
                   --rpm N         rpm_limit: requests in any 60-second window
                   --parallel N    max_parallel_requests: requests in flight at once
                   --routes a,b    allowed_routes: /p or /p/* patterns
                   --models a,b    models: names, or prefixes ending in *
          hash   print the SHA-256 (key_hash) of the key on standard input
        """

    /// What `keys new` puts in the entry besides the alias and the hash.
    struct NewKey: Equatable {
        var alias: String
        var rpm: Int?
        var parallel: Int?
        var routes: [String]?
        var models: [String]?
    }

    enum Command: Equatable {
        case new(NewKey)
        case hash
        case help
    }

    /// Runs `keys` with `arguments` (what follows `keys`).
    /// - Parameters:
    ///   - input: standard input, read only by `keys hash`.
    ///   - output: standard output, one call per complete text.
    ///   - errorOutput: standard error.
    static func run(
        _ arguments: [String], input: () -> Data, output: (String) -> Void, errorOutput: (String) -> Void
    ) -> GatewayProcess.ExitCode {
        do throws(UsageError) {
            switch try parse(arguments) {
            case .help:
                output(usage + "\n")
            case .new(let spec):
                let key = newKey()
                output(key + "\n" + entry(spec, digest: KeyDigest(of: key)))
            case .hash:
                output(try hash(input()) + "\n")
            }
            return .ok
        } catch {
            errorOutput("fcgi-pass-through: keys: \(error)\n")
            return .usage
        }
    }

    static func parse(_ arguments: [String]) throws(UsageError) -> Command {
        guard let subcommand = arguments.first else { throw UsageError(description: "a subcommand is needed\n" + usage) }
        let rest = Array(arguments.dropFirst())
        switch subcommand {
        case "new":
            return .new(try parseNew(rest))
        case "hash":
            guard rest.isEmpty else {
                throw UsageError(
                    description: "hash takes no arguments: it reads the key from standard input, "
                        + "so the key stays out of the shell's history")
            }
            return .hash
        case "-h", "--help", "help":
            return .help
        default:
            throw UsageError(description: "unknown subcommand \(subcommand) (new or hash)\n" + usage)
        }
    }

    private static func parseNew(_ arguments: [String]) throws(UsageError) -> NewKey {
        let values = try SubcommandFlags.values(
            arguments, allowed: ["--alias", "--rpm", "--parallel", "--routes", "--models"],
            context: "for keys new (see keys --help)")
        guard let alias = values["--alias"] else { throw UsageError(description: "keys new needs --alias NAME") }
        if let problem = ConfigDecoder.aliasProblem(alias) {
            throw UsageError(description: "--alias \(problem)")
        }
        var spec = NewKey(alias: alias)
        spec.rpm = try values["--rpm"].map { text throws(UsageError) in try limit(text, flag: "--rpm") }
        spec.parallel = try values["--parallel"].map { text throws(UsageError) in try limit(text, flag: "--parallel") }
        spec.routes = try values["--routes"].map { text throws(UsageError) in
            let routes = try list(text, flag: "--routes")
            for route in routes where RoutePattern(route) == nil {
                throw UsageError(description: "--routes: \(route) \(ConfigDecoder.routePatternRule)")
            }
            return routes
        }
        spec.models = try values["--models"].map { text throws(UsageError) in try list(text, flag: "--models") }
        return spec
    }

    private static func limit(_ text: String, flag: String) throws(UsageError) -> Int {
        guard let value = ConfigDecoder.limitValue(text) else {
            throw UsageError(description: "\(flag) expects a whole number from 1 to \(ConfigDecoder.maxKeyLimit)")
        }
        return value
    }

    /// Comma-separated, none empty and none with a control character.
    private static func list(_ text: String, flag: String) throws(UsageError) -> [String] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard items.allSatisfy({ !$0.isEmpty }) else {
            throw UsageError(description: "\(flag) expects a comma-separated list without empty items")
        }
        guard items.allSatisfy({ $0.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F } }) else {
            throw UsageError(description: "\(flag) contains a control character")
        }
        return items
    }

    /// `sk-` and 64 hex digits: 256 bits from OpenSSL's random generator.
    static func newKey() -> String {
        "sk-" + Hex.encode(SecureRandom.bytes(32))
    }

    /// The entry for `general_settings.keys`, indented to paste under `keys:`.
    static func entry(_ spec: NewKey, digest: KeyDigest) -> String {
        var lines = ["    - key_alias: \(yamlScalar(spec.alias))", "      key_hash: \(digest.hex)"]
        if let routes = spec.routes { lines.append("      allowed_routes: \(flowList(routes))") }
        if let models = spec.models { lines.append("      models: \(flowList(models))") }
        if let rpm = spec.rpm { lines.append("      rpm_limit: \(rpm)") }
        if let parallel = spec.parallel { lines.append("      max_parallel_requests: \(parallel)") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `keys hash`: the SHA-256 hex of the key on standard input, without one final
    /// newline (`echo` adds one; `\r\n` counts as one). The key must be one a client can send in a header.
    static func hash(_ input: Data) throws(UsageError) -> String {
        var bytes = [UInt8](input)
        if bytes.last == UInt8(ascii: "\n") {
            bytes.removeLast()
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        }
        guard let key = String(validating: bytes, as: UTF8.self) else {
            throw UsageError(description: "hash: standard input is not UTF-8 text")
        }
        guard !key.isEmpty else { throw UsageError(description: "hash: no key on standard input") }
        if let problem = ConfigDecoder.masterKeyProblem(key) {
            throw UsageError(description: "hash: the key \(problem)")
        }
        return KeyDigest(of: key).hex
    }

    /// Plain when YAML reads it back as the same string, else double-quoted.
    private static func yamlScalar(_ text: String) -> String {
        let plain = text.wholeMatch(of: #/[A-Za-z][A-Za-z0-9_.@\/+-]*/#) != nil
        return plain && YAMLScalarRules.implicitType(of: text) == .string ? text : quoted(text)
    }

    private static func flowList(_ items: [String]) -> String {
        "[" + items.map(quoted).joined(separator: ", ") + "]"
    }

    /// A YAML double-quoted scalar.
    private static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
