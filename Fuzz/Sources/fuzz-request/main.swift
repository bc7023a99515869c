import ConfigLoading
import FastCGIEdge
import Foundation
import FuzzSupport
import GatewayCore

#if canImport(Glibc)
    import Glibc
#endif

/// FastCGI params and a body in, the gateway's decision step run on them: params →
/// `GatewayRequest` → `RequestDecider.decide` (path, built-in routes, route match, auth,
/// rewrite), exactly as the gateway serves a request. Besides "no crash", the decision's
/// promises are checked, above all that the master key never goes upstream
/// (docs/BEHAVIOUR.md §3).
enum RequestFuzz {
    static let masterKey = "sk-fuzz-MASTER-5f1d"
    static let environment = Environment(["COHERE_API_KEY": "co-fuzz-upstream", "ANTHROPIC_API_KEY": "an-fuzz-upstream"])

    /// Every endpoint feature that changes routing, auth or rewriting, under three
    /// authentication set-ups: a master key, a master key in a custom header, none.
    static let endpointsYAML = """
          pass_through_endpoints:
            - path: /v1/rerank
              target: https://api.cohere.com/v1/rerank
              headers: {Authorization: "bearer os.environ/COHERE_API_KEY", content-type: application/json}
            - path: /anthropic
              target: https://api.anthropic.com
              include_subpath: true
              forward_headers: true
              headers: {x-api-key: os.environ/ANTHROPIC_API_KEY, anthropic-version: "2023-06-01"}
            - path: /q
              target: "http://127.0.0.1:8080/base/?fixed=1&a=b"
              include_subpath: true
              merge_query_params: true
              default_query_params: {api-version: "2024-01-01", fixed: "0"}
              methods: [GET, HEAD, OPTIONS, POST]
            - path: /user
              target: "https://[::1]:8443/u/"
              include_subpath: true
              forward_headers: true
              headers: {litellm_user_api_key: x-user-key}
            - path: /public
              target: https://public.example.com/p?x=1
              auth: false
              forward_headers: true
              include_subpath: true
            - path: /lf
              target: https://cloud.langfuse.com
              include_subpath: true
              headers: {LANGFUSE_PUBLIC_KEY: pk-lf, LANGFUSE_SECRET_KEY: sk-lf}
            - {path: /same, target: "https://a.example.com", methods: [GET]}
            - {path: /same, target: "https://b.example.com/b", methods: [POST, PUT], include_subpath: true}
            - {path: /, target: "https://root.example.com/r", include_subpath: true, auth: false, methods: [GET]}
        """

    /// The gateway's decision step for each config, built once.
    static let deciders: [RequestDecider] = [
        "general_settings:\n  master_key: \(masterKey)\n",
        "general_settings:\n  master_key: \(masterKey)\n  litellm_key_header_name: X-Gw-Key\n",
        "general_settings:\n",
    ].map { (general: String) -> RequestDecider in
        do throws(ConfigErrors) {
            let config = try ConfigLoader.load(yaml: general + endpointsYAML, file: "fuzz.yaml", environment: environment).0
            return RequestDecider(config: config)
        } catch {
            fatalError("the fuzz config does not load: \(error.problems.map(\.description))")
        }
    }

    static let methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get", "CONNECT", ""]
    /// Route prefixes, so that most inputs reach a route and the rewriter.
    static let uriPrefixes = [
        "", "/v1/rerank", "/anthropic/", "/anthropic", "/q/", "/user/", "/public/", "/lf/", "/same", "/same/",
        "/health/readiness", "/metrics", "/health/liveness",
    ]
    /// Param names as nginx sends them: headers upper-cased with `-` as `_` (docs/ARCHITECTURE.md, "nginx: how client headers arrive").
    static let paramNames = [
        "HTTP_AUTHORIZATION", "HTTP_X_LITELLM_API_KEY", "HTTP_API_KEY", "HTTP_X_API_KEY", "HTTP_X_GOOG_API_KEY",
        "HTTP_OCP_APIM_SUBSCRIPTION_KEY", "HTTP_X_GW_KEY", "HTTP_X_USER_KEY", "HTTP_CONNECTION", "HTTP_HOST",
        "HTTP_CONTENT_TYPE", "CONTENT_TYPE", "CONTENT_LENGTH", "HTTP_CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING",
        "HTTP_X_PASS_AUTHORIZATION", "HTTP_X_PASS_ANTHROPIC_BETA", "HTTP_X_PASS_X_API_KEY", "HTTP_X_PASS_HOST",
        "HTTP_X_PASS_", "HTTP_PROXY", "HTTP_PROXY_AUTHORIZATION", "HTTP_ACCEPT_ENCODING", "HTTP_TE", "HTTP_UPGRADE",
        "HTTP_KEEP_ALIVE", "HTTP_X_FORWARDED_HOST", "HTTP_ANTHROPIC_VERSION", "REQUEST_ID", "REMOTE_ADDR",
        "REQUEST_URI", "REQUEST_METHOD", "DOCUMENT_URI",
    ]

