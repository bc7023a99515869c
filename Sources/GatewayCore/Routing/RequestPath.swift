/// The one view of the request path that routing, auth and forwarding share (docs/BEHAVIOUR.md §2).
///
/// Built from the raw `REQUEST_URI` path, never from `Host`, `X-Forwarded-*` or nginx's
/// decoded `DOCUMENT_URI`: routing on one view and forwarding another is the bug class of
/// LiteLLM CVE-2026-49468. Instead of normalising, anything an upstream could read as a
/// different path is refused, so the path matched is the path forwarded.
public struct RequestPath: Sendable, Equatable {
    /// As the client encoded it.
    public let raw: String
    /// Percent-decoded, used only to match routes.
    public let decoded: String
    /// The raw segments after the leading `/`: `/` has none, `/a/` has `["a", ""]`.
    let rawSegments: [Substring]
    /// `rawSegments` percent-decoded; none contains `/`, so they map one to one.
    let decodedSegments: [String]

    /// - Throws: 400 for dot segments (`.`, `..`, `%2e`), empty segments, encoded `/` or `\`,
    ///   malformed escapes, control bytes, or a path not starting with `/`.
    public init(raw: Substring) throws(GatewayError) {
        let text = String(raw)
        guard text.utf8.first == UInt8(ascii: "/") else { throw Self.reject("it must start with /") }
        for byte in text.utf8 {
            switch byte {
            // nginx refuses raw controls since 1.21.1; non-ASCII is never valid raw (RFC 3986 §2).
            case 0x00..<0x20, 0x7F...0xFF: throw Self.reject("control or non-ASCII byte")
            // A fragment never reaches a server; `?` cannot occur in the path part.
            case UInt8(ascii: "#"), UInt8(ascii: "?"): throw Self.reject("reserved character")
            // Windows-style servers and some frameworks treat `\` as `/`.
            case UInt8(ascii: "\\"): throw Self.reject("backslash")
            default: continue
            }
        }
        let body = text.dropFirst()
        // Split by bytes (all ASCII, checked above): a split by Character walks grapheme
        // boundaries, several times the cost.
        let segments =
            body.isEmpty
            ? [] : body.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map { Substring($0) }
        var decodedSegments: [String] = []
        decodedSegments.reserveCapacity(segments.count)
        for (index, segment) in segments.enumerated() {
            // `//` would be merged by nginx and many upstreams, changing the route (PATH-02);
            // only a single trailing slash is meaningful.
            if segment.isEmpty && index != segments.count - 1 { throw Self.reject("empty segment") }
            // Searched in place: through the view, each byte costs an index step.
            let escaped =
                segment.utf8.withContiguousStorageIfAvailable { $0.contains(UInt8(ascii: "%")) }
                ?? segment.utf8.contains(UInt8(ascii: "%"))
            if !escaped {
                // Nothing escaped (nearly every segment): it is its own decoding, and the
                // check of the raw bytes above already refused controls, `\` and non-ASCII.
                let bytes = segment.utf8
                if Self.isDotSegment(bytes) || Self.isDotSegment(bytes.prefix { $0 != UInt8(ascii: ";") }) {
                    throw Self.reject("dot segment")
                }
                decodedSegments.append(String(segment))
                continue
            }
            guard let bytes = PercentEncoding.decode(segment.utf8) else { throw Self.reject("malformed escape") }
            guard let decoded = bytes.withUnsafeBufferPointer({ UTF8Text.string($0) }) else {
                throw Self.reject("escapes are not UTF-8")
            }
            if let reason = Self.unsafeReason(bytes) { throw Self.reject(reason) }
            decodedSegments.append(decoded)
        }
        self.raw = text
        self.decoded = "/" + decodedSegments.joined(separator: "/")
        self.rawSegments = segments
        self.decodedSegments = decodedSegments
    }

    /// Why a decoded segment is unsafe to forward, or `nil`. Checked again on each further
    /// decoding (`%252e%252e` is `..` to an upstream that decodes twice; open-webui #25157),
    /// bounded because no sane upstream decodes more than twice.
    private static func unsafeReason(_ decoded: [UInt8]) -> String? {
        var level = decoded
        for _ in 0..<4 {
            if let reason = unsafeReasonOneLevel(level) { return reason }
            guard level.contains(UInt8(ascii: "%")), let next = PercentEncoding.decode(level), next != level
            else { return nil }
            level = next
        }
        return "nested escapes"
    }

    private static func unsafeReasonOneLevel(_ segment: [UInt8]) -> String? {
        if isDotSegment(segment[...]) { return "dot segment" }
        // Servlet containers drop `;params` before resolving dots, so `..;x` is `..` there.
        if let semicolon = segment.firstIndex(of: UInt8(ascii: ";")), isDotSegment(segment[..<semicolon]) {
            return "dot segment"
        }
        for byte in segment {
            switch byte {
            case UInt8(ascii: "/"), UInt8(ascii: "\\"): return "encoded slash or backslash"
            // Encoded CR/LF/NUL invite header or log injection upstream (PATH-05).
            case 0x00..<0x20, 0x7F: return "encoded control byte"
            default: continue
            }
        }
        return nil
    }

    /// `.` or `..`; compared by count and bytes (an array literal to compare with would be
    /// built for every segment of every request).
    private static func isDotSegment(_ segment: some Collection<UInt8>) -> Bool {
        (segment.count == 1 || segment.count == 2) && segment.allSatisfy { $0 == UInt8(ascii: ".") }
    }

    /// Short and generic: the path itself is never echoed back.
    private static func reject(_ reason: String) -> GatewayError {
        .badRequest("Invalid request path: \(reason).")
    }
}
