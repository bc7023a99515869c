import GatewayCore
import UsageLedger

/// `fcgi-pass-through usage`: the spend ledger summed per key, route, model or day
/// (docs/USAGE.md, "The ledger"). Reads the ledger only, the host's file or a shared
/// PostgreSQL: it needs no config and runs beside serving processes.
enum UsageCommand {
    typealias UsageError = CommandLineOptions.UsageError

    static let usage = """
        Usage: fcgi-pass-through usage [--db PATH|URL] [--since DATE|Nd|Nh] [--by key|route|model|day]

          --db PATH|URL  the ledger: a file, or a postgresql:// URL (default: $DATABASE_URL
                         when it is one, else $STATE_DIRECTORY/usage.db, else ./usage.db)
          --since WHEN   only requests that started since: 7d, 12h, 2026-12-01 or
                         2026-12-01T09:00:00Z (default: all)
          --by GROUP     key (default), route, model or day (UTC)
        """

    struct Options: Equatable {
        var database: String
        var since: Double?
        var grouping: UsageReport.Grouping = .key
        var help = false
    }

    /// Runs `usage` with `arguments` (what follows `usage`); `now` is Unix seconds.
    static func run(
        _ arguments: [String], environment: Environment, now: Double, output: (String) -> Void,
        errorOutput: (String) -> Void
    ) -> GatewayProcess.ExitCode {
        let options: Options
        do throws(UsageError) {
            options = try parse(arguments, environment: environment, now: now)
        } catch {
            errorOutput("fcgi-pass-through: usage: \(error)\n")
            return .usage
        }
        if options.help {
            output(usage + "\n")
            return .ok
        }
        do {
            let reader =
                PostgresURL.isPostgres(options.database)
                ? SpendReader.open(databaseURL: options.database) : try SpendReader.open(path: options.database)
            output(try UsageReport.load(from: reader, by: options.grouping, since: options.since).render())
            return .ok
        } catch {
            errorOutput("fcgi-pass-through: usage: \(error)\n")
            return .failure
        }
    }

    static func parse(_ arguments: [String], environment: Environment, now: Double) throws(UsageError) -> Options {
        // LiteLLM's variable, as the server reads it when the config names no database_url.
        let shared = environment["DATABASE_URL"].flatMap { PostgresURL.isPostgres($0) ? $0 : nil }
        var options = Options(database: shared ?? SpendLedger.defaultPath(environment: environment))
        if arguments.contains(where: { ["-h", "--help", "help"].contains($0) }) {
            options.help = true
            return options
        }
        let values = try SubcommandFlags.values(
            arguments, allowed: ["--db", "--since", "--by"], context: "for usage (see usage --help)")
        if let database = values["--db"] {
            guard !database.isEmpty else { throw UsageError(description: "--db needs a path or a postgresql:// URL") }
            options.database = database
        }
        if let text = values["--since"] {
            guard let since = UsageReport.since(text, now: now) else {
                throw UsageError(description: "--since expects 7d, 12h, a date (2026-12-01) or a date-time")
            }
            options.since = since
        }
        if let text = values["--by"] {
            guard let grouping = UsageReport.Grouping(rawValue: text) else {
                throw UsageError(description: "--by expects key, route, model or day")
            }
            options.grouping = grouping
        }
        return options
    }
}
