import QueueStorage

/// A configuration key. Both spellings are accepted: `max-retries` and `max_retries`.
package enum ConfigKey: String, CaseIterable, Sendable {
    case maxRetries = "max-retries"
    case backoffBase = "backoff-base"
    case maxBackoff = "max-backoff"
    case workerCount = "worker-count"
    case jobTimeout = "job-timeout"
    case maxLogBytes = "max-log-bytes"
    case keepCompleted = "keep-completed"
    case keepCompletedFor = "keep-completed-for"
    case leaseSeconds = "lease-seconds"
    case schedulingMode = "scheduling-mode"
    case maxRunning = "max-running"

    package init?(spelling: String) {
        let name = spelling.lowercased().replacing("_", with: "-")
        if let key = ConfigKey(rawValue: name) {
            self = key
            return
        }
        // The names an earlier QueueCTL tool gave the same settings.
        switch name {
        case "job-timeout-seconds": self = .jobTimeout
        case "max-backoff-seconds": self = .maxBackoff
        case "lock-lease-seconds": self = .leaseSeconds
        default: return nil
        }
    }

    /// The key as it appears in JSON output and the data file.
    package var snakeCase: String { rawValue.replacing("-", with: "_") }

    package var summary: String {
        switch self {
        case .maxRetries: return "runs a job gets before it goes to the DLQ (integer >= 0; 0 runs once)"
        case .backoffBase: return "delay after the n-th failed run is backoff-base ^ n seconds (number >= 1)"
        case .maxBackoff: return "longest delay between retries, in seconds (number >= 0)"
        case .workerCount: return "jobs a `worker start` runs at once when --count is not given (integer >= 1)"
        case .jobTimeout: return "seconds a run may take when its job sets no timeout; 0 means no limit"
        case .maxLogBytes: return "largest log per job; the middle is cut beyond it (integer >= 1024)"
        case .keepCompleted: return "completed jobs kept, newest first, as workers finish more; 0 keeps all"
        case .keepCompletedFor: return "how long a completed job is kept (seconds, or 30m, 12h, 7d); 0 keeps it"
        case .leaseSeconds: return "how long a worker in another PID namespace counts as alive after its last heartbeat (2 to 3600)"
        case .schedulingMode: return "claim order: priority (higher first, then enqueue order) or fifo (enqueue order alone)"
        case .maxRunning: return "jobs running at once across every worker of this home; 0: only the workers' slots limit it"
        }
    }

    package static let names = allCases.map(\.rawValue).joined(separator: ", ")
}

/// Reads and validates configuration. Values live in the data file's `config` object.
package enum ConfigManager {
    package static func value(_ key: ConfigKey, in config: QueueConfig) -> String {
        var w = JSONWriter()
        switch key {
        case .maxRetries: w.int(config.maxRetries)
        case .backoffBase: w.double(config.backoffBase)
        case .maxBackoff: w.double(config.maxBackoff)
        case .workerCount: w.int(config.workerCount)
        case .jobTimeout: w.double(config.jobTimeout)
        case .maxLogBytes: w.int(config.maxLogBytes)
        case .keepCompleted: w.int(config.keepCompleted)
        case .keepCompletedFor: w.double(config.keepCompletedFor)
        case .leaseSeconds: w.double(config.leaseSeconds)
        case .schedulingMode: w.string(config.schedulingMode.rawValue)
        case .maxRunning: w.int(config.maxRunning)
        }
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// The value as a person reads it: a name without the quotes JSON gives it.
    package static func text(_ key: ConfigKey, in config: QueueConfig) -> String {
        key == .schedulingMode ? config.schedulingMode.rawValue : value(key, in: config)
    }

    /// The queue named by a `queue.NAME.max-running` key (either spelling), or nil for any other key.
    package static func queueLimitName(_ spelling: String) -> String? {
        guard spelling.hasPrefix("queue."), spelling.count > 6 else { return nil }
        for suffix in [".max-running", ".max_running"] where spelling.hasSuffix(suffix) {
            let name = String(spelling.dropFirst(6).dropLast(suffix.count))
            return name.isEmpty ? nil : name
        }
        return nil
    }

    /// Sets a queue's limit of jobs running at once; 0 removes it.
    package static func setQueueLimit(_ name: String, to text: String, in config: inout QueueConfig) throws(QueueError) {
        let limit = try NumberInput.integer(text, for: "queue.\(name).max-running", in: QueueConfig.maxRunningRange)
        config.queueMaxRunning[name] = limit == 0 ? nil : limit
    }

    package static func key(_ spelling: String) throws(QueueError) -> ConfigKey {
        guard let key = ConfigKey(spelling: spelling) else {
            throw .usage("unknown config key '\(spelling)'; valid keys: \(ConfigKey.names), queue.NAME.max-running")
        }
        return key
    }

    /// Checks `text` for `key` and stores it in `config`. Nothing changes when it is invalid.
    package static func set(_ key: ConfigKey, to text: String, in config: inout QueueConfig) throws(QueueError) {
        switch key {
        case .maxRetries: config.maxRetries = try integer(text, key, QueueConfig.maxRetriesRange)
        case .workerCount: config.workerCount = try integer(text, key, QueueConfig.workerCountRange)
        case .backoffBase: config.backoffBase = try number(text, key, QueueConfig.backoffBaseRange)
        case .maxBackoff: config.maxBackoff = try number(text, key, QueueConfig.secondsRange)
        case .jobTimeout: config.jobTimeout = try number(text, key, QueueConfig.secondsRange)
        case .maxLogBytes: config.maxLogBytes = try integer(text, key, QueueConfig.maxLogBytesRange)
        case .keepCompleted: config.keepCompleted = try integer(text, key, QueueConfig.keepCompletedRange)
        case .keepCompletedFor: config.keepCompletedFor = try age(text, key)
        case .leaseSeconds: config.leaseSeconds = try number(text, key, QueueConfig.leaseSecondsRange)
        case .schedulingMode:
            guard let mode = SchedulingMode(rawValue: text.lowercased()) else {
                throw .usage("invalid value '\(text)' for \(key.rawValue): expected \(SchedulingMode.names)")
            }
            config.schedulingMode = mode
        case .maxRunning: config.maxRunning = try integer(text, key, QueueConfig.maxRunningRange)
        }
    }

    // One number reader for every option and key: plain decimal only (no hex, inf, nan, 1e3, +5).
    private static func integer(_ text: String, _ key: ConfigKey, _ range: ClosedRange<Int>) throws(QueueError) -> Int {
        try NumberInput.integer(text, for: key.rawValue, in: range)
    }

    private static func number(_ text: String, _ key: ConfigKey, _ range: ClosedRange<Double>) throws(QueueError) -> Double {
        try NumberInput.decimal(text, for: key.rawValue, in: range)
    }

    /// Seconds (a fraction too), or a whole number with s, m, h or d.
    private static func age(_ text: String, _ key: ConfigKey) throws(QueueError) -> Double {
        // A number is checked as one (its range error names the range); anything else as a duration.
        if let last = text.last, last.isASCII, last.isNumber || last == "." {
            return try number(text, key, QueueConfig.keepCompletedForRange)
        }
        guard let seconds = NumberInput.durationSeconds(text), QueueConfig.keepCompletedForRange.contains(seconds) else {
            throw .usage("invalid value '\(text)' for \(key.rawValue): expected seconds, or a whole number with s, m, h or d")
        }
        return seconds
    }
}
