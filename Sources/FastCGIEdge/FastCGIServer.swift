internal import CFCGI
import Foundation
import GatewayCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Serves FastCGI requests with a fixed pool of worker threads, one of which at a time
/// is the acceptor (leader/follower).
///
/// Each thread owns one heap-allocated `FCGX_Request` and serves one request at a
/// time, blocking while it relays the upstream answer; the thread count is the
/// process's concurrency. The thread in the acceptor's role watches the socket; when
/// it takes a connection it passes the role to an idle thread and serves the
/// connection itself, so a request never waits for one thread to wake another (a
/// scheduler wake-up, tens of microseconds on a busy machine). libfcgi reads the
/// request from the taken connection (a request whose `ipcFd` is already set skips
/// libfcgi's own `accept`). The pool has one thread more than the concurrency, so a
/// thread is always free to take the role while `threads` connections are served.
///
/// Admission (LIFE-01): with a thread free, the acceptor takes the next connection at
/// once. With every thread busy it keeps watching the socket, and when a connection
/// waits it gives a short grace for one of its threads to free up. A connection still
/// queued after that has nobody to serve it, unless another process sharing the socket
/// (a supervisor's workers) says it has a thread free: that process is about to take
/// it. Otherwise it is taken and answered 503 by the `OverloadResponder`, and so is the
/// rest of the queue, until a thread frees up. While the socket drains (stopping),
/// the acceptor hands what it takes to idle threads instead of serving one itself.
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
    /// Threads waiting for something to do, the most recently idle last; connections
    /// handed over before a thread was waiting; whether the acceptor's role waits for
    /// the next thread to become idle. `closed` once the acceptor has handed over its
    /// last connection: idle threads then exit. The role and the acceptor's state below
    /// pass from thread to thread under this lock.
    private let handOff = Locked<(idle: [IdleThread], queued: [Int32], leaderWanted: Bool, closed: Bool)>(
        ([], [], true, false)
    )
    /// Whether the acceptor, once stopped, takes what is still queued (`stopAccepting`).
    private let takeQueuedOnStop = Atomic<Bool>(false)
    /// Set by `stopAccepting`: the process is going away, with no replacement.
    private let stopping = Atomic<Bool>(false)
    /// Run once, by whichever of the acceptor and `stopAccepting` is last to be done with
    /// the listening socket.
    private let listenerRelease = Locked<(@Sendable () -> Void)?>(nil)
    private let accepted = Atomic<Int>(0)
    private let maxRequests: Int?
    /// Called once, by the acceptor, when `maxRequests` connections were accepted.
    private let onRetire: (@Sendable () -> Void)?
    /// Called by each of the pool's threads as the last thing before it is done.
    private let onThreadExit: (@Sendable () -> Void)?
    /// The acceptor holds a token of `idleThreads` for the next connection.
    /// Read and written by the thread in the acceptor's role only.
    private var threadReserved = false
    /// Until when siblings are not waited for, after one did not take a connection in time.
    /// Read and written by the thread in the acceptor's role only.
    private var siblingsDistrustedUntil = ContinuousClock.now

    public init(
        listenFD: Int32, threads: Int, maxBodyBytes: Int, handler: any RequestHandler, maxRequests: Int? = nil,
        siblings: (any SocketSiblings)? = nil, onRetire: (@Sendable () -> Void)? = nil,
        onRefused: (@Sendable (RefusalReason) -> Void)? = nil, onAcceptFailure: (@Sendable (Int32) -> Void)? = nil,
        onThreadExit: (@Sendable () -> Void)? = nil
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
        self.onThreadExit = onThreadExit
    }

    /// Initialises libfcgi; call once, before installing signal handling (docs/ARCHITECTURE.md, "libfcgi: initialise before signal handling").
    public static func initialize() {
        _ = FCGX_Init()
    }

    /// Connections handed to a thread so far (refused ones are not counted).
    public var acceptedCount: Int { accepted.load(ordering: .relaxed) }

    /// Starts the worker threads (the first to run takes the acceptor's role) and the
    /// overload responder, and returns.
    public func start() {
        acceptorFinished.enter()
        threadsBusy(changedBy: 0)
        spawn(name: "fcgi-refusals") { [self] in responder.run() }
        for index in 0...threadCount {
            spawn(name: "fcgi-worker-\(index)") { [self] in serve() }
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
    ///   - release: lets go of the listening socket; run by the acceptor the moment it has
    ///     taken its last connection. A TCP socket refuses connections only once
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
            onThreadExit?()
            finished.leave()
        }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    // MARK: accepting

    /// The acceptor's role: watches the socket until it takes a connection for the
    /// calling thread, which it returns once another thread has the role, or until it
    /// stops (`nil`, the hand-off closed).
    private func lead() -> Int32? {
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
                if let fd = takeAllQueued(refusingAs: .busy, keepingFirstServed: true) {
                    passLeadership()
                    return fd
                }
            }
        }
        stopAcceptorRole()
        return nil
    }

    /// The end of accepting, on the thread that had the role last.
    private func stopAcceptorRole() {
        threadsBusy(changedBy: 0)  // stopped: what siblings may count on changes
        if takeQueuedOnStop.load(ordering: .relaxed) { takeAllQueued(refusingAs: .draining) }
        releaseListener()
        if threadReserved {
            threadReserved = false
            idleThreads.signal()
        }
        responder.finish()
        // Wake every waiting worker thread so each sees the end of the hand-off and exits.
        let waiting = handOff.withLock { handOff in
            handOff.closed = true
            defer { handOff.idle.removeAll() }
            return handOff.idle
        }
        for thread in waiting { thread.wake.signal() }
        acceptorFinished.leave()
    }

    private enum Taken { case served(Int32), refused, none }

    /// Takes queued connections until the queue is empty, each one to be served handed to
    /// an idle thread, or, `keepingFirstServed`, until one is to be served, which is
    /// returned for the calling thread. The first without a free thread waits the grace;
    /// once one was refused, the rest are refused at once (nobody took them meanwhile),
    /// until a thread frees up.
    @discardableResult
    private func takeAllQueued(refusingAs reason: RefusalReason, keepingFirstServed: Bool = false) -> Int32? {
        var waiting = true
        // Bounded, so a socket that keeps receiving connections cannot keep a stopping acceptor.
        for _ in 0..<ListenSocket.defaultBacklog {
            switch takeQueued(waiting: waiting, refusingAs: reason) {
            case .none:
                return nil
            case .served(let fd):
                if keepingFirstServed { return fd }
                handOver(fd)
                waiting = true
            case .refused:
                waiting = false
            }
        }
        return nil
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
        let count = accepted.add(1, ordering: .relaxed).newValue
        if let maxRequests, count == maxRequests {
            acceptor.stop()
            onRetire?()
        }
        return .served(fd)
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

    /// What an idle thread is given.
    private enum Assignment {
        case lead
        case serve(Int32)
    }

    /// A thread of the pool, as the hand-off sees it while it waits.
    private final class IdleThread: @unchecked Sendable {
        let wake = DispatchSemaphore(value: 0)
        /// What it was given (`nil`: exit); written and read under `handOff`'s lock.
        var assignment: Assignment?
    }

    /// Gives the acceptor's role to the thread that became idle last (or the next to
    /// become idle): the threads that serve are the ones whose upstream connections,
    /// caches and stacks are warm, and at low concurrency the others stay asleep.
    private func passLeadership() {
        give(.lead) { $0.leaderWanted = true }
    }

    /// Gives `fd` to the thread that became idle last, or queues it for the next.
    private func handOver(_ fd: Int32) {
        give(.serve(fd)) { $0.queued.append(fd) }
    }

    private func give(
        _ assignment: Assignment,
        orElse keep: (inout (idle: [IdleThread], queued: [Int32], leaderWanted: Bool, closed: Bool)) -> Void
    ) {
        let woken: IdleThread? = handOff.withLock { handOff in
            guard let thread = handOff.idle.popLast() else {
                keep(&handOff)
                return nil
            }
            thread.assignment = assignment
            return thread
        }
        woken?.wake.signal()
    }

    /// What `thread` does next, waiting until there is something; `nil` once the
    /// hand-off closed.
    private func nextAssignment(for thread: IdleThread) -> Assignment? {
        let now: Assignment?? = handOff.withLock { handOff in
            if handOff.leaderWanted {
                handOff.leaderWanted = false
                return .some(.lead)
            }
            if !handOff.queued.isEmpty { return .some(.serve(handOff.queued.removeFirst())) }
            if handOff.closed { return .some(nil) }
            thread.assignment = nil
            handOff.idle.append(thread)
            return nil
        }
        if let now { return now }
        thread.wake.wait()
        return handOff.withLock { _ in thread.assignment }
    }

    private func serve() {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        defer { request.deallocate() }
        guard FCGX_InitRequest(request, inertListenFD, 0) == 0 else { return }
        let me = IdleThread()
        while let assignment = nextAssignment(for: me) {
            switch assignment {
            case .lead:
                guard let fd = lead() else { continue }
                serve(fd, with: request)
            case .serve(let fd):
                serve(fd, with: request)
            }
        }
        FCGX_Free(request, 1)
    }

    private func serve(_ fd: Int32, with request: UnsafeMutablePointer<FCGX_Request>) {
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
            Self.finish(request)
        }
        threadsBusy(changedBy: -1)
        idleThreads.signal()
    }

    /// Ends the request (`FCGX_Finish_r`: the rest of the answer and its end record).
    /// A connection to be closed with nothing left unread is closed at once: libfcgi's
    /// own close shuts writing down and then waits for nginx to close its end, so that
    /// unread input cannot make TCP reset the connection and lose the answer's end;
    /// with nothing unread there is nothing to reset, and the wait would cost a thread
    /// wake-up per request.
    private static func finish(_ request: UnsafeMutablePointer<FCGX_Request>) {
        let closing = request.pointee.keepConnection == 0
        if closing { request.pointee.keepConnection = 1 }
        FCGX_Finish_r(request)
        let fd = request.pointee.ipcFd
        guard closing, fd >= 0 else { return }  // libfcgi closed it after a stream error
        var unread: Int32 = 0
        if ioctl(fd, UInt(FIONREAD), &unread) == 0, unread == 0 {
            close(fd)
            request.pointee.ipcFd = -1
        } else {
            // Input left: libfcgi's close, which reads it away first.
            request.pointee.keepConnection = 0
            FCGX_Free(request, 1)
        }
    }
}
