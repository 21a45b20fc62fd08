import JobManager
import QueueStorage
import QueueSystem

extension Commands {
    static let status = CommandSpec(
        name: "status",
        summary: "Show how many jobs are in each state, and the active workers; with an id, one job.",
        discussion: """
          A line per state ('Pending: 5'), 'Total: N', 'DLQ: N jobs', then 'Workers: N active, M slots'
          and a line per worker process. A queue of at most \(statusListsJobsUpTo) jobs lists them too.
          'status <id>' is 'show <id>'. With --watch, a live view redrawn in place, as 'queuectl top'.
        """,
        arguments: [ArgumentSpec(name: "id", help: "A job to show instead (as 'queuectl show').", optional: true)],
        options: [.flag("json", "Print JSON: {\"jobs\": {...}, \"workers\": [...]}."), .flag("watch", "Redraw a live view until 'q' or Ctrl+C.")]
            + watchOptions,
        run: runStatus
    )

    /// A queue this small is listed under the counts, as a person checking on a few jobs expects.
    static let statusListsJobsUpTo = 10

    static func runStatus(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        if !args.positionals.isEmpty {
            if args.has("watch") { throw .usage("--watch shows the whole queue, not one job") }
            return try runShow(args, context)
        }
        if args.has("watch") {
            if args.has("json") { throw .usage("--watch and --json do not go together") }
            return try runWatch(args, context)
        }
        if args.value("interval") != nil { throw .usage("--interval goes with --watch") }
        let status = try context.status(listingUpTo: statusListsJobsUpTo)
        let report = status.report
        let counts = report.counts
        if args.has("json") {
            context.print(report.json)
            return 0
        }
        let style = Style.forStandardOutput()
        context.print("Queue Status:")
        // The data file is the default, and its status looks as it always has.
        if try context.postgresConnection() != nil { context.print("  Store: \(try context.queue().location)") }
        context.print("  Jobs:")
        for state in JobState.allCases {
            context.print("    " + style.state(state, state.rawValue.prefix(1).uppercased() + state.rawValue.dropFirst()) + ": \(counts[state] ?? 0)")
        }
        context.print("    Total: \(report.total)")
        let dead = counts[.dead] ?? 0
        context.print("  DLQ: \(dead) job\(dead == 1 ? "" : "s")")
        if status.paused { context.print("  Paused: no worker claims a job until 'queuectl resume'; running jobs go on") }
        if !status.queues.isEmpty {
            context.print("  Queues:")
            for queue in status.queues { context.print("    " + queue.line) }
        }
        printWorkers(report.workers, context)
        if report.total == 0 { return 0 }
        guard let jobs = status.jobs else {
            context.print("  List the jobs with: queuectl list (or list --state STATE)")
            return 0
        }
        context.print("  Jobs by enqueue order:")
        let rows = jobs.map { [$0.id, $0.state.rawValue, "\($0.attempts)/\($0.maxRuns)", Output.oneLine($0.commandLine)] }
        context.print(Output.table(["ID", "STATE", "ATTEMPTS", "COMMAND"], rows, flexible: 3, width: context.width - 4,
                                   decorate: [1: { style.state(JobState(rawValue: $0.trimmingWhitespace()) ?? .pending, $0) }])
            .split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "    " + $0 }.joined(separator: "\n"))
        return 0
    }

    /// `Workers: N active, M slots`, then a line per worker process.
    static func printWorkers(_ workers: [StatusReport.Worker], _ context: Context) {
        context.print("  Workers: \(workers.count) active, \(workers.reduce(0) { $0 + $1.record.slots }) slots")
        if workers.isEmpty { context.print("    none running; start one with: queuectl worker start") }
        for worker in workers {
            let w = worker.record
            let liveness = worker.liveness.description.map { " (\($0))" } ?? ""
            let slots = "\(w.slots) slot" + (w.slots == 1 ? "" : "s")
            let doing = worker.jobs.isEmpty ? "idle" : "running " + worker.jobs.joined(separator: ", ")
            context.print("    pid \(w.process.pid)\(liveness): \(slots), since \(w.startedAt.shortDisplay) UTC, \(doing)")
        }
    }

    static func runWorkerStatus(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let workers = try context.status(listingUpTo: 0).report.workers
        if args.has("json") {
            var w = JSONWriter()
            Reports.writeWorkers(workers, to: &w)
            context.print(String(decoding: w.bytes, as: UTF8.self))
        } else {
            printWorkers(workers, context)
        }
        return 0
    }
}

extension String {
    func ifEmpty(_ replacement: String) -> String { isEmpty ? replacement : self }
}
