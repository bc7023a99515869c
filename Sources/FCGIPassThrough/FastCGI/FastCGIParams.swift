import Foundation

/// The FastCGI params of one request, read from libfcgi's `envp` array.
struct FastCGIParams {
    /// Every `NAME=value` pair in the order nginx sent them, duplicates included.
    let pairs: [(name: String, value: String)]

    init(envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
        var pairs: [(String, String)] = []
        var cursor = envp
        while let entry = cursor?.pointee {
            let text = String(decoding: UnsafeRawBufferPointer(start: entry, count: strlen(entry)), as: UTF8.self)
            if let eq = text.firstIndex(of: "=") {
                pairs.append((String(text[..<eq]), String(text[text.index(after: eq)...])))
            }
            cursor = cursor?.advanced(by: 1)
        }
        self.pairs = pairs
    }

    init(pairs: [(name: String, value: String)]) { self.pairs = pairs }

    func first(_ name: String) -> String? { pairs.first { $0.name == name }?.value }

    /// `CONTENT_LENGTH`, empty on GET (DESIGN.md).
    var contentLength: Int? { first("CONTENT_LENGTH").flatMap { Int($0) } }

    func gatewayRequest() -> GatewayRequest {
        var headers = HTTPHeaders()
        for (name, value) in pairs {
            if name == "CONTENT_TYPE" {
                if !value.isEmpty { headers.append("content-type", value) }
            } else if name.hasPrefix("HTTP_") {
                // The snippet blanks HTTP_PROXY (httpoxy); a Proxy header is never used.
                if name == "HTTP_PROXY" { continue }
                headers.append(Self.headerName(fromParam: name), value)
            }
        }
        return GatewayRequest(
            method: first("REQUEST_METHOD") ?? "GET",
            requestURI: first("REQUEST_URI") ?? "/",
            headers: headers,
            requestID: first("REQUEST_ID").flatMap { $0.isEmpty ? nil : $0 },
            remoteAddress: first("REMOTE_ADDR")
        )
    }

    /// `HTTP_X_PASS_ANTHROPIC_BETA` → `x-pass-anthropic-beta`. nginx upper-cases names
    /// and turns `-` into `_`; the original case is lost, and names containing `_`
    /// are dropped by nginx by default, so the mapping back is unambiguous.
    static func headerName(fromParam param: String) -> String {
        String(decoding: param.utf8.dropFirst(5).map { byte -> UInt8 in
            switch byte {
            case UInt8(ascii: "_"): UInt8(ascii: "-")
            case 0x41...0x5A: byte | 0x20
            default: byte
            }
        }, as: UTF8.self)
    }
}
