import FastCGIEdge
import Foundation
import GatewayCore
import GatewayCrypto
import Operations
import UpstreamTransports
import UsageLedger

#if canImport(Glibc)
    import Glibc
#endif
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A process that serves requests: the whole instance when unsupervised, or one of
/// a supervisor's workers (socket on fd 0, metrics region on fd 3, config on fd 4).
struct WorkerProcess {
    let options: CommandLineOptions
    let config: GatewayConfig
    /// Where reloads read the config: the file, or a supervised worker's handover.
    let source: ConfigSource
    let logger: Logger

    /// The fd a supervisor passes the shared metrics region on.
    static let metricsFD: Int32 = 3

    func run() -> GatewayProcess.ExitCode {
        // Before any thread exists and before our own signal handling (docs/ARCHITECTURE.md, "libfcgi: initialise before signal handling").
        FastCGIServer.initialize()
        signal(SIGPIPE, SIG_IGN)
        signal(SIGUSR1, SIG_IGN)  // libfcgi's handler would stop accepting behind our back

        let supervised = options.workerSlot != nil
        let region = options.workerSlot.flatMap { slot in MetricsRegion(fd: Self.metricsFD).map { ($0, slot) } }
        let metrics = Metrics(shared: region, threads: options.threads)
        let keyLimits = KeyLimitsHolder(configPath: options.configPath, logger: logger, metrics: metrics)
        let limiter: (any KeyLimiter)?
        do {
            limiter = try keyLimits.limiter(for: config)
        } catch {
            logger.error("cannot start", ["reason": error.description])
            return .config
        }
        let ledger: SpendLedger
        do {
            ledger = try LedgerLocation.open(for: config, environment: Environment.process(), logger: logger)
        } catch {
            logger.error("cannot start", ["reason": error.description])
            return .config
        }
        let gateway = Gateway(
            config: config, client: UpstreamClients.make(config.transport, threads: options.threads, caFile: config.caFile),
            logger: logger, metrics: metrics, limiter: limiter, ledger: ledger)
        // Supervised, the supervisor has validated the new config before passing SIGHUP on.
        let signals = SignalWatcher { [source, logger, options, config, keyLimits, ledger] in
            guard
                let next = GatewayProcess.loadConfig(
                    source, environment: Environment.process(), logger: logger, transport: options.transport)
            else {
                logger.error("reload rejected, previous configuration still serving", ["config": source.path])
                return
            }
            if next.config.transport != config.transport || next.config.caFile != config.caFile {
                logger.warning("transport and ssl_ca_file changes take effect when the gateway restarts")
            }
            let limiter: (any KeyLimiter)?
            do {
                limiter = try keyLimits.limiter(for: next.config)
            } catch {
                logger.error("reload rejected, previous configuration still serving", ["reason": "\(error)"])
                return
            }
            if next.config.usageDB != config.usageDB || next.config.sharedState.databaseURL != config.sharedState.databaseURL
                || next.config.hostID != config.hostID
            {
                logger.warning("usage_db, database_url and host_id changes take effect when the gateway restarts")
            }
            // Rows of requests served on the old configuration are written before the new one serves.
            _ = ledger.flush()
            gateway.replace(config: next.config, limiter: limiter)
            logger.info("configuration reloaded", ["config": source.path, "endpoints": String(next.config.endpoints.count)])
        }
        // Before the socket exists: a signal sent as soon as it accepts must be seen.
        signals.start()

        let socket: ListenSocket
        do {
            socket = try ListenSocket.open(supervised ? .inherited : options.socket, mode: mode_t(options.socketMode))
        } catch {
            logger.error("cannot listen", ["reason": error.description])
            return .failure
        }
        let maxRequests = options.workerMaxRequests
        let refusals = RefusalReporter(metrics: metrics, logger: logger, threads: options.threads)
        let acceptFailures = ThrottledWarning("cannot accept a connection: it waits in the socket's queue", logger: logger)
        let server = FastCGIServer(
            listenFD: socket.fd, threads: options.threads, maxBodyBytes: options.maxBodyBytes, handler: gateway,
            maxRequests: maxRequests, siblings: region.map { WorkerSiblings(region: $0.0, slot: $0.1) },
            onRetire: { signals.requestRetirement() }, onRefused: { refusals.refused($0) },
            onAcceptFailure: { acceptFailures.note([("reason", String(cString: strerror($0)))]) },
            // A TLS failure leaves OpenSSL's error state on the serving thread; freed from
            // OpenSSL's own thread-exit handler, it would still be held by a process
            // exiting at that moment (OpenSSLThread).
            onThreadExit: { OpenSSLThread.releaseState() })
        server.start()
        metrics.startPublishing()
        keyLimits.startSweeping()
        Self.reportLedger(ledger, to: metrics)
        let refresher =
            ledger.isShared
            ? SharedSpendRefresher(
                table: { keyLimits.table },
                read: { since in try ledger.spendByKeyAlias(since: since, hosts: .except(ledger.hostID)) },
                keys: { gateway.budgetedKeys }) : nil
        refresher?.start()
        logger.info(
            "ready",
            [
                "socket": GatewayProcess.describe(supervised ? .inherited : socket.address), "threads": String(options.threads),
                "endpoints": String(config.endpoints.count), "version": Gateway.version,
            ])

        switch signals.waitForStopOrRetirement() {
        case .stop:
            logger.info("stopping: draining in-flight requests", ["drain_timeout_s": String(options.drainTimeout)])
            gateway.beginDraining()
            // Unsupervised, this process owns the socket: refuse new connections now so
            // nginx moves to another instance. A supervisor does this for its workers.
            if !supervised { socket.refuseNewConnections() }
            // What nginx already queued on a socket that closes with us is ours to answer:
            // closing it unaccepted would reset those connections (LIFE-02). Then the socket
            // goes at once rather than after the drain: a TCP socket we created refuses
            // connections only once closed, and a shared one needs no copy of ours.
            server.stopAccepting(
                takingQueued: supervised ? options.workerTakesQueue : socket.address != .inherited, release: { socket.close() })
        case .retire:
            logger.info("retiring after its request budget; a fresh worker takes over", ["max_requests": String(maxRequests ?? 0)])
            server.stopAccepting(forReplacement: true, release: { socket.close() })
        }
        drain(server, signals: signals)
        refresher?.stop()
        if !ledger.close() {
            logger.error("the usage ledger could not write every row before exit", ["rows": String(ledger.stats.pending)])
        }
        metrics.publish()
        logger.info("stopped")
        return .ok
    }

