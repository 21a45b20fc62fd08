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
        summary: "Remove pending or failed jobs; terminate running ones first.",
        discussion: """
          A running job's process group gets SIGTERM (SIGKILL 5s later, if need be) from its worker,
          and the job is removed when its run ends instead of being retried. ('queuectl kill' ends a
          run and keeps the job.) All the jobs named must be ones that can be cancelled, or nothing
          changes; --state cancels every job in that state at once.
        """,
        arguments: [ArgumentSpec(name: "id", help: "A job's id.", optional: true, repeating: true)],
        options: [.value("state", short: "s", "state", "Cancel every job in this state: pending, failed or processing.")],
        run: runCancel
    )

    static func runShow(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let id = args.positionals[0]
        let queue = try context.queue()
        let home = queue.home
        let document = try context.read(.ids([id]))
        let job = try JobManager.job(id, in: document)
        let explanation = JobManager.explanation(of: job, in: document, home: home, now: Timestamp.now())
        if args.has("json") {
            context.print(Reports.jobJSON(job, explanation: explanation))
            return 0
        }
        // A database store keeps logs in the database: 'queuectl logs' shows them.
        let logPath = queue is FileQueueStore && home.hasLog(job.id) ? home.logPath(for: job.id) : nil
        let rows = JobManager.fields(of: job, explanation: explanation, logPath: logPath)
        for (label, value) in rows { context.print(label.padding(12) + value) }
        return 0
    }

    static func runRetry(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let id = args.positionals[0]
        let fromDLQ = try context.transaction(.ids([id]), onExistingJobs: true) { (s) throws(QueueError) -> Bool in
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
        let state = try parseState(args.value("state"))
        if state != nil, !args.positionals.isEmpty { throw .usage("give job ids or --state, not both") }
        if state == nil, args.positionals.isEmpty { throw .usage("missing argument <id> (or --state)") }
        if state == .completed || state == .dead {
            throw .usage("cancel --state takes pending, failed or processing; completed jobs go with 'queuectl prune', "
                + "dead ones with 'queuectl dlq delete <id>...'")
        }
        let results = try context.transaction(state.map { .state($0) } ?? .ids(args.positionals), onExistingJobs: true) { (s) throws(QueueError) in
            try JobManager.cancel(state.map { JobManager.ids(in: $0, of: s.document) } ?? args.positionals, in: &s)
        }
        if let state, results.isEmpty { Console.err("no \(state.rawValue) jobs\n") }
        for result in results {
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
        }
        return 0
    }
}
