import DLQManager
import JobManager
import QueueStorage
import QueueSystem

extension Commands {
    static let jobArgument = ArgumentSpec(name: "id", help: "The job's id.")

    static let show = CommandSpec(
        name: "show",
        summary: "Show everything about one job, and why it is or is not running now.",
        arguments: [jobArgument],
        options: [.flag("json", "Print the job as a JSON object, with an \"explanation\" field added.")],
        run: runShow
    )

    static let retry = CommandSpec(
        name: "retry",
        summary: "Run a failed job now instead of waiting for its backoff; a dead one again from the DLQ.",
        discussion: "  A dead job goes back to pending with its attempts reset, as with 'queuectl dlq retry'.",
        arguments: [jobArgument],
        run: runRetry
    )

    static let cancel = CommandSpec(
        name: "cancel",
        summary: "Remove a pending or failed job; terminate a running one first.",
        discussion: """
          A running job's process group gets SIGTERM (SIGKILL 5s later, if need be) from its worker,
          and the job is removed when its run ends instead of being retried.
        """,
        arguments: [jobArgument],
        run: runCancel
    )

    static let logs = CommandSpec(
        name: "logs",
        summary: "Print a job's output: every run's stdout and stderr under a header line.",
        discussion: "  The log is $QUEUECTL_HOME/logs/<id>.log, bounded by config max-log-bytes.",
        arguments: [jobArgument],
        run: runLogs
    )

    static let output = CommandSpec(
        name: "output",
        summary: "A job's output (same as 'queuectl logs').",
        subcommands: [CommandSpec(name: "get", summary: logs.summary, discussion: logs.discussion,
                                  arguments: [jobArgument], run: runLogs)]
    )

    static func runShow(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let id = args.positionals[0]
        let home = try context.store().home
        let document = try context.read()
        let job = try JobManager.job(id, in: document)
        var explanation = JobManager.explain(job, now: Timestamp.now(), in: document)
        if let owner = ownerNote(of: job, in: document, home: home) { explanation += owner }
        if args.has("json") {
            var w = JSONWriter()
            DocumentCodec.writeJob(job, to: &w)
            w.bytes.removeLast()  // the closing brace
            w.key("explanation"); w.string(explanation)
            w.raw("}")
            context.print(String(decoding: w.bytes, as: UTF8.self))
            return 0
        }
        var rows: [(String, String)] = [
            ("id", job.id), ("state", job.state.rawValue), ("why", explanation), ("command", job.commandLine),
            ("runs", "\(job.attempts) failed of at most \(job.maxRuns)"),
            ("priority", String(job.priority)),
            ("timeout", job.timeout.map { "\(formatSeconds($0))s" } ?? "config job-timeout"),
            ("cwd", job.cwd ?? "-"), ("created", job.createdAt.iso8601), ("updated", job.updatedAt.iso8601),
        ]
        if let v = job.runAt { rows.append(("run at", v.iso8601)) }
        if let v = job.startedAt { rows.append(("started", v.iso8601)) }
        if let v = job.finishedAt { rows.append(("finished", v.iso8601)) }
        if let v = job.durationMilliseconds { rows.append(("duration", describeDuration(milliseconds: v))) }
        if let v = job.exitCode { rows.append(("exit code", String(v))) }
        if let v = job.lastError { rows.append(("last error", v)) }
        if let v = job.worker { rows.append(("worker", String(v.pid))) }
        if let v = job.child { rows.append(("process", "\(v.pid) (its own process group)")) }
        if let v = job.environment { rows.append(("env", describe(v))) }
        if home.hasLog(job.id) { rows.append(("log", home.logPath(for: job.id))) }
        for (label, value) in rows { context.print(label.padding(12) + value) }
        return 0
    }

    /// For a running job whose worker is gone: what happens next. Read-only commands recover nothing
    /// (they take no lock); the next command that does, recovers it.
    /// How a running job's worker is, judged as a lock-taker would judge it (nil: not running).
    static func ownerLiveness(of job: Job, in document: Document, home: QueueHome) -> WorkerLiveness? {
        guard job.state == .processing, let owner = job.worker else { return nil }
        if let record = document.workers.first(where: { $0.process == owner }) {
            return JobManager.liveness(of: record, home: home, config: document.config)
        }
        return owner.isAlive ? .alive : .gone
    }

    /// What `show` and `wait` say of a running job whose worker is gone.
    static func lostWorkerNote(_ job: Job) -> String {
        "but its worker (pid \(job.worker?.pid ?? 0)) is gone: the next command that changes the queue, or a worker, recovers it"
    }

    /// What `show` adds about a running job's worker: that it is gone, or alive by its lease in another namespace.
    static func ownerNote(of job: Job, in document: Document, home: QueueHome) -> String? {
        guard let liveness = ownerLiveness(of: job, in: document, home: home) else { return nil }
        if !liveness.isAlive { return "; " + lostWorkerNote(job) }
        return liveness.description.map { " (its worker is \($0))" }
    }

    static func runRetry(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let id = args.positionals[0]
        let fromDLQ = try context.transaction(onExistingJobs: true) { (s) throws(QueueError) -> Bool in
            if let i = s.document.index(of: id), s.document.jobs.summary(at: i).state == .dead {
                _ = try DLQManager.retry([id], in: &s)
                return true
            }
            _ = try JobManager.retryNow(id, in: &s)
            return false
        }
        context.print(id)
        Console.err(fromDLQ ? "job \(id) moved from the DLQ back to pending\n" : "job \(id) is due now; it runs when a worker slot is free\n")
        return 0
    }

    static func runCancel(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let result = try context.transaction(onExistingJobs: true) { (s) throws(QueueError) in try JobManager.cancel(args.positionals[0], in: &s) }
        switch result {
        case .removed(let job):
            context.print(job.id)
            Console.err("job \(job.id) cancelled and removed\n")
        case .terminating(let job):
            // The worker terminates it too when it next looks; signalling here is quicker.
            if let child = job.child, child.groupIsStillItsOwn { Processes.signalGroup(child.pid, .terminate) }
            Console.err("job '\(job.id)' is running on worker \(job.worker.map { String($0.pid) } ?? "?"): "
                + "terminating it; it is removed when its run ends\n")
            context.print(job.id)
        }
        return 0
    }

    static func runLogs(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let id = args.positionals[0]
        let home = try context.store().home
        let exists = try context.read().index(of: id) != nil
        guard let bytes = try home.readLog(id) else {
            if !exists { throw .failure("no job with id '\(id)'") }
            Console.err("job '\(id)' has no output yet\n")
            return 0
        }
        context.flush()
        try? Files.writeAll(1, bytes)
        return 0
    }
}
