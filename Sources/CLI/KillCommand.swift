import JobManager
import QueueStorage
import QueueSystem

extension Commands {
    static let kill = CommandSpec(
        name: "kill",
        summary: "Terminate running jobs, keeping them, their history and their logs; they are recorded dead.",
        discussion: """
          Each job's worker ends its run as it ends one over its timeout (SIGTERM to its process group,
          SIGKILL 5s later if need be) and records the job dead with the last error "killed", so it
          stays in the DLQ, its log kept, until 'queuectl dlq retry' or 'queuectl restart'. All the ids
          must be running jobs, or nothing changes. ('queuectl cancel' removes a job instead.)
        """,
        arguments: [ArgumentSpec(name: "id", help: "A running job's id.", optional: true, repeating: true)],
        options: [.flag("all", "Kill every running job.")],
        run: runKill
    )

    static func runKill(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let all = args.has("all")
        if all, !args.positionals.isEmpty { throw .usage("give job ids or --all, not both") }
        if !all, args.positionals.isEmpty { throw .usage("missing argument <id> (or --all)") }
        let jobs = try context.transaction(all ? .state(.processing) : .ids(args.positionals), onExistingJobs: true) { (s) throws(QueueError) in
            all ? try JobManager.killAll(in: &s) : try JobManager.kill(args.positionals, in: &s)
        }
        if jobs.isEmpty { Console.err("no job is running\n") }
        for job in jobs {
            context.print(job.id)
            Console.err("job \(job.id) is being killed by worker \(job.worker.map { String($0.pid) } ?? "?"); it stays, dead, once its run has ended\n")
        }
        return 0
    }
}
