import Foundation
import Testing

@testable import GatewayCore

/// A document that lies whole in one piece is read by descent, one that spans pieces
/// byte by byte: both readings must take the same counts and the same model, and fail the
/// same bodies. Every body here is read whole, byte by byte and in random pieces, first as
/// the provider wrote it and then broken at random (bytes changed, dropped, doubled, cut).
@Suite struct UsageScannerDifferentialTests {
    struct Reading: Equatable {
        var captures: UsageCaptures
        var failed: Bool
        var documents: Int
        var atDocumentEnd: Bool
    }

    static func read(_ pieces: [ArraySlice<UInt8>], _ format: UsageFormat) -> Reading {
        var scanner = UsageJSONScanner(paths: .paths(for: format))
        for piece in pieces { piece.withUnsafeBufferPointer { scanner.feed($0) } }
        return Reading(
            captures: scanner.captures, failed: scanner.failed, documents: scanner.documents, atDocumentEnd: scanner.isAtDocumentEnd)
    }

    static func pieces(_ bytes: [UInt8], longest: Int, using generator: inout UsageMeterTests.SplitMix64) -> [ArraySlice<UInt8>] {
        var pieces: [ArraySlice<UInt8>] = []
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + Int.random(in: 1...longest, using: &generator))
            pieces.append(bytes[start..<end])
            start = end
        }
        return pieces
    }

    /// Bytes that change a document's shape when one is put in the wrong place.
    static let breakers = Array(#"{}[],:"\ 0123456789.eE-+tfnul/"#.utf8) + [0x0A, 0x00, 0xC3, 0xA9]

    static func broken(_ bytes: [UInt8], using generator: inout UsageMeterTests.SplitMix64) -> [UInt8] {
        var bytes = bytes
        for _ in 0..<Int.random(in: 1...3, using: &generator) where !bytes.isEmpty {
            let at = Int.random(in: 0..<bytes.count, using: &generator)
            switch Int.random(in: 0..<4, using: &generator) {
            case 0: bytes[at] = breakers.randomElement(using: &generator)!
            case 1: bytes.remove(at: at)
            case 2: bytes.insert(bytes[at], at: at)
            default: bytes.removeSubrange(at...)
            }
        }
        return bytes
    }

    static let bodies: [(String, UsageFormat)] = [
        (UsageMeterTests.openAIChat, .openai),
        (UsageMeterTests.responsesBody, .openai),
        (UsageMeterTests.anthropicBody, .anthropic),
        (UsageMeterTests.geminiBody, .gemini),
        ("[" + UsageMeterTests.geminiChunks.joined(separator: "\n,\r\n") + "\n]", .gemini),
        (
            #"{"id":"07734bd2","results":[{"index":3,"relevance_score":0.999071},{"index":4,"relevance_score":7.8e-1}],"#
                + #""meta":{"api_version":{"version":"2","is_experimental":false},"billed_units":{"search_units":1}}}"#, .cohere
        ),
        (
            #"{"is_finished":false,"event_type":"stream-start"} {"is_finished":true,"response":{"meta":"#
                + #"{"billed_units":{"input_tokens":4,"output_tokens":1}}},"x":[null,true,false,-0,12.50]}"#, .cohere
        ),
        (#"{"model":"gpt-\u00e9","usage":{"prompt\u005ftokens":12,"completion_tokens":3.0,"total_tokens":15.01}}"#, .openai),
        (#"{"usage":{"prompt_tokens":12.00,"completion_tokens":3,"total_tokens":15.01}}"#, .openai),
        (#"{"usage":{"prompt_tokens":9007199254740993,"completion_tokens":-0,"total_tokens":1E2}}"#, .openai),
    ]

    @Test(arguments: bodies.indices)
    func bothReadingsAgree(body index: Int) {
        let (text, format) = Self.bodies[index]
        var generator = UsageMeterTests.SplitMix64(state: UInt64(index) + 1)
        let original = Array(text.utf8)
        let intact = Self.read([original[...]], format)
        #expect(!intact.failed && intact.atDocumentEnd, "body \(index) is well formed")
        #expect(intact.captures.hasCounts, "body \(index) has counts")
        for round in 0..<400 {
            let bytes = round == 0 ? original : Self.broken(original, using: &generator)
            let whole = Self.read([bytes[...]], format)
            let splits = [
                ("bytes", bytes.indices.map { bytes[$0...$0] }),
                ("random", Self.pieces(bytes, longest: 40, using: &generator)),
            ]
            for (name, pieces) in splits {
                let reading = Self.read(pieces, format)
                #expect(reading == whole, "body \(index) round \(round), \(name): \(String(decoding: bytes, as: UTF8.self))")
            }
        }
    }
}
