import QueueStorage
import QueueSystem

/// What `edit` changes of a job; nil leaves a field as it is.
package struct JobEdit: Equatable, Sendable {
    package var command: String?
    package var priority: Int?
    /// `.some(nil)`: no `run_at` (runnable as soon as a slot is free).
    package var runAt: Timestamp??
    /// `.some(nil)`: no timeout of its own (the config's `job-timeout` applies).
    package var timeout: Double??
    /// The named queue it moves to.
    package var queue: String?

    package init(command: String? = nil, priority: Int? = nil, runAt: Timestamp?? = nil, timeout: Double?? = nil, queue: String? = nil) {
        self.command = command
        self.priority = priority
        self.runAt = runAt
        self.timeout = timeout
        self.queue = queue
    }

    package var isEmpty: Bool { command == nil && priority == nil && runAt == nil && timeout == nil && queue == nil }
}

/// The order `list --sort` shows jobs in.
package enum ListOrder: String, CaseIterable, Sendable {
    /// Enqueue order (`seq`).
    case enqueued
    /// The order they run in: running ones, then runnable ones in claim order, then waiting ones by
    /// when they become runnable, then finished ones in enqueue order.
    case next
}

extension JobManager {
    /// Cancels every job of `ids` (see `cancel`), or none: an unknown id, or one that is completed
    /// or dead, fails the lot before anything changes.
    package static func cancel(_ ids: [String], in snapshot: inout Snapshot) throws(QueueError) -> [CancelResult] {
        let ids = unique(ids)
        for id in ids {
            let state = snapshot.document.jobs.summary(at: try index(id, in: snapshot.document)).state
            if let refusal = cancelRefusal(id, state) { throw refusal }
        }
        var results: [CancelResult] = []
        for id in ids { results.append(try cancel(id, in: &snapshot)) }
        return results
    }

    /// The ids of the jobs in `state`, in enqueue order, for `cancel --state`.
    package static func ids(in state: JobState, of document: Document) -> [String] {
        list(document, state: state).map(\.id)
    }

    /// Asks the workers of the running jobs `ids` to end their runs (as a timeout would) and record
    /// them dead with "killed"; the jobs, their history and their logs stay. All or none: an id that
    /// is unknown or not running fails the lot. A job already being killed is asked again, harmlessly.
    package static func kill(_ ids: [String], in snapshot: inout Snapshot) throws(QueueError) -> [Job] {
        let ids = unique(ids)
        var indices: [Int] = []
        for id in ids {
            let i = try index(id, in: snapshot.document)
            let summary = snapshot.document.jobs.summary(at: i)
            switch summary.state {
            case .processing:
                if summary.cancelRequested {
                    throw .failure("job '\(id)' is being cancelled; it is removed when its run ends")
                }
            case .pending, .failed:
                throw .failure("job '\(id)' is \(summary.state.rawValue), not running; 'queuectl cancel \(id)' removes a job that waits")
            case .completed, .dead:
                throw .failure("job '\(id)' is \(summary.state.rawValue), not running; there is nothing to kill")
            }
            indices.append(i)
        }
        for i in indices {
            snapshot.document.jobs[i].killRequested = true
            snapshot.document.jobs[i].updatedAt = snapshot.now
        }
        return indices.map { snapshot.document.jobs[$0] }
    }

    /// `kill` of every running job (none when nothing runs); jobs being cancelled are left to that.
    package static func killAll(in snapshot: inout Snapshot) throws(QueueError) -> [Job] {
        let running = snapshot.document.jobs.indices(whereSummary: { $0.state == .processing && !$0.cancelRequested })
            .map { snapshot.document.jobs.summary(at: $0).id }
        return try kill(running, in: &snapshot)
    }

