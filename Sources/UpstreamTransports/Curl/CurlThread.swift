internal import CCurl
import Foundation
import GatewayCore

/// A worker thread's own libcurl state: one multi handle and one easy handle, kept for
/// the life of the thread and used by one exchange at a time.
///
/// The thread that serves a request drives its transfer itself: no hand-off to another
/// thread and back, no wake-ups between threads. The multi handle holds this thread's
/// connection cache, DNS cache and parsed CA store, so a connection opened for one of
/// its requests is reused by the next. Nothing is shared between threads, which is what
/// libcurl asks (its connection-cache share is not safe across concurrent threads).
final class CurlThread {
    private let multi: UnsafeMutableRawPointer
    private let easy: UnsafeMutableRawPointer

    /// Idle connections a thread keeps: one exchange at a time, so a few upstream hosts.
    static let maxConnections = 8

    /// Where a thread finds its own state. No destructor: the state is never freed at
    /// thread exit, where `curl_multi_cleanup` would free the thread's CA store while
    /// process exit tears down OpenSSL's locks (a crash seen under ThreadSanitizer).
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()
    /// Every thread's state, for the life of the process (and reachable, so leak checkers
    /// do not take it for lost). Worker threads live as long as the process anyway.
    private static let all = Locked<[CurlThread]>([])

    /// The calling thread's state, created on its first exchange.
    static func current() -> CurlThread {
        if let existing = pthread_getspecific(key) {
            return Unmanaged<CurlThread>.fromOpaque(existing).takeUnretainedValue()
        }
        let created = CurlThread()
        all.withLock { $0.append(created) }
        pthread_setspecific(key, Unmanaged.passUnretained(created).toOpaque())
        return created
    }

    private init() {
        guard let multi = curl_multi_init(), let easy = curl_easy_init() else { fatalError("libcurl: out of memory") }
        self.multi = multi
        self.easy = easy
        _ = ccurl_multi_set_long(multi, CURLMOPT_MAXCONNECTS, Self.maxConnections)
    }

    /// Runs `request` to its end on this thread.
    func exchange(_ request: UpstreamRequest, caFile: String, sink: any UpstreamSink) -> UpstreamFailure? {
        curl_easy_reset(easy)  // options only: connections and caches stay with the multi handle
        let transfer = CurlTransfer(request, easy: easy, caFile: caFile, sink: sink)
        // The transfer is libcurl's callback target until the handle leaves the multi.
        return withExtendedLifetime(transfer) { run(transfer, sink: sink) }
    }

    private func run(_ transfer: CurlTransfer, sink: any UpstreamSink) -> UpstreamFailure? {
        guard curl_multi_add_handle(multi, easy) == CURLM_OK else { return .unreachable(.other) }
        // Removing an unfinished transfer closes its connection: nothing half-read is
        // ever reused.
        defer { curl_multi_remove_handle(multi, easy) }
        // With the client's connection in the wait, its departure wakes the thread at
        // once and a silent upstream costs no wake-ups until the idle timeout is due;
        // without one, the sink is asked after every poll interval of silence.
        var departure = sink.departureDescriptor
        var lastAsked = ContinuousClock.now
        while true {
            var running: Int32 = 0
            _ = curl_multi_perform(multi, &running)
            if let code = finished() { return transfer.result(code) }
            if transfer.stopReason != nil { return transfer.stopReason }
            // What this round delivered (a head and the body that came with it) leaves
            // in one write, before the wait.
            guard sink.flushBeforeWaiting() else { return .cancelled }
            let due =
                departure == nil ? max(transfer.lastProgress, lastAsked) + sink.pollInterval : sink.idleDeadline
            // Returns on socket activity, libcurl's next timer or the client's departure,
            // at the latest when the sink is due to be asked.
            var client = curl_waitfd(fd: departure ?? -1, events: Int16(CURL_WAIT_POLLIN), revents: 0)
            if departure == nil {
                _ = curl_multi_poll(multi, nil, 0, Self.timeout(until: due), nil)
            } else {
                _ = curl_multi_poll(multi, &client, 1, Self.timeout(until: due), nil)
            }
            let now = ContinuousClock.now
            if client.revents != 0 || now >= due {
                lastAsked = now
                if !sink.stillWanted() { return .cancelled }
                // Readable and still wanted: bytes that are not a departure (a client that
                // sends a second request early) stay readable, so the sink is asked every
                // poll interval from here on instead.
                if client.revents != 0 { departure = nil }
            }
        }
    }

    /// Milliseconds from now until `instant`, rounded up, at least 1 (libcurl's 0 would
    /// not wait at all).
    private static func timeout(until instant: ContinuousClock.Instant) -> Int32 {
        let milliseconds = (instant - .now) / .milliseconds(1)
        return Int32(clamping: Int(max(1, milliseconds.rounded(.up))))
    }

    /// The result code once the transfer is done, `nil` while it runs.
    private func finished() -> CURLcode? {
        var queued: Int32 = 0
        while let message = curl_multi_info_read(multi, &queued) {
            if message.pointee.msg == CURLMSG_DONE { return message.pointee.data.result }
        }
        return nil
    }
}