    /// The input, front to back (a `blob` is a length byte and that many bytes):
    /// config index; method selector (< 220: a byte picks from `methods`, else a blob);
    /// a byte picking a prefix from `uriPrefixes` and a blob appended to it (REQUEST_URI);
    /// a param count (mod 12), each param a name byte (< 200: it picks from `paramNames`,
    /// else the name is `HTTP_` + a blob), then a blob and a byte for `headerValue`;
    /// everything left is the body. The seeds in `Fuzz/Corpus/fuzz-request` follow it.
    static func run(_ input: inout FuzzInput) {
        let decider = input.pick(deciders)
        var params: [(String, [UInt8])] = []
        let method = input.byte() < 220 ? Array(input.pick(methods).utf8) : input.blob()
        params.append(("REQUEST_METHOD", method))
        params.append(("REQUEST_URI", Array(input.pick(uriPrefixes).utf8) + input.blob()))
        for _ in 0..<(input.byte() % 12) {
            let selector = input.byte()
            let name = selector < 200 ? paramNames[Int(selector) % paramNames.count] : "HTTP_" + input.string()
            params.append((name, headerValue(&input)))
        }
        let body = Data(input.rest())
        var request = gatewayRequest(fromEnvp: params)
        request.body = body
        serve(request, decider: decider)
    }

    /// Values that authenticate often enough for the fuzzer to get past auth.
    static func headerValue(_ input: inout FuzzInput) -> [UInt8] {
        let raw = input.blob()
        switch input.byte() % 8 {
        case 0: return Array("Bearer \(masterKey)".utf8)
        case 1: return Array(masterKey.utf8)
        case 2: return Array("bearer \t\(masterKey) ".utf8) + raw
        case 3: return raw + Array(masterKey.utf8) + raw
        default: return raw
        }
    }

    /// Through libfcgi's shape, `NAME=value` C strings, so a NUL ends a param as it does there.
    static func gatewayRequest(fromEnvp params: [(String, [UInt8])]) -> GatewayRequest {
        var strings: [UnsafeMutablePointer<CChar>?] = params.map { name, value in
            let bytes = Array(name.utf8) + [UInt8(ascii: "=")] + value + [0]
            let copy = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
            bytes.withUnsafeBytes { copy.initialize(from: $0.bindMemory(to: CChar.self).baseAddress!, count: bytes.count) }
            return copy
        }
        strings.append(nil)
        defer { for pointer in strings { pointer?.deallocate() } }
        return strings.withUnsafeMutableBufferPointer { envp in
            let fcgi = FastCGIParams(envp: envp.baseAddress)
            _ = fcgi.contentLength
            return fcgi.gatewayRequest()
        }
    }

    /// Drives the gateway's own decision step and checks what it decided.
    static func serve(_ request: GatewayRequest, decider: RequestDecider) {
        let config = decider.config
        let decision = decider.decide(request)
        let path = try? RequestPath(raw: request.rawPath)
        if let path { checkPath(path) }
        switch (decision.route, decision.action) {
        case (_, .refuse(let error)):
            if path == nil, error.status != 400 { violated("an unusable path is refused with 400", "\(error.status)") }
            if error.status == 405 {
                let allow = error.headers["allow"]?.components(separatedBy: ", ") ?? []
                if allow.isEmpty || allow.contains(request.method) {
                    violated("405 lists other methods", error.headers["allow"] ?? "no Allow")
                }
            }
            checkRefusal(error, status: error.status)
        case (.builtIn(let builtInPath), .answer(let route)):
            if BuiltInRoute.byPath[builtInPath] != route { violated("a built-in route answers its own path", builtInPath) }
            if !BuiltInRoute.methods.contains(request.method) { violated("built-in routes answer GET and HEAD only") }
            if decision.caller != .anonymous { violated("built-in routes need no key") }
        case (.endpoint(let endpoint), .forward(let upstream)):
            guard let path else { violated("a forwarded request has a usable path"); return }
            if !endpoint.methods.contains(request.method) { violated("a route serves only its methods") }
            if !endpoint.includeSubpath && endpoint.path != path.decoded {
                violated("only include_subpath routes match deeper paths")
            }
            if endpoint.auth, let key = config.masterKey {
                if decision.caller != .masterKey { violated("an authenticating endpoint records the master key as caller") }
                if !request.headers.contains(where: { containsBytes($0.value, key) }) {
                    violated("an authenticating endpoint lets in only a request that showed the key")
                }
            }
            checkUpstream(upstream, request: request, endpoint: endpoint, config: config)
        default:
            violated("a decision's action fits its route", "\(decision.route) \(decision.action)")
        }
    }

