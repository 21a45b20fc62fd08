import QueueStorage
import QueueSystem

/// What `cancel` did.
package enum CancelResult: Sendable {
    /// A waiting job, removed.
    case removed(Job)
    /// A running job, marked; its worker terminates it and removes it when the run ends.
    case terminating(Job)
}

extension JobManager {
    /// Makes a failed job, waiting for its retry, runnable now.
    package static func retryNow(_ id: String, in snapshot: inout Snapshot) throws(QueueError) -> Job {
        let i = try index(id, in: snapshot.document)
        let job = snapshot.document.jobs[i]
        switch job.state {
        case .failed:
            snapshot.document.jobs[i].runAt = snapshot.now
            snapshot.document.jobs[i].updatedAt = snapshot.now
            return snapshot.document.jobs[i]
        case .dead: throw .failure("job '\(id)' is in the DLQ; run it again with: queuectl dlq retry \(id)")
        default: throw .failure("job '\(id)' is \(job.state.rawValue), not failed; only a failed job waits for a retry")
        }
    }

    /// Removes a pending or failed job; marks a running one so that it is terminated and removed.
    package static func cancel(_ id: String, in snapshot: inout Snapshot) throws(QueueError) -> CancelResult {
        let i = try index(id, in: snapshot.document)
        let job = snapshot.document.jobs[i]
        if let refusal = cancelRefusal(id, job.state) { throw refusal }
        if job.state == .processing {
            snapshot.document.jobs[i].cancelRequested = true
            snapshot.document.jobs[i].updatedAt = snapshot.now
            return .terminating(snapshot.document.jobs[i])
        }
        snapshot.document.jobs.remove(at: i)
        return .removed(job)
    }

    /// Why a job in `state` cannot be cancelled, if it cannot.
    static func cancelRefusal(_ id: String, _ state: JobState) -> QueueError? {
        switch state {
        case .pending, .failed, .processing: return nil
        case .completed: return .failure("job '\(id)' has completed; there is nothing to cancel")
        case .dead: return .failure("job '\(id)' is in the DLQ; remove it with: queuectl dlq delete \(id)")
        }
    }

    static func index(_ id: String, in document: Document) throws(QueueError) -> Int {
        guard let i = document.index(of: id) else { throw .failure("no job with id '\(id)'") }
        return i
    }

    /// In words, why the job is or is not running now.
    package static func explain(_ job: Job, now: Timestamp, workers: [WorkerRecord]) -> String {
        func span(_ from: Timestamp, _ to: Timestamp) -> String { describeDuration(milliseconds: max(0, to.milliseconds - from.milliseconds)) }
        let noWorker = workers.isEmpty ? " (no worker is running: start one with 'queuectl worker start')" : ""
        switch job.state {
        case .pending:
            // The same rule as a claim's: only run_at holds a job back.
            if !job.isRunnable(at: now), let runAt = job.runAt { return "scheduled for \(runAt.iso8601), in \(span(now, runAt))" }
            return "waiting for a free worker slot" + noWorker
        case .failed:
            let retry = "run \(job.attempts + 1) of \(job.maxRuns)"
            if !job.isRunnable(at: now), let runAt = job.runAt {
                return "failed (\(job.lastError ?? "error")); waiting for \(retry) in \(span(now, runAt))"
            }
            return "failed (\(job.lastError ?? "error")); \(retry) is due, waiting for a free worker slot" + noWorker
        case .processing:
            let pid = job.worker.map { String($0.pid) } ?? "?"
            let since = job.startedAt.map { " for \(span($0, now))" } ?? ""
            // The run goes on until its whole process group has ended, shell or not.
            let lingering = job.child.map { !$0.isAlive && $0.groupIsStillItsOwn && Processes.groupIsAlive($0.pid) } ?? false
            return "running on worker \(pid)\(since)" + (job.cancelRequested ? "; cancelled, being terminated" : "")
                + (job.killRequested && !job.cancelRequested ? "; killed, being terminated (it stays, dead)" : "")
                + (lingering ? "; its shell has exited, other processes of its group still run" : "")
        case .completed:
            return "completed" + (job.finishedAt.map { " at \($0.iso8601)" } ?? "")
                + (job.durationMilliseconds.map { " in \(describeDuration(milliseconds: $0))" } ?? "")
        case .dead:
            return "dead after \(job.attempts) failed run\(job.attempts == 1 ? "" : "s") (\(job.lastError ?? "error")); "
                + "'queuectl dlq retry \(job.id)' runs it again"
        }
    }
}

