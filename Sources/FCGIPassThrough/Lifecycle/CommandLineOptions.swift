import FastCGIEdge
import Foundation
import GatewayCore
import Operations
import UpstreamTransports

/// The command line (docs/BEHAVIOUR.md §7). Errors name the flag and what was expected; exit code 64.
public struct CommandLineOptions: Sendable, Equatable {
    public var configPath = "config.yaml"
    public var socket: ListenSocket.Address = .inherited
    public var socketMode: UInt32 = 0o666
    public var threads = 64
    public var maxBodyBytes = 64 << 20
    public var drainTimeout: Double = 30
    /// Worker processes under a supervisor; 1 = a single process, no supervisor.
    public var workers = 1
    /// Requests a supervised worker serves before it is replaced (php-fpm's pm.max_requests).
    /// `nil`: the default below when supervised; an explicit value with one worker
    /// still starts a supervisor, since only a supervisor can replace a worker.
    public var maxRequests: Int?
    /// Internal: set by the supervisor on the workers it spawns (socket on fd 0, metrics on
    /// fd 3, config on fd 4).
    public var workerSlot: Int?
    /// Overrides `general_settings.transport`.
    public var transport: UpstreamTransport?
    /// Internal: the supervisor created the socket, so a stopping worker takes what is
    /// queued on it before letting go (an inherited socket's queue is the next process's).
    public var workerTakesQueue = false
    public var logLevel: Logger.Level = .info
    public var logFormat: Logger.Format = .text
    public var testConfigOnly = false
    public var showHelp = false
    public var showVersion = false

    public struct UsageError: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    public static let usage = """
        Usage: fcgi-pass-through [options]
               fcgi-pass-through keys new --alias NAME [--rpm N] [--parallel N] [--routes a,b] [--models a,b]
               fcgi-pass-through keys hash < FILE
               fcgi-pass-through usage [--db PATH|URL] [--since DATE|Nd|Nh] [--by key|route|model|day]

        A LiteLLM-compatible pass-through gateway served over FastCGI behind nginx.

          -c, --config PATH        config file (default: $CONFIG_FILE_PATH or ./config.yaml)
          -t, --test-config        check the config and exit (0 ok, 78 problems found)
              --socket ADDRESS     unix:/path or tcp:HOST:PORT (default: the socket on fd 0)
              --socket-mode MODE   octal mode of a created Unix socket (default 0666)
              --threads N          concurrent requests per process; one more is answered
                                   503 with Retry-After (default 64)
              --max-body-size N    largest request body in bytes, k/m suffix allowed (default 64m)
              --drain-timeout S    seconds in-flight requests get after SIGTERM (default 30)
              --workers N          worker processes sharing the socket under a supervisor
                                   that restarts them (default 1: a single process)
              --max-requests N     replace a worker after N requests (default 100000 with
                                   --workers > 1; bounds memory growth in Foundation)
              --transport NAME     urlsession or curl: overrides general_settings.transport
              --log-level LEVEL    debug, info, warning or error (default info)
              --log-format FORMAT  text or json (default text)
          -h, --help               show this help
              --version            show the version

        Client keys (docs/KEYS.md; `keys --help` for the flags):
          keys new                 print a new key, then its entry for general_settings.keys
          keys hash                print the SHA-256 (key_hash) of the key on standard input

        Spend (docs/USAGE.md; `usage --help` for the flags):
          usage                    print requests, tokens and cost from the spend ledger

        Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the config.
        Exit codes: 0 ok, 64 bad usage, 78 bad configuration.
        """

    public init() {}

    public static let defaultMaxRequests = 100_000

    /// True when this process should be a supervisor of worker processes.
    public var supervises: Bool { workerSlot == nil && (workers > 1 || maxRequests != nil) }

    /// The request budget of a supervised worker.
    public var workerMaxRequests: Int? { workerSlot == nil ? nil : (maxRequests ?? Self.defaultMaxRequests) }

