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

    /// Opens the ledger, or says why it cannot be: a start-up failure, since a gateway
    /// that would lose every row must not look healthy.
    static func open(for config: GatewayConfig, environment: Environment, logger: Logger?) throws(OpenFailure)
        -> SpendLedger
    {
        let path = path(for: config, environment: environment)
        do {
            return try SpendLedger.open(path: path, logger: logger)
        } catch {
            throw OpenFailure(
                description: "cannot open the usage ledger \(path): \(error) (set general_settings.usage_db to a writable place)")
        }
    }

    struct OpenFailure: Error, CustomStringConvertible {
        let description: String
    }
}
