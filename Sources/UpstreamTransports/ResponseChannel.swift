import Foundation
import GatewayCore

/// The per-request hand-off between the transport's callback thread and the
/// request's worker thread.
///
/// The transport side never blocks: it appends and signals. The worker side waits,
/// takes everything buffered at once and writes it to the client. The buffer is
/// bounded: a client that stops reading while the upstream keeps sending makes the
/// channel refuse more data. A transport that can pause (libcurl) offers bytes with
/// `offerBody` and waits for `onRoom`; one that cannot (URLSession) delivers with
/// `receiveBody` and cancels when it returns false.
public final class ResponseChannel: @unchecked Sendable {
    public enum Event: Sendable {
        case head(status: Int, headers: HTTPHeaders)
        case body(Data)
        /// The upstream finished: `nil` is a clean end.
        case end(UpstreamFailure?)
    }

    /// Largest number of body bytes held for a client that is not reading.
    public let bufferLimit: Int

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var head: (status: Int, headers: HTTPHeaders)?
    private var headTaken = false
    private var pending = Data()
    /// The size of the chunk the worker took last; it is still being written until the
    /// worker asks for the next event, so it counts against the bound too.
    private var inFlight = 0
    private var ending: UpstreamFailure??
    private var overflowed = false
    private var lastProgress: ContinuousClock.Instant
    /// A pausing transport's wake-up, and whether it is waiting for one.
    private var roomHandler: (@Sendable () -> Void)?
    private var paused = false

    public init(bufferLimit: Int = 8 << 20) {
        self.bufferLimit = bufferLimit
        self.lastProgress = .now
    }

    // MARK: transport side

    public func receiveHead(status: Int, headers: HTTPHeaders) {
        condition.lock()
        head = (status, headers)
        lastProgress = .now
        condition.signal()
        condition.unlock()
    }

    /// - Returns: false when the bound is first exceeded; the caller must cancel the
    ///   transfer. Later data is dropped and answered true: the transport keeps delivering
    ///   what it already read until the cancel lands (FoundationNetworking cannot pause),
    ///   and each of those callbacks must stay cheap or they pile up in its queue.
    @discardableResult
    public func receiveBody(_ data: Data) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if overflowed { return true }
        lastProgress = .now
        guard inFlight + pending.count + data.count <= bufferLimit else {
            overflowed = true
            condition.signal()
            return false
        }
        pending.append(data)
        condition.signal()
        return true
    }

    /// Sets what `next` calls once a refused offer can be retried. Call before the
    /// transport starts.
    public func onRoom(_ handler: @escaping @Sendable () -> Void) {
        condition.lock()
        roomHandler = handler
        condition.unlock()
    }

    /// Takes `data` unless the client is already `bufferLimit` bytes behind. False
    /// means not taken: the transport holds the bytes, stops reading from the upstream,
    /// and offers them again after the `onRoom` handler ran. Never overflows.
    public func offerBody(_ data: Data) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let held = inFlight + pending.count
        if held > 0 && held + data.count > bufferLimit {
            paused = true
            return false
        }
        lastProgress = .now
        pending.append(data)
        condition.signal()
        return true
    }

    public func finish(_ failure: UpstreamFailure?) {
        condition.lock()
        if ending == nil { ending = .some(failure) }
        condition.signal()
        condition.unlock()
    }

    // MARK: worker side

    /// True once the bound was exceeded (the client stalled).
    public var didOverflow: Bool {
        condition.lock()
        defer { condition.unlock() }
        return overflowed
    }

    /// The time since the upstream last made progress (head or body bytes).
    public func idleTime() -> Duration {
        condition.lock()
        defer { condition.unlock() }
        return ContinuousClock.now - lastProgress
    }

    /// Waits up to `timeout` for the next event; `nil` when none arrived in time.
    /// The head comes first, then all buffered body bytes as one event, then the end.
    public func next(timeout: Duration) -> Event? {
        condition.lock()
        defer { condition.unlock() }
        // Asking again means the previous chunk was written.
        inFlight = 0
        if paused {
            paused = false
            // The upstream was held back by us, not silent: its idle time starts again.
            lastProgress = .now
            roomHandler?()
        }
        let deadline = Date(timeIntervalSinceNow: timeout.seconds)
        while true {
            if !headTaken, let head {
                headTaken = true
                return .head(status: head.status, headers: head.headers)
            }
            if !pending.isEmpty {
                let chunk = pending
                pending = Data()
                inFlight = chunk.count
                return .body(chunk)
            }
            if overflowed { return .end(.cancelled) }
            if let ending { return .end(ending) }
            if !condition.wait(until: deadline) { return nil }
        }
    }
}
