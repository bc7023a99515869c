import ConfigLoading
import FastCGIEdge
import Foundation
import GatewayCore
import Operations

#if canImport(Glibc)
    import Glibc
#endif

/// One gateway process from start to exit: command line → config → (supervisor, or
/// socket → workers → signals → drain); or the `keys` and `usage` tools, which need no config.
public enum GatewayProcess {
    public enum ExitCode: Int32 {
        case ok = 0
        case usage = 64
        case config = 78
        case failure = 1
    }

    /// Runs the process and returns its exit code.
    public static func run(arguments: [String]) -> ExitCode {
        forbidCoreDumps()
        raiseDescriptorLimit()
        if arguments.first == "keys" {
            return KeysCommand.run(
                Array(arguments.dropFirst()), input: { FileHandle.standardInput.readDataToEndOfFile() },
                output: { FileHandle.standardOutput.write(Data($0.utf8)) },
                errorOutput: { FileHandle.standardError.write(Data($0.utf8)) })
        }
        if arguments.first == "usage" {
            return UsageCommand.run(
                Array(arguments.dropFirst()), environment: Environment.process(), now: Date().timeIntervalSince1970,
                output: { FileHandle.standardOutput.write(Data($0.utf8)) },
                errorOutput: { FileHandle.standardError.write(Data($0.utf8)) })
        }
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
        let logger = Logger(level: options.logLevel, format: options.logFormat, process: options.workerSlot.map { "worker-\($0)" })
        // At start-up (and for -t) problems are plain lines, like `nginx -t`; a running
        // process reports a rejected reload through its log instead.
        let source = ConfigSource(options: options)
        guard
            let loaded = loadConfig(
                source, environment: environment, logger: logger, transport: options.transport,
                report: { FileHandle.standardError.write(Data("fcgi-pass-through: \($0)\n".utf8)) })
        else {
            return .config
        }
        let config = loaded.config
        if options.testConfigOnly {
            FileHandle.standardError.write(
                Data("fcgi-pass-through: \(options.configPath): configuration ok (\(config.endpoints.count) endpoints)\n".utf8))
            return .ok
        }
        if options.supervises {
            // Workers open the key limits table and the usage ledger; one that cannot be opened stops the
            // start here, once, rather than in every worker the supervisor keeps restarting.
            do {
                _ = try KeyLimitsLocation.open(for: config, configPath: options.configPath)
                _ = try LedgerLocation.open(for: config, environment: environment, logger: nil).close()
            } catch {
                FileHandle.standardError.write(Data("fcgi-pass-through: \(error)\n".utf8))
                return .config
            }
            return Supervisor(options: options, configText: loaded.text, logger: logger).run()
        }
        return WorkerProcess(options: options, config: config, source: source, logger: logger).run()
    }

    /// Loads the config, logging notices, or every problem (one line each) and `nil`.
    /// - Parameter transport: `--transport`, which wins over the file's choice.
    static func loadConfig(
        _ source: ConfigSource, environment: Environment, logger: Logger, transport: UpstreamTransport? = nil,
        report: ((String) -> Void)? = nil
    ) -> ConfigSource.Loaded? {
        let report = report ?? { logger.error($0) }
        do {
            let loaded = try source.load(environment: environment)
            for notice in loaded.notices { logger.warning(notice) }
            var config = loaded.config
            if let transport { config.transport = transport }
            if let problem = config.transportProblem {
                report("\(source.path): \(problem)")
                report("\(source.path): 1 problem(s), configuration refused")
                return nil
            }
            return ConfigSource.Loaded(config: config, notices: loaded.notices, text: loaded.text)
        } catch {
            for problem in error.problems { report(problem.description) }
            report("\(source.path): \(error.problems.count) problem(s), configuration refused")
            return nil
        }
    }

    /// The process holds provider keys in memory: a core dump would write them to disk
    /// (SEC-08). Workers inherit the limit.
    static func forbidCoreDumps() {
        var none = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &none)
    }

    /// Every request holds two descriptors (the FastCGI connection and the upstream's) and
    /// a stream may hold them for minutes: the soft limit many shells and units start
    /// with (1024) can run out under load, and then accept() fails while the socket keeps
    /// queueing. The hard limit is what the operator allows; take all of it.
    static func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    }

    static func describe(_ address: ListenSocket.Address) -> String {
        switch address {
        case .inherited: "fd:0"
        case .unix(let path): "unix:\(path)"
        case .tcp(let host, let port): "tcp:\(host):\(port)"
        }
    }
}
