/// One problem in a config file: `config.yaml:7: pass_through_endpoints[1].headers.Authorization: ...`.
/// Messages name variables and keys, never a secret's value.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var location: String
    public var message: String

    public init(file: String, line: Int?, location: String, message: String) {
        self.file = file
        self.line = line
        self.location = location
        self.message = message
    }

    public var description: String {
        let place = line.map { "\(file):\($0)" } ?? file
        return location.isEmpty ? "\(place): \(message)" : "\(place): \(location): \(message)"
    }
}

/// Every problem found in one load, reported together (exit code 78).
public struct ConfigErrors: Error, Sendable, Equatable {
    public var problems: [ConfigProblem]
    public init(problems: [ConfigProblem]) { self.problems = problems }
}