    /// Copies the ledger writer's counters into the metrics once a second, so a scrape
    /// shows rows waiting, failed writes and dropped rows (docs/OPERATIONS.md).
    private static func reportLedger(_ ledger: SpendLedger, to metrics: Metrics) {
        let thread = Thread {
            while true {
                let stats = ledger.stats
                metrics.ledgerStats(
                    pending: stats.pending, writeFailures: stats.writeFailures, dropped: stats.droppedRows,
                    spooled: stats.spooledRows, replayed: stats.replayedRows)
                if let up = stats.sharedStoreUp { metrics.sharedStore("postgresql", up: up) }
                Thread.sleep(forTimeInterval: 1)
            }
        }
        thread.name = "ledger-stats"
        thread.start()
    }

    /// Gives in-flight requests (streams included) up to the drain timeout; a second
    /// stop signal ends the wait at once.
    private func drain(_ server: FastCGIServer, signals: SignalWatcher) {
        let deadline = DispatchTime.now() + options.drainTimeout
        while !server.wait(until: min(deadline, .now() + 0.1)) {
            if signals.stops > 1 {
                logger.warning("second stop signal: exiting without waiting for in-flight requests")
                return
            }
            if DispatchTime.now() >= deadline {
                logger.warning("drain timeout reached, ending remaining requests")
                return
            }
        }
    }
}
