import QueueStorage
import QueueSystem

/// What `status` reports: jobs per state and the live workers with the jobs each runs. Read without
/// the lock, the records of workers that died are still there until the next command that takes the
/// lock removes them, so only the live ones are kept.
package struct StatusReport: Sendable {
    package struct Worker: Sendable {
        package let record: WorkerRecord
        package let liveness: WorkerLiveness
        /// The ids of the jobs it runs, in the table's order.
        package let jobs: [String]

        package init(record: WorkerRecord, liveness: WorkerLiveness, jobs: [String]) {
            self.record = record
            self.liveness = liveness
            self.jobs = jobs
        }
    }

    /// What the report takes from the jobs: a pass over them all, which a viewer that reports often
    /// keeps for as long as the data file is unchanged. The workers' liveness is judged afresh each time.
    package struct Tally: Sendable {
        package let counts: [JobState: Int]
        package let total: Int
        /// The ids of the running jobs of each worker.
        package let running: [ProcessIdentity: [String]]

        package init(_ document: Document) {
            counts = JobManager.counts(document)
            total = document.jobs.count
            var running: [ProcessIdentity: [String]] = [:]
            for i in document.jobs.indices(whereSummary: { $0.state == .processing }) {
                let job = document.jobs.summary(at: i)
                if let w = job.worker { running[w, default: []].append(job.id) }
            }
            self.running = running
        }
    }

    package let counts: [JobState: Int]
    package let total: Int
    package let workers: [Worker]

    package init(_ document: Document, home: QueueHome) {
        self.init(Tally(document), of: document, home: home)
    }

    /// From counts a store made itself, and the live workers it found.
    package init(counts: [JobState: Int], total: Int, workers: [Worker]) {
        self.counts = counts
        self.total = total
        self.workers = workers
    }

    /// With `tally` made from `document` (or from an earlier read of the same file).
    package init(_ tally: Tally, of document: Document, home: QueueHome) {
        counts = tally.counts
        total = tally.total
        workers = document.workers.map { ($0, JobManager.liveness(of: $0, home: home, config: document.config)) }
            .filter { $0.1.isAlive }
            .map { Worker(record: $0.0, liveness: $0.1, jobs: tally.running[$0.0.process] ?? []) }
    }

    /// `{"jobs": {"pending": n, ..., "total": n}, "workers": [{"pid", "slots", "started_at", "liveness"?, "jobs"}]}`
    package var json: String {
        var w = JSONWriter()
        w.raw("{\"jobs\": ")
        Reports.writeCounts(counts, total: total, to: &w)
        w.raw(", \"workers\": ")
        Reports.writeWorkers(workers, to: &w)
        w.raw("}")
        return String(decoding: w.bytes, as: UTF8.self)
    }
}

