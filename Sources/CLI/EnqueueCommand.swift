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
        options: [
            .value("file", short: "f", "path", "Read the job (or one job per line) from a file."),
            .value("priority", short: "p", "n", "Higher runs first, -1000 to 1000.", default: "0"),
            .value("run-at", "time", "Not before this ISO 8601 time, e.g. 2026-01-01T02:00:00Z."),
            .value("delay", "duration", "Not before this long from now: 30s, 5m, 2h, 1d."),
            .value("timeout", "seconds", "Terminate a run after this long.", default: "config job-timeout"),
            .value("cwd", "dir", "Run in this directory.", default: "the current directory"),
        ],
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
        let defaults = try jobDefaults(args)
        inputs = try inputs.map { (input) throws(QueueError) in try apply(defaults, to: input) }
        let jobs = try context.transaction { (s) throws(QueueError) in
            var inputs = inputs
            if defaults.delay != nil {
                for i in inputs.indices { inputs[i].runAt = s.now.adding(seconds: defaults.delay!) }
            }
            return try JobManager.enqueue(inputs, in: &s)
        }
        for job in jobs { context.print(job.id) }
        return 0
    }

    /// What the options set for jobs that do not set it themselves.
    struct JobDefaults {
        var priority: Int?
        var runAt: Timestamp?
        var delay: Double?
        var timeout: Double?
        var cwd: String?
        var cwdGiven = false
    }

    static func jobDefaults(_ args: ParsedArguments) throws(QueueError) -> JobDefaults {
        var d = JobDefaults()
        if let text = args.value("priority") { d.priority = try NumberInput.integer(text, for: "--priority", in: JobInput.priorityRange) }
        if args.value("run-at") != nil, args.value("delay") != nil { throw .usage("give --run-at or --delay, not both") }
        if let text = args.value("run-at") { d.runAt = try JobInput.time(text, "--run-at") }
        if let text = args.value("delay") { d.delay = try JobInput.duration(text, "--delay") }
        if let text = args.value("timeout") {
            let seconds = try NumberInput.decimal(text, for: "--timeout", in: 0...JobInput.maximumTimeout, what: "a number of seconds")
            d.timeout = try JobInput.timeout(seconds, "--timeout")
        }
        if let dir = args.value("cwd") {
            guard dir.hasPrefix("/") else { throw .usage("--cwd must be an absolute path, not '\(dir)'") }
            try JobInput.checkDirectory(dir, "--cwd")
            d.cwd = dir
            d.cwdGiven = true
        } else {
            d.cwd = Files.currentDirectory()
        }
        return d
    }

    /// A field set both in the job and by an option is refused: which one was meant is unclear.
    static func apply(_ d: JobDefaults, to input: JobInput) throws(QueueError) -> JobInput {
        var job = input
        func conflict(_ field: String, _ option: String) -> QueueError {
            .usage("'\(field)' is set in the job and by \(option); give it once")
        }
        if let p = d.priority { if job.priority != nil { throw conflict("priority", "--priority") }; job.priority = p }
        if d.runAt != nil || d.delay != nil {
            if job.runAt != nil { throw conflict("run_at", d.delay != nil ? "--delay" : "--run-at") }
            job.runAt = d.runAt
        }
        if let t = d.timeout { if job.timeout != nil { throw conflict("timeout", "--timeout") }; job.timeout = t }
        if d.cwdGiven, job.cwd != nil { throw conflict("cwd", "--cwd") }
        if job.cwd == nil { job.cwd = d.cwd }
        return job
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
