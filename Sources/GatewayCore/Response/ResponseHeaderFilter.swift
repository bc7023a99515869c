/// Decides which upstream response headers reach the client (docs/BEHAVIOUR.md §5).
package enum ResponseHeaderFilter {
    /// Hop-by-hop headers (RFC 9110 §7.6.1) plus the ones that would let an upstream
    /// steer nginx (`Status`, `X-Accel-*`) or duplicate what nginx sets (`Server`, `Date`).
    /// Not `Trailers`: that name is an RFC 2616 typo for `Trailer`, an ordinary field
    /// (RFC 2616 errata 4522; Go's ReverseProxy relays it too).
    static let dropped = HopByHop.names.union([
        "proxy-authenticate", "proxy-authorization", "server", "date", "status",
    ])

    /// Limits on what goes into the FastCGI header block: nginx fails the whole
    /// response with "upstream sent too big header" past its fastcgi_buffer_size (32k
    /// in the snippet), so the gateway answers 502 itself well before that.
    static let maxTotalBytes = 24 * 1024
    static let maxFields = 100
    /// One field line: the limit most HTTP servers and clients apply (Apache's
    /// LimitRequestFieldSize, nginx's 8k header buffers); a longer one is broken or hostile.
    static let maxFieldBytes = 8 * 1024

    package struct Result {
        package var headers: HTTPHeaders
        /// The body goes out chunk by chunk with a flush each (SSE or unknown length).
        package var streaming: Bool
    }

    package enum Failure: Error {
        case tooLarge
        /// `Content-Length` is not one number (RFC 9112 §6.3: a proxy must answer 502).
        case invalidContentLength
    }

    /// - Parameter decoded: the transport decoded a `Content-Encoding`, so the upstream's
    ///   `Content-Encoding` and `Content-Length` no longer describe the body.
    package static func filter(_ upstream: HTTPHeaders, requestID: String, decoded: Bool = false) throws(Failure) -> Result {
        let connectionListed = HopByHop.connectionTokens(upstream)
        let decoded = decoded && upstream.contains("content-encoding")
        // FoundationNetworking joins repeated fields with ", ": `2, 40` is two lengths;
        // libcurl passes each field on, and every one must agree.
        let lengths = upstream.count(of: "content-length")
        if !decoded, lengths > 0,
            !isValidContentLength(lengths == 1 ? upstream["content-length"]! : upstream.values("content-length").joined(separator: ","))
        {
            throw .invalidContentLength
        }
        var headers = HTTPHeaders()
        var total = 0
        for field in upstream.fields {
            let name = field.name.asciiLowercased
            if dropped.contains(name) || (!connectionListed.isEmpty && connectionListed.contains(name)) || name.hasBytePrefix("x-accel-") {
                continue
            }
            if decoded && (name == "content-encoding" || name == "content-length") { continue }
            if name == "x-litellm-call-id" { continue }
            // Agreeing repeats (checked above) go on once: nginx refuses a duplicated length.
            if name == "content-length" && headers.contains(name) { continue }
            guard HTTPSyntax.isToken(field.name), !HTTPSyntax.hasControlCharacter(field.value) else { continue }
            let line = field.name.utf8.count + field.value.utf8.count + 4
            guard line <= maxFieldBytes else { throw .tooLarge }
            headers.append(field.name, field.value)
            total += line
        }
        guard total <= maxTotalBytes, headers.count <= maxFields else { throw .tooLarge }
        headers.append("x-litellm-call-id", requestID)
        let contentType = upstream["content-type"]?.asciiLowercased ?? ""
        let streaming = contentType.hasBytePrefix("text/event-stream") || !headers.contains("content-length")
        if streaming {
            // Makes nginx pass each flushed chunk on at once, even with fastcgi_buffering on.
            headers.append("X-Accel-Buffering", "no")
        }
        return Result(headers: headers, streaming: streaming)
    }

    /// Digits, or a list of identical digit strings (a repeated but consistent field,
    /// which RFC 9112 §6.3 lets a recipient accept).
    static func isValidContentLength(_ value: String) -> Bool {
        func isDigits(_ text: Substring) -> Bool { !text.isEmpty && text.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        // Nearly every response: one plain number.
        if isDigits(Substring(value)) { return true }
        var only: Substring?
        for part in value.split(separator: ",", omittingEmptySubsequences: false) {
            let digits = HTTPSyntax.trimmingWhitespace(part)
            guard isDigits(digits), only.map({ $0 == digits }) ?? true else { return false }
            only = digits
        }
        return only != nil
    }
}
