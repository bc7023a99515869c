import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

/// Regression: an upstream that echoes the injected key (in an error body or a header)
/// used to hand the operator's secret to the client (SEC-04).
@Suite struct SecretRedactorTests {
    static let secret = "co-CANARY-0123456789abcdef"
    let redactor = SecretRedactor(secrets: [Self.secret, "short"])

    @Test func upstreamEchoingTheInjectedKeyIsMaskedAtTheSameLength() {
        var stream = SecretRedactor.Stream(redactor)
        let body = Data(#"{"message":"invalid api key co-CANARY-0123456789abcdef"}"#.utf8)
        let out = stream.feed(body) + stream.finish()
        #expect(out.count == body.count)
        #expect(String(decoding: out, as: UTF8.self) == #"{"message":"invalid api key [REDACTED]****************"}"#)
    }

    @Test func aSecretSplitAcrossChunksIsMaskedToo() {
        var stream = SecretRedactor.Stream(redactor)
        var out = Data()
        for piece in ["key=co-CAN", "ARY-01234", "56789abcdef and more"] {
            out += stream.feed(Data(piece.utf8))
        }
        out += stream.finish()
        #expect(String(decoding: out, as: UTF8.self) == "key=[REDACTED]**************** and more")
    }

    @Test func onlyBytesThatCouldStartASecretAreHeldBack() {
        var stream = SecretRedactor.Stream(redactor)
        #expect(stream.feed(Data("data: 1\n\n".utf8)) == Data("data: 1\n\n".utf8))
        #expect(stream.feed(Data("tail co-CA".utf8)) == Data("tail ".utf8))
        #expect(stream.finish() == Data("co-CA".utf8))
    }

    @Test func headerValuesAreMaskedAndValuesShorterThanTheMinimumAreNotSecrets() {
        let headers = redactor.redact(HTTPHeaders([("X-Echo-Key", "Bearer \(Self.secret)"), ("X-Note", "short")]))
        #expect(headers["X-Echo-Key"] == "Bearer [REDACTED]****************")
        #expect(headers["X-Note"] == "short")
    }

    @Test func withoutSecretsTheBodyPassesUntouched() {
        var stream = SecretRedactor.Stream(SecretRedactor(secrets: []))
        let data = Data("co-CANARY-0123456789abcdef".utf8)
        #expect(stream.feed(data) == data)
        #expect(stream.finish().isEmpty)
    }

    @Test func theConfigCollectsCredentialsButNotHosts() throws {
        let yaml = """
            general_settings:
              pass_through_endpoints:
                - path: /a
                  target: os.environ/WHOLE_TARGET
                  headers:
                    Authorization: "Bearer os.environ/HEADER_KEY"
                    X-Plain: not-from-the-environment
                - path: /b
                  target: "https://example.test/x?key=os.environ/QUERY_KEY"
                  default_query_params:
                    token: os.environ/DEFAULT_TOKEN
                - path: /c
                  target: https://example.test/c
                  headers:
                    LANGFUSE_PUBLIC_KEY: os.environ/LF_PUBLIC
                    LANGFUSE_SECRET_KEY: os.environ/LF_SECRET
            """
        let environment = Environment([
            "WHOLE_TARGET": "https://whole.example.test/path", "HEADER_KEY": "header-secret-1",
            "QUERY_KEY": "query-secret-2", "DEFAULT_TOKEN": "default-secret-3", "LF_PUBLIC": "pk-lf-public",
            "LF_SECRET": "sk-lf-secret",
        ])
        let (config, _) = try ConfigLoader.load(yaml: yaml, file: "c.yaml", environment: environment)
        let basic = Data("pk-lf-public:sk-lf-secret".utf8).base64EncodedString()
        #expect(
            Set(config.secrets)
                == ["header-secret-1", "query-secret-2", "default-secret-3", "pk-lf-public", "sk-lf-secret", basic])
    }
}
