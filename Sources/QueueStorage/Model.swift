import QueueSystem

public enum JobState: String, CaseIterable, Sendable {
    case pending, processing, completed, failed, dead

    public static let names = allCases.map(\.rawValue).joined(separator: ", ")

    /// The state named by UTF-8 bytes, without building a String.
    init?(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        for (state, name) in JobState.utf8Names where name.elementsEqual(bytes) {
            self = state
            return
        }
        return nil
    }

    private static let utf8Names = allCases.map { ($0, Array($0.rawValue.utf8)) }
}

/// One job as stored in the data file. Field names in JSON are the snake_case forms of these.
public struct Job: Equatable, Sendable {
    public var id: String
    public var command: String
    public var state: JobState
    /// Runs that have ended in failure (a completed run does not count).
    public var attempts: Int
    /// Retries allowed after the first run: the job runs at most `1 + maxRetries` times.
    public var maxRetries: Int
    public var priority: Int
    /// Enqueue order, for FIFO within a priority (never a wall-clock time, which can step back).
    public var sequence: Int64
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    /// Not claimed before this time; set for retries.
    public var runAt: Timestamp?
    public var exitCode: Int?
    public var lastError: String?
    public var startedAt: Timestamp?
    public var finishedAt: Timestamp?
    public var durationMilliseconds: Int64?
    /// The worker process running it, while `processing`.
    public var worker: ProcessIdentity?
    /// The job's child (`/bin/sh`, leader of its own process group), once started.
    public var child: ProcessIdentity?
    /// Seconds a run may take before it is terminated; nil: the config's `job-timeout`.
    public var timeout: Double?
    /// The directory the command runs in (where it was enqueued from, or `--cwd`).
    public var cwd: String?
    /// `cancel` was asked while the job ran: it is removed, not retried, when the run ends.
    public var cancelRequested = false

    public init(id: String, command: String, maxRetries: Int, priority: Int = 0, sequence: Int64, now: Timestamp) {
        self.id = id
        self.command = command
        self.state = .pending
        self.attempts = 0
        self.maxRetries = maxRetries
        self.priority = priority
        self.sequence = sequence
        self.createdAt = now
        self.updatedAt = now
        self.runAt = nil
    }
}

/// The configuration kept in the data file. Validation lives in ConfigManager.
public struct QueueConfig: Equatable, Sendable {
    public var maxRetries: Int = 3
    public var backoffBase: Double = 2
    public var maxBackoff: Double = 3600
    public var workerCount: Int = 1
    /// Seconds a run may take when its job sets no timeout; 0 means no limit.
    public var jobTimeout: Double = 0
    /// Largest log file per job; beyond it the middle is cut, keeping the start and the end.
    public var maxLogBytes: Int = 1 << 20
    /// Completed jobs kept, newest first; older ones are removed as workers record new ones. 0: all.
    public var keepCompleted: Int = 10_000
    /// Seconds a completed job is kept after it finished; 0: no limit.
    public var keepCompletedFor: Double = 0
    /// Seconds a worker in another PID namespace counts as alive after its last heartbeat.
    public var leaseSeconds: Double = 30
    public init() {}

    // The accepted ranges, for `config set` and for reading the data file alike.
    public static let maxRetriesRange = 0...1000
    public static let workerCountRange = 1...256
    public static let backoffBaseRange = 1.0...1_000_000
    public static let secondsRange = 0.0...31_536_000  // max-backoff and job-timeout: up to a year
    public static let maxLogBytesRange = 1024...(1 << 30)
    public static let keepCompletedRange = 0...100_000_000
    public static let keepCompletedForRange = 0.0...3_153_600_000  // a century
    public static let leaseSecondsRange = 2.0...3600

    /// The first setting out of its range, named as in the data file, or nil if all are fine.
    public var firstInvalidSetting: String? {
        if !Self.maxRetriesRange.contains(maxRetries) { return "max_retries" }
        if !Self.workerCountRange.contains(workerCount) { return "worker_count" }
        if !Self.backoffBaseRange.contains(backoffBase) { return "backoff_base" }
        if !Self.secondsRange.contains(maxBackoff) { return "max_backoff" }
        if !Self.secondsRange.contains(jobTimeout) { return "job_timeout" }
        if !Self.maxLogBytesRange.contains(maxLogBytes) { return "max_log_bytes" }
        if !Self.keepCompletedRange.contains(keepCompleted) { return "keep_completed" }
        if !Self.keepCompletedForRange.contains(keepCompletedFor) { return "keep_completed_for" }
        if !Self.leaseSecondsRange.contains(leaseSeconds) { return "lease_seconds" }
        return nil
    }
}

/// A worker process that has registered itself.
public struct WorkerRecord: Equatable, Sendable {
    public var process: ProcessIdentity
    public var slots: Int
    public var startedAt: Timestamp
    /// The PID namespace its pid belongs to; nil in files written before it was recorded, which
    /// count as this process's own.
    public var pidNamespace: UInt64?
    public init(process: ProcessIdentity, slots: Int, startedAt: Timestamp, pidNamespace: UInt64? = nil) {
        self.process = process
        self.slots = slots
        self.startedAt = startedAt
        self.pidNamespace = pidNamespace
    }

    /// True when its pid means what it says here: it was recorded in this process's PID namespace.
    public var isInThisNamespace: Bool { pidNamespace == nil || pidNamespace == Processes.pidNamespace }
}

/// Running totals since the queue was created; they survive the removal of jobs.
public struct Counters: Equatable, Sendable {
    public var runs = 0
    public var failedRuns = 0
    public var retries = 0
    public var dlqMoves = 0
    public init() {}
}

/// The whole data file.
public struct Document: Equatable, Sendable {
    public static let currentVersion = 1
    public var version = Document.currentVersion
    public var nextSequence: Int64 = 1
    /// The boot the recorded workers and children belong to; after a reboot they are all gone.
    public var bootID: String?
    public var config = QueueConfig()
    public var counters = Counters()
    public var workers: [WorkerRecord] = []
    public var jobs = JobTable()
    public init() {}

    public func index(of id: String) -> Int? { jobs.index(of: id) }
}
