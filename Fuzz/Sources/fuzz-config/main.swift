import ConfigLoading
import FuzzSupport
import GatewayCore

/// YAML text in: `ConfigLoader.load(yaml:file:environment:)` must return or throw, never
/// crash or hang, and no problem or notice may show a value that came from the
/// environment (docs/BEHAVIOUR.md §1: "never a secret's value").
enum ConfigFuzz {
    /// Every value carries the marker, so a message holding any part of one that is
    /// longer than the marker is found. Names are in `Fuzz/Dictionaries/fuzz-config.dict`.
    static let marker = "zq9"
    static let environment = Environment([
        "LITELLM_MASTER_KEY": "Zq9fallback",
        "COHERE_API_KEY": "Zq9cohere",
        "KEY": "Zq9key",
        "CRLF": "Zq9crlf\r\nZq9evil: 1",
        "LF": "Zq9lf\n",
        "NUL": "Zq9nul\u{0}Zq9after",
        "SPACED": " Zq9spaced ",
        "EMPTY": "",
        "HOST": "Zq9host.example.com",
        "PATH_VALUE": "/Zq9path",
        "PUB": "Zq9pub:Zq9colon",
        "METHOD": "Zq9METHOD",
        "NUMBER": "Zq9-12",
        "BOOL": "Zq9true",
        "UNICODE": "Zq9é\u{301}Zq9",
        "LONG": String(repeating: "Zq9long-", count: 600),
        // Names the seed configs (the unit tests' fixtures) use, so that they load.
        "GATEWAY_KEY": "Zq9gateway", "SEARCH_TOKEN": "Zq9search", "PART_A": "Zq9partA", "PART_B": "Zq9partB",
        "PROCESS_QUERY_KEY": "Zq9query", "ANTHROPIC_API_KEY": "Zq9anthropic", "LANGFUSE_DEV_PUBLIC_KEY": "Zq9lfpub",
        "LANGFUSE_DEV_SK_KEY": "Zq9lfsec", "UPSTREAM_HOST": "zq9up.example.com", "AZURE_API_KEY": "Zq9azure",
    ])

    static func run(_ text: String) {
        let lines: [String]
        do throws(ConfigErrors) {
            let (config, notices) = try ConfigLoader.load(yaml: text, file: "config.yaml", environment: environment)
            check(config)
            lines = notices
        } catch {
            if error.problems.isEmpty { violated("a refused config names at least one problem") }
            lines = error.problems.map(\.description)
        }
        // A marker the input spelled out itself may be echoed legitimately (a key name).
        guard !text.lowercased().contains(marker) else { return }
        for line in lines where line.lowercased().contains(marker) {
            violated("no message contains an environment value", line)
        }
    }

    /// What a loaded config promises the rest of the gateway.
    static func check(_ config: GatewayConfig) {
        if let key = config.masterKey {
            if key.isEmpty { violated("the master key is never empty") }
            if hasControl(key) { violated("the master key holds no control byte") }
        }
        if !(config.defaultTimeout > 0) { violated("the default timeout is positive", "\(config.defaultTimeout)") }
        if let name = config.keyHeaderName, !isToken(name) { violated("the key header name is a token", name) }
        for endpoint in config.endpoints {
            if endpoint.path.utf8.first != UInt8(ascii: "/") { violated("a route starts with /", endpoint.path) }
            guard endpoint.target.scheme == "http" || endpoint.target.scheme == "https" else {
                violated("a target is http(s)", endpoint.target.scheme)
            }
            if TargetURL(parsing: endpoint.target.description) != endpoint.target {
                violated("a target re-parses to itself", endpoint.target.description)
            }
            if endpoint.methods.isEmpty { violated("an endpoint serves some method") }
            for method in endpoint.methods where !isToken(method) { violated("a method is a token", method) }
            for field in endpoint.headers {
                if !isToken(field.name) { violated("a configured header name is a token", field.name) }
                if hasControl(field.value) { violated("a configured header value holds no control byte") }
            }
            if let timeout = endpoint.timeout, !(timeout > 0) { violated("a timeout is positive", "\(timeout)") }
        }
        // What a reload builds from a config: must not trap either.
        _ = Router(endpoints: config.endpoints)
        _ = Authenticator(config: config)
        _ = RequestRewriter(config: config)
    }

    /// C0 controls except tab, and DEL (RFC 9110 §5.5).
    static func hasControl(_ text: String) -> Bool {
        text.utf8.contains { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }
    }

    /// RFC 9110 §5.6.2.
    static func isToken(_ text: String) -> Bool {
        !text.isEmpty
            && text.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"):
                    true
                default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
                }
            }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    // The file loader refuses invalid UTF-8 before parsing; this is what reaches the parser.
    guard let text = String(validating: bytes, as: UTF8.self) else { return 0 }
    ConfigFuzz.run(text)
    return 0
}
