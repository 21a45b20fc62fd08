import DLQManager
import JobManager
import QueueStorage
import QueueSystem

extension Commands {
    static let dlq = CommandSpec(
        name: "dlq",
        summary: "The dead letter queue: jobs that failed every retry.",
        subcommands: [dlqList, dlqRetry.takingTheLock, dlqDelete.takingTheLock, dlqSummary]
    )

    static let dlqList = CommandSpec(
        name: "list",
        summary: "List jobs in the dead letter queue, those that died first first.",
        options: [
            .value("limit", short: "n", "n", "Show at most the first <n> jobs."),
            .flag("json", "Print a JSON array of jobs."),
        ],
        run: runDLQList
    )

    static let dlqRetry = CommandSpec(
        name: "retry",
        summary: "Send dead jobs back to pending, with their attempts reset to 0.",
        discussion: "  The last error is kept for reference. All the ids must be dead jobs, or nothing changes.",
        arguments: [ArgumentSpec(name: "id", help: "A dead job's id.", optional: true, repeating: true)],
        options: [.flag("all", "Retry every job in the DLQ.")],
        run: runDLQRetry
    )

    static let dlqDelete = CommandSpec(
        name: "delete",
        summary: "Remove dead jobs for good, with their logs.",
        discussion: "  All the ids must be dead jobs, or nothing changes. --all removes every dead job in one transaction.",
        arguments: [ArgumentSpec(name: "id", help: "A dead job's id.", optional: true, repeating: true)],
        options: [.flag("all", "Delete every job in the DLQ.")],
        run: runDLQDelete
    )

    static let dlqSummary = CommandSpec(
        name: "summary",
        summary: "Dead jobs grouped by their last error, the commonest first.",
        discussion: "  One line per distinct last error: how many dead jobs ended with it, and the first of them.",
        options: [.flag("json", "Print a JSON array: {\"last_error\", \"count\", \"jobs\"} per error.")],
        run: runDLQSummary
    )

    static func runDLQList(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        var limit = Int.max
        if let text = args.value("limit") { limit = try NumberInput.integer(text, for: "--limit", in: 0...Int.max) }
        let document = try context.read(.state(.dead))
        let jobs = Array(DLQManager.list(document).prefix(limit))
        if args.has("json") {
            context.print(Reports.jobsJSON(jobs))
        } else if jobs.isEmpty {
            context.print("The dead letter queue is empty.")
        } else {
            let rows = jobs.map { job in
                [job.id, String(job.attempts), job.updatedAt.shortDisplay, job.lastError ?? "-", Output.oneLine(job.commandLine)]
            }
            context.print(Output.table(["ID", "ATTEMPTS", "DIED (UTC)", "LAST ERROR", "COMMAND"], rows, flexible: 4, width: context.width))
        }
        return 0
    }

    static func runDLQRetry(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let all = args.has("all")
        if all, !args.positionals.isEmpty { throw .usage("give job ids or --all, not both") }
        if !all, args.positionals.isEmpty { throw .usage("missing argument <id> (or --all)") }
        let jobs = try context.transaction(all ? .state(.dead) : .ids(args.positionals), onExistingJobs: true) { (s) throws(QueueError) in
            all ? try DLQManager.retryAll(in: &s) : try DLQManager.retry(args.positionals, in: &s)
        }
        for job in jobs { context.print(job.id) }
        for job in jobs { Console.err("job \(job.id) moved from the DLQ back to pending\n") }
        return 0
    }

    static func runDLQDelete(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let all = args.has("all")
        if all, !args.positionals.isEmpty { throw .usage("give job ids or --all, not both") }
        if !all, args.positionals.isEmpty { throw .usage("missing argument <id> (or --all)") }
        // With --all, the jobs are those dead when the lock is taken: all of them go, or none.
        let jobs = try context.transaction(all ? .state(.dead) : .ids(args.positionals), onExistingJobs: true) { (s) throws(QueueError) in
            try DLQManager.delete(all ? DLQManager.list(s.document).map(\.id) : args.positionals, in: &s)
        }
        for job in jobs { context.print(job.id) }
        return 0
    }

    /// Dead jobs with the same last error, in the order they were enqueued.
    struct FailureGroup {
        let lastError: String
        var ids: [String]
    }

    /// The DLQ grouped by last error, the largest group first (then by the error's text).
    static func failureGroups(_ jobs: [Job]) -> [FailureGroup] {
        var groups: [FailureGroup] = []
        var index: [String: Int] = [:]
        for job in jobs {
            let error = job.lastError ?? "(no error recorded)"
            if let i = index[error] {
                groups[i].ids.append(job.id)
            } else {
                index[error] = groups.count
                groups.append(FailureGroup(lastError: error, ids: [job.id]))
            }
        }
        return groups.sorted { $0.ids.count != $1.ids.count ? $0.ids.count > $1.ids.count : $0.lastError < $1.lastError }
    }

    static func runDLQSummary(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let groups = failureGroups(DLQManager.list(try context.read(.state(.dead))))
        if args.has("json") {
            var w = JSONWriter()
            w.raw("[")
            for (i, group) in groups.enumerated() {
                w.raw(i == 0 ? "\n  {" : ",\n  {")
                w.key("last_error", first: true); w.string(group.lastError)
                w.key("count"); w.int(group.ids.count)
                w.key("jobs"); w.raw("[")
                for (k, id) in group.ids.enumerated() {
                    if k > 0 { w.raw(", ") }
                    w.string(id)
                }
                w.raw("]}")
            }
            w.raw(groups.isEmpty ? "]" : "\n]")
            context.print(String(decoding: w.bytes, as: UTF8.self))
        } else if groups.isEmpty {
            context.print("The dead letter queue is empty.")
        } else {
            let rows = groups.map { group in
                let shown = group.ids.prefix(3).joined(separator: ", ")
                return [String(group.ids.count), Output.oneLine(group.lastError), shown + (group.ids.count > 3 ? ", ... (\(group.ids.count - 3) more)" : "")]
            }
            context.print(Output.table(["COUNT", "LAST ERROR", "JOBS"], rows, flexible: 2, width: context.width))
        }
        return 0
    }
}