/// The JSON of the `--json` outputs, written in one place so that every reader of the queue (the
/// command line, the dashboard's endpoints) gives the same shapes.
package enum Reports {
    /// Jobs as a JSON array with the data file's field names, one job per line.
    package static func jobsJSON(_ jobs: [Job]) -> String {
        var w = JSONWriter()
        w.raw("[")
        for (i, job) in jobs.enumerated() {
            w.raw(i == 0 ? "\n  " : ",\n  ")
            DocumentCodec.writeJob(job, to: &w)
        }
        w.raw(jobs.isEmpty ? "]" : "\n]")
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// One job with the data file's field names and an `"explanation"` field added (`show --json`).
    package static func jobJSON(_ job: Job, explanation: String) -> String {
        var w = JSONWriter()
        DocumentCodec.writeJob(job, to: &w)
        w.bytes.removeLast()  // the closing brace
        w.key("explanation"); w.string(explanation)
        w.raw("}")
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// `[{"pid", "slots", "started_at", "liveness"?, "jobs": [ids]}]` (`worker status --json`, and in `status --json`)
    package static func writeWorkers(_ workers: [StatusReport.Worker], to w: inout JSONWriter) {
        w.raw("[")
        for (i, worker) in workers.enumerated() {
            if i > 0 { w.raw(", ") }
            w.raw("{\"pid\": "); w.int(worker.record.process.pid)
            w.raw(", \"slots\": "); w.int(worker.record.slots)
            w.raw(", \"started_at\": "); w.string(worker.record.startedAt.iso8601)
            if let text = worker.liveness.description { w.raw(", \"liveness\": "); w.string(text) }
            w.raw(", \"jobs\": [")
            for (k, id) in worker.jobs.enumerated() {
                if k > 0 { w.raw(", ") }
                w.string(id)
            }
            w.raw("]}")
        }
        w.raw("]")
    }

    /// `{"pending": n, "processing": n, "completed": n, "failed": n, "dead": n, "total": n}`
    package static func writeCounts(_ counts: [JobState: Int], total: Int, to w: inout JSONWriter) {
        w.raw("{")
        for (i, state) in JobState.allCases.enumerated() {
            if i > 0 { w.raw(", ") }
            w.string(state.rawValue); w.raw(": "); w.int(counts[state] ?? 0)
        }
        w.raw(", \"total\": "); w.int(total); w.raw("}")
    }
}

extension JobManager {
    /// Why the job is or is not running, with what `show` adds of a running job's worker: that it
    /// is gone (and who recovers the job), or alive by its lease in another namespace.
    package static func explanation(of job: Job, in document: Document, home: QueueHome, now: Timestamp) -> String {
        var text = explain(job, now: now, in: document)
        if let liveness = ownerLiveness(of: job, in: document, home: home) {
            if !liveness.isAlive {
                text += "; " + lostWorkerNote(job)
            } else if let description = liveness.description {
                text += " (its worker is \(description))"
            }
        }
        return text
    }

    /// How a running job's worker is, judged as a lock-taker would judge it (nil: not running).
    /// Read-only commands recover nothing (they take no lock); the next command that does, recovers it.
    package static func ownerLiveness(of job: Job, in document: Document, home: QueueHome) -> WorkerLiveness? {
        guard job.state == .processing, let owner = job.worker else { return nil }
        if let record = document.workers.first(where: { $0.process == owner }) {
            return liveness(of: record, home: home, config: document.config)
        }
        return owner.isAlive ? .alive : .gone
    }

    /// What `show` and `wait` say of a running job whose worker is gone.
    package static func lostWorkerNote(_ job: Job) -> String {
        "but its worker (pid \(job.worker?.pid ?? 0)) is gone: the next command that changes the queue, or a worker, recovers it"
    }

    /// Every field `show` lists, labelled, in its order. `logPath`: where the job's log is, if it has one.
    package static func fields(of job: Job, explanation: String, logPath: String?) -> [(label: String, value: String)] {
        var rows: [(label: String, value: String)] = [
            ("id", job.id), ("state", job.state.rawValue), ("why", explanation), ("command", job.commandLine),
            ("runs", "\(job.attempts) failed of at most \(job.maxRuns)"),
            ("priority", String(job.priority)),
            ("timeout", job.timeout.map { "\(formatSeconds($0))s" } ?? "config job-timeout"),
            ("cwd", job.cwd ?? "-"), ("created", job.createdAt.iso8601), ("updated", job.updatedAt.iso8601),
        ]
        if job.restarts > 0 { rows.append(("restarts", String(job.restarts))) }
        if let v = job.runAt { rows.append(("run at", v.iso8601)) }
        if let v = job.startedAt { rows.append(("started", v.iso8601)) }
        if let v = job.finishedAt { rows.append(("finished", v.iso8601)) }
        if let v = job.durationMilliseconds { rows.append(("duration", describeDuration(milliseconds: v))) }
        if let v = job.exitCode { rows.append(("exit code", String(v))) }
        if let v = job.lastError { rows.append(("last error", v)) }
        if let v = job.worker { rows.append(("worker", String(v.pid))) }
        if let v = job.child { rows.append(("process", "\(v.pid) (its own process group)")) }
        if let v = job.environment { rows.append(("env", describe(v))) }
        if let logPath { rows.append(("log", logPath)) }
        return rows
    }

    /// The names a job's environment sets (never the values, which may be secrets), and how it applies.
    static func describe(_ environment: JobEnvironment) -> String {
        let names = environment.entries.map(\.name).joined(separator: " ")
        if environment.captured { return "captured at enqueue, replacing the worker's: \(names)" }
        return "\(names) (added to the worker's)"
    }
}

/// One named queue's jobs per state, for the views that split the counts by queue.
package struct QueueCounts: Equatable, Sendable {
    package let name: String
    package let counts: [JobState: Int]
    package let paused: Bool
    package var total: Int { counts.values.reduce(0, +) }

    package init(name: String, counts: [JobState: Int], paused: Bool) {
        self.name = name
        self.counts = counts
        self.paused = paused
    }

    /// Every queue that has jobs or is paused, by name; empty when there is only the default queue
    /// and nothing is paused by queue (then the totals say it all).
    package static func of(_ document: Document) -> [QueueCounts] {
        // Only a job with extras can be in a named queue: most queues have none, and then a pass
        // over the summaries' one flag is all this costs.
        let named = document.jobs.indices(whereSummary: { $0.hasExtras && $0.queue != Job.defaultQueue })
        guard !named.isEmpty || !document.pausedQueues.isEmpty else { return [] }
        var counts: [String: [JobState: Int]] = [:]
        var defaultQueue = JobManager.counts(document)
        for i in named {
            let summary = document.jobs.summary(at: i)
            counts[summary.queue, default: [:]][summary.state, default: 0] += 1
            defaultQueue[summary.state, default: 0] -= 1
        }
        if defaultQueue.values.contains(where: { $0 > 0 }) || document.pausedQueues.contains(Job.defaultQueue) {
            counts[Job.defaultQueue] = defaultQueue.filter { $0.value > 0 }
        }
        for name in document.pausedQueues where counts[name] == nil { counts[name] = [:] }
        return counts.keys.sorted().map { QueueCounts(name: $0, counts: counts[$0]!, paused: document.isPaused($0)) }
    }

    /// `mail: 2 pending, 1 processing, 0 completed, 0 failed, 0 dead (paused)`.
    package var line: String {
        "\(name): " + JobState.allCases.map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", ") + (paused ? " (paused)" : "")
    }
}
