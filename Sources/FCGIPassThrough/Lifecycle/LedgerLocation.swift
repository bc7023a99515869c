import Foundation
import GatewayCore
import Operations
import UsageLedger

/// Where the spend ledger lives, and opening it (docs/USAGE.md, "The ledger").
enum LedgerLocation {
    /// `usage_db`, else `$STATE_DIRECTORY/usage.db` (systemd's `StateDirectory=`), else
    /// `usage.db` in the working directory.
    static func path(for config: GatewayConfig, environment: Environment) -> String {
        config.usageDB ?? SpendLedger.defaultPath(environment: environment)
    }

    /// `host_id`, else the machine's hostname: what this host's rows carry as `host`.
    static func hostID(for config: GatewayConfig) -> String {
        if let id = config.hostID { return id }
        var name = [CChar](repeating: 0, count: 256)
        guard gethostname(&name, name.count - 1) == 0 else { return "" }
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Opens the ledger (the file, or `database_url`'s PostgreSQL with the file as its
    /// spool), or says why it cannot be: a start-up failure, since a gateway that would
    /// lose every row must not look healthy. A PostgreSQL that is away is no failure:
    /// rows spool until it is back.
    static func open(for config: GatewayConfig, environment: Environment, logger: Logger?) throws(OpenFailure)
        -> SpendLedger
    {
        let path = path(for: config, environment: environment)
        do {
            let ledger = try SpendLedger.open(
                path: path, databaseURL: config.sharedState.databaseURL, hostID: hostID(for: config), logger: logger)
            if let url = config.sharedState.databaseURL {
                logger?.info(
                    "spend ledger in PostgreSQL", ["url": PostgresURL.redacted(url), "spool": path, "host": ledger.hostID])
            }
            return ledger
        } catch {
            throw OpenFailure(
                description: "cannot open the usage ledger \(path): \(error) (set general_settings.usage_db to a writable place)")
        }
    }

    struct OpenFailure: Error, CustomStringConvertible {
        let description: String
    }
}
