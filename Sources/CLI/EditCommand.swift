import JobManager
import QueueStorage
import QueueSystem

extension Commands {
    static let edit = CommandSpec(
        name: "edit",
        summary: "Change a job that is not running: its command, priority, run time, timeout or queue.",
        discussion: """
          The new values are checked as they are at enqueue. A running job cannot be edited (end its
          run with 'queuectl kill' first, or wait for it); a finished one can, ahead of a restart.
        """,
        arguments: [jobArgument],
        options: [
            .value("command", short: "c", "command", "The shell command line to run (a job given as a program and args becomes one)."),
            .value("priority", short: "p", "n", "Higher runs first, -1000 to 1000."),
            .value("run-at", "time", "Not before this ISO 8601 time, e.g. 2026-01-01T02:00:00Z; 'now' runs it as soon as a slot is free."),
            .value("timeout", "seconds", "Terminate a run after this long; 0 goes back to config job-timeout."),
            .value("queue", short: "q", "name", "Move it to this named queue ('default' for the default one)."),
        ],
        run: runEdit
    )

    static func runEdit(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        var edit = JobEdit()
        if let command = args.value("command") {
            try JobInput.checkCommand(command, "--command")
            edit.command = command
        }
        if let text = args.value("priority") { edit.priority = try NumberInput.integer(text, for: "--priority", in: JobInput.priorityRange) }
        if let text = args.value("run-at") { edit.runAt = .some(text == "now" ? nil : try JobInput.time(text, "--run-at")) }
        if let text = args.value("timeout") {
            let seconds = try NumberInput.decimal(text, for: "--timeout", in: 0...JobInput.maximumTimeout, what: "a number of seconds")
            edit.timeout = .some(seconds == 0 ? nil : try JobInput.timeout(seconds, "--timeout"))
        }
        if let queue = args.value("queue") {
            try JobManager.validateQueueName(queue, "--queue")
            edit.queue = queue
        }
        if edit.isEmpty { throw .usage("nothing to change: give --command, --priority, --run-at, --timeout or --queue") }
        let job = try context.transaction(.ids([args.positionals[0]]), onExistingJobs: true) { (s) throws(QueueError) in try JobManager.edit(args.positionals[0], edit, in: &s) }
        context.print(job.id)
        let changed = [("command", edit.command != nil), ("priority", edit.priority != nil), ("run_at", edit.runAt != nil), ("timeout", edit.timeout != nil), ("queue", edit.queue != nil)]
        Console.err("job \(job.id) changed: \(changed.filter(\.1).map(\.0).joined(separator: ", "))\n")
        return 0
    }
}
