import JobManager
import QueueStorage

extension Commands {
    static let queueOption = OptionSpec.value("queue", short: "q", "name", "Only this named queue.")

    static let pause = CommandSpec(
        name: "pause",
        summary: "Stop every worker of this home from claiming jobs; running jobs go on.",
        discussion: """
          It is state in the data file: it holds across worker restarts until 'queuectl resume'.
          A '--drain' worker then finds nothing runnable and exits. With --queue, only that queue.
        """,
        options: [queueOption],
        run: { args, context throws(QueueError) in try runPause(args, context, pausing: true) }
    )

    static let resume = CommandSpec(
        name: "resume",
        summary: "Let workers claim jobs again after 'queuectl pause'.",
        discussion: "  Without --queue, everything paused resumes: the home and every paused queue.",
        options: [queueOption],
        run: { args, context throws(QueueError) in try runPause(args, context, pausing: false) }
    )

    static func runPause(_ args: ParsedArguments, _ context: Context, pausing: Bool) throws(QueueError) -> Int32 {
        let queue = args.value("queue")
        if let queue { try JobManager.validateQueueName(queue, "--queue") }
        let changed = try context.transaction(.none) { (s) throws(QueueError) in
            pausing ? JobManager.pause(queue: queue, in: &s) : JobManager.resume(queue: queue, in: &s)
        }
        let what = queue.map { "queue '\($0)'" } ?? (pausing ? "the queue" : "everything")
        if pausing {
            context.print(changed ? "paused \(what): workers claim nothing more from it until 'queuectl resume\(queue.map { " --queue \($0)" } ?? "")'"
                                  : "\(what) was already paused")
        } else {
            context.print(changed ? "resumed \(what)" : "\(what) was not paused")
        }
        return 0
    }
}
