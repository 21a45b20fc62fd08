import JobManager
import QueueStorage
import QueueSystem

extension Commands {
    static let status = CommandSpec(
        name: "status",
        summary: "Show how many jobs are in each state, and the active workers.",
        discussion: "  With --watch, a live view redrawn in place, as 'queuectl top'.",
        options: [.flag("json", "Print JSON: {\"jobs\": {...}, \"workers\": [...]}."), .flag("watch", "Redraw a live view until 'q' or Ctrl+C.")]
            + watchOptions,
        run: runStatus
    )

    static func runStatus(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        if args.has("watch") {
            if args.has("json") { throw .usage("--watch and --json do not go together") }
            return try runWatch(args, context)
        }
        if args.value("interval") != nil { throw .usage("--interval goes with --watch") }
        let document = try context.read()
        // Read without the lock, the records of workers that died are still there until the next
        // command that takes the lock removes them: show only the live ones.
        let home = try context.store().home
        let workers = document.workers.map { ($0, JobManager.liveness(of: $0, home: home, config: document.config)) }
            .filter { $0.1.isAlive }
        let counts = JobManager.counts(document)
        var running: [ProcessIdentity: [String]] = [:]
        for i in document.jobs.indices(whereSummary: { $0.state == .processing }) {
            let job = document.jobs.summary(at: i)
            if let w = job.worker { running[w, default: []].append(job.id) }
        }
        if args.has("json") {
            var w = JSONWriter()
            w.raw("{\"jobs\": ")
            Output.writeCounts(counts, total: document.jobs.count, to: &w)
            w.raw(", \"workers\": [")
            for (i, (worker, liveness)) in workers.enumerated() {
                if i > 0 { w.raw(", ") }
                w.raw("{\"pid\": "); w.int(worker.process.pid)
                w.raw(", \"slots\": "); w.int(worker.slots)
                w.raw(", \"started_at\": "); w.string(worker.startedAt.iso8601)
                if let text = liveness.description { w.raw(", \"liveness\": "); w.string(text) }
                w.raw(", \"jobs\": ["); 
                for (k, id) in (running[worker.process] ?? []).enumerated() {
                    if k > 0 { w.raw(", ") }
                    w.string(id)
                }
                w.raw("]}")
            }
            w.raw("]}")
            context.print(String(decoding: w.bytes, as: UTF8.self))
            return 0
        }
        let rows = JobState.allCases.map { [$0.rawValue, String(counts[$0] ?? 0)] } + [["total", String(document.jobs.count)]]
        let style = Style.forStandardOutput()
        context.print(Output.table(["STATE", "JOBS"], rows, decorate: [0: { style.state(JobState(rawValue: $0.trimmingWhitespace()) ?? .pending, $0) }]))
        context.print("")
        if workers.isEmpty {
            context.print("No workers are running. Start one with: queuectl worker start")
        } else {
            let rows = workers.map { w, liveness in
                [String(w.process.pid) + (liveness.description.map { " (\($0))" } ?? ""),
                 String(w.slots), w.startedAt.shortDisplay,
                 (running[w.process] ?? []).joined(separator: ", ").ifEmpty("-")]
            }
            context.print(Output.table(["WORKER", "SLOTS", "SINCE (UTC)", "RUNNING"], rows, flexible: 3, width: context.width))
        }
        return 0
    }
}

extension String {
    func ifEmpty(_ replacement: String) -> String { isEmpty ? replacement : self }
}
