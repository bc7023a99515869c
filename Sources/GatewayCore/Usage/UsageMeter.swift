import Foundation

/// Reads what one response used from its body as the body passes to the client
/// (docs/USAGE.md, "Metering"). It only looks: every chunk goes on unchanged and
/// undelayed, the meter reads it after or beside the write. Work is linear in the bytes
/// and the state stays a few hundred bytes whatever the body's size: nothing of the body
/// is kept but the member names on the way to the current value and a model name.
///
/// `text/event-stream` bodies are read event by event: the `data:` lines of an event
/// (joined by a line feed, as SSE joins them) go straight into a JSON reading of their
/// own, which counts only if it ends as one well-formed value; `[DONE]`, comments and
/// other fields are passed over. Every other body is read as JSON: one object (usage may
/// sit anywhere in it), or values one after another, or Gemini's streamed array, whose
/// elements are read as they come. A body whose usage cannot be read is unmetered, never
/// an error. One per response, fed in order; a value, held inline by its writer.
public struct UsageMeter {
    private enum Mode { case off, json, eventStream }

    /// Where the reading of an SSE line stands.
    private enum LineState {
        /// Reading the field name (before the first `:`).
        case field
        /// After `data:`, where one space may come.
        case dataStart
        /// In a `data:` value: bytes go to the event's JSON reading.
        case data
        /// In a comment or a field other than `data`.
        case skip
    }

    private let format: UsageFormat
    private var mode = Mode.off
    private let requestModel: String?
    private var scanner: UsageJSONScanner

    // Event streams: the events read to their end so far, and the line being read.
    private var events = UsageCaptures()
    private var lineState = LineState.field
    /// How much of `data` the line's field name has matched; a name that is not a prefix of
    /// `data` sends the line to `skip`.
    private var fieldMatched = 0
    private var afterCarriageReturn = false
    private var eventHasData = false

    private static let dataField = Array("data".utf8)
    private static let lineFeed: [UInt8] = [0x0A]

    /// - Parameters:
    ///   - format: how the endpoint's responses report usage; `.none` reads nothing.
    ///   - contentType: the response's `Content-Type`: `text/event-stream` is read as
    ///     server-sent events, anything else (or nothing) as JSON.
    ///   - requestModel: the model the request named (its body's `model`, or the Gemini
    ///     or Vertex path's `models/{model}`); it wins over the one the response names.
    public init(format: UsageFormat, contentType: String?, requestModel: String?) {
        self.init(format: format, requestModel: requestModel)
        begin(contentType: contentType)
    }

    /// A meter that reads nothing until `begin(contentType:)`: its holder can make it
    /// before the response's head arrives and start it in place (it is a few hundred
    /// bytes, and each copy of it costs what a short JSON body's reading does).
    public init(format: UsageFormat, requestModel: String?) {
        self.format = format
        self.requestModel = requestModel.flatMap { $0.isEmpty ? nil : $0 }
        scanner = UsageJSONScanner(paths: .paths(for: format))
    }

    /// Starts reading a body of `contentType`: `text/event-stream` as server-sent
    /// events, anything else (or nothing) as JSON. Once per meter, before any `consume`:
    /// it sets how bytes are read and resets nothing read already.
    public mutating func begin(contentType: String?) {
        if format == .none {
            mode = .off
        } else if let contentType, HTTPSyntax.isMediaType(contentType, "text/event-stream") {
            mode = .eventStream
        } else {
            mode = .json
        }
    }

    /// Reads one chunk of the body, as it is written to the client.
    public mutating func consume(_ chunk: Data) {
        guard mode != .off, !chunk.isEmpty else { return }
        chunk.withUnsafeBytes { consume($0) }
    }

    /// Reads one chunk of the body where it lies.
    public mutating func consume(_ chunk: UnsafeRawBufferPointer) {
        guard mode != .off, !chunk.isEmpty else { return }
        chunk.withMemoryRebound(to: UInt8.self) { consume(bytes: $0) }
    }

    mutating func consume(bytes: UnsafeBufferPointer<UInt8>) {
        switch mode {
        case .off: return
        case .json: scanner.feed(bytes)
        case .eventStream: readEvents(bytes)
        }
    }

