internal import CCurl
import Foundation
import GatewayCore

/// One libcurl multi handle and the thread that drives it.
///
/// Every transfer of the process runs here, so they share one connection cache, one DNS
/// cache and one parsed CA store. Worker threads never touch the multi handle: they
/// post commands and wake the thread (`curl_multi_wakeup` is the one call libcurl
/// allows from another thread). Callbacks only hand bytes to a channel, so one thread
/// keeps up with every stream of the process.
final class CurlEngine: @unchecked Sendable {
    enum Command {
        case add(CurlTransfer)
        /// The worker took what was buffered: a paused transfer may read again.
        case resume(CurlTransfer)
        case cancel(CurlTransfer)
    }

    private let multi: UnsafeMutableRawPointer
    private let inbox = Locked<[Command]>([])
    /// Engine thread only: transfers in the multi handle, by easy handle.
    private var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]

    /// - Parameter maxConnections: idle connections kept for reuse. libcurl's default
    ///   (4 × the transfers in flight, shrinking with them) closes connections whenever
    ///   the load dips, then opens new ones when it rises again.
    init(maxConnections: Int) {
        _ = Self.globalInit
        guard let multi = curl_multi_init() else { fatalError("curl_multi_init failed") }
        self.multi = multi
        _ = ccurl_multi_set_long(multi, CURLMOPT_MAXCONNECTS, max(8, maxConnections))
        // No per-host limit: concurrent streams to one API must never queue (UP-08).
        _ = ccurl_multi_set_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0)
        let thread = Thread { [self] in run() }
        thread.name = "fcgi-pass-through.curl"
        thread.start()
    }

    /// Before any thread uses libcurl, once per process.
    private static let globalInit: Void = {
        let code = curl_global_init(Int(CURL_GLOBAL_ALL))
        if code != CURLE_OK { fatalError("curl_global_init failed: \(code.rawValue)") }
    }()

    func post(_ command: Command) {
        inbox.withLock { $0.append(command) }
        _ = curl_multi_wakeup(multi)
    }

    private func run() {
        var running: Int32 = 0
        while true {
            applyPostedCommands()
            _ = curl_multi_perform(multi, &running)
            collectFinished()
            // Returns on socket activity, libcurl's next timer, or a wake-up.
            _ = curl_multi_poll(multi, nil, 0, 1000, nil)
        }
    }

    /// In a function of its own so the commands (and the transfers they hold) are
    /// released now, not after the next wait: a finished transfer frees its request at once.
    /// Not inlined into `run`'s endless loop, which Swift 6.3.1's loop-invariant code
    /// motion would take minutes to optimise (see `Metrics.publish`).
    @inline(never)
    private func applyPostedCommands() {
        let commands = inbox.withLock { pending in
            defer { pending.removeAll() }
            return pending
        }
        commands.forEach(apply)
    }

    private func apply(_ command: Command) {
        switch command {
        case .add(let transfer):
            if transfer.isCancelRequested {
                transfer.complete(CURLE_ABORTED_BY_CALLBACK)
                return
            }
            active[transfer.easy] = transfer
            let code = curl_multi_add_handle(multi, transfer.easy)
            if code != CURLM_OK {
                active[transfer.easy] = nil
                transfer.complete(CURLE_FAILED_INIT)
            }
        case .resume(let transfer):
            guard active[transfer.easy] != nil else { return }
            // May deliver the held-back bytes right here, and pause again.
            _ = curl_easy_pause(transfer.easy, ccurl_pause_cont)
        case .cancel(let transfer):
            // Removing an unfinished transfer closes its connection: nothing half-read
            // is ever reused.
            guard active.removeValue(forKey: transfer.easy) != nil else { return }
            _ = curl_multi_remove_handle(multi, transfer.easy)
            transfer.complete(CURLE_ABORTED_BY_CALLBACK)
        }
    }

    @inline(never)
    private func collectFinished() {
        var queued: Int32 = 0
        while let message = curl_multi_info_read(multi, &queued) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
            let code = message.pointee.data.result
            _ = curl_multi_remove_handle(multi, easy)
            active.removeValue(forKey: easy)?.complete(code)
        }
    }
}
