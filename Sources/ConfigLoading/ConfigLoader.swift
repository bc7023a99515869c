import Foundation
import GatewayCore

/// Reads `config.yaml`, resolves `os.environ/` references and validates every key (docs/BEHAVIOUR.md §1).
public enum ConfigLoader {
    /// Loads and validates the file at `path` against `environment`.
    /// - Returns: the config and notices (ignored sections, unknown keys) to log as warnings.
    /// - Throws: `ConfigErrors` listing every problem found, each with its location.
    public static func load(path: String, environment: Environment) throws(ConfigErrors) -> (GatewayConfig, [String]) {
        try load(yaml: readText(path: path), file: path, environment: environment)
    }

    /// The file's text, read once.
    /// - Throws: `ConfigErrors` saying why it cannot be read (missing, a directory,
    ///   permissions, not UTF-8).
    public static func readText(path: String) throws(ConfigErrors) -> String {
        switch readFile(path) {
        case .success(let contents):
            return contents
        case .failure(let message):
            throw ConfigErrors(problems: [ConfigProblem(file: path, line: nil, location: "", message: message.text)])
        }
    }

    /// Loads and validates config text; `file` names it in problems and notices.
    /// - Returns: the config and notices (ignored sections, unknown keys) to log as warnings.
    /// - Throws: `ConfigErrors` listing every problem found, in line order.
    public static func load(yaml text: String, file: String, environment: Environment) throws(ConfigErrors) -> (
        GatewayConfig, [String]
    ) {
        var decoder = ConfigDecoder(file: file, environment: environment)
        var config: GatewayConfig?
        do {
            config = decoder.decodeFile(try YAMLReader.read(text))
        } catch {
            decoder.problem(error.message, at: "", line: error.line)
        }
        guard let config, decoder.problems.isEmpty else {
            throw ConfigErrors(problems: inLineOrder(decoder.problems))
        }
        return (config, inLineOrder(decoder.notices).map(\.description))
    }

    /// Stable sort by line, so the report reads top to bottom like the file.
    private static func inLineOrder(_ items: [ConfigProblem]) -> [ConfigProblem] {
        items.enumerated()
            .sorted { ($0.element.line ?? 0, $0.offset) < ($1.element.line ?? 0, $1.offset) }
            .map(\.element)
    }

    private struct ReadFailure: Error {
        var text: String
    }

    private static func readFile(_ path: String) -> Result<String, ReadFailure> {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return .failure(ReadFailure(text: "cannot read the config file: no such file"))
        }
        guard !isDirectory.boolValue else {
            return .failure(ReadFailure(text: "cannot read the config file: it is a directory"))
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(ReadFailure(text: "cannot read the config file: permission denied or I/O error"))
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            return .failure(ReadFailure(text: "the config file is not valid UTF-8"))
        }
        return .success(text)
    }
}