    public static func parse(_ arguments: [String], environment: Environment) throws(UsageError) -> CommandLineOptions {
        var options = CommandLineOptions()
        if let path = environment["CONFIG_FILE_PATH"], !path.isEmpty { options.configPath = path }
        var index = 0
        func value(for flag: String) throws(UsageError) -> String {
            index += 1
            guard index < arguments.count else { throw UsageError(description: "\(flag) needs a value") }
            return arguments[index]
        }
        while index < arguments.count {
            var argument = arguments[index]
            var inlineValue: String?
            if argument.hasPrefix("--"), let eq = argument.firstIndex(of: "=") {
                inlineValue = String(argument[argument.index(after: eq)...])
                argument = String(argument[..<eq])
            }
            func next() throws(UsageError) -> String {
                if let inlineValue { return inlineValue }
                return try value(for: argument)
            }
            switch argument {
            case "-c", "--config": options.configPath = try next()
            case "-t", "--test-config": options.testConfigOnly = true
            case "-h", "--help": options.showHelp = true
            case "--version": options.showVersion = true
            case "--socket":
                let text = try next()
                guard let address = ListenSocket.Address(parsing: text) else {
                    throw UsageError(description: "--socket expects unix:/path or tcp:HOST:PORT")
                }
                options.socket = address
            case "--socket-mode":
                guard let mode = UInt32(try next(), radix: 8), mode <= 0o777 else {
                    throw UsageError(description: "--socket-mode expects an octal mode such as 0660")
                }
                options.socketMode = mode
            case "--threads":
                guard let n = Int(try next()), (1...4096).contains(n) else {
                    throw UsageError(description: "--threads expects a number from 1 to 4096")
                }
                options.threads = n
            case "--max-body-size":
                guard let n = ByteCount.parse(try next()), n > 0 else {
                    throw UsageError(description: "--max-body-size expects a byte count such as 65536, 512k or 64m")
                }
                options.maxBodyBytes = n
            case "--drain-timeout":
                guard let s = Double(try next()), s >= 0, s.isFinite else {
                    throw UsageError(description: "--drain-timeout expects seconds (a number ≥ 0)")
                }
                options.drainTimeout = s
            case "--workers":
                guard let n = Int(try next()), (1...256).contains(n) else {
                    throw UsageError(description: "--workers expects a number from 1 to 256")
                }
                options.workers = n
            case "--max-requests":
                guard let n = Int(try next()), n >= 1 else {
                    throw UsageError(description: "--max-requests expects a number ≥ 1")
                }
                options.maxRequests = n
            case "--worker-slot":
                guard let n = Int(try next()), (0..<256).contains(n) else {
                    throw UsageError(description: "--worker-slot is internal to the supervisor")
                }
                options.workerSlot = n
            case "--transport":
                guard let transport = UpstreamTransport(rawValue: try next()) else {
                    throw UsageError(description: "--transport expects urlsession or curl")
                }
                options.transport = transport
            case "--worker-takes-queue": options.workerTakesQueue = true
            case "--log-level":
                guard let level = Logger.Level(name: try next()) else {
                    throw UsageError(description: "--log-level expects debug, info, warning or error")
                }
                options.logLevel = level
            case "--log-format":
                guard let format = Logger.Format(rawValue: try next()) else {
                    throw UsageError(description: "--log-format expects text or json")
                }
                options.logFormat = format
            default:
                throw UsageError(description: "unknown option \(argument) (see --help)")
            }
            index += 1
        }
        return options
    }

    /// The command line of the worker in `slot`, derived from these options so that no
    /// flag is listed twice: the supervisor's own (`--socket`, `--socket-mode`,
    /// `--workers`) are left out, since a worker serves the socket on its fd 0, and what
    /// only a worker is told is added.
    func workerArguments(slot: Int) -> [String] {
        var worker = self
        worker.socket = .inherited
        worker.socketMode = Self().socketMode
        worker.workers = Self().workers
        worker.workerSlot = slot
        // A socket the supervisor created closes when the instance stops: what is queued
        // on it then is the workers' to take. An inherited one's queue is the next process's.
        worker.workerTakesQueue = socket != .inherited
        return worker.arguments
    }

    /// These options as a command line that `parse` reads back into them; options at
    /// their default are left out, except the config path.
    var arguments: [String] {
        let defaults = Self()
        var flags = ["--config", configPath]
        if testConfigOnly { flags.append("--test-config") }
        if socket != defaults.socket { flags += ["--socket", socket.description] }
        if socketMode != defaults.socketMode { flags += ["--socket-mode", String(socketMode, radix: 8)] }
        if threads != defaults.threads { flags += ["--threads", String(threads)] }
        if maxBodyBytes != defaults.maxBodyBytes { flags += ["--max-body-size", String(maxBodyBytes)] }
        if drainTimeout != defaults.drainTimeout { flags += ["--drain-timeout", String(drainTimeout)] }
        if workers != defaults.workers { flags += ["--workers", String(workers)] }
        if let maxRequests { flags += ["--max-requests", String(maxRequests)] }
        if let workerSlot { flags += ["--worker-slot", String(workerSlot)] }
        if let transport { flags += ["--transport", transport.rawValue] }
        if workerTakesQueue { flags.append("--worker-takes-queue") }
        if logLevel != defaults.logLevel { flags += ["--log-level", logLevel.name] }
        if logFormat != defaults.logFormat { flags += ["--log-format", logFormat.rawValue] }
        if showHelp { flags.append("--help") }
        if showVersion { flags.append("--version") }
        return flags
    }
}
