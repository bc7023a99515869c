import FastCGIEdge
import Foundation
import GatewayCore
import Operations
import Synchronization
import UpstreamTransports

#if canImport(Glibc)
    import Glibc
#endif

/// Owns the listening socket and runs N worker processes that share it (`--workers`),
/// as php-fpm's master does: restarts a worker that dies (with back-off) or retires
/// (`--max-requests`), checks the config on SIGHUP before the workers reload it, and on
/// SIGTERM stops the socket and lets the workers drain.
///
/// Workers are this binary started again (no fork after threads exist) with the
/// socket on fd 0, the shared metrics region on fd 3 and the last config that
/// validated on fd 4 (`ConfigHandover`), in their own process group so a terminal's
/// Ctrl-C reaches only the supervisor, which forwards exactly one stop.
final class Supervisor: @unchecked Sendable {
    let options: CommandLineOptions
    let logger: Logger
    private let slots: Int
    /// Slot → pid and start time of its live worker. Guarded by `lock`.
    var workers: [Int: (pid: pid_t, started: ContinuousClock.Instant)] = [:]
    private var failures: [Int: Int] = [:]
    /// Set once, under `lock`; no worker is started after it.
    var stopping = false
    let lock = NSLock()
    /// The config text that validated last (at start, or on a reload). Signal thread only.
    private var configText: String

    init(options: CommandLineOptions, configText: String, logger: Logger) {
        self.options = options
        self.slots = options.workers
        self.configText = configText
        self.logger = Logger(level: logger.level, format: logger.format, process: "supervisor")
    }

    func run() -> GatewayProcess.ExitCode {
        signal(SIGPIPE, SIG_IGN)
        guard let handover = ConfigHandover.create(), handover.publish(configText) else {
            logger.error("cannot create the shared configuration file under /dev/shm")
            return .failure
        }
        let signals = SignalWatcher(
            // The first stop is handled below, after the socket is shut; a second one is
            // passed on at once (workers then exit without waiting).
            onStop: { [self] count in if count > 1 { forward(SIGTERM, note: "again") } },
            onReload: { [self] in reload(handover) })
        signals.start()
        let socket: ListenSocket
        do {
            socket = try ListenSocket.open(options.socket, mode: mode_t(options.socketMode))
        } catch {
            logger.error("cannot listen", ["reason": error.description])
            return .failure
        }
        guard let region = MetricsRegion.create(slots: slots) else {
            logger.error("cannot create the shared metrics region under /dev/shm")
            return .failure
        }
        for slot in 0..<slots { spawn(slot: slot, socket: socket, region: region, handover: handover) }
        logger.info(
            "ready",
            [
                "socket": GatewayProcess.describe(socket.address), "workers": String(slots),
                "threads_per_worker": String(options.threads),
                "max_requests": String(options.maxRequests ?? CommandLineOptions.defaultMaxRequests),
            ])
        let reaper = Thread { [self] in reap(socket: socket, region: region, handover: handover) }
        reaper.name = "fcgi-reaper"
        reaper.start()

        _ = signals.waitForStopOrRetirement()
        lock.withLock { stopping = true }
        // Refuse new connections for every worker at once: nginx moves to another instance.
        // Connections already queued stay, for the workers to take as they stop (LIFE-02).
        socket.refuseNewConnections()
        logger.info("stopping: workers drain in-flight requests", ["drain_timeout_s": String(options.drainTimeout)])
        forward(SIGTERM, note: nil)
        // No worker will be started again, so our copy of the socket can go: a TCP socket
        // refuses connections once its last holder, a worker done with the queue, lets go.
        socket.close()
        // Workers enforce the drain timeout themselves; this is the backstop for a stuck one.
        let deadline = ContinuousClock.now + .seconds(options.drainTimeout + 5)
        var killed = false
        while lock.withLock({ !workers.isEmpty }) {
            if !killed && ContinuousClock.now > deadline {
                logger.warning("workers still running after the drain timeout: killing them")
                forward(SIGKILL, note: nil)
                killed = true
            }
            usleep(50_000)
        }
        logger.info("stopped")
        return .ok
    }

