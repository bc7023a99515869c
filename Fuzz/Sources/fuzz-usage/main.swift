import Foundation
import FuzzSupport
import GatewayCore

/// A response body in, as an upstream sends it: the usage meter reads it whole, in pieces
/// cut where the input says, and byte by byte (docs/USAGE.md, "Metering"). Besides "no
/// crash", all three must read the same usage. A body or SSE event that reaches the meter
/// in one piece is read by descent, one that spans pieces byte by byte: the fuzzer looks
/// for a body the two readings disagree on.
enum UsageFuzz {
    static let formats: [UsageFormat] = [.openai, .anthropic, .gemini, .cohere]
    static let contentTypes = ["application/json", "text/event-stream", "application/stream+json"]
    /// Byte-by-byte reading is slow; longer bodies are cut only where the input says.
    static let byteByByteLimit = 4096

    /// The input's layout: a format byte, a content-type byte, a length byte and that many
    /// piece lengths (each byte + 1, used in turn), then the body. The seeds in
    /// `Fuzz/Corpus/fuzz-usage` follow it.
    static func run(_ input: inout FuzzInput) {
        let format = input.pick(formats)
        let contentType = input.pick(contentTypes)
        let cuts = input.blob().map { Int($0) + 1 }
        let body = input.rest()
        let whole = read([body[...]], format, contentType)
        var pieces: [ArraySlice<UInt8>] = []
        var start = 0
        while start < body.count {
            let end = min(body.count, start + (cuts.isEmpty ? body.count : cuts[pieces.count % cuts.count]))
            pieces.append(body[start..<end])
            start = end
        }
        let cut = read(pieces, format, contentType)
        if cut != whole { violated("a body cut into pieces reads as it does whole", "\(cut) != \(whole)") }
        if body.count <= byteByByteLimit {
            let bytes = read(body.indices.map { body[$0...$0] }, format, contentType)
            if bytes != whole { violated("a body read byte by byte reads as it does whole", "\(bytes) != \(whole)") }
        }
    }

    /// The usage as a body cut short here would report it (what was read, unless the
    /// reading failed), then as a complete one (only a body that ended well counts).
    static func read(_ pieces: [ArraySlice<UInt8>], _ format: UsageFormat, _ contentType: String) -> [Usage] {
        var meter = UsageMeter(format: format, contentType: contentType, requestModel: nil)
        for piece in pieces { piece.withUnsafeBytes { meter.consume($0) } }
        // `finish(complete: false)` changes nothing: the complete reading can follow it.
        return [meter.finish(complete: false), meter.finish(complete: true)]
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzUsage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(UnsafeRawBufferPointer(start: data, count: size))
    UsageFuzz.run(&input)
    return 0
}