/// `850ms`, `2.5s`, `3m 20s`, `2h 5m`, `3d 4h`.
package func describeDuration(milliseconds ms: Int64) -> String {
    if ms < 1000 { return "\(ms)ms" }
    if ms < 60_000 {
        let tenths = (ms + 50) / 100
        return tenths % 10 == 0 ? "\(tenths / 10)s" : "\(tenths / 10).\(tenths % 10)s"
    }
    let s = ms / 1000
    if s < 3600 { return "\(s / 60)m \(s % 60)s" }
    if s < 86_400 { return "\(s / 3600)h \(s / 60 % 60)m" }
    return "\(s / 86_400)d \(s / 3600 % 24)h"
}

/// Which completed jobs to remove.
package struct Retention: Sendable {
    /// Completed jobs to keep, newest first; 0 keeps them all.
    package var keep: Int
    /// Seconds after finishing that a completed job is kept; nil keeps it.
    package var maximumAge: Double?

    package init(keep: Int, maximumAge: Double?) {
        self.keep = keep
        self.maximumAge = maximumAge
    }

    /// The config's policy; there 0 means no limit.
    package init(_ config: QueueConfig) {
        self.init(keep: config.keepCompleted, maximumAge: config.keepCompletedFor > 0 ? config.keepCompletedFor : nil)
    }
}

extension JobManager {
    /// The completed jobs `retention` removes at `now`: those older than the maximum age, then the
    /// oldest beyond the count. Only completed jobs: dead ones wait in the DLQ for a person.
    package static func expired(_ retention: Retention, in jobs: JobTable, now: Timestamp) -> [JobSummary] {
        var completed = jobs.indices(whereSummary: { $0.state == .completed }).map { jobs.summary(at: $0) }
        var doomed: [JobSummary] = []
        if let maximumAge = retention.maximumAge {
            let cutoff = now.adding(seconds: -maximumAge)
            doomed = completed.filter { $0.finishedAt <= cutoff }
            completed.removeAll { $0.finishedAt <= cutoff }
        }
        if retention.keep > 0, completed.count > retention.keep {
            completed.sort { ($0.finishedAt, $0.sequence) > ($1.finishedAt, $1.sequence) }
            doomed += completed[retention.keep...]
        }
        return doomed
    }

    /// Removes what `retention` says has expired; returns the removed jobs' ids (their logs go too).
    @discardableResult
    package static func prune(_ retention: Retention, in snapshot: inout Snapshot) -> [String] {
        // A completed job that another still waits for stays until that one has run.
        let awaited = awaitedIDs(in: snapshot.document.jobs)
        let doomed = Set(expired(retention, in: snapshot.document.jobs, now: snapshot.now).map(\.id)).subtracting(awaited)
        if !doomed.isEmpty { snapshot.document.jobs.removeAll { doomed.contains($0.id) } }
        return Array(doomed)
    }

    /// The retention a worker applies as it records completions: the count only once it is 10% over
    /// the limit, and the age only when `checkAge` (the worker asks once a minute), so the pass and
    /// the sort it takes run now and then, not in every transaction.
    package static func pruneIfDue(in snapshot: inout Snapshot, checkAge: Bool) -> [String] {
        var retention = Retention(snapshot.document.config)
        if !checkAge { retention.maximumAge = nil }
        guard retention.keep > 0 || retention.maximumAge != nil else { return [] }
        if retention.maximumAge == nil {
            guard completedCount(snapshot.document.jobs) > retention.keep + max(1, retention.keep / 10) else { return [] }
        }
        return prune(retention, in: &snapshot)
    }

    /// Borrows the table: no copy of it outlives the call to make the caller's next change copy it.
    static func completedCount(_ jobs: JobTable) -> Int {
        jobs.indices.lazy.filter { jobs.summary(at: $0).state == .completed }.count
    }
}
