import Foundation

/// A child process for tests, started with posix_spawn: Foundation's `Process` keeps a
/// weak reference it never frees, which LeakSanitizer reports (`make test-sanitize`).
struct TestProcess {
    let pid: pid_t

    /// A child started elsewhere, to wait for.
    init(pid: pid_t) { self.pid = pid }

    /// Starts `arguments[0]` (a path) with `arguments`; `quiet` sends its output to /dev/null.
    init(_ arguments: [String], quiet: Bool = false) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if quiet {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        var pid: pid_t = 0
        let cArguments = arguments.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        let status = posix_spawn(&pid, arguments[0], &actions, nil, cArguments, environ)
        guard status == 0 else { throw POSIXError(POSIXErrorCode(rawValue: status) ?? .EIO) }
        self.pid = pid
    }

    /// Waits for the child and collects it; its exit status (128 + signal when killed).
    @discardableResult
    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }

    /// Runs `arguments` to the end: its exit status.
    static func run(_ arguments: [String], quiet: Bool = true) throws -> Int32 {
        try TestProcess(arguments, quiet: quiet).wait()
    }
}
