import JobManager
import QueueStorage
import QueueSystem

extension Commands {
    static let enqueue = CommandSpec(
        name: "enqueue",
        summary: "Add jobs to the queue.",
        discussion: """
          A job is a JSON object: {"id": "job1", "command": "sleep 2", "max_retries": 3, "priority": 0,
          "run_at": "2026-01-01T02:00:00Z", "timeout": 60, "cwd": "/srv/app"}. Only "command" is
          required; an id is generated when missing (letters, digits, '.', '_', '-', at most 128
          characters). A job runs in the directory it was enqueued from unless it says otherwise.
          With '-', standard input holds one job object per line, and all of them are added in one
          transaction, or none. The options apply to every job given; a field set both in a job and
          by an option is an error. Prints each new job's id, one per line.
        """,
        arguments: [ArgumentSpec(name: "json", help: "The job as a JSON object, or '-' to read jobs from standard input.", optional: true)],
        options: [.value("file", short: "f", "path", "Read the job (or one job per line) from a file.")] + jobOptions,
        run: runEnqueue
    )

    static let maximumInputBytes = 64 << 20
    static let maximumLineBytes = 1 << 20

    static func runEnqueue(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        var inputs: [JobInput]
        switch (args.positionals.first, args.value("file")) {
        case (nil, nil): throw .usage("give a job as JSON, '-' for standard input, or --file <path>")
        case (.some, .some): throw .usage("give the job either as an argument or with --file, not both")
        case ("-", nil):
            inputs = try parseJobs(try readInput("-"), source: "standard input")
        case (let json?, nil):
            inputs = [try JobInput(json: Array(json.utf8))]
        case (nil, let path?):
            inputs = try parseJobs(try readInput(path), source: path)
        }
        try enqueue(inputs, options: args, context)
        return 0
    }

    /// One job object, or one per line (blank lines skipped). Errors name the line.
    static func parseJobs(_ bytes: [UInt8], source: String) throws(QueueError) -> [JobInput] {
        // A whole text that is one JSON value is one job (a pretty-printed file, say).
        if (try? JSONValue.parse(bytes)) != nil { return [try JobInput(json: bytes)] }
        var jobs: [JobInput] = []
        for (number, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            if line.count > maximumLineBytes { throw .usage("\(source), line \(number + 1): longer than 1 MiB") }
            do { jobs.append(try JobInput(json: Array(line))) } catch {
                throw .usage("\(source), line \(number + 1): \(error.message)")
            }
        }
        if jobs.isEmpty { throw .usage("no jobs in \(source)") }
        return jobs
    }
}
