import Foundation
import GatewayCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Shared memory through which the worker processes of one instance publish their
/// counters, so `/metrics` describes the whole instance whichever worker answers
/// the scrape (as php-fpm's status page reads its scoreboard).
///
/// Layout: a header page (supervisor gauges, and each worker's free threads for
/// admission control) then one slot per worker. A slot holds
/// the worker's latest counter snapshot behind a sequence lock: the writer makes the
/// sequence odd, copies, makes it even; readers retry until they read one even value
/// on both sides of their copy. A replacement worker starts from its slot's last
/// snapshot, so counters never go back when a worker is recycled.
public final class MetricsRegion: @unchecked Sendable {
    static let headerSize = 4096
    static let slotSize = 2 << 20
    static let magic: UInt64 = 0x4643_4749_4D45_5452  // "FCGIMETR"

    private let base: UnsafeMutableRawPointer
    private let length: Int
    public let slotCount: Int
    public let fd: Int32

    private enum HeaderField: Int {
        case magic = 0, slots = 8, workersAlive = 16, restarts = 24
    }

    /// Creates a region for `slots` workers in an unlinked file under /dev/shm.
    public static func create(slots: Int) -> MetricsRegion? {
        guard let fd = AnonymousFile.create(purpose: "metrics") else { return nil }
        let length = headerSize + slots * slotSize
        guard ftruncate(fd, off_t(length)) == 0, let region = MetricsRegion(fd: fd) else {
            close(fd)
            return nil
        }
        region.store(.magic, magic)
        region.store(.slots, UInt64(slots))
        return region
    }

    /// Maps a region created by `create` (a worker's fd 3).
    public init?(fd: Int32) {
        var st = stat()
        guard fstat(fd, &st) == 0, Int(st.st_size) >= Self.headerSize else { return nil }
        let length = Int(st.st_size)
        guard let mapped = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), mapped != MAP_FAILED else {
            return nil
        }
        self.base = mapped
        self.length = length
        self.fd = fd
        self.slotCount = (length - Self.headerSize) / Self.slotSize
    }

    deinit { munmap(base, length) }

    private func atomic(at offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (base + offset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    private func store(_ field: HeaderField, _ value: UInt64) {
        atomic(at: field.rawValue).pointee.store(value, ordering: .releasing)
    }

    private func load(_ field: HeaderField) -> UInt64 {
        atomic(at: field.rawValue).pointee.load(ordering: .acquiring)
    }

    // MARK: supervisor gauges

    public var workersAlive: Int {
        get { Int(load(.workersAlive)) }
        set { store(.workersAlive, UInt64(max(0, newValue))) }
    }

    public var restarts: Int {
        get { Int(load(.restarts)) }
        set { store(.restarts, UInt64(max(0, newValue))) }
    }

    // MARK: free threads (admission, LIFE-01)

    /// Where worker `slot` publishes its free threads: in the header page, after the gauges.
    private static func idleOffset(_ slot: Int) -> Int { 256 + slot * 8 }

    /// Worker `slot`'s threads that could take a connection now; 0 when it is not accepting.
    public func setIdleThreads(_ count: Int, slot: Int) {
        guard slot < slotCount, Self.idleOffset(slot) + 8 <= Self.headerSize else { return }
        atomic(at: Self.idleOffset(slot)).pointee.store(UInt64(max(0, count)), ordering: .releasing)
    }

    /// Whether any worker other than `slot` has a thread free.
    public func othersHaveIdleThreads(than slot: Int) -> Bool {
        (0..<slotCount).contains { other in
            other != slot && Self.idleOffset(other) + 8 <= Self.headerSize
                && atomic(at: Self.idleOffset(other)).pointee.load(ordering: .acquiring) > 0
        }
    }

    // MARK: worker slots

    private func slotBase(_ slot: Int) -> Int { Self.headerSize + slot * Self.slotSize }
    private static let slotHeader = 16  // sequence, length
    static var slotCapacity: Int { slotSize - slotHeader }

    /// Publishes `data` as the slot's snapshot; `false` if it does not fit.
    @discardableResult
    public func publish(_ data: Data, slot: Int) -> Bool {
        guard slot < slotCount, data.count <= Self.slotCapacity else { return false }
        let start = slotBase(slot)
        let sequence = atomic(at: start)
        let current = sequence.pointee.load(ordering: .relaxed)
        sequence.pointee.store(current | 1, ordering: .relaxed)
        atomicMemoryFence(ordering: .releasing)
        (base + start + 8).storeBytes(of: UInt64(data.count), as: UInt64.self)
        data.withUnsafeBytes { (base + start + Self.slotHeader).copyMemory(from: $0.baseAddress!, byteCount: data.count) }
        sequence.pointee.store((current | 1) &+ 1, ordering: .releasing)
        return true
    }

    /// The slot's latest snapshot (empty if none was published).
    public func read(slot: Int) -> Data {
        guard slot < slotCount else { return Data() }
        let start = slotBase(slot)
        let sequence = atomic(at: start)
        for _ in 0..<1000 {
            let before = sequence.pointee.load(ordering: .acquiring)
            if before & 1 == 1 {
                sched_yield()
                continue
            }
            let count = min(Int((base + start + 8).load(as: UInt64.self)), Self.slotCapacity)
            let data = Data(bytes: base + start + Self.slotHeader, count: count)
            atomicMemoryFence(ordering: .acquiring)
            if sequence.pointee.load(ordering: .relaxed) == before { return data }
        }
        return Data()
    }
}
