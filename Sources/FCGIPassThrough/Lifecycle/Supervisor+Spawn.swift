import FastCGIEdge
import Foundation
import GatewayCore
import Operations
import UpstreamTransports

#if canImport(Glibc)
    import Glibc
#endif

extension Supervisor {
    /// Starts the worker for `slot`, unless the supervisor is stopping. Holds `lock`
    /// throughout, so a stop never closes the socket under a spawn that passes it on.
    func spawn(slot: Int, socket: ListenSocket, region: MetricsRegion, handover: ConfigHandover) {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let arguments = [executable] + options.workerArguments(slot: slot)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, socket.fd, 0)
        posix_spawn_file_actions_adddup2(&actions, region.fd, WorkerProcess.metricsFD)
        posix_spawn_file_actions_adddup2(&actions, handover.fd, ConfigHandover.workerFD)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        // The worker starts with exactly the stop and reload signals blocked (dispatch
        // threads, which spawn replacements, block every signal): one forwarded while
        // it starts stays pending until its handlers are in place, instead of killing
        // it (SIGHUP's default action) or being lost.
        var blocked = sigset_t()
        sigemptyset(&blocked)
        for signo in SignalWatcher.watched { sigaddset(&blocked, signo) }
        posix_spawnattr_setsigmask(&attributes, &blocked)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signo in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGUSR1] { sigaddset(&defaults, signo) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let cArguments = arguments.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        let started = lock.withLock { () -> (pid: pid_t, alive: Int)? in
            guard !stopping else { return nil }
            // Its threads are moments away: a full sibling leaves it the connections meanwhile.
            // Set first, so the worker's own count, once it runs, is the one that stays.
            region.setIdleThreads(options.threads, slot: slot)
            var pid: pid_t = 0
            let result = posix_spawn(&pid, executable, &actions, &attributes, cArguments, environ)
            guard result == 0 else {
                region.setIdleThreads(0, slot: slot)
                logger.error("cannot start a worker", ["slot": String(slot), "reason": String(cString: strerror(result))])
                return nil
            }
            workers[slot] = (pid, .now)
            return (pid, workers.count)
        }
        guard let started else { return }
        region.workersAlive = started.alive
        logger.info("worker started", ["slot": String(slot), "pid": String(started.pid)])
    }
}
