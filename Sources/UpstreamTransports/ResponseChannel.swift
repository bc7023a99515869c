import Foundation
import GatewayCore

/// The per-request hand-off between URLSession's callback queue and the request's
/// worker thread (the curl transport needs none: the worker thread drives it).
///
/// The transport side never blocks on the client: it appends and signals. The worker
/// side waits, takes what is buffered, up to `pieceSize` bytes at a time, and writes it
/// to the client. The memory buffer is bounded by `bufferLimit`. URLSession cannot pause
/// an upstream, so what does not fit in memory goes to a temporary file of at most
/// `spoolLimit` bytes (nginx's `proxy_max_temp_file_size`
/// model, docs/BEHAVIOUR.md §5.5). Past that, or without a usable file, `receiveBody`
/// returns false and the transport cancels.
///
/// Bytes reach the worker in the order they arrived: memory, then the file, then memory
/// again. Once bytes are in the file, later ones go there too until the worker has read
/// the file to its end; the file is then emptied, so a long stream that only lags now and
/// then does not grow it.
public final class ResponseChannel: @unchecked Sendable {
    public enum Event: Sendable {
        case head(status: Int, headers: HTTPHeaders)
        case body(Data)
        /// The upstream finished: `nil` is a clean end.
        case end(UpstreamFailure?)
    }

    /// Why `receiveBody` refused data and the exchange must end.
    public enum Overflow: Sendable, Equatable {
        /// The memory buffer was full and spooling is off (`spoolLimit` 0).
        case bufferFull
        /// The temporary file would have grown past `spoolLimit`.
        case spoolFull
        /// The temporary file could not be created, written or read (the `errno` text).
        case spoolFailed(String)
    }

    /// Largest number of body bytes held in memory for a client that is not reading.
    public let bufferLimit: Int
    /// Largest size of the temporary file behind the memory buffer; 0: no file.
    public let spoolLimit: Int
    /// Where the temporary file goes; `nil`: `$TMPDIR`, else /tmp.
    private let spoolDirectory: String?
    /// The most body bytes the worker takes at a time (a single larger chunk from the
    /// transport excepted), so the copies it makes while writing stay small.
    private let pieceSize: Int

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var head: (status: Int, headers: HTTPHeaders)?
    private var headTaken = false
    private var pending = Pending()
    /// The size of the chunk the worker took last; it is still being written until the
    /// worker asks for the next event, so it counts against the bound too.
    private var inFlight = 0
    private var ending: UpstreamFailure??
    private var overflowed: Overflow?
    /// The temporary file, created when first needed; bytes `spoolRead..<spoolWritten` of
    /// it are still to be handed over. Both go back to 0 when the worker has read it all.
    private var spool: SpoolFile?
    private var spoolWritten = 0
    private var spoolRead = 0
    /// The worker is done with the exchange: further data is dropped.
    private var released = false

    /// - Parameters:
    ///   - bufferLimit: body bytes held in memory.
    ///   - spoolLimit: bytes `receiveBody` may put in a temporary file beyond that (the
    ///     file's size: it starts again from empty each time the worker read it all).
    ///   - spoolDirectory: where that file is made; `nil` is `$TMPDIR`, else /tmp.
    ///   - pieceSize: the most body bytes handed to the worker at once, from memory
    ///     (coalesced) or from the file (never more than `bufferLimit`).
    public init(
        bufferLimit: Int = 8 << 20, spoolLimit: Int = 0, spoolDirectory: String? = nil, pieceSize: Int = 1 << 20
    ) {
        self.bufferLimit = bufferLimit
        self.spoolLimit = max(0, spoolLimit)
        self.spoolDirectory = spoolDirectory
        self.pieceSize = max(1, min(pieceSize, bufferLimit))
    }

    // MARK: transport side

    public func receiveHead(status: Int, headers: HTTPHeaders) {
        condition.lock()
        head = (status, headers)
        condition.signal()
        condition.unlock()
    }

