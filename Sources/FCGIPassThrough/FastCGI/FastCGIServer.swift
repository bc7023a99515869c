internal import CFCGI
import Foundation
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
public final class FastCGIServer: @unchecked Sendable {
    private let threadCount: Int
    private let handler: any RequestHandler
    private let maxBodyBytes: Int
    private let acceptor: ConnectionAcceptor
    /// libfcgi falls back to `accept()` on this when a handed-over connection closes
    /// before sending a request; it is an unbound socket, so that `accept` fails at once
    /// instead of blocking a worker on the real listener.
    private let inertListenFD: Int32
    private let finished = DispatchGroup()
    private let idleThreads: DispatchSemaphore
    private let handOff = Locked<[Int32]>([])
    private let handOffReady = DispatchSemaphore(value: 0)
    private let accepted = Atomic<Int>(0)
    private let maxRequests: Int?
    /// Called once, on the acceptor thread, when `maxRequests` connections were accepted.
    private let onRetire: (@Sendable () -> Void)?

    public init(
        listenFD: Int32, threads: Int, maxBodyBytes: Int, handler: any RequestHandler, maxRequests: Int? = nil,
        onRetire: (@Sendable () -> Void)? = nil
    ) {
        self.threadCount = max(1, threads)
        self.maxBodyBytes = maxBodyBytes
        self.handler = handler
        self.acceptor = ConnectionAcceptor(listenFD: listenFD)
        self.inertListenFD = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        // Counted up from zero: libdispatch traps when a semaphore is freed below its
        // initial value, which an acceptor waiting at shutdown would leave it at.
        self.idleThreads = DispatchSemaphore(value: 0)
        for _ in 0..<threadCount { idleThreads.signal() }
        self.maxRequests = maxRequests
        self.onRetire = onRetire
    }

    /// Initialises libfcgi; call once, before installing signal handling (DESIGN.md).
    public static func initialize() {
        _ = FCGX_Init()
    }

    /// Connections accepted so far.
    public var acceptedCount: Int { accepted.load(ordering: .relaxed) }

    /// Starts the acceptor and the worker threads, and returns.
    public func start() {
        for index in 0..<threadCount {
            spawn(name: "fcgi-worker-\(index)") { [self] in serve() }
        }
        spawn(name: "fcgi-acceptor") { [self] in acceptLoop() }
    }

    /// Stops accepting; requests being served finish. The listening socket is left
    /// alone (it may be shared with other processes).
    public func stopAccepting() {
        acceptor.stop()
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

    private func acceptLoop() {
        while true {
            idleThreads.wait()
            guard let fd = acceptor.accept() else { break }
            handOff.withLock { $0.append(fd) }
            handOffReady.signal()
            let count = accepted.add(1, ordering: .relaxed).newValue
            if let maxRequests, count >= maxRequests {
                acceptor.stop()
                onRetire?()
                break
            }
        }
        // Wake every worker thread so each sees the end of the hand-off and exits.
        for _ in 0..<threadCount { handOffReady.signal() }
    }

    private func serve() {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        defer { request.deallocate() }
        guard FCGX_InitRequest(request, inertListenFD, 0) == 0 else { return }
        while true {
            handOffReady.wait()
            guard let fd = handOff.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else {
                if acceptor.isStopped { break }
                continue
            }
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
            idleThreads.signal()
        }
        FCGX_Free(request, 1)
    }
}
