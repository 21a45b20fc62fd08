import JobManager
import QueueStorage
import QueueSystem

extension Commands {
    static let prune = CommandSpec(
        name: "prune",
        summary: "Remove completed jobs beyond the retention policy now, with their logs.",
        discussion: """
          Keeps the newest completed jobs (config keep-completed) and those younger than config
          keep-completed-for; the options override both for this run. Workers apply the same policy
          as they finish jobs. Dead jobs are never pruned: they wait in the DLQ. Prints each removed
          job's id.
        """,
        options: [
            .value("keep", "n", "Keep the newest <n> completed jobs; 0 keeps all.", default: "config keep-completed"),
            .value("older-than", "age", "Remove completed jobs that finished longer ago: 3600, 30m, 12h, 7d (0: all).",
                   default: "config keep-completed-for"),
            .flag("dry-run", "Print what would be removed, and remove nothing."),
        ],
        run: runPrune
    )

    static func runPrune(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        var keep: Int?
        if let text = args.value("keep") { keep = try NumberInput.integer(text, for: "--keep", in: QueueConfig.keepCompletedRange) }
        let age = try args.value("older-than").map { (text) throws(QueueError) in try JobInput.duration(text, "--older-than") }
        let dryRun = args.has("dry-run")
        let removed = try context.transaction(.pruning) { (s) throws(QueueError) in
            var retention = Retention(s.document.config)
            if let keep { retention.keep = keep }
            if let age { retention.maximumAge = age }
            if dryRun { return JobManager.expired(retention, in: s.document.jobs, now: s.now).map(\.id) }
            return JobManager.prune(retention, in: &s)
        }
        // The store removed the logs of the jobs removed; a dry run removed no job.
        for id in removed.sorted() { context.print(id) }
        return 0
    }
}