    private func forward(_ signo: Int32, note: String?) {
        let pids = lock.withLock { workers.values.map(\.pid) }
        for pid in pids { kill(pid, signo) }
        if signo == SIGTERM {
            logger.info("forwarded stop to the workers" + (note.map { " (\($0))" } ?? ""), ["workers": String(pids.count)])
        }
    }

    /// SIGHUP: the file is checked here first. A config that validates is handed to every
    /// worker (running ones reload it, ones started later begin with it); a broken one is
    /// refused here, and no worker ever reads it.
    private func reload(_ handover: ConfigHandover) {
        let source = ConfigSource.file(path: options.configPath)
        guard
            let loaded = GatewayProcess.loadConfig(
                source, environment: Environment.process(), logger: logger, transport: options.transport)
        else {
            logger.error("reload rejected, previous configuration still serving", ["config": source.path])
            return
        }
        guard handover.publish(loaded.text) else {
            handover.publish(configText)
            logger.error("reload failed: cannot hand the configuration to the workers, previous one still serving")
            return
        }
        configText = loaded.text
        logger.info(
            "reload: configuration checked, passing it to the workers",
            ["config": source.path, "endpoints": String(loaded.config.endpoints.count)])
        forward(SIGHUP, note: nil)
    }

    // MARK: workers

    /// Waits for workers to exit and starts replacements while serving.
    private func reap(socket: ListenSocket, region: MetricsRegion, handover: ConfigHandover) {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, 0)
            if pid < 0 {
                if errno == EINTR { continue }
                if errno == ECHILD {
                    usleep(50_000)
                    continue
                }
                return
            }
            let exited = lock.withLock { () -> (slot: Int, lived: Duration, stopping: Bool)? in
                guard let entry = workers.first(where: { $0.value.pid == pid }) else { return nil }
                workers[entry.key] = nil
                return (entry.key, .now - entry.value.started, stopping)
            }
            guard let exited else { continue }
            region.workersAlive = lock.withLock { workers.count }

            let code = Self.exitStatus(status)
            let clean = (code == 0)
            // A retired worker announced its replacement's threads, started at once below;
            // a dead one's last count must not look free while it waits to be restarted.
            if !clean || exited.stopping { region.setIdleThreads(0, slot: exited.slot) }
            if exited.stopping {
                logger.info("worker exited", ["slot": String(exited.slot), "pid": String(pid), "status": Self.describe(status)])
                continue
            }
            // A clean exit while serving is a retirement (request budget spent): replace at once.
            // Anything else is a failure: back off so a crash loop does not spin.
            var delay = 0.0
            if clean {
                logger.info("worker retired, starting its replacement", ["slot": String(exited.slot), "pid": String(pid)])
                lock.withLock { failures[exited.slot] = 0 }
            } else {
                let count = lock.withLock { () -> Int in
                    failures[exited.slot] = exited.lived > .seconds(10) ? 1 : (failures[exited.slot] ?? 0) + 1
                    return failures[exited.slot]!
                }
                delay = min(5, 0.1 * pow(2, Double(count - 1)))
                logger.error(
                    "worker died, restarting",
                    ["slot": String(exited.slot), "pid": String(pid), "status": Self.describe(status), "delay_s": String(delay)])
            }
            region.restarts += 1
            let slot = exited.slot
            DispatchQueue.global().asyncAfter(deadline: .now() + delay) { [self] in
                spawn(slot: slot, socket: socket, region: region, handover: handover)
            }
        }
    }

    static func exitStatus(_ status: Int32) -> Int32? {
        (status & 0x7F) == 0 ? (status >> 8) & 0xFF : nil
    }

    static func describe(_ status: Int32) -> String {
        if let code = exitStatus(status) { return "exit \(code)" }
        return "signal \(status & 0x7F)"
    }
}
