import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

/// One test per finding of the fuzz targets in `Fuzz/`, named after the bug. The input
/// that found it is described in words; the test states the rule it broke.
@Suite struct FuzzRegressionTests {
    typealias E = TestSupport

    /// fuzz-request: with `forward_headers` and no master key (or `auth: false`), the
    /// client's `litellm_user_api_key` header was forwarded, though docs/BEHAVIOUR.md §1 says that
    /// header is never sent upstream.
    @Test(arguments: [nil, "sk-master"] as [String?])
    func userKeyHeaderWasForwardedWhereNoAuthenticationApplied(masterKey: String?) throws {
        for auth in [true, false] {
            let endpoint = E.endpoint("/user", userKeyHeader: "x-user-key", forwardHeaders: true, auth: auth)
            let request = E.request("/user/a", headers: [("x-user-key", "Bearer client-key"), ("x-ok", "1")])
            let policy = HeaderPolicy(masterKey: masterKey, keyHeaderName: nil)
            #expect(E.pairs(try policy.upstreamHeaders(for: request, endpoint: endpoint)) == ["x-ok: 1"])
        }
    }

    /// fuzz-usage: a member name that began with an escape keeping nothing (a lone UTF-16
    /// surrogate, `"\ud83d\ude00message"`) was taken for its plain remainder (`message`)
    /// when that remainder and the closing quote came in one piece, but not when they came
    /// in several: one body read two ways. Such a name is no usage path's name, however
    /// it arrives.
    @Test func aNameBeginningWithAnUnkeptEscapeWasMatchedByItsRemainder() {
        let body = #"{"type":"message_start","\ud83d\ude00message":{"model":"claude-sonnet-4-20250514","usage":{"input_tokens":25}}}"#
        let bytes = Array(body.utf8)
        for pieces in [[bytes[...]], bytes.indices.map { bytes[$0...$0] }, [bytes[..<40], bytes[40...]]] {
            var meter = UsageMeter(format: .anthropic, contentType: "application/json", requestModel: nil)
            for piece in pieces { piece.withUnsafeBytes { meter.consume($0) } }
            #expect(meter.finish(complete: true) == Usage(metered: false))
        }
    }
}
