import Foundation

/// A snapshot of environment variables, injected wherever `os.environ/` is resolved
/// so tests never depend on the real process environment.
public struct Environment: Sendable, Equatable {
    public var values: [String: String]

    public init(_ values: [String: String] = [:]) { self.values = values }

    /// The process environment at the time of the call.
    public static func process() -> Environment {
        Environment(ProcessInfo.processInfo.environment)
    }

    public subscript(_ name: String) -> String? { values[name] }
}
