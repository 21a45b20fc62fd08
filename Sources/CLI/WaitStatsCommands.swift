import JobManager
import QueueStorage
import QueueSystem

extension Commands {
    static let wait = CommandSpec(
        name: "wait",
        summary: "Block until jobs finish: exit 0 if all completed, 1 if any is dead, 124 on timeout.",
        discussion: "  Prints each job's id and final state. With one id, a dead job's own exit code is the exit code\n"
            + "  (1 when it has none: killed, timed out, a signal), so a job is one step of a script:\n"
            + "    id=$(queuectl enqueue '{\"command\":\"make\"}') && queuectl wait \"$id\"\n"
            + "  Says on stderr, after a second, when no worker is running to make progress.",
        arguments: [ArgumentSpec(name: "id", help: "A job's id.", repeating: true)],
        options: [.value("timeout", short: "t", "seconds", "Give up after this long (exit 124).")],
        run: runWait
    )

    static let stats = CommandSpec(
        name: "stats",
        summary: "Show counts, success rate, run times, recent throughput, retries and DLQ moves.",
        options: [.flag("json", "Print JSON.")],
        run: runStats
    )

    static func runWait(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        var deadline: Int64?
        if let text = args.value("timeout") {
            let seconds = try NumberInput.decimal(text, for: "--timeout", in: QueueConfig.secondsRange, what: "a number of seconds")
            deadline = monotonicMilliseconds() + Int64(seconds * 1000)
        }
        let ids = args.positionals
        let store = try context.queue()
        var watcher: (any ChangeNotifier)?
        var toldLost: Set<String> = []
        var noWorkerNotice = NoWorkerNotice()
        while true {
            // Without the lock: waiting must not hold up the workers it waits for, nor queue behind them.
            let document = try store.read(.ids(ids))
            let states = try ids.map { (id) throws(QueueError) in
                guard let i = document.index(of: id) else { throw .failure("no job with id '\(id)' (it may have been cancelled or deleted)") }
                let summary = document.jobs.summary(at: i)
                if summary.state == .processing, !toldLost.contains(id),
                   JobManager.ownerLiveness(of: document.jobs[i], in: document, home: store.home)?.isAlive == false {
                    toldLost.insert(id)
                    Console.err("job '\(id)' is running, \(JobManager.lostWorkerNote(document.jobs[i]))\n")
                }
                return summary.state
            }
            if states.allSatisfy({ $0 == .completed || $0 == .dead }) {
                for (id, state) in zip(ids, states) { context.print("\(id) \(state.rawValue)") }
                if ids.count == 1, let i = document.index(of: ids[0]) { return finalExitCode(document.jobs[i]) }
                return states.contains(.dead) ? 1 : 0
            }
            noWorkerNotice.check(document, home: store.home)
            guard let watcher else {
                // The queue exists (it has these jobs). Watch it, then read again: no write is missed.
                watcher = try store.changeNotifier()
                continue
            }
            // Woken by any write to the queue; a second at most, should a wake-up be missed.
            var timeout = noWorkerNotice.nextCheckIn(atMost: 1000)
            if let deadline {
                let left = deadline - monotonicMilliseconds()
                if left <= 0 {
                    Console.err("Error: timed out waiting for \(zip(ids, states).filter { $0.1 != .completed && $0.1 != .dead }.map(\.0).joined(separator: ", "))\n")
                    return 124
                }
                timeout = min(timeout, left)
            }
            waitForInput([watcher.descriptor], timeoutMilliseconds: Int(timeout))
            watcher.drain()
        }
    }

    /// The exit code that stands for a finished job: 0 completed; else its last run's exit code, or 1
    /// when that run has none (a signal, a timeout, a kill, a start that failed, a lost worker).
    static func finalExitCode(_ job: Job) -> Int32 {
        if job.state == .completed { return 0 }
        guard let code = job.exitCode, (1...255).contains(code) else { return 1 }
        return Int32(code)
    }

    /// What a command waiting for jobs says once it has waited a second with no worker running, and
    /// again each time the last worker is gone after one was seen.
    struct NoWorkerNotice {
        private let since = monotonicMilliseconds()
        private var told = false
        static let afterMilliseconds: Int64 = 1000

        mutating func check(_ document: Document, home: QueueHome) {
            let running = document.workers.contains { JobManager.liveness(of: $0, home: home, config: document.config).isAlive }
            if running { told = false; return }
            guard !told, monotonicMilliseconds() - since >= Self.afterMilliseconds else { return }
            told = true
            Console.err("no worker is running to make progress; start one with: queuectl worker start\n")
        }

        /// How long to wait before looking again, so that the notice is not late.
        func nextCheckIn(atMost limit: Int64) -> Int64 {
            let left = since + Self.afterMilliseconds - monotonicMilliseconds()
            return told || left <= 0 ? limit : min(limit, left)
        }
    }

    static func runStats(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let (document, now) = (try context.read(.all), Timestamp.now())
        let counts = JobManager.counts(document)
        let c = document.counters
        let durations = document.jobs.jobs { $0.state != .processing }.compactMap(\.durationMilliseconds).sorted()
        func percentile(_ p: Double) -> Int64? {
            durations.isEmpty ? nil : durations[min(durations.count - 1, Int((p * Double(durations.count)).rounded(.up)) - 1)]
        }
        let hourAgo = Timestamp(milliseconds: now.milliseconds - 3_600_000)
        let lastHour = document.jobs.indices(whereSummary: { ($0.state == .completed || $0.state == .dead) && $0.finishedAt > hourAgo }).count
        let successRate = c.runs == 0 ? nil : Double(c.runs - c.failedRuns) / Double(c.runs)
        if args.has("json") {
            var w = JSONWriter()
            w.raw("{\"jobs\": ")
            Reports.writeCounts(counts, total: document.jobs.count, to: &w)
            w.key("runs"); w.int(c.runs)
            w.key("failed_runs"); w.int(c.failedRuns)
            w.key("success_rate"); if let successRate { w.double((successRate * 10_000).rounded() / 10_000) } else { w.raw("null") }
            w.key("run_time_ms"); w.raw("{\"median\": ")
            if let m = percentile(0.5) { w.int(m) } else { w.raw("null") }
            w.raw(", \"p95\": ")
            if let p = percentile(0.95) { w.int(p) } else { w.raw("null") }
            w.raw("}")
            w.key("finished_last_hour"); w.int(lastHour)
            w.key("retries"); w.int(c.retries)
            w.key("dlq_moves"); w.int(c.dlqMoves)
            w.raw("}")
            context.print(String(decoding: w.bytes, as: UTF8.self))
            return 0
        }
        let rows: [[String]] = JobState.allCases.map { [$0.rawValue, String(counts[$0] ?? 0)] } + [
            ["total", String(document.jobs.count)],
            ["runs", String(c.runs)],
            ["success rate", successRate.map { "\(((($0 * 1000).rounded()) / 10))%" } ?? "-"],
            ["run time median", percentile(0.5).map { describeDuration(milliseconds: $0) } ?? "-"],
            ["run time p95", percentile(0.95).map { describeDuration(milliseconds: $0) } ?? "-"],
            ["finished in the last hour", String(lastHour)],
            ["retries", String(c.retries)],
            ["moved to the DLQ", String(c.dlqMoves)],
        ]
        for row in rows { context.print(row[0].padding(27) + row[1]) }
        return 0
    }
}
