import ConfigLoading
import Foundation
import GatewayCore
import Operations

/// Where a process reads its configuration, at start and on each reload.
enum ConfigSource {
    /// The file named by `--config`: the supervisor, an unsupervised process, `-t`.
    case file(path: String)
    /// The text the supervisor validated last (a supervised worker). `path` names it in
    /// messages, as the file it came from.
    case handover(ConfigHandover, path: String)

    init(options: CommandLineOptions) {
        if options.workerSlot != nil, let handover = ConfigHandover(inheritedFD: ConfigHandover.workerFD) {
            self = .handover(handover, path: options.configPath)
        } else {
            self = .file(path: options.configPath)
        }
    }

    var path: String {
        switch self {
        case .file(let path), .handover(_, let path): path
        }
    }

    struct Loaded {
        let config: GatewayConfig
        let notices: [String]
        /// The text the config was built from, exactly: what a supervisor hands on.
        let text: String
    }

    /// Reads and validates the config; `os.environ/` references resolve against `environment`.
    func load(environment: Environment) throws(ConfigErrors) -> Loaded {
        let text: String
        switch self {
        case .file(let path):
            // Read once, here, so that the text validated is the text handed on.
            text = try ConfigLoader.readText(path: path)
        case .handover(let handover, let path):
            guard let contents = handover.read() else {
                throw ConfigErrors(problems: [
                    ConfigProblem(file: path, line: nil, location: "", message: "cannot read the configuration the supervisor handed over")
                ])
            }
            text = contents
        }
        let (config, notices) = try ConfigLoader.load(yaml: text, file: path, environment: environment)
        return Loaded(config: config, notices: notices, text: text)
    }
}