    /// Takes `data` into memory, or into the temporary file when memory is full or the
    /// file still holds bytes the worker has not taken (order never changes). The file
    /// write happens on the caller's thread; it waits for the disk, never for the client.
    ///
    /// - Returns: false when the data cannot be held (memory full and no room in the
    ///   file, or no usable file); the caller must cancel the transfer. Later data is
    ///   dropped and answered true: the transport keeps delivering what it already read
    ///   until the cancel lands (FoundationNetworking cannot pause), and each of those
    ///   callbacks must stay cheap or they pile up in its queue.
    @discardableResult
    public func receiveBody(_ data: Data) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if overflowed != nil || released { return true }
        if data.isEmpty { return true }
        // Memory only while nothing waits in the file: these bytes must not overtake those.
        if spoolRead == spoolWritten && inFlight + pending.count + data.count <= bufferLimit {
            pending.append(data)
            condition.signal()
            return true
        }
        if let refusal = spoolAppend(data) {
            overflowed = refusal
            // Nothing more reaches the client: give the memory and the disk back now.
            pending = Pending()
            spool = nil
            condition.signal()
            return false
        }
        condition.signal()
        return true
    }

    /// Appends `data` to the temporary file, creating it first if needed; why not, when
    /// it cannot. Called with `condition` held.
    private func spoolAppend(_ data: Data) -> Overflow? {
        guard spoolWritten + data.count <= spoolLimit else { return spoolLimit == 0 ? .bufferFull : .spoolFull }
        let file: SpoolFile
        if let spool {
            file = spool
        } else {
            switch SpoolFile.create(in: spoolDirectory) {
            case .success(let created): file = created
            case .failure(let failure): return .spoolFailed(failure.reason)
            }
            spool = file
        }
        if let failure = file.write(data, at: spoolWritten) { return .spoolFailed(failure.reason) }
        spoolWritten += data.count
        return nil
    }

    public func finish(_ failure: UpstreamFailure?) {
        condition.lock()
        if ending == nil { ending = .some(failure) }
        condition.signal()
        condition.unlock()
    }

    // MARK: worker side

    /// True once the data could not be held (the client stalled for too long).
    public var didOverflow: Bool { overflow != nil }

    /// Why the data could not be held, once it could not.
    public var overflow: Overflow? {
        condition.lock()
        defer { condition.unlock() }
        return overflowed
    }

    /// Waits up to `timeout` for the next event; `nil` when none arrived in time.
    /// The head comes first, then the body in pieces of at most `pieceSize` (what is
    /// buffered in memory, coalesced, or the next part of the temporary file), in the
    /// order the bytes arrived; then the end. Once the data could not be held, the end
    /// comes next: the response is lost anyway.
    public func next(timeout: Duration) -> Event? {
        condition.lock()
        defer { condition.unlock() }
        // Asking again means the previous chunk was written.
        inFlight = 0
        let deadline = Date(timeIntervalSinceNow: timeout.seconds)
        while true {
            if !headTaken, let head {
                headTaken = true
                return .head(status: head.status, headers: head.headers)
            }
            if overflowed != nil { return .end(.cancelled) }
            if !pending.isEmpty {
                let chunk = pending.take(upTo: pieceSize)
                inFlight = chunk.count
                return .body(chunk)
            }
            if spoolRead < spoolWritten, let file = spool { return readSpool(file) }
            if let ending { return .end(ending) }
            if !condition.wait(until: deadline) { return nil }
        }
    }

    /// Takes the next piece of the temporary file. Called with `condition` held; reads
    /// without it, so the transport can append meanwhile (past the piece being read).
    private func readSpool(_ file: SpoolFile) -> Event {
        let offset = spoolRead
        let count = min(spoolWritten - spoolRead, pieceSize)
        spoolRead += count
        inFlight = count
        condition.unlock()
        let read = file.read(count, at: offset)
        condition.lock()
        switch read {
        case .failure(let failure):
            if overflowed == nil { overflowed = .spoolFailed(failure.reason) }
            pending = Pending()
            spool = nil
            return .end(.cancelled)
        case .success(let data):
            if spoolRead == spoolWritten && spool === file {
                // Read to its end: empty it, so a long stream does not grow it for good.
                // Should that fail, the offsets still start again and stale bytes past
                // them are never read.
                _ = file.truncate()
                spoolRead = 0
                spoolWritten = 0
            }
            return .body(data)
        }
    }

    /// The worker is done with the exchange: data still arriving is dropped, and the
    /// memory and the temporary file are given back now rather than when the transport
    /// lets go of the channel.
    public func release() {
        condition.lock()
        released = true
        pending = Pending()
        spool = nil
        spoolRead = 0
        spoolWritten = 0
        condition.unlock()
    }

    /// The temporary file's size, `nil` while there is none (for tests).
    var spoolFileSize: Int? {
        condition.lock()
        defer { condition.unlock() }
        return spool?.size
    }

    /// The temporary file's descriptor, `nil` while there is none (for tests).
    var spoolDescriptor: Int32? {
        condition.lock()
        defer { condition.unlock() }
        return spool?.fd
    }

    /// Body bytes in memory, as the transport delivered them: appending never copies what
    /// is already held, and the worker takes them in pieces.
    private struct Pending {
        private var chunks: [Data] = []
        private(set) var count = 0

        var isEmpty: Bool { count == 0 }

        mutating func append(_ data: Data) {
            guard !data.isEmpty else { return }
            chunks.append(data)
            count += data.count
        }

        /// The oldest bytes, coalesced up to `limit`; a first chunk larger than that whole.
        mutating func take(upTo limit: Int) -> Data {
            var size = chunks[0].count
            var taken = 1
            while taken < chunks.count, size + chunks[taken].count <= limit {
                size += chunks[taken].count
                taken += 1
            }
            var piece = taken == 1 ? chunks[0] : Data(capacity: size)
            if taken > 1 {
                for chunk in chunks[..<taken] { piece.append(chunk) }
            }
            chunks.removeFirst(taken)
            count -= size
            return piece
        }
    }
}
