import Foundation

/// A throwaway PostgreSQL server (Debian's binaries) in a temporary directory, for the
/// ledger's tests against a real server: `initdb`, then `postgres` on a free loopback
/// port, as the `postgres` OS user when the tests run as root (initdb and postgres
/// refuse root). `stop()` and `start()` again are an outage; `close()` removes it all.
/// Tests/IntegrationTests/harness/postgres.py is the same for the integration suite.
final class TestPostgres {
    /// The newest installed server's binaries, or `nil` (the tests that need one skip).
    static let binaries: String? = {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return versions.compactMap(Int.init).sorted().last.map { "\(root)/\($0)/bin" }
            .flatMap { FileManager.default.isExecutableFile(atPath: $0 + "/postgres") ? $0 : nil }
    }()

    static var available: Bool {
        binaries != nil && (getuid() != 0 || getpwnam("postgres") != nil)
    }

    let directory: String
    let port: Int
    private let bin: String
    private var server: TestProcess?

    /// Where the gateway connects: the `postgres` database as its superuser, over TCP.
    var url: String { url(database: "postgres") }

    func url(database: String) -> String { "postgresql://postgres@127.0.0.1:\(port)/\(database)" }

    init() throws {
        bin = Self.binaries ?? ""
        directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("pg-\(UUID().uuidString)")
        port = Self.freePort()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0, let user = getpwnam("postgres") {
            chown(directory, user.pointee.pw_uid, user.pointee.pw_gid)
        }
        try run(bin + "/initdb", ["-D", directory + "/data", "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
        try start()
    }

    deinit {
        close()
    }

    func start() throws {
        let arguments = [
            "-D", directory + "/data", "-k", directory, "-p", String(port), "-c", "listen_addresses=127.0.0.1",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        ]
        server = try TestProcess(
            getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--", bin + "/postgres"] + arguments : [bin + "/postgres"] + arguments,
            quiet: true)
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if (try? run(bin + "/pg_isready", ["-h", directory, "-p", String(port), "-q"])) != nil { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "postgres did not start"])
    }

    /// A fast shutdown: clients are disconnected and the port refuses until `start()`.
    func stop() {
        guard let server else { return }
        _ = try? run(bin + "/pg_ctl", ["stop", "-D", directory + "/data", "-m", "fast", "-w"])
        server.wait()
        self.server = nil
    }

    func close() {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs a server tool as the server's user; throws when it fails.
    @discardableResult
    private func run(_ tool: String, _ arguments: [String]) throws -> Int32 {
        let status = try TestProcess.run(
            getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--", tool] + arguments : [tool] + arguments)
        guard status == 0 else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "\(tool) failed"])
        }
        return status
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { _ = Glibc.close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
