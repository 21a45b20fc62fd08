import JobManager
import QueueStorage

extension Commands {
    static let list = CommandSpec(
        name: "list",
        summary: "List jobs, in the order they were enqueued.",
        options: [
            .value("state", short: "s", "state", "Only jobs in this state: \(JobState.names)."),
            .value("limit", short: "n", "n", "Show at most the first <n> jobs."),
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
        let document = try context.read()
        let jobs = JobManager.list(document, state: state, limit: limit)
        if args.has("json") {
            context.print(Reports.jobsJSON(jobs))
        } else if jobs.isEmpty {
            context.print(state.map { "No \($0.rawValue) jobs." } ?? "No jobs. Add one with: queuectl enqueue '{\"command\":\"echo hello\"}'")
        } else {
            let rows = jobs.map { job in
                [job.id, job.state.rawValue, "\(job.attempts)/\(job.maxRuns)", job.updatedAt.shortDisplay, Output.oneLine(job.commandLine)]
            }
            let style = Style.forStandardOutput()
            context.print(Output.table(["ID", "STATE", "ATTEMPTS", "UPDATED (UTC)", "COMMAND"], rows, flexible: 4, width: context.width,
                                       decorate: [1: { style.state(JobState(rawValue: $0.trimmingWhitespace()) ?? .pending, $0) }]))
        }
        return 0
    }
}
