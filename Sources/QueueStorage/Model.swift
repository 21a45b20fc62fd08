import QueueSystem

package enum JobState: String, CaseIterable, Sendable {
    case pending, processing, completed, failed, dead

    package static let names = allCases.map(\.rawValue).joined(separator: ", ")

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
package struct Job: Equatable, Sendable {
    package var id: String
    package var command: String
    package var state: JobState
    /// Runs that have ended in failure (a completed run does not count).
    package var attempts: Int
    /// Runs allowed (`max_retries`, as the earlier QueueCTL tools count it): the job runs at most
    /// `max(1, maxRetries)` times and is dead with `attempts == maxRetries`.
    package var maxRetries: Int
    /// The most runs the job gets.
    package var maxRuns: Int { max(1, maxRetries) }
    /// What it runs, as one line a shell would read the same way: the command, and its arguments
    /// quoted where they need it.
    package var commandLine: String {
        guard let arguments else { return command }
        return ([command] + arguments).map(shellQuoted).joined(separator: " ")
    }
    package var priority: Int
    /// Enqueue order, for FIFO within a priority (never a wall-clock time, which can step back).
    package var sequence: Int64
    package var createdAt: Timestamp
    package var updatedAt: Timestamp
    /// Not claimed before this time; set for retries.
    package var runAt: Timestamp?
    package var exitCode: Int?
    package var lastError: String?
    package var startedAt: Timestamp?
    package var finishedAt: Timestamp?
    package var durationMilliseconds: Int64?
    /// The worker process running it, while `processing`.
    package var worker: ProcessIdentity?
    /// The job's child (`/bin/sh`, leader of its own process group), once started.
    package var child: ProcessIdentity?
    /// Seconds a run may take before it is terminated; nil: the config's `job-timeout`.
    package var timeout: Double?
    /// The directory the command runs in (where it was enqueued from, or `--cwd`).
    package var cwd: String?
    /// `cancel` was asked while the job ran: it is removed, not retried, when the run ends.
    package var cancelRequested = false
    /// `kill` was asked while the job ran: its worker ends the run and records the job dead ("killed").
    package var killRequested = false
    /// Times `restart` has run the job again as a fresh set of attempts (its log keeps every run).
    package var restarts = 0
    /// With arguments, `command` is a program run directly with them: no shell parses the words.
    /// Nil: `command` is a shell command line.
    package var arguments: [String]?
    /// The job's own backoff settings; nil: the config's.
    package var backoffBase: Double?
    package var maxBackoff: Double?
    /// The named queue it belongs to; nil: `default`.
    package var queue: String?
    /// Jobs that must have completed before this one is claimed (`--after`).
    package var after: [String]?
    /// The dependency whose death (or cancellation) made this job dead with it; it comes back to
    /// pending when that dependency is retried.
    package var dependencyDied: String?

    package static let defaultQueue = "default"
    /// Its queue's name.
    package var queueName: String { queue ?? Job.defaultQueue }
    /// Variables its command gets beyond its worker's environment (or, captured, instead of it).
    package var environment: JobEnvironment?

    package init(id: String, command: String, maxRetries: Int, priority: Int = 0, sequence: Int64, now: Timestamp) {
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

/// The environment a job's command runs with: variables added to its worker's own, or, when captured
/// from the enqueuer, the whole environment in place of the worker's.
package struct JobEnvironment: Equatable, Sendable {
    package var variables: [String: String]
    /// The enqueuer's whole environment was recorded (`--capture-env`): the worker's is not passed on.
    package var captured: Bool

    package init(variables: [String: String] = [:], captured: Bool = false) {
        self.variables = variables
        self.captured = captured
    }

    /// `NAME=value` entries, sorted by name (how they are stored, shown and passed on).
    package var entries: [(name: String, value: String)] { variables.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }

    /// What is wrong with a variable's name, or nil: a name must be non-empty, without '=' or NUL,
    /// or the child's environment would read it differently.
    package static func problem(withName name: String) -> String? {
        if name.isEmpty { return "an environment variable's name must not be empty" }
        if name.utf8.contains(UInt8(ascii: "=")) { return "environment variable name '\(name)' must not contain '='" }
        if name.utf8.contains(0) { return "an environment variable's name must not contain a NUL character" }
        return nil
    }
}

/// The configuration kept in the data file. Validation lives in ConfigManager.
package struct QueueConfig: Equatable, Sendable {
    package var maxRetries: Int = 3
    package var backoffBase: Double = 2
    package var maxBackoff: Double = 3600
    package var workerCount: Int = 1
    /// Seconds a run may take when its job sets no timeout; 0 means no limit.
    package var jobTimeout: Double = 0
    /// Largest log file per job; beyond it the middle is cut, keeping the start and the end.
    package var maxLogBytes: Int = 1 << 20
    /// Completed jobs kept, newest first; older ones are removed as workers record new ones. 0: all.
    package var keepCompleted: Int = 10_000
    /// Seconds a completed job is kept after it finished; 0: no limit.
    package var keepCompletedFor: Double = 0
    /// Seconds a worker in another PID namespace counts as alive after its last heartbeat.
    package var leaseSeconds: Double = 30
    /// Jobs running at once across every worker of the home; 0: no limit beyond the workers' slots.
    package var maxRunning = 0
    /// Jobs of a queue running at once across every worker (`queue.NAME.max-running`).
    package var queueMaxRunning: [String: Int] = [:]
    /// How runnable jobs are ordered for claiming.
    package var schedulingMode = SchedulingMode.priority
    package init() {}

    // The accepted ranges, for `config set` and for reading the data file alike.
    package static let maxRetriesRange = 0...1000
    package static let workerCountRange = 1...256
    package static let backoffBaseRange = 1.0...1_000_000
    package static let secondsRange = 0.0...31_536_000  // max-backoff and job-timeout: up to a year
    package static let maxLogBytesRange = 1024...(1 << 30)
    package static let keepCompletedRange = 0...100_000_000
    package static let keepCompletedForRange = 0.0...3_153_600_000  // a century
    package static let leaseSecondsRange = 2.0...3600
    package static let maxRunningRange = 0...100_000

    /// The first setting out of its range, named as in the data file, or nil if all are fine.
    package var firstInvalidSetting: String? {
        if !Self.maxRetriesRange.contains(maxRetries) { return "max_retries" }
        if !Self.workerCountRange.contains(workerCount) { return "worker_count" }
        if !Self.backoffBaseRange.contains(backoffBase) { return "backoff_base" }
        if !Self.secondsRange.contains(maxBackoff) { return "max_backoff" }
        if !Self.secondsRange.contains(jobTimeout) { return "job_timeout" }
        if !Self.maxLogBytesRange.contains(maxLogBytes) { return "max_log_bytes" }
        if !Self.keepCompletedRange.contains(keepCompleted) { return "keep_completed" }
        if !Self.keepCompletedForRange.contains(keepCompletedFor) { return "keep_completed_for" }
        if !Self.leaseSecondsRange.contains(leaseSeconds) { return "lease_seconds" }
        if !Self.maxRunningRange.contains(maxRunning) { return "max_running" }
        if queueMaxRunning.values.contains(where: { !Self.maxRunningRange.contains($0) }) { return "queue_max_running" }
        return nil
    }
}

/// The claim order among runnable jobs.
package enum SchedulingMode: String, CaseIterable, Sendable {
    /// Higher priority first, then enqueue order.
    case priority
    /// Enqueue order alone; priorities are kept but not used.
    case fifo

    package static let names = allCases.map(\.rawValue).joined(separator: " or ")
}

/// A worker process that has registered itself.
package struct WorkerRecord: Equatable, Sendable {
    package var process: ProcessIdentity
    package var slots: Int
    package var startedAt: Timestamp
    /// The PID namespace its pid belongs to; nil in files written before it was recorded, which
    /// count as this process's own.
    package var pidNamespace: UInt64?
    /// For a worker of a database store on another host: its lease as the database holds it (never
    /// in the data file).
    package var databaseLease: DatabaseLease?
    package init(process: ProcessIdentity, slots: Int, startedAt: Timestamp, pidNamespace: UInt64? = nil) {
        self.process = process
        self.slots = slots
        self.startedAt = startedAt
        self.pidNamespace = pidNamespace
    }

    /// True when its pid means what it says here: it was recorded in this process's PID namespace.
    package var isInThisNamespace: Bool { pidNamespace == nil || pidNamespace == Processes.pidNamespace }
}

/// A worker's lease in a database store, by the server's clock.
package struct DatabaseLease: Equatable, Sendable {
    package let renewedMillisecondsAgo: Int64
    package let expired: Bool
    package init(renewedMillisecondsAgo: Int64, expired: Bool) {
        self.renewedMillisecondsAgo = renewedMillisecondsAgo
        self.expired = expired
    }
}

/// Running totals since the queue was created; they survive the removal of jobs.
package struct Counters: Equatable, Sendable {
    package var runs = 0
    package var failedRuns = 0
    package var retries = 0
    package var dlqMoves = 0
    package init() {}
}

/// The whole data file.
package struct Document: Equatable, Sendable {
    /// 2: `max_retries` counts runs. Version 1 counted retries after the first run; its files are
    /// read with every `max_retries` one higher, so each job keeps the runs it had.
    package static let currentVersion = 2
    package var version = Document.currentVersion
    package var nextSequence: Int64 = 1
    /// The boot the recorded workers and children belong to; after a reboot they are all gone.
    package var bootID: String?
    package var config = QueueConfig()
    package var counters = Counters()
    package var workers: [WorkerRecord] = []
    package var jobs = JobTable()
    /// `pause`: no worker of this home claims a job (running ones go on).
    package var paused = false
    /// Queues paused by `pause --queue`.
    package var pausedQueues: [String] = []
    package init() {}

    /// Whether workers may claim jobs of `queue` now.
    package func isPaused(_ queue: String) -> Bool { paused || pausedQueues.contains(queue) }

    package func index(of id: String) -> Int? { jobs.index(of: id) }
}

/// `word` as a POSIX shell reads it back: as it is when it holds only safe characters, else in single
/// quotes (a quote inside written as '\'').
package func shellQuoted(_ word: String) -> String {
    let safe = !word.isEmpty && word.utf8.allSatisfy { b in
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || "-_./=:,+@%".utf8.contains(b)
    }
    return safe ? word : "'" + word.replacing("'", with: "'\\''") + "'"
}