    static func checkPath(_ path: RequestPath) {
        if path.decoded.utf8.first != UInt8(ascii: "/") { violated("a decoded path starts with /") }
        for segment in path.decoded.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        where segment == "." || segment == ".." {
            violated("no dot segment survives", path.raw)
        }
    }

    /// A refusal has the expected status and never echoes the key.
    static func checkRefusal(_ error: GatewayError, status: Int) {
        if error.status != status { violated("refused with \(status)", "got \(error.status): \(error.message)") }
        if containsBytes(error.message, masterKey) { violated("no error message holds the master key") }
    }

    static func checkUpstream(_ upstream: UpstreamRequest, request: GatewayRequest, endpoint: Endpoint, config: GatewayConfig) {
        if upstream.method != request.method { violated("the method goes as received") }
        if upstream.body != request.body { violated("the body goes byte for byte") }

        // The authority is the target's, whatever the client sent (PATH-04).
        let origin = endpoint.target.origin
        guard upstream.url.hasPrefix(origin) else { violated("the URL starts with the target's origin", upstream.url) }
        let afterOrigin = upstream.url.utf8.dropFirst(origin.utf8.count)
        if let next = afterOrigin.first, next != UInt8(ascii: "/"), next != UInt8(ascii: "?") {
            violated("the path or query follows the origin directly", upstream.url)
        }
        // What goes on the wire is ASCII without controls, spaces or a fragment.
        if upstream.url.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F || $0 == UInt8(ascii: "#") }) {
            violated("the URL is printable ASCII without a fragment", upstream.url)
        }
        let pathPart = afterOrigin.split(separator: UInt8(ascii: "?"), maxSplits: 1, omittingEmptySubsequences: false).first ?? []
        let segments = pathPart.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        for (index, segment) in segments.enumerated() {
            let text = String(decoding: segment, as: UTF8.self)
            let decoded = text.removingPercentEncoding ?? text
            if decoded == "." || decoded == ".." { violated("no dot segment goes upstream", upstream.url) }
            if segment.isEmpty && index != 0 && index != segments.count - 1 {
                violated("no empty segment goes upstream", upstream.url)
            }
        }
        if let url = URL(string: upstream.url), let host = url.host, !endpoint.target.authority.contains(host) {
            violated("Foundation reads the target's host", "\(upstream.url) -> \(host)")
        }

        let configured = Set(endpoint.headers.map { $0.name.lowercased() })
        let hopByHop: Set<String> = [
            "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length",
            "accept-encoding", "proxy", "proxy-authorization",
        ]
        let credentials: Set<String> = [
            "authorization", "x-litellm-api-key", "api-key", "x-api-key", "x-goog-api-key", "ocp-apim-subscription-key",
        ]
        var seenConfigured: [String: Int] = [:]
        for field in upstream.headers {
            let name = field.name.lowercased()
            if let key = config.masterKey, containsBytes(field.value, key) || containsBytes(field.name, key) {
                violated("the master key never goes upstream", "\(field.name)")
            }
            if field.name.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F || $0 == UInt8(ascii: ":") }) {
                violated("an upstream header name is a token", field.name)
            }
            if field.value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }) {
                violated("no upstream header value holds CR, LF or NUL", field.name)
            }
            if hopByHop.contains(name) && !configured.contains(name) {
                violated("hop-by-hop and framing headers are never forwarded", name)
            }
            if config.masterKey != nil, endpoint.auth, credentials.contains(name), !configured.contains(name) {
                violated("an authenticating endpoint forwards no client credential header", name)
            }
            if let userKeyHeader = endpoint.userKeyHeader, name == userKeyHeader.lowercased(), !configured.contains(name) {
                violated("the endpoint's key header never goes upstream", name)
            }
            if configured.contains(name) { seenConfigured[name, default: 0] += 1 }
        }
        // A configured header is sent exactly as configured: never overridden nor doubled.
        for field in endpoint.headers {
            let name = field.name.lowercased()
            let sent = upstream.headers.values(field.name)
            if seenConfigured[name] != endpoint.headers.values(field.name).count || !sent.contains(field.value) {
                violated("a configured header wins over the client's", name)
            }
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(UnsafeRawBufferPointer(start: data, count: size))
    RequestFuzz.run(&input)
    return 0
}
