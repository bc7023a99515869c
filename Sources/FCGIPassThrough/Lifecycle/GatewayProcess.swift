import Foundation

#if canImport(Glibc)
    import Glibc
#endif
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// One gateway process from start to exit: config → socket → workers → signals → drain.
public enum GatewayProcess {
    public enum ExitCode: Int32 {
        case ok = 0
        case usage = 64
        case config = 78
        case failure = 1
    }

    /// Runs the process and returns its exit code.
    public static func run(arguments: [String]) -> ExitCode {
        let environment = Environment.process()
        let options: CommandLineOptions
        do {
            options = try CommandLineOptions.parse(arguments, environment: environment)
        } catch {
            FileHandle.standardError.write(Data("fcgi-pass-through: \(error)\n".utf8))
            return .usage
        }
        if options.showHelp {
            print(CommandLineOptions.usage)
            return .ok
        }
        if options.showVersion {
            print("fcgi-pass-through \(Gateway.version)")
            return .ok
        }
        let logger = Logger(level: options.logLevel, format: options.logFormat)
        guard let config = loadConfig(options.configPath, environment: environment, logger: logger) else {
            return .config
        }
        if options.testConfigOnly {
            FileHandle.standardError.write(
                Data("fcgi-pass-through: \(options.configPath): configuration ok (\(config.endpoints.count) endpoints)\n".utf8))
            return .ok
        }

        // Before any thread exists and before our own signal handling (DESIGN.md).
        FastCGIServer.initialize()
        signal(SIGPIPE, SIG_IGN)
        signal(SIGUSR1, SIG_IGN)  // libfcgi's handler would stop accepting behind our back
        let gateway = Gateway(
            config: config, client: URLSessionUpstreamClient(maxConnectionsPerHost: options.threads), logger: logger)
        let signals = SignalWatcher {
            guard let next = loadConfig(options.configPath, environment: Environment.process(), logger: logger) else {
                logger.error("reload rejected, previous configuration still serving", ["config": options.configPath])
                return
            }
            gateway.replace(config: next)
            logger.info("configuration reloaded", ["config": options.configPath, "endpoints": String(next.endpoints.count)])
        }
        signals.start()

        let socket: ListenSocket
        do {
            socket = try ListenSocket.open(options.socket, mode: mode_t(options.socketMode))
        } catch {
            logger.error("cannot listen", ["reason": error.description])
            return .failure
        }
        let server = FastCGIServer(socket: socket, threads: options.threads, maxBodyBytes: options.maxBodyBytes, handler: gateway)
        server.start()
        logger.info(
            "ready",
            [
                "socket": describe(socket.address), "threads": String(options.threads),
                "endpoints": String(config.endpoints.count), "version": Gateway.version,
            ])

        signals.waitForStop()
        logger.info("stopping: draining in-flight requests", ["drain_timeout_s": String(options.drainTimeout)])
        gateway.beginDraining()
        server.stopAccepting()
        drain(server, signals: signals, timeout: options.drainTimeout, logger: logger)
        socket.close()
        logger.info("stopped")
        return .ok
    }

    /// Gives in-flight requests (streams included) up to `timeout` to finish; a second
    /// stop signal ends the wait at once.
    static func drain(_ server: FastCGIServer, signals: SignalWatcher, timeout: Double, logger: Logger) {
        let deadline = DispatchTime.now() + timeout
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

    /// Loads the config, logging notices, or every problem (one line each) and `nil`.
    static func loadConfig(_ path: String, environment: Environment, logger: Logger) -> GatewayConfig? {
        do {
            let (config, notices) = try ConfigLoader.load(path: path, environment: environment)
            for notice in notices { logger.warning(notice) }
            return config
        } catch {
            for problem in error.problems {
                FileHandle.standardError.write(Data("fcgi-pass-through: \(problem)\n".utf8))
            }
            FileHandle.standardError.write(Data("fcgi-pass-through: \(path): \(error.problems.count) problem(s), refusing to start\n".utf8))
            return nil
        }
    }

    static func describe(_ address: ListenSocket.Address) -> String {
        switch address {
        case .inherited: "fd:0"
        case .unix(let path): "unix:\(path)"
        case .tcp(let host, let port): "tcp:\(host):\(port)"
        }
    }
}
