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
        let document = try context.read()
        let workers = try runningWorkers(document, context)
        let counts = JobManager.counts(document)
        if args.has("json") {
            var w = JSONWriter()
            w.raw("{\"jobs\": ")
            Output.writeCounts(counts, total: document.jobs.count, to: &w)
            w.raw(", \"workers\": ")
            writeWorkers(workers, to: &w)
            w.raw("}")
            context.print(String(decoding: w.bytes, as: UTF8.self))
            return 0
        }
        let style = Style.forStandardOutput()
        context.print("Queue Status:")
        context.print("  Jobs:")
        for state in JobState.allCases {
            context.print("    " + style.state(state, state.rawValue.prefix(1).uppercased() + state.rawValue.dropFirst()) + ": \(counts[state] ?? 0)")
        }
        context.print("    Total: \(document.jobs.count)")
        let dead = counts[.dead] ?? 0
        context.print("  DLQ: \(dead) job\(dead == 1 ? "" : "s")")
        printWorkers(workers, context)
        if document.jobs.isEmpty { return 0 }
        if document.jobs.count > statusListsJobsUpTo {
            context.print("  List the jobs with: queuectl list (or list --state STATE)")
            return 0
        }
        context.print("  Jobs by enqueue order:")
        let rows = document.jobs.map { [$0.id, $0.state.rawValue, "\($0.attempts)/\($0.maxRuns)", Output.oneLine($0.commandLine)] }
        context.print(Output.table(["ID", "STATE", "ATTEMPTS", "COMMAND"], rows, flexible: 3, width: context.width - 4,
                                   decorate: [1: { style.state(JobState(rawValue: $0.trimmingWhitespace()) ?? .pending, $0) }])
            .split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "    " + $0 }.joined(separator: "\n"))
        return 0
    }

    /// A worker whose process is alive, and the jobs it runs.
    struct RunningWorker {
        let record: WorkerRecord
        let liveness: WorkerLiveness
        let jobs: [String]
    }

    /// The live workers. Read without the lock, the records of workers that died are still there
    /// until the next command that takes the lock removes them: only the live ones are shown.
    static func runningWorkers(_ document: Document, _ context: Context) throws(QueueError) -> [RunningWorker] {
        let home = try context.store().home
        var running: [ProcessIdentity: [String]] = [:]
        for i in document.jobs.indices(whereSummary: { $0.state == .processing }) {
            let job = document.jobs.summary(at: i)
            if let w = job.worker { running[w, default: []].append(job.id) }
        }
        return document.workers.compactMap { record in
            let liveness = JobManager.liveness(of: record, home: home, config: document.config)
            return liveness.isAlive ? RunningWorker(record: record, liveness: liveness, jobs: running[record.process] ?? []) : nil
        }
    }

    static func writeWorkers(_ workers: [RunningWorker], to w: inout JSONWriter) {
        w.raw("[")
        for (i, worker) in workers.enumerated() {
            if i > 0 { w.raw(", ") }
            w.raw("{\"pid\": "); w.int(worker.record.process.pid)
            w.raw(", \"slots\": "); w.int(worker.record.slots)
            w.raw(", \"started_at\": "); w.string(worker.record.startedAt.iso8601)
            if let text = worker.liveness.description { w.raw(", \"liveness\": "); w.string(text) }
            w.raw(", \"jobs\": [")
            for (k, id) in worker.jobs.enumerated() {
                if k > 0 { w.raw(", ") }
                w.string(id)
            }
            w.raw("]}")
        }
        w.raw("]")
    }

    /// `Workers: N active, M slots`, then a line per worker process.
    static func printWorkers(_ workers: [RunningWorker], _ context: Context) {
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
        let workers = try runningWorkers(try context.read(), context)
        if args.has("json") {
            var w = JSONWriter()
            writeWorkers(workers, to: &w)
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
