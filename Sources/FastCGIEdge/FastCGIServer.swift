internal import CFCGI
import Foundation
import GatewayCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Serves FastCGI requests with a fixed pool of worker threads fed by one acceptor.
///
/// Each thread owns one heap-allocated `FCGX_Request` and serves one request at a
/// time, blocking while it relays the upstream answer; the thread count is the
/// process's concurrency. The acceptor hands each connection to a free thread, which
/// lets libfcgi read the request from it (a request whose `ipcFd` is already set skips
/// libfcgi's own `accept`).
///
/// Admission (LIFE-01): with a thread free, the acceptor takes the next connection at
/// once. With every thread busy it keeps watching the socket, and when a connection
/// waits it gives a short grace for one of its threads to free up. A connection still
/// queued after that has nobody to serve it, unless another process sharing the socket
/// (a supervisor's workers) says it has a thread free: that process is about to take
/// it. Otherwise it is taken and answered 503 by the `OverloadResponder`, and so is the
/// rest of the queue, until a thread frees up.
public final class FastCGIServer: @unchecked Sendable {
    /// How long a connection may wait for a thread before it is refused. Busy: far above
    /// a scheduler's wake-up latency, well below the 50 ms a refusal may take. Draining:
    /// the socket is closing and nobody else will take what is queued on it, so a short
    /// request is better served a little late.
    static func grace(_ reason: RefusalReason) -> Duration { reason == .busy ? .milliseconds(20) : .seconds(2) }
    /// How long a connection is left to a sibling that says it has a thread free; after
    /// that the sibling is taken to be stuck (stopped, or not accepting), and siblings are
    /// not waited for again for as long.
    static let siblingPatience: Duration = .seconds(1)

    private let threadCount: Int
    private let handler: any RequestHandler
    private let maxBodyBytes: Int
    private let acceptor: ConnectionAcceptor
    private let responder: OverloadResponder
    private let siblings: (any SocketSiblings)?
    /// libfcgi falls back to `accept()` on this when a handed-over connection closes
    /// before sending a request; it is an unbound socket, so that `accept` fails at once
    /// instead of blocking a worker on the real listener.
    private let inertListenFD: Int32
    private let finished = DispatchGroup()
    private let acceptorFinished = DispatchGroup()
    private let idleThreads: DispatchSemaphore
    /// Threads serving a connection; the lock also orders what siblings are told.
    private let busyThreads = Locked(0)
    /// Serving threads waiting for a connection, the most recently idle last, and
    /// connections handed over before a thread was waiting. `closed` once the acceptor
    /// has handed over its last connection: idle threads then exit.
    private let handOff = Locked<(idle: [IdleThread], queued: [Int32], closed: Bool)>(([], [], false))
    /// Whether the acceptor, once stopped, takes what is still queued (`stopAccepting`).
    private let takeQueuedOnStop = Atomic<Bool>(false)
    /// Set by `stopAccepting`: the process is going away, with no replacement.
    private let stopping = Atomic<Bool>(false)
    /// Run once, by whichever of the acceptor and `stopAccepting` is last to be done with
    /// the listening socket.
    private let listenerRelease = Locked<(@Sendable () -> Void)?>(nil)
    private let accepted = Atomic<Int>(0)
    private let maxRequests: Int?
    /// Called once, on the acceptor thread, when `maxRequests` connections were accepted.
    private let onRetire: (@Sendable () -> Void)?
    /// The acceptor thread holds a token of `idleThreads` for the next connection.
    /// Acceptor thread only.
    private var threadReserved = false
    /// Until when siblings are not waited for, after one did not take a connection in time.
    /// Acceptor thread only.
    private var siblingsDistrustedUntil = ContinuousClock.now

    public init(
        listenFD: Int32, threads: Int, maxBodyBytes: Int, handler: any RequestHandler, maxRequests: Int? = nil,
        siblings: (any SocketSiblings)? = nil, onRetire: (@Sendable () -> Void)? = nil,
        onRefused: (@Sendable (RefusalReason) -> Void)? = nil, onAcceptFailure: (@Sendable (Int32) -> Void)? = nil
    ) {
        self.threadCount = max(1, threads)
        self.maxBodyBytes = maxBodyBytes
        self.handler = handler
        self.acceptor = ConnectionAcceptor(listenFD: listenFD, onFailure: onAcceptFailure)
        self.responder = OverloadResponder(maxBodyBytes: maxBodyBytes, onAnswered: onRefused ?? { _ in })
        self.siblings = siblings
        self.inertListenFD = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        // Counted up from zero: libdispatch traps when a semaphore is freed below its
        // initial value, which an acceptor waiting at shutdown would leave it at.
        self.idleThreads = DispatchSemaphore(value: 0)
        for _ in 0..<threadCount { idleThreads.signal() }
        self.maxRequests = maxRequests
        self.onRetire = onRetire
    }

