/// The flags of a subcommand (`keys new`, `usage`): each `--flag value` or
/// `--flag=value`, from a fixed list, at most once.
enum SubcommandFlags {
    /// The value of each flag given, by flag.
    /// - Parameter context: ends the message for an unknown flag (`for keys new (see keys --help)`).
    static func values(
        _ arguments: [String], allowed: Set<String>, context: String
    ) throws(CommandLineOptions.UsageError) -> [String: String] {
        typealias UsageError = CommandLineOptions.UsageError
        var values: [String: String] = [:]
        var index = 0
        while index < arguments.count {
            var flag = arguments[index]
            var value: String?
            if flag.hasPrefix("--"), let eq = flag.firstIndex(of: "=") {
                value = String(flag[flag.index(after: eq)...])
                flag = String(flag[..<eq])
            }
            guard allowed.contains(flag) else { throw UsageError(description: "unknown option \(flag) \(context)") }
            if value == nil {
                index += 1
                guard index < arguments.count else { throw UsageError(description: "\(flag) needs a value") }
                value = arguments[index]
            }
            guard values[flag] == nil else { throw UsageError(description: "\(flag) given twice") }
            values[flag] = value
            index += 1
        }
        return values
    }
}
