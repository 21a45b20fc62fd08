import JobManager
import QueueStorage
import QueueSystem

extension Commands {
    static let enqueue = CommandSpec(
        name: "enqueue",
        summary: "Add jobs to the queue.",
        discussion: """
          A job is a JSON object: {"id": "job1", "command": "sleep 2", "max_retries": 3, "priority": 0}.
          Only "command" is required; an id is generated when missing (letters, digits, '.', '_', '-',
          at most 128 characters). With '-', standard input holds one job object per line, and all of
          them are added in one transaction, or none. Prints each new job's id, one per line.
        """,
        arguments: [ArgumentSpec(name: "json", help: "The job as a JSON object, or '-' to read jobs from standard input.", optional: true)],
        options: [.value("file", short: "f", "path", "Read the job (or one job per line) from a file.")],
        run: runEnqueue
    )

    static let maximumInputBytes = 64 << 20
    static let maximumLineBytes = 1 << 20

    static func runEnqueue(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let inputs: [JobInput]
        switch (args.positionals.first, args.value("file")) {
        case (nil, nil): throw .usage("give a job as JSON, '-' for standard input, or --file <path>")
        case (.some, .some): throw .usage("give the job either as an argument or with --file, not both")
        case ("-", nil):
            let bytes: [UInt8]?
            do { bytes = try Console.readStandardInput(limit: maximumInputBytes) } catch {
                throw .failure("cannot read standard input: \(error)")
            }
            guard let bytes else { throw .usage("standard input is larger than \(maximumInputBytes >> 20) MiB") }
            inputs = try parseJobs(bytes, source: "standard input")
        case (let json?, nil):
            inputs = [try JobInput(json: Array(json.utf8))]
        case (nil, let path?):
            let bytes: [UInt8]?
            do { bytes = try Files.readAll(path) } catch { throw .usage("cannot read \(path): \(error)") }
            guard let bytes else { throw .usage("cannot read \(path): no such file") }
            inputs = try parseJobs(bytes, source: path)
        }
        let jobs = try context.transaction { (s) throws(QueueError) in try JobManager.enqueue(inputs, in: &s) }
        for job in jobs { context.print(job.id) }
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
