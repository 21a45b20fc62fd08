import JobManager
import QueueStorage
import QueueSystem

extension Commands {
    static let list = CommandSpec(
        name: "list",
        summary: "List jobs, in the order they were enqueued or the order they run in.",
        discussion: """
          --sort next lists running jobs first, then the ones runnable now in the order workers claim them
          (higher priority first, then enqueue order), then scheduled ones and retries by when they may
          run, then finished ones. A PRIORITY column appears when a listed job has a priority other than 0.
        """,
        options: [
            .value("state", short: "s", "state", "Only jobs in this state: \(JobState.names)."),
            .value("limit", short: "n", "n", "Show at most the first <n> jobs."),
            .value("sort", "order", "enqueued, or next (the order they run in).", default: "enqueued"),
            .flag("json", "Print a JSON array of jobs, with the data file's field names."),
        ],
        run: runList
    )

    static func parseState(_ text: String?) throws(QueueError) -> JobState? {
        guard let text else { return nil }
        guard let state = JobState(rawValue: text.lowercased()) else {
            throw .usage("unknown state '\(text)'; expected one of: \(JobState.names)")
        }
        return state
    }

    static func runList(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let state = try parseState(args.value("state"))
        var limit = Int.max
        if let text = args.value("limit") {
            limit = try NumberInput.integer(text, for: "--limit", in: 0...Int.max)
        }
        var order = ListOrder.enqueued
        if let text = args.value("sort") {
            guard let given = ListOrder(rawValue: text) else {
                throw .usage("unknown order '\(text)' for --sort; expected one of: \(ListOrder.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            order = given
        }
        // In enqueue order, the first jobs are all a database need read; the order they run in takes every one.
        let scope: JobScope = order == .enqueued && limit != .max ? .first(limit, state: state) : state.map { .state($0) } ?? .all
        let document = try context.read(scope)
        let jobs = JobManager.list(document, state: state, order: order, limit: limit, now: Timestamp.now())
        if args.has("json") {
            context.print(Reports.jobsJSON(jobs))
        } else if jobs.isEmpty {
            context.print(state.map { "No \($0.rawValue) jobs." } ?? "No jobs. Add one with: queuectl enqueue '{\"command\":\"echo hello\"}'")
        } else {
            // Priority matters only where some job has one; a plain queue keeps its narrower table.
            let priorities = jobs.contains { $0.priority != 0 }
            let rows = jobs.map { job in
                let (id, state, attempts) = (job.id, job.state.rawValue, "\(job.attempts)/\(job.maxRuns)")
                let (updated, command) = (job.updatedAt.shortDisplay, Output.oneLine(job.commandLine))
                return priorities ? [id, state, attempts, String(job.priority), updated, command] : [id, state, attempts, updated, command]
            }
            let headers = ["ID", "STATE", "ATTEMPTS"] + (priorities ? ["PRIORITY"] : []) + ["UPDATED (UTC)", "COMMAND"]
            let style = Style.forStandardOutput()
            context.print(Output.table(headers, rows, flexible: headers.count - 1, width: context.width,
                                       decorate: [1: { style.state(JobState(rawValue: $0.trimmingWhitespace()) ?? .pending, $0) }]))
        }
        return 0
    }
}
