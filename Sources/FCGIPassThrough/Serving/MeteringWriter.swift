import Foundation
import GatewayCore

/// Reads what a response used from the bytes on their way to the client (docs/USAGE.md,
/// "Metering"). Each chunk is written first and read after, so metering never delays a
/// byte; the meter keeps a few hundred bytes of state whatever the response's size.
final class MeteringWriter: ResponseWriter {
    private let base: any ResponseWriter
    private let requestModel: String?
    /// Made with the writer and started, where it lies, by the head (`reading`). Only the
    /// thread serving the request touches it, one call at a time, and nothing the meter
    /// calls comes back into this writer, so no two accesses can overlap: the runtime's
    /// check of each (tens of instructions, on every chunk) is left out.
    @exclusivity(unchecked) private var meter: UsageMeter
    /// Whether the head started the meter: not before it, nor when the body cannot be
    /// read (it is content-encoded on its way through).
    private var reading = false
    private var sawHead = false

    init(_ base: any ResponseWriter, format: UsageFormat, requestModel: String?) {
        self.base = base
        self.requestModel = requestModel
        meter = UsageMeter(format: format, requestModel: requestModel)
    }

    func writeHead(status: Int, headers: HTTPHeaders) -> Bool {
        sawHead = true
        // Both fields in one walk over the head (each the first of its name, as a lookup
        // finds it); the name's length is checked before its letters.
        var contentEncoding: String?
        var contentType: String?
        // By index: iterating the fields would copy each one (two retains and releases).
        for index in headers.fields.indices {
            switch headers.fields[index].name.utf8.count {
            case 12 where contentType == nil && headers.fields[index].name.caseInsensitiveEquals("content-type"):
                contentType = headers.fields[index].value
            case 16 where contentEncoding == nil && headers.fields[index].name.caseInsensitiveEquals("content-encoding"):
                contentEncoding = headers.fields[index].value
            default: break
            }
        }
        let coding = contentEncoding.map { String(HTTPSyntax.trimmingWhitespace($0)) } ?? ""
        if coding.isEmpty || coding.caseInsensitiveEquals("identity") {
            meter.begin(contentType: contentType)
            reading = true
        }
        return base.writeHead(status: status, headers: headers)
    }

    func writeBody(_ data: Data, flush: Bool) -> Bool {
        let written = base.writeBody(data, flush: flush)
        if reading { data.withUnsafeBytes { meter.consume($0) } }
        return written
    }

    func flush() -> Bool { base.flush() }

    func abort() { base.abort() }

    func clientHasGone() -> Bool { base.clientHasGone() }
    var departureDescriptor: Int32? { base.departureDescriptor }

    /// What the response used; `nil` when no head was written (the request failed before
    /// the upstream answered: nothing to meter).
    /// - Parameter complete: the response reached its end; `false` marks it partial.
    func finish(complete: Bool) -> Usage? {
        guard sawHead else { return nil }
        return reading ? meter.finish(complete: complete) : Usage(model: requestModel)
    }
}
