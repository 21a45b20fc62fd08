import DLQManager
import JobManager
import QueueStorage
import QueueSystem

extension Commands {
    static let dlq = CommandSpec(
        name: "dlq",
        summary: "The dead letter queue: jobs that failed every retry.",
        subcommands: [dlqList, dlqRetry.takingTheLock, dlqDelete.takingTheLock]
    )

    static let dlqList = CommandSpec(
        name: "list",
        summary: "List jobs in the dead letter queue.",
        options: [.flag("json", "Print a JSON array of jobs.")],
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
        summary: "Remove dead jobs for good.",
        discussion: "  All the ids must be dead jobs, or nothing changes.",
        arguments: [ArgumentSpec(name: "id", help: "A dead job's id.", repeating: true)],
        run: runDLQDelete
    )

    static func runDLQList(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let document = try context.read()
        let jobs = DLQManager.list(document)
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
        let jobs = try context.transaction(onExistingJobs: true) { (s) throws(QueueError) in
            all ? try DLQManager.retryAll(in: &s) : try DLQManager.retry(args.positionals, in: &s)
        }
        for job in jobs { context.print(job.id) }
        for job in jobs { Console.err("job \(job.id) moved from the DLQ back to pending\n") }
        return 0
    }

    static func runDLQDelete(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let jobs = try context.transaction(onExistingJobs: true) { (s) throws(QueueError) in try DLQManager.delete(args.positionals, in: &s) }
        for job in jobs { context.print(job.id) }
        return 0
    }
}
