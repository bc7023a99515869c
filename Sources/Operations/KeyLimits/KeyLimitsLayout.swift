/// Where everything lives in the key limits table, byte by byte.
///
/// The table is a file format shared by every gateway process on the host, whichever
/// binary it runs, so it is spelled out as offsets rather than Swift structs (whose
/// layout the compiler chooses), and any change to it bumps `version`: a process that
/// finds another version re-initialises the file instead of misreading it.
///
/// A header page, then `slotCount` key slots, then `leaseCount` lease entries. The file
/// is sparse: pages of slots and leases nobody used are never written.
enum KeyLimitsLayout {
    static let magic: UInt64 = 0x4643_4749_4B4C_494D  // "FCGIKLIM"
    static let version: UInt32 = 3
    static let slotCount = 32_768
    static let leaseCount = 65_536
    /// The rpm and tpm window, in one-second buckets.
    static let windowSeconds = 60

    static let headerSize = 4096
    static let slotsOffset = headerSize
    static let leasesOffset = slotsOffset + slotCount * Slot.size
    static let size = leasesOffset + leaseCount * Lease.size

    /// The header page. Fields up to `bootID` say which table this is; the counters are
    /// atomics any process may bump without the mutex; the rest is read and written
    /// only with the mutex held.
    enum Header {
        static let magic = 0  // UInt64, written last when initialising
        static let version = 8  // UInt32
        static let fileSize = 16  // UInt64
        static let bootID = 24  // NUL-padded text of /proc/sys/kernel/random/boot_id
        static let bootIDLength = 48
        static let tableFullCount = 128  // Atomic<UInt64>
        static let lockFailureCount = 136  // Atomic<UInt64>
        static let longestProbe = 192  // UInt32
        static let leaseHighWater = 196  // UInt32: entries at and above it were never used
        static let leaseFreeHead = 200  // Int32: first released entry, -1 for none
        static let budgetRefreshSecond = 204  // UInt32: the second a process last took the shared-spend refresh
        static let mutex = 256  // pthread_mutex_t
        static let mutexSpace = 256
    }

    /// One key: its digest, requests in flight, the window as 60 buckets of (second,
    /// requests, tokens), and its budget window. A bucket holds the second it counts, so a
    /// bucket left from an earlier minute is recognised as stale and never needs clearing.
    enum Slot {
        static let size = 800
        static let digest = 0  // 4 × UInt64
        static let used = 32  // UInt32: 0 never used
        static let inFlight = 36  // UInt32
        static let lastReclaim = 40  // UInt32: the second its dead holders were last looked for
        static let seconds = 48  // 60 × UInt32
        static let counts = 288  // 60 × UInt32
        static let tokens = 528  // 60 × UInt32: input + output tokens of requests finished that second
        static let budgetWindowStart = 768  // UInt32: Unix seconds; 0 for an all-time budget
        static let budgetSeeded = 772  // UInt32: 1 once the window's spend is known (from the ledger or at its start)
        static let spend = 776  // Float64: USD spent in the window, host-wide
        static let otherHostsSpend = 784  // Float64: USD other hosts spent in the window, as the shared ledger last said
        static let otherHostsWindow = 792  // UInt32: the window start that spend is for
    }

    /// One parallel slot held by a request: which key, which process holds it, and a
    /// generation that changes whenever the entry is freed, so a lease given back twice,
    /// or after it was reclaimed, frees nothing.
    enum Lease {
        static let size = 32
        static let slot = 0  // Int32
        static let pid = 4  // Int32
        static let startTime = 8  // UInt64: field 22 of /proc/<pid>/stat; 0 unknown
        static let generation = 16  // UInt32
        static let held = 20  // UInt32
        static let nextFree = 24  // Int32
    }
}
