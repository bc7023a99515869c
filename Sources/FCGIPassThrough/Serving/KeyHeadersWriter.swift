import Foundation
import GatewayCore

/// Adds LiteLLM's key headers to whatever answer a key's request gets: the upstream's,
/// a refusal, or a built-in answer (docs/KEYS.md).
///
/// An upstream may send headers of the same name about its own limits (OpenAI sends
/// `x-ratelimit-limit-requests`); the gateway's describe the key's limits, so the
/// upstream's copy is kept under LiteLLM's `llm_provider-` prefix rather than sent twice
/// with two meanings.
final class KeyHeadersWriter: ResponseWriter {
    private let base: any ResponseWriter
    private let added: HTTPHeaders

    init(_ base: any ResponseWriter, adding added: HTTPHeaders) {
        self.base = base
        self.added = added
    }

    /// The headers for a key caller: its alias, and its rpm and tpm windows where limits
    /// apply (LiteLLM's `x-ratelimit-{limit,remaining}-{requests,tokens}`). The tokens left
    /// are those before this request: its own are known only when it ends.
    static func headers(
        alias: String, rpmLimit: Int?, remaining: Int?, tpmLimit: Int? = nil, remainingTokens: Int? = nil
    ) -> HTTPHeaders {
        var headers = HTTPHeaders([("x-litellm-key-alias", alias)])
        if let rpmLimit, let remaining {
            headers.append("x-ratelimit-limit-requests", String(rpmLimit))
            headers.append("x-ratelimit-remaining-requests", String(max(0, remaining)))
        }
        if let tpmLimit, let remainingTokens {
            headers.append("x-ratelimit-limit-tokens", String(tpmLimit))
            headers.append("x-ratelimit-remaining-tokens", String(max(0, remainingTokens)))
        }
        return headers
    }

    func writeHead(status: Int, headers: HTTPHeaders) -> Bool {
        var merged = HTTPHeaders()
        for field in headers {
            if added.contains(field.name) {
                merged.append("llm_provider-" + field.name, field.value)
            } else {
                merged.append(field.name, field.value)
            }
        }
        for field in added { merged.append(field.name, field.value) }
        return base.writeHead(status: status, headers: merged)
    }

    func writeBody(_ data: Data, flush: Bool) -> Bool { base.writeBody(data, flush: flush) }
    func flush() -> Bool { base.flush() }
    func abort() { base.abort() }
    func clientHasGone() -> Bool { base.clientHasGone() }
    var departureDescriptor: Int32? { base.departureDescriptor }
}