    /// Runs finished jobs (completed or dead) again as a fresh set of attempts: pending, attempts 0,
    /// no `run_at`, enqueued anew (the back of their priority), `restarts` one more. Their history
    /// (last error, exit code, times) stays until the next run overwrites it, and so does their log.
    /// All or none.
    package static func restart(_ ids: [String], in snapshot: inout Snapshot) throws(QueueError) -> [Job] {
        let ids = unique(ids)
        var indices: [Int] = []
        for id in ids {
            let i = try index(id, in: snapshot.document)
            let state = snapshot.document.jobs.summary(at: i).state
            switch state {
            case .completed, .dead: indices.append(i)
            case .processing: throw .failure("job '\(id)' is running; it can be restarted once it has finished")
            case .failed: throw .failure("job '\(id)' is failed and waits for a retry; 'queuectl retry \(id)' runs it now")
            case .pending: throw .failure("job '\(id)' is pending: it has not finished, so there is nothing to restart")
            }
        }
        for (n, i) in indices.enumerated() {
            var job = snapshot.document.jobs[i]
            job.state = .pending
            job.attempts = 0
            job.runAt = nil
            job.restarts += 1
            job.sequence = snapshot.document.nextSequence + Int64(n)
            job.updatedAt = snapshot.now
            snapshot.document.jobs[i] = job
        }
        snapshot.document.nextSequence += Int64(indices.count)
        return indices.map { snapshot.document.jobs[$0] }
    }

    /// Changes a job that is not running. A new command is checked as at enqueue; `run_at` only
    /// means something for a job that waits to run, so a finished one refuses it.
    package static func edit(_ id: String, _ edit: JobEdit, in snapshot: inout Snapshot) throws(QueueError) -> Job {
        let i = try index(id, in: snapshot.document)
        var job = snapshot.document.jobs[i]
        switch job.state {
        case .processing:
            throw .failure("job '\(id)' is running; edit it once its run has ended (or end it now with 'queuectl kill \(id)')")
        case .completed, .dead:
            if edit.runAt != nil {
                throw .failure("job '\(id)' is \(job.state.rawValue), so it has no run to schedule; 'queuectl restart \(id)' runs it again")
            }
        case .pending, .failed: break
        }
        if let command = edit.command {
            try JobInput.checkCommand(command, "--command")
            // A shell command line from now on: the arguments of a job given as a program go with it.
            job.command = command
            job.arguments = nil
        }
        if let priority = edit.priority { job.priority = priority }
        if let runAt = edit.runAt { job.runAt = runAt }
        if let timeout = edit.timeout { job.timeout = timeout }
        if let queue = edit.queue {
            try validateQueueName(queue, "--queue")
            job.queue = queue == Job.defaultQueue ? nil : queue
        }
        guard job != snapshot.document.jobs[i] else { return job }
        job.updatedAt = snapshot.now
        snapshot.document.jobs[i] = job
        return job
    }

    /// The jobs in `state` (all if nil) in `order`, at most `limit`, chosen and ordered by their
    /// summaries so that only the jobs listed are decoded.
    package static func list(_ document: Document, state: JobState?, order: ListOrder, limit: Int = .max, now: Timestamp) -> [Job] {
        guard order == .next else { return list(document, state: state, limit: limit) }
        let table = document.jobs
        let chosen = table.indices(whereSummary: { state == nil || $0.state == state })
        // Running, then runnable now (claim order), then waiting (by when it may run), then finished.
        func rank(_ s: JobSummary) -> Int {
            switch s.state {
            case .processing: return 0
            case .pending, .failed: return s.isRunnable(at: now) ? 1 : 2
            case .completed, .dead: return 3
            }
        }
        let sorted = chosen.sorted { a, b in
            let (x, y) = (table.summary(at: a), table.summary(at: b))
            let (rx, ry) = (rank(x), rank(y))
            if rx != ry { return rx < ry }
            if rx == 1 { return claimsBefore(x, y) }
            if rx == 2, x.runAt != y.runAt { return x.runAt! < y.runAt! }
            if rx == 2 { return claimsBefore(x, y) }
            return x.sequence < y.sequence
        }
        return sorted.prefix(limit).map { table[$0] }
    }

    /// `ids` without repeats, in the order given.
    static func unique(_ ids: [String]) -> [String] {
        var seen: Set<String> = []
        return ids.filter { seen.insert($0).inserted }
    }
}