    /// What the response used. `complete` is false when the body did not reach its end
    /// (the client went away, the upstream cut it): the usage is then `partial`, with
    /// what was read until then.
    public mutating func finish(complete: Bool) -> Usage {
        switch mode {
        case .off: break
        case .json:
            // A body that ends inside its JSON, or breaks it, has no usage to trust; a
            // body cut short keeps the counts read before the cut.
            if !scanner.failed && (!complete || scanner.isAtDocumentEnd) { return usage(scanner.captures, complete: complete) }
        case .eventStream:
            // The last event may end with the body, without its blank line.
            if complete { endEvent() }
            return usage(events, complete: complete)
        }
        return Usage(model: requestModel, partial: !complete)
    }

    private func usage(_ captures: borrowing UsageCaptures, complete: Bool) -> Usage {
        var usage = Usage(model: requestModel ?? captures.model, partial: !complete)
        guard captures.hasCounts else { return usage }
        usage.metered = true
        let output = captures[.output] ?? captures[.outputUnbilled]
        usage.inputTokens = captures[.input] ?? captures[.inputUnbilled] ?? (output == nil ? captures[.total] : nil) ?? 0
        usage.outputTokens = (output ?? 0) + (captures[.thoughts] ?? 0)
        usage.cacheReadTokens = captures[.cacheRead] ?? 0
        usage.cacheWriteTokens = captures[.cacheWrite] ?? 0
        usage.searchUnits = captures[.searchUnits] ?? 0
        return usage
    }

    /// Bytes of buffers the meter holds, whatever it has read.
    var bufferedBytes: Int { scanner.bufferedBytes }

    // MARK: Server-sent events

    private mutating func readEvents(_ bytes: UnsafeBufferPointer<UInt8>) {
        let count = bytes.count
        var index = 0
        while index < count {
            let byte = bytes[index]
            if afterCarriageReturn {
                // CR LF ends one line, not two.
                afterCarriageReturn = false
                if byte == 0x0A {
                    index += 1
                    continue
                }
            }
            switch lineState {
            case .field:
                index += 1
                switch byte {
                case 0x0A, 0x0D:
                    endLine(carriageReturn: byte == 0x0D)
                case UInt8(ascii: ":"):
                    if fieldMatched == Self.dataField.count {
                        beginData()
                        lineState = .dataStart
                    } else {
                        lineState = .skip
                    }
                default:
                    // Only `data` matters: any other name is some other field.
                    if fieldMatched < Self.dataField.count && byte == Self.dataField[fieldMatched] {
                        fieldMatched += 1
                    } else {
                        lineState = .skip
                    }
                }
            case .dataStart:
                if byte == UInt8(ascii: " ") { index += 1 }
                lineState = .data
            case .data, .skip:
                var end = index
                while end < count, bytes[end] != 0x0A, bytes[end] != 0x0D { end += 1 }
                if lineState == .data, end > index {
                    scanner.feed(UnsafeBufferPointer(rebasing: bytes[index..<end]))
                }
                index = end
                if index < count {
                    endLine(carriageReturn: bytes[index] == 0x0D)
                    index += 1
                }
            }
        }
    }

    /// A `data:` line starts: its value follows the event's earlier ones after a line feed.
    private mutating func beginData() {
        if eventHasData {
            Self.lineFeed.withUnsafeBufferPointer { scanner.feed($0) }
        }
        eventHasData = true
    }

    private mutating func endLine(carriageReturn: Bool) {
        afterCarriageReturn = carriageReturn
        if lineState == .field {
            if fieldMatched == 0 {
                endEvent()
            } else if fieldMatched == Self.dataField.count {
                // `data` alone is a data line with an empty value.
                beginData()
            }
        }
        lineState = .field
        fieldMatched = 0
    }

    /// A blank line: the event's data, if it was one whole JSON value, counts.
    private mutating func endEvent() {
        if eventHasData && scanner.isAtDocumentEnd && scanner.documents == 1 { events.merge(scanner.captures) }
        eventHasData = false
        scanner.reset()
    }
}
