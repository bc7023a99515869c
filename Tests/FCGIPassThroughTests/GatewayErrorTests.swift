import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

@Suite struct GatewayErrorTests {
    static func body(_ error: GatewayError) -> String { String(decoding: error.body, as: UTF8.self) }

    @Test func authErrorBodyIsLiteLLMsEnvelopeWithSortedKeys() throws {
        let error = try #require(
            Authenticator(masterKey: "sk-1", keyHeaderName: nil).refusal(HTTPHeaders(), for: TestSupport.endpoint("/x")))
        #expect(
            Self.body(error)
                == #"{"error":{"code":"401","message":"Authentication Error, No api key passed in.","param":null,"type":"auth_error"}}"#)
    }

    @Test func malformedMessageKeepsItsBackticks() throws {
        let error = try #require(
            Authenticator(masterKey: "sk-1", keyHeaderName: nil)
                .refusal(HTTPHeaders([("authorization", "sk-1")]), for: TestSupport.endpoint("/x")))
        #expect(
            Self.body(error)
                == #"{"error":{"code":"401","message":"Authentication Error, Malformed API Key passed in. Ensure Key has `Bearer ` prefix.","param":null,"type":"auth_error"}}"#
        )
    }

    @Test(arguments: [
        (GatewayError.badRequest("Invalid request path: dot segment."), "400", "invalid_request_error"),
        (GatewayError.noRoute, "404", "invalid_request_error"),
        (GatewayError.methodNotAllowed(allow: ["GET"]), "405", "invalid_request_error"),
        (GatewayError(status: 502, message: "Upstream unreachable."), "502", "internal_server_error"),
    ])
    func typeFollowsStatus(error: GatewayError, code: String, type: String) throws {
        let json = try #require(try JSONSerialization.jsonObject(with: error.body) as? [String: Any])
        let inner = try #require(json["error"] as? [String: Any])
        #expect(inner["code"] as? String == code)
        #expect(inner["type"] as? String == type)
        #expect(inner["message"] as? String == error.message)
        #expect(inner["param"] is NSNull)
        #expect(Set(inner.keys) == ["code", "message", "param", "type"])
    }

    @Test func methodNotAllowedCarriesAllow() {
        let error = GatewayError.methodNotAllowed(allow: ["GET", "POST"])
        #expect(error.status == 405)
        #expect(TestSupport.pairs(error.headers) == ["Allow: GET, POST"])
    }
}