    /// Initialises libfcgi; call once, before installing signal handling (docs/ARCHITECTURE.md, "libfcgi: initialise before signal handling").
    public static func initialize() {
        _ = FCGX_Init()
    }

    /// Connections handed to a thread so far (refused ones are not counted).
    public var acceptedCount: Int { accepted.load(ordering: .relaxed) }

    /// Starts the acceptor, the worker threads and the overload responder, and returns.
    public func start() {
        for index in 0..<threadCount {
            spawn(name: "fcgi-worker-\(index)") { [self] in serve() }
        }
        spawn(name: "fcgi-refusals") { [self] in responder.run() }
        acceptorFinished.enter()
        threadsBusy(changedBy: 0)
        spawn(name: "fcgi-acceptor") { [self] in
            acceptLoop()
            acceptorFinished.leave()
        }
    }

    /// Stops accepting, and returns once the acceptor has finished; requests being
    /// served finish. The listening socket is left alone (it may be shared).
    ///
    /// - Parameters:
    ///   - takingQueued: first take every connection still queued on the socket (served,
    ///     or refused as draining when no thread frees up): for a socket this process or
    ///     its supervisor owns, which is about to close. Without it, queued connections
    ///     stay for whoever else holds the socket.
    ///   - forReplacement: a fresh process is about to take over (`maxRequests`), and
    ///     siblings are told to wait for its threads rather than refuse.
    ///   - release: lets go of the listening socket; run on the acceptor thread the moment
    ///     it has taken its last connection. A TCP socket refuses connections only once
    ///     closed, so any delay there is a window in which one would be reset.
    public func stopAccepting(
        takingQueued: Bool = false, forReplacement: Bool = false, release: (@Sendable () -> Void)? = nil
    ) {
        listenerRelease.withLock { $0 = release }
        if takingQueued { takeQueuedOnStop.store(true, ordering: .relaxed) }
        if !forReplacement { stopping.store(true, ordering: .relaxed) }
        acceptor.stop()
        acceptorFinished.wait()
        releaseListener()  // the acceptor had finished before `release` was set
        threadsBusy(changedBy: 0)
    }

    private func releaseListener() {
        let release = listenerRelease.withLock { release in
            defer { release = nil }
            return release
        }
        release?()
    }

    /// Blocks until every thread has exited (all requests finished), or the deadline passes.
    @discardableResult
    public func wait(until deadline: DispatchTime = .distantFuture) -> Bool {
        finished.wait(timeout: deadline) == .success
    }

