internal import CFCGI
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Accepts FastCGI requests on a listening socket with a fixed pool of worker threads.
///
/// Each thread owns one heap-allocated `FCGX_Request` and serves one request at a
/// time, blocking while it relays the upstream answer; the thread count is the
/// instance's concurrency.
public final class FastCGIServer: @unchecked Sendable {
    private let socket: ListenSocket
    private let threadCount: Int
    private let handler: any RequestHandler
    private let maxBodyBytes: Int
    private let finished = DispatchGroup()
    private let stopping = Atomic<Bool>(false)

    public init(socket: ListenSocket, threads: Int, maxBodyBytes: Int, handler: any RequestHandler) {
        self.socket = socket
        self.threadCount = max(1, threads)
        self.maxBodyBytes = maxBodyBytes
        self.handler = handler
    }

    /// Initialises libfcgi; call once, before installing signal handling (DESIGN.md).
    public static func initialize() {
        _ = FCGX_Init()
    }

    /// Starts the worker threads and returns.
    public func start() {
        for index in 0..<threadCount {
            finished.enter()
            let thread = Thread { [self] in
                serve()
                finished.leave()
            }
            thread.name = "fcgi-worker-\(index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Stops accepting: every thread blocked in accept wakes and exits; threads
    /// serving a request finish it first.
    public func stopAccepting() {
        stopping.store(true, ordering: .relaxed)
        FCGX_ShutdownPending()
        socket.stopAccepting()
    }

    /// Blocks until every worker thread has exited, or the deadline passes.
    @discardableResult
    public func wait(until deadline: DispatchTime = .distantFuture) -> Bool {
        finished.wait(timeout: deadline) == .success
    }

    private func serve() {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        defer { request.deallocate() }
        guard FCGX_InitRequest(request, socket.fd, 0) == 0 else { return }
        while !stopping.load(ordering: .relaxed) {
            guard FCGX_Accept_r(request) >= 0 else {
                // Shutdown, or a transient accept failure (EMFILE, ENOBUFS): a worker
                // thread must not die of the latter, so back off briefly and retry.
                if !stopping.load(ordering: .relaxed) { usleep(50_000) }
                continue
            }
            let connection = FastCGIConnection(request: request)
            switch connection.readRequest(maxBodyBytes: maxBodyBytes) {
            case .success(let gatewayRequest):
                handler.handle(gatewayRequest, writer: connection)
            case .failure(let error):
                connection.write(error.error, requestID: error.requestID)
            }
            FCGX_Finish_r(request)
        }
        FCGX_Free(request, 1)
    }
}
