import JobManager
import QueueStorage
import QueueSystem

extension Commands {
    static let restart = CommandSpec(
        name: "restart",
        summary: "Run finished jobs (completed or dead) again, as a fresh set of attempts.",
        discussion: """
          Each job goes back to pending with its attempts at 0, behind the jobs already waiting at its
          priority. Its log is kept: the new runs are added under headers that say which restart they
          belong to. All the ids must be finished jobs, or nothing changes.
        """,
        arguments: [ArgumentSpec(name: "id", help: "A completed or dead job's id.", repeating: true)],
        run: runRestart
    )

    static func runRestart(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let jobs = try context.transaction(.ids(args.positionals), onExistingJobs: true) { (s) throws(QueueError) in try JobManager.restart(args.positionals, in: &s) }
        for job in jobs {
            context.print(job.id)
            Console.err("job \(job.id) restarted: back to pending for a fresh set of runs\n")
        }
        return 0
    }
}
