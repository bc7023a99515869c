#if canImport(Glibc)
    import Glibc
#endif

/// The process holding a lease: its pid and when it started.
///
/// A pid alone does not name a process for long: once a worker dies its pid can be given
/// to a new process, which would then seem to hold the dead worker's slots forever. The
/// start time (field 22 of /proc/<pid>/stat, in clock ticks since boot) tells the two
/// apart; pid and start time together do not repeat within one boot.
struct LeaseHolder: Hashable {
    var pid: Int32
    /// 0 when /proc could not be read: then only `kill(pid, 0)` decides.
    var startTime: UInt64

    /// This process.
    static func current() -> LeaseHolder {
        let pid = getpid()
        guard case .found(let stat) = ProcessStat.lookup(pid: pid) else { return LeaseHolder(pid: pid, startTime: 0) }
        return LeaseHolder(pid: pid, startTime: stat.startTime)
    }

    /// Whether the holder process no longer exists: no such pid, the pid now belongs to
    /// a process started at another time, or the process is a zombie (it has exited; its
    /// parent has not collected it yet). Anything uncertain counts as alive, since
    /// reclaiming a live request's slot would let a key exceed its limit.
    var isGone: Bool {
        if kill(pid, 0) != 0 && errno == ESRCH { return true }
        guard startTime != 0 else { return false }
        switch ProcessStat.lookup(pid: pid) {
        case .found(let stat): return stat.state == UInt8(ascii: "Z") || stat.startTime != startTime
        case .gone: return true
        case .unknown: return false
        }
    }
}

/// The two fields of /proc/<pid>/stat the lease table needs.
struct ProcessStat {
    /// Field 3: `R`, `S`, `Z`…
    var state: UInt8
    /// Field 22: clock ticks after boot at which the process started.
    var startTime: UInt64

    enum Lookup {
        case found(ProcessStat)
        /// No such process.
        case gone
        /// /proc could not be read or parsed.
        case unknown
    }

    static func lookup(pid: Int32) -> Lookup {
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return errno == ENOENT || errno == ESRCH ? .gone : .unknown }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 1024)
        let count = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        // A process that exits between open and read leaves a file that reads ESRCH.
        guard count > 0 else { return count < 0 && errno == ESRCH ? .gone : .unknown }
        return parse(bytes[..<count]).map { .found($0) } ?? .unknown
    }

    /// Field 2 is the command name in parentheses, which may itself hold spaces and
    /// parentheses: the fields after it are counted from its last `)`.
    static func parse(_ line: ArraySlice<UInt8>) -> ProcessStat? {
        guard let close = line.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = line[(close + 1)...].split(separator: UInt8(ascii: " "))
        // fields[0] is field 3, so field 22 is fields[19].
        guard fields.count > 19, let state = fields[0].first,
            let startTime = UInt64(String(decoding: fields[19], as: UTF8.self))
        else { return nil }
        return ProcessStat(state: state, startTime: startTime)
    }
}