    private func spawn(name: String, _ body: @escaping @Sendable () -> Void) {
        finished.enter()
        let thread = Thread { [self] in
            body()
            finished.leave()
        }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    // MARK: accepting

    private func acceptLoop() {
        loop: while true {
            if !threadReserved { threadReserved = idleThreads.wait(timeout: .now()) == .success }
            switch acceptor.waitForConnection() {
            case .stopped:
                break loop
            case .closedToNewConnections:
                // The owner shut the socket (the instance is stopping): what is queued is
                // all there will be. Take it, so nothing is reset when the socket closes.
                // Stopping, not stopped for a replacement: siblings must not wait for
                // threads this process will never offer again.
                stopping.store(true, ordering: .relaxed)
                acceptor.stop()
                takeAllQueued(refusingAs: .draining)
                break loop
            case .connectionWaiting:
                takeAllQueued(refusingAs: .busy, untilServed: true)
            }
        }
        threadsBusy(changedBy: 0)  // stopped: what siblings may count on changes
        if takeQueuedOnStop.load(ordering: .relaxed) { takeAllQueued(refusingAs: .draining) }
        releaseListener()
        if threadReserved { idleThreads.signal() }
        responder.finish()
        // Wake every waiting worker thread so each sees the end of the hand-off and exits.
        let waiting = handOff.withLock { handOff in
            handOff.closed = true
            defer { handOff.idle.removeAll() }
            return handOff.idle
        }
        for thread in waiting { thread.wake.signal() }
    }

    private enum Taken { case served, refused, none }

    /// Takes queued connections until the queue is empty (or, `untilServed`, one went to
    /// a thread). The first without a free thread waits the grace; once one was refused,
    /// the rest are refused at once (nobody took them meanwhile), until a thread frees up.
    private func takeAllQueued(refusingAs reason: RefusalReason, untilServed: Bool = false) {
        var waiting = true
        // Bounded, so a socket that keeps receiving connections cannot keep a stopping acceptor.
        for _ in 0..<ListenSocket.defaultBacklog {
            let taken = takeQueued(waiting: waiting, refusingAs: reason)
            if taken == .none || (untilServed && taken == .served) { return }
            waiting = taken == .served
        }
    }

    private func takeQueued(waiting: Bool, refusingAs requested: RefusalReason) -> Taken {
        var reason: RefusalReason { takeQueuedOnStop.load(ordering: .relaxed) ? .draining : requested }
        if !threadReserved {
            switch waitForThread(grace: { waiting ? Self.grace(reason) : .zero }) {
            case .reserved: threadReserved = true
            case .takenElsewhere: return .none
            case .timedOut: responder.reserveRoom()
            }
        }
        guard let fd = acceptor.acceptQueued() else {
            if !threadReserved { responder.releaseRoom() }
            return .none
        }
        guard threadReserved else {
            responder.answer(fd, reason)
            return .refused
        }
        threadReserved = false
        threadsBusy(changedBy: 1)
        handOver(fd)
        let count = accepted.add(1, ordering: .relaxed).newValue
        if let maxRequests, count == maxRequests {
            acceptor.stop()
            onRetire?()
        }
        return .served
    }

    private enum ThreadWait { case reserved, takenElsewhere, timedOut }

    /// Waits for a thread of ours for up to `grace`, and past it for as long as a sibling
    /// says it has a thread free (up to `siblingPatience`): the sibling then takes the
    /// connection, which shows as the socket's queue emptying. The grace is asked again
    /// each time round: a stop that lands meanwhile turns a busy wait into a drain's.
    private func waitForThread(grace: () -> Duration) -> ThreadWait {
        let start = ContinuousClock.now
        while true {
            if idleThreads.wait(timeout: .now()) == .success { return .reserved }
            if !acceptor.hasQueuedConnection() { return .takenElsewhere }
            let now = ContinuousClock.now
            if now - start >= grace() {
                guard now >= siblingsDistrustedUntil, siblings?.haveIdleThreads() == true else { return .timedOut }
                if now - start >= Self.siblingPatience {
                    siblingsDistrustedUntil = now + Self.siblingPatience
                    return .timedOut
                }
            }
            if idleThreads.wait(timeout: .now() + .milliseconds(2)) == .success { return .reserved }
        }
    }

    /// Counts threads taking or finishing a connection, and tells the siblings what is free.
    /// A process that stopped accepting to be replaced (`maxRequests`) announces its
    /// replacement's threads, which are moments away: siblings wait for those rather
    /// than refuse. One that is stopping announces none.
    private func threadsBusy(changedBy delta: Int) {
        busyThreads.withLock { busy in
            busy += delta
            let free =
                stopping.load(ordering: .relaxed) ? 0 : acceptor.isStopped ? threadCount : threadCount - busy
            siblings?.publishIdleThreads(free)
        }
    }

    // MARK: serving

    /// A serving thread, as the hand-off sees it while it waits.
    private final class IdleThread: @unchecked Sendable {
        let wake = DispatchSemaphore(value: 0)
        /// The connection handed to it; written and read under `handOff`'s lock.
        var fd: Int32 = -1
    }

    /// Gives `fd` to the thread that became idle last: the threads that serve are the
    /// ones whose upstream connections, caches and stacks are warm, and at low
    /// concurrency the others stay asleep.
    private func handOver(_ fd: Int32) {
        let woken: IdleThread? = handOff.withLock { handOff in
            guard let thread = handOff.idle.popLast() else {
                handOff.queued.append(fd)
                return nil
            }
            thread.fd = fd
            return thread
        }
        woken?.wake.signal()
    }

    /// The next connection for `thread`, waiting for one; `nil` once the hand-off closed.
    private func nextConnection(for thread: IdleThread) -> Int32? {
        let now: Int32?? = handOff.withLock { handOff in
            if !handOff.queued.isEmpty { return .some(handOff.queued.removeFirst()) }
            if handOff.closed { return .some(nil) }
            thread.fd = -1
            handOff.idle.append(thread)
            return nil
        }
        if let now { return now }
        thread.wake.wait()
        let fd = handOff.withLock { _ in thread.fd }
        return fd >= 0 ? fd : nil
    }

    private func serve() {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        defer { request.deallocate() }
        guard FCGX_InitRequest(request, inertListenFD, 0) == 0 else { return }
        let me = IdleThread()
        while true {
            guard let fd = nextConnection(for: me) else { break }
            // keepConnection stops FCGX_Accept_r's opening FCGX_Finish_r from closing
            // the handed-over fd; the request's own flags then decide (nginx: close).
            request.pointee.keepConnection = 1
            request.pointee.ipcFd = fd
            // With `fastcgi_keep_conn on`, nginx sends further requests on the same
            // connection: serve them until it closes (libfcgi then frees the fd).
            while request.pointee.ipcFd >= 0, FCGX_Accept_r(request) >= 0 {
                let connection = FastCGIConnection(request: request)
                switch connection.readRequest(maxBodyBytes: maxBodyBytes) {
                case .success(let gatewayRequest):
                    handler.handle(gatewayRequest, writer: connection)
                case .failure(let error):
                    connection.write(error.error, requestID: error.requestID)
                }
                FCGX_Finish_r(request)
            }
            threadsBusy(changedBy: -1)
            idleThreads.signal()
        }
        FCGX_Free(request, 1)
    }
}
