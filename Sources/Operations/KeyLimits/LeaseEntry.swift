/// One entry of the mapped lease array; read and written with the table's mutex held.
struct LeaseEntry {
    typealias Layout = KeyLimitsLayout.Lease
    let base: UnsafeMutableRawPointer

    var slot: Int32 {
        get { base.load(fromByteOffset: Layout.slot, as: Int32.self) }
        nonmutating set { base.storeBytes(of: newValue, toByteOffset: Layout.slot, as: Int32.self) }
    }

    var holder: LeaseHolder {
        get {
            LeaseHolder(
                pid: base.load(fromByteOffset: Layout.pid, as: Int32.self),
                startTime: base.load(fromByteOffset: Layout.startTime, as: UInt64.self))
        }
        nonmutating set {
            base.storeBytes(of: newValue.pid, toByteOffset: Layout.pid, as: Int32.self)
            base.storeBytes(of: newValue.startTime, toByteOffset: Layout.startTime, as: UInt64.self)
        }
    }

    var generation: UInt32 {
        get { base.load(fromByteOffset: Layout.generation, as: UInt32.self) }
        nonmutating set { base.storeBytes(of: newValue, toByteOffset: Layout.generation, as: UInt32.self) }
    }

    var held: Bool {
        get { base.load(fromByteOffset: Layout.held, as: UInt32.self) != 0 }
        nonmutating set { base.storeBytes(of: newValue ? 1 : 0, toByteOffset: Layout.held, as: UInt32.self) }
    }

    var nextFree: Int32 {
        get { base.load(fromByteOffset: Layout.nextFree, as: Int32.self) }
        nonmutating set { base.storeBytes(of: newValue, toByteOffset: Layout.nextFree, as: Int32.self) }
    }
}
