import Foundation

/// An error the gateway answers itself, rendered in LiteLLM's envelope (docs/BEHAVIOUR.md §6):
/// `{"error":{"message":"...","type":"...","param":null,"code":"<status>"}}`.
public struct GatewayError: Error, Sendable, Equatable {
    public var status: Int
    public var message: String
    /// Extra response headers, e.g. `Allow` on 405.
    public var headers: HTTPHeaders
    /// LiteLLM's `type` where it names the cause (`expired_key`, ...); `nil`: the status's.
    public var typeName: String?

    public init(status: Int, message: String, type: String? = nil, headers: HTTPHeaders = HTTPHeaders()) {
        self.status = status
        self.message = message
        self.typeName = type
        self.headers = headers
    }

    /// LiteLLM's `type` for the error.
    public var type: String {
        if let typeName { return typeName }
        return switch status {
        case 401: "auth_error"
        case 400..<500: "invalid_request_error"
        default: "internal_server_error"
        }
    }

    /// The JSON body. Messages are gateway-written text; never a secret or a request body.
    public var body: Data {
        let object: [String: Any] = [
            "error": [
                "message": message,
                "type": type,
                "param": NSNull(),
                "code": String(status),
            ] as [String: Any]
        ]
        // Sorted keys keep the body stable for clients and tests.
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data(#"{"error":{"message":"internal error","type":"internal_server_error","param":null,"code":"500"}}"#.utf8)
    }

    public static func badRequest(_ message: String) -> GatewayError { GatewayError(status: 400, message: message) }
    public static func notFound(_ message: String) -> GatewayError { GatewayError(status: 404, message: message) }
}

extension GatewayError {
    /// 405 with the `Allow` header RFC 9110 §15.5.6 requires.
    public static func methodNotAllowed(allow: [String]) -> GatewayError {
        GatewayError(
            status: 405, message: "Method not allowed for this endpoint.",
            headers: HTTPHeaders([("Allow", allow.joined(separator: ", "))]))
    }

    /// 404 when no pass-through endpoint matches; the path is not echoed.
    public static let noRoute = GatewayError.notFound("No pass-through endpoint matches this path.")
}

extension GatewayError {
    /// 503 when no worker thread can take a request (docs/BEHAVIOUR.md §6); `Retry-After` (RFC 9110
    /// §10.2.3) tells the client when another try is worth it.
    public static func unavailable(_ message: String) -> GatewayError {
        GatewayError(status: 503, message: message, headers: HTTPHeaders([("Retry-After", "1")]))
    }
}
