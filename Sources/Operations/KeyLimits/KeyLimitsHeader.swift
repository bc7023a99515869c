import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The header page of a key limits table: which table it is, and the counters of times
/// the table could not count (kept in the table, so they describe the host's table
/// whichever process reads them).
struct KeyLimitsHeader {
    typealias Field = KeyLimitsLayout.Header
    let base: UnsafeMutableRawPointer

    /// Whether the memory holds a table this binary can use, set up in this boot. A
    /// table from an earlier boot may hold a mutex owned by a process of that boot and
    /// leases of pids that now name other processes.
    func isValid(bootID: [UInt8]) -> Bool {
        base.load(fromByteOffset: Field.magic, as: UInt64.self) == KeyLimitsLayout.magic
            && base.load(fromByteOffset: Field.version, as: UInt32.self) == KeyLimitsLayout.version
            && base.load(fromByteOffset: Field.fileSize, as: UInt64.self) == UInt64(KeyLimitsLayout.size)
            && storedBootID == Self.padded(bootID)
    }

    /// Writes a new header over zeroed memory nobody else is using; the magic goes last,
    /// so a header is never seen valid half written. Returns 0 or an error number.
    func initialise(bootID: [UInt8]) -> Int32 {
        base.storeBytes(of: KeyLimitsLayout.version, toByteOffset: Field.version, as: UInt32.self)
        base.storeBytes(of: UInt64(KeyLimitsLayout.size), toByteOffset: Field.fileSize, as: UInt64.self)
        for (offset, byte) in Self.padded(bootID).enumerated() {
            base.storeBytes(of: byte, toByteOffset: Field.bootID + offset, as: UInt8.self)
        }
        base.storeBytes(of: Int32(-1), toByteOffset: Field.leaseFreeHead, as: Int32.self)
        let result = RobustMutex.initialise(at: base + Field.mutex)
        guard result == 0 else { return result }
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        base.storeBytes(of: KeyLimitsLayout.magic, toByteOffset: Field.magic, as: UInt64.self)
        return 0
    }

    var mutex: RobustMutex { RobustMutex(at: base + Field.mutex) }

    func counter(_ offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (base + offset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    private var storedBootID: [UInt8] {
        (0..<Field.bootIDLength).map { base.load(fromByteOffset: Field.bootID + $0, as: UInt8.self) }
    }

    private static func padded(_ bootID: [UInt8]) -> [UInt8] {
        Array((bootID + [UInt8](repeating: 0, count: Field.bootIDLength)).prefix(Field.bootIDLength))
    }

    /// This boot's id from /proc/sys/kernel/random/boot_id, without its newline; empty
    /// when it cannot be read.
    static func currentBootID() -> [UInt8] {
        let fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 64)
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return [] }
        return Array(bytes[..<count].prefix { $0 != UInt8(ascii: "\n") })
    }
}
