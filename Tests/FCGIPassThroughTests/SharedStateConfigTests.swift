import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import GatewayCore

/// `database_url`, `redis_url`, `shared_state_failure` and LiteLLM's variables for them.
@Suite struct SharedStateConfigTests {
    static func load(_ settings: String, _ environment: [String: String] = [:]) throws -> (SharedStateSettings, [String]) {
        let yaml = "general_settings:\n  master_key: sk-master\n" + settings
        let (config, notices) = try ConfigLoader.load(yaml: yaml, file: "c.yaml", environment: Environment(environment))
        return (config.sharedState, notices)
    }

    static func problems(_ settings: String, _ environment: [String: String] = [:]) -> [String] {
        let error = #expect(throws: ConfigErrors.self) { try load(settings, environment) }
        return error?.problems.map(\.description) ?? []
    }

    @Test func nothingSetMeansPerHostStateFailingOpen() throws {
        let (settings, _) = try Self.load("")
        #expect(settings == SharedStateSettings())
        #expect(!settings.isShared && settings.failure == .open)
    }

    @Test func theSettingsAreRead() throws {
        let (settings, _) = try Self.load(
            """
              database_url: os.environ/PG
              redis_url: "redis://:s3cret@10.0.0.5:6380/2"
              shared_state_failure: closed
            """, ["PG": "postgresql://gw:pw@db.internal:5432/ledger?sslmode=require"])
        #expect(settings.databaseURL == "postgresql://gw:pw@db.internal:5432/ledger?sslmode=require")
        #expect(settings.redis == RedisAddress(host: "10.0.0.5", port: 6380, password: "s3cret", database: 2))
        #expect(settings.failure == .closed)
    }

    @Test func liteLLMsVariablesAreTheFallback() throws {
        let (settings, _) = try Self.load(
            "", ["DATABASE_URL": "postgres://u@h/d", "REDIS_HOST": "cache", "REDIS_PORT": "7000", "REDIS_PASSWORD": "pw"])
        #expect(settings.databaseURL == "postgres://u@h/d")
        #expect(settings.redis == RedisAddress(host: "cache", port: 7000, password: "pw"))
        // REDIS_URL comes before REDIS_HOST, as in LiteLLM; the setting before both.
        let (url, _) = try Self.load("", ["REDIS_URL": "redis://a:1/3", "REDIS_HOST": "b"])
        #expect(url.redis == RedisAddress(host: "a", port: 1, database: 3))
        let (setting, _) = try Self.load(
            "  redis_url: redis://c\n  database_url: postgresql://x/y\n",
            [
                "REDIS_URL": "redis://a", "DATABASE_URL": "postgresql://other/db",
            ])
        #expect(setting.redis?.host == "c" && setting.databaseURL == "postgresql://x/y")
    }

    @Test func aReferenceToAnUnsetVariableLeavesTheSettingUnsetWithANotice() throws {
        let (settings, notices) = try Self.load("  database_url: os.environ/DATABASE_URL\n  redis_url: os.environ/R\n", ["R": ""])
        #expect(settings.databaseURL == nil && settings.redis == nil)
        #expect(notices.contains { $0.contains("DATABASE_URL is not set: database_url is left unset") })
        #expect(notices.contains { $0.contains("R is not set: redis_url is left unset") })
        // A reference inside a longer value still must resolve.
        #expect(Self.problems("  database_url: postgresql://u:os.environ/PW@h/d\n").contains { $0.contains("PW is not set") })
    }

    @Test func aDatabaseURLOfAnotherKindInTheEnvironmentLeavesSQLiteWithANotice() throws {
        let (settings, notices) = try Self.load("", ["DATABASE_URL": "mysql://u@h/d"])
        #expect(settings.databaseURL == nil)
        #expect(notices.contains { $0.contains("DATABASE_URL is not a postgresql:// URL") })
    }

    @Test func badValuesAreRefusedWithoutQuotingTheSecret() {
        let cases: [(String, String)] = [
            ("  database_url: mysql://u:hunter2@h/d\n", "must be a postgresql:// URL"),
            ("  redis_url: rediss://:hunter2@h:6379\n", "rediss:// (TLS) is not supported"),
            ("  redis_url: http://:hunter2@h\n", "must be a redis:// URL"),
            ("  redis_url: redis://:hunter2@h:99999\n", "has a port outside 1-65535"),
            ("  redis_url: redis://:hunter2@h/x\n", "must end in a database number"),
            ("  shared_state_failure: maybe\n", "must be open or closed"),
        ]
        for (settings, expected) in cases {
            let problems = Self.problems(settings)
            #expect(problems.contains { $0.contains(expected) }, "\(settings): \(problems)")
            #expect(!problems.joined().contains("hunter2"), "\(settings)")
        }
        #expect(Self.problems("", ["REDIS_HOST": "h", "REDIS_PORT": "x"]).contains { $0.contains("REDIS_PORT must be a port") })
    }

    @Test func urlsAreShownWithoutPasswords() {
        #expect(PostgresURL.redacted("postgresql://gw:pw@db:5432/l") == "postgresql://gw:***@db:5432/l")
        #expect(PostgresURL.redacted("postgresql://db/l?user=gw&password=pw") == "postgresql://db/l?user=gw&password=***")
        #expect(RedisAddress(host: "h", password: "pw").display == "redis://h:6379/0")
    }

    @Test func hostIDNamesThisHostInTheLedgerAndDefaultsToTheHostname() throws {
        let yaml = "general_settings:\n  master_key: sk-master\n"
        let (named, notices) = try ConfigLoader.load(
            yaml: yaml + "  host_id: eu-west-1a\n", file: "c.yaml", environment: Environment([:]))
        #expect(named.hostID == "eu-west-1a" && notices.isEmpty)
        #expect(LedgerLocation.hostID(for: named) == "eu-west-1a")
        let (unnamed, _) = try ConfigLoader.load(yaml: yaml, file: "c.yaml", environment: Environment([:]))
        #expect(unnamed.hostID == nil)
        // The kernel's hostname, as `hostname` prints it.
        let kernel = (try? String(contentsOfFile: "/proc/sys/kernel/hostname", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(LedgerLocation.hostID(for: unnamed) == kernel)
        #expect(!LedgerLocation.hostID(for: unnamed).isEmpty)
        #expect(Self.problems("  host_id: \"\"\n").contains { $0.contains("host_id") && $0.contains("non-empty") })
        #expect(ConfigDecoder.generalKeys.contains("host_id"))
    }
}
