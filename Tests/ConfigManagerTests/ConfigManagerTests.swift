import Testing
import QueueStorage
@testable import ConfigManager

@Suite struct ConfigKeyTests {
    @Test(arguments: [
        ("max-retries", ConfigKey.maxRetries), ("max_retries", .maxRetries), ("MAX-RETRIES", .maxRetries), ("Max_Retries", .maxRetries),
        ("backoff-base", .backoffBase), ("backoff_base", .backoffBase), ("BACKOFF_BASE", .backoffBase),
        ("max-backoff", .maxBackoff), ("max_backoff", .maxBackoff),
        ("worker-count", .workerCount), ("worker_count", .workerCount), ("Worker-Count", .workerCount),
    ])
    func bothSpellingsAndCase(spelling: String, key: ConfigKey) throws {
        #expect(ConfigKey(spelling: spelling) == key)
        #expect(try ConfigManager.key(spelling) == key)
    }

    @Test func snakeCaseNames() {
        #expect(ConfigKey.maxRetries.snakeCase == "max_retries")
        #expect(ConfigKey.backoffBase.snakeCase == "backoff_base")
        #expect(ConfigKey.maxBackoff.snakeCase == "max_backoff")
        #expect(ConfigKey.workerCount.snakeCase == "worker_count")
    }

    @Test(arguments: ["retries", "max-retry", "maxretries", "", "max retries", "worker-counts", "max--retries"])
    func unknownKeyListsTheValidOnes(spelling: String) {
        do {
            _ = try ConfigManager.key(spelling)
            Issue.record("'\(spelling)' was accepted")
        } catch {
            #expect(error.kind == .usage)
            #expect(error.message.contains("'\(spelling)'"))
            for name in ["max-retries", "backoff-base", "max-backoff", "worker-count"] {
                #expect(error.message.contains(name), "\(error.message)")
            }
        }
    }

    @Test func defaults() {
        let c = QueueConfig()
        #expect(ConfigManager.value(.maxRetries, in: c) == "3")
        #expect(ConfigManager.value(.backoffBase, in: c) == "2")
        #expect(ConfigManager.value(.maxBackoff, in: c) == "3600")
        #expect(ConfigManager.value(.workerCount, in: c) == "1")
    }
}

@Suite struct ConfigSetTests {
    func set(_ key: ConfigKey, _ text: String) throws(QueueError) -> QueueConfig {
        var c = QueueConfig()
        try ConfigManager.set(key, to: text, in: &c)
        return c
    }

    /// Sets an invalid value and checks the error is a usage error and nothing changed.
    func expectRejected(_ key: ConfigKey, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        var c = QueueConfig()
        c.maxRetries = 7
        c.backoffBase = 3
        c.maxBackoff = 100
        c.workerCount = 5
        let before = c
        do {
            try ConfigManager.set(key, to: text, in: &c)
            Issue.record("\(key.rawValue) = '\(text)' was accepted: \(c)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.kind == .usage, sourceLocation: sourceLocation)
            #expect(error.message.contains(key.rawValue), "\(error.message)", sourceLocation: sourceLocation)
        }
        #expect(c == before, "config changed by a failed set", sourceLocation: sourceLocation)
    }

    @Test(arguments: ["3w", "1.5h", "h", "", "-1d", "ten"])
    func aBadAgeNamesTheUnitsItTakes(text: String) {
        expectRejected(.keepCompletedFor, text)
        do {
            _ = try set(.keepCompletedFor, text)
        } catch {
            #expect(error.message.contains("with s, m, h or d"), "\(error.message)")
        }
    }

    @Test func maxRetriesValid() throws {
        #expect(try set(.maxRetries, "0").maxRetries == 0)
        #expect(try set(.maxRetries, "5").maxRetries == 5)
        #expect(try set(.maxRetries, "1000").maxRetries == 1000)
    }

    @Test(arguments: ["-1", "1.5", "abc", "", " ", " 3", "3 ", "1e3", "nan", "inf", "0x10", "1001", "99999999999999999999999"])
    func maxRetriesInvalid(text: String) { expectRejected(.maxRetries, text) }

    @Test func workerCountValid() throws {
        #expect(try set(.workerCount, "1").workerCount == 1)
        #expect(try set(.workerCount, "8").workerCount == 8)
        #expect(try set(.workerCount, "256").workerCount == 256)
    }

    @Test(arguments: ["0", "-1", "257", "2.0", "two", "", "nan", "inf", "1e1"])
    func workerCountInvalid(text: String) { expectRejected(.workerCount, text) }

    @Test func backoffBaseValid() throws {
        #expect(try set(.backoffBase, "1").backoffBase == 1)
        #expect(try set(.backoffBase, "1.5").backoffBase == 1.5)
        #expect(try set(.backoffBase, "2").backoffBase == 2)
        #expect(try set(.backoffBase, "10.25").backoffBase == 10.25)
        #expect(try set(.backoffBase, "1000000").backoffBase == 1_000_000)
    }

    @Test(arguments: ["0.999", "0", "-2", "", ".", "1..5", "1.2.3", "nan", "NaN", "inf", "Infinity", "-inf", "1e3", "1E3",
                      "0x2", "two", " 2", "2 ", "1000000.5", "1e400"])
    func backoffBaseInvalid(text: String) { expectRejected(.backoffBase, text) }

    @Test func maxBackoffValid() throws {
        #expect(try set(.maxBackoff, "0").maxBackoff == 0)
        #expect(try set(.maxBackoff, "0.5").maxBackoff == 0.5)
        #expect(try set(.maxBackoff, "60").maxBackoff == 60)
        #expect(try set(.maxBackoff, "31536000").maxBackoff == 31_536_000)
    }

    @Test(arguments: ["-1", "-0.5", "", "nan", "inf", "1e3", "31536001", "sixty", "60s"])
    func maxBackoffInvalid(text: String) { expectRejected(.maxBackoff, text) }

    @Test func setOnlyChangesItsOwnKey() throws {
        var c = QueueConfig()
        try ConfigManager.set(.maxBackoff, to: "10", in: &c)
        var expected = QueueConfig()
        expected.maxBackoff = 10
        #expect(c == expected)
    }

    @Test func valueRoundTripsThroughSet() throws {
        for (key, text) in [(ConfigKey.maxRetries, "9"), (.backoffBase, "2.5"), (.maxBackoff, "120"), (.workerCount, "4")] {
            var c = QueueConfig()
            try ConfigManager.set(key, to: text, in: &c)
            #expect(ConfigManager.value(key, in: c) == text)
        }
    }

    @Test func rangeErrorNamesTheBounds() {
        var c = QueueConfig()
        do { try ConfigManager.set(.workerCount, to: "0", in: &c); Issue.record("accepted") } catch {
            #expect(error.message.contains("1") && error.message.contains("256"), "\(error.message)")
        }
    }
}
