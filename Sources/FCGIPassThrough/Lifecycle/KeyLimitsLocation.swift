import Foundation
import GatewayCore
import GatewayCrypto
import Operations

/// Where the keys' host-wide limit table lives, and opening it (docs/KEYS.md).
///
/// Every instance started with the same config file must find the same table, and two
/// deployments with different files must not collide: the default name carries the
/// user and a digest of the config file's absolute path.
enum KeyLimitsLocation {
    static func path(configured: String?, configPath: String) -> String {
        if let configured { return configured }
        let absolute = URL(fileURLWithPath: configPath).standardizedFileURL.resolvingSymlinksInPath().path
        let tag = String(SHA256.hex(absolute.utf8).prefix(16))
        let directory = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        return "\(directory)/fcgi-pass-through-\(getuid())-\(tag).limits"
    }

    /// Whether any key of `config` has a limit to count.
    static func needed(by config: GatewayConfig) -> Bool {
        config.keys.contains { !$0.limits.isEmpty }
    }

    /// The table for `config`, or `nil` when no key has limits.
    /// - Throws: a message naming the file and the reason, when it cannot be opened.
    static func open(for config: GatewayConfig, configPath: String) throws(OpenFailure) -> SharedKeyLimits? {
        guard needed(by: config) else { return nil }
        let path = path(configured: config.limitsFile, configPath: configPath)
        do {
            return try SharedKeyLimits.open(path: path)
        } catch {
            throw OpenFailure(description: "cannot open the key limits table \(path): \(error)")
        }
    }

    struct OpenFailure: Error, CustomStringConvertible {
        let description: String
    }
}
