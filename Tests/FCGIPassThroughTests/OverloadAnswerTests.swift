import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

/// The pieces of the 503 answer given without libfcgi (LIFE-01): reading a request's
/// records just far enough, and the records written back.
@Suite struct OverloadAnswerTests {
    static func pair(_ name: String, _ value: String) -> [UInt8] {
        func length(_ n: Int) -> [UInt8] {
            n < 128 ? [UInt8(n)] : [UInt8(n >> 24 | 0x80), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
        }
        return length(name.utf8.count) + length(value.utf8.count) + Array(name.utf8) + Array(value.utf8)
    }

    /// What nginx sends for one request: BEGIN_REQUEST, PARAMS, their end, STDIN, its end.
    static func request(id: UInt16 = 1, params: [(String, String)], body: [UInt8]) -> [UInt8] {
        var bytes = FastCGIRecord.encode(.beginRequest, requestID: id, content: [0, 1, 0, 0, 0, 0, 0, 0])
        bytes += FastCGIRecord.encode(.params, requestID: id, content: params.flatMap { pair($0.0, $0.1) })
        bytes += FastCGIRecord.encode(.params, requestID: id)
        var offset = 0
        while offset < body.count {
            let end = min(offset + FastCGIRecord.maxContent, body.count)
            bytes += FastCGIRecord.encode(.stdin, requestID: id, content: body[offset..<end])
            offset = end
        }
        return bytes + FastCGIRecord.encode(.stdin, requestID: id)
    }

    @Test func aRequestFedByteByByteIsReadToTheEndOfItsBody() {
        let long = String(repeating: "v", count: 300)
        let bytes = Self.request(
            id: 7, params: [("REQUEST_METHOD", "POST"), ("REQUEST_ID", "abc123"), ("HTTP_X_LONG", long)],
            body: Array(repeating: 0x41, count: 70_000))
        var scanner = FastCGIRequestScanner()
        for byte in bytes.dropLast() {
            scanner.consume([byte])
            #expect(scanner.state == .reading)
        }
        scanner.consume([bytes.last!])
        #expect(scanner.state == .complete)
        #expect(scanner.requestID == 7)
        #expect(scanner.bodyBytes == 70_000)
        #expect(scanner.parameters.first("REQUEST_ID") == "abc123")
        #expect(scanner.parameters.first("HTTP_X_LONG") == long)
    }

    @Test func managementRecordsAndPaddingDoNotDisturbTheRequest() {
        var bytes = FastCGIRecord.encode(.params, requestID: 0, content: Self.pair("FCGI_MPXS_CONNS", ""))
        bytes += FastCGIRecord.encode(.beginRequest, requestID: 1, content: [0, 1, 0, 0, 0, 0, 0, 0])
        bytes += FastCGIRecord.encode(.params, requestID: 1)
        var padded = FastCGIRecord.encode(.stdin, requestID: 1, content: [1, 2, 3])
        padded[6] = 5  // padding length, as libraries that align records to 8 bytes send
        bytes += padded + [0, 0, 0, 0, 0] + FastCGIRecord.encode(.stdin, requestID: 1)
        var scanner = FastCGIRequestScanner()
        scanner.consume(bytes)
        #expect(scanner.state == .complete)
        #expect(scanner.bodyBytes == 3)
    }

    @Test func anAbortOrBytesThatAreNotFastCGIAbandonTheRequest() {
        var aborted = FastCGIRequestScanner()
        aborted.consume(FastCGIRecord.encode(.beginRequest, requestID: 1, content: [0, 1, 0, 0, 0, 0, 0, 0]))
        aborted.consume(FastCGIRecord.encode(.abortRequest, requestID: 1))
        #expect(aborted.state == .abandoned)
        var garbage = FastCGIRequestScanner()
        garbage.consume(Array("GET / HTTP/1.1\r\n".utf8))
        #expect(garbage.state == .abandoned)
    }

    @Test func theAnswerIsCompleteRecordsWithTheEnvelopeAndRetryAfter() throws {
        let response = CGIResponse.Buffer()
        response.write(.unavailable("Every thread is busy."), requestID: "rid-1")
        let records = [UInt8](FastCGIRecord.response(requestID: 9, stdout: response.bytes))
        var stdout: [UInt8] = []
        var offset = 0
        var types: [UInt8] = []
        while offset < records.count {
            let header = FastCGIRecord.Header(records[offset...])
            #expect(header.version == 1 && header.requestID == 9)
            types.append(header.type)
            if header.type == FastCGIRecord.Kind.stdout.rawValue {
                stdout += records[offset + 8..<offset + 8 + header.contentLength]
            }
            offset += 8 + header.contentLength + header.paddingLength
        }
        #expect(types == [6, 6, 3])  // STDOUT, its end, END_REQUEST
        let text = String(decoding: stdout, as: UTF8.self)
        #expect(text.hasPrefix("Status: 503 Service Unavailable\r\n"))
        #expect(text.contains("Retry-After: 1\r\n"))
        #expect(text.contains("x-litellm-call-id: rid-1\r\n"))
        let body = try #require(text.components(separatedBy: "\r\n\r\n").last)
        #expect(body.contains(#""code":"503""#) && body.contains(#""type":"internal_server_error""#))
    }

    @Test func aLargeStdoutIsSplitIntoRecordsOfAtMost65535Bytes() {
        let records = [UInt8](FastCGIRecord.response(requestID: 1, stdout: Data(repeating: 0x61, count: 70_000)))
        let first = FastCGIRecord.Header(records[...])
        #expect(first.contentLength == 65535)
        #expect(records.count == 8 + 65535 + 8 + (70_000 - 65535) + 8 + 16)
    }

    @Test func paramsWithFourByteLengthsAndATruncatedTailDecode() {
        let long = String(repeating: "x", count: 200)
        let stream = Self.pair("A", "1") + Self.pair("LONG", long) + [5, 5, 0x41]
        #expect(FastCGIParams(stream: stream).pairs.map(\.name) == ["A", "LONG"])
        #expect(FastCGIParams(stream: stream).first("LONG") == long)
    }
}
