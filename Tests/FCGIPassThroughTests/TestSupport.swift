import Foundation

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

/// Small builders so each table row states only what it is about.
enum TestSupport {
    static func target(_ text: String) -> TargetURL {
        guard let url = TargetURL(parsing: text) else { preconditionFailure("bad test target \(text)") }
        return url
    }

    static func endpoint(
        _ path: String,
        target: String = "https://upstream.test/base",
        id: String? = nil,
        headers: [(String, String)] = [],
        userKeyHeader: String? = nil,
        forwardHeaders: Bool = false,
        includeSubpath: Bool = false,
        methods: Set<String> = Endpoint.defaultMethods,
        auth: Bool = true,
        mergeQueryParams: Bool = false,
        defaultQueryParams: [(name: String, value: String)] = [],
        timeout: Double? = nil
    ) -> Endpoint {
        Endpoint(
            id: id, path: path, target: Self.target(target), headers: HTTPHeaders(headers),
            userKeyHeader: userKeyHeader, forwardHeaders: forwardHeaders, includeSubpath: includeSubpath,
            methods: methods, auth: auth, mergeQueryParams: mergeQueryParams,
            defaultQueryParams: defaultQueryParams, timeout: timeout)
    }

    static func request(
        _ uri: String, method: String = "POST", headers: [(String, String)] = [], body: String = ""
    ) -> GatewayRequest {
        GatewayRequest(method: method, requestURI: uri, headers: HTTPHeaders(headers), body: Data(body.utf8))
    }

    /// Header fields as `(name, value)` pairs, for whole-list comparisons.
    static func pairs(_ headers: HTTPHeaders) -> [String] {
        headers.map { "\($0.name): \($0.value)" }
    }
}

extension Authenticator {
    /// The refusal `authenticate` gives, or `nil` when it lets the request through.
    func refusal(_ headers: HTTPHeaders, for endpoint: Endpoint) -> GatewayError? {
        if case .failure(let refusal) = authenticate(headers, for: endpoint) { return refusal }
        return nil
    }
}
