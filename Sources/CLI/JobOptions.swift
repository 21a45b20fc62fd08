import JobManager
import QueueStorage
import QueueSystem

/// The options that describe a job, shared by `enqueue` and `add`: one list, one reading of them.
extension Commands {
    static let jobOptions: [OptionSpec] = [
        .value("id", "id", "The job's id (one job only).", default: "generated"),
        .value("priority", short: "p", "n", "Higher runs first, -1000 to 1000.", default: "0"),
        .value("run-at", "time", "Not before this ISO 8601 time, e.g. 2026-01-01T02:00:00Z."),
        .value("delay", "duration", "Not before this long from now: 30s, 5m, 2h, 1d."),
        .value("timeout", "seconds", "Terminate a run after this long.", default: "config job-timeout"),
        .value("cwd", "dir", "Run in this directory.", default: "the current directory"),
        .value("max-retries", "n", "This job's max_retries, 0 to 1000.", default: "config max-retries"),
        .repeating("env", "name=value", "Add this variable to the worker's environment for the job."),
        .flag("capture-env", "Run the job with this shell's whole environment instead of the worker's."),
        .value("queue", short: "q", "name", "The named queue it goes to.", default: "default"),
        .repeating("after", "id", "Run only once this job has completed; if it dies or is cancelled, so does this one."),
    ]

    /// What the options set for jobs that do not set it themselves.
    struct JobDefaults {
        var id: String?
        var priority: Int?
        var runAt: Timestamp?
        var delay: Double?
        var timeout: Double?
        var cwd: String?
        var cwdGiven = false
        var maxRetries: Int?
        /// `--env` variables, in no particular order (a name given twice is refused).
        var variables: [String: String] = [:]
        var captured: [String: String]?
        var queue: String?
        var after: [String] = []
    }

    static func jobDefaults(_ args: ParsedArguments) throws(QueueError) -> JobDefaults {
        var d = JobDefaults()
        if let id = args.value("id") {
            try JobInput.validateID(id)
            d.id = id
        }
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
        if let text = args.value("max-retries") { d.maxRetries = try NumberInput.integer(text, for: "--max-retries", in: QueueConfig.maxRetriesRange) }
        for pair in args.all("env") {
            guard let eq = pair.firstIndex(of: "=") else { throw .usage("--env takes NAME=VALUE, not '\(pair)'") }
            let name = String(pair[..<eq])
            if let problem = JobEnvironment.problem(withName: name) { throw .usage("--env '\(pair)': \(problem)") }
            if d.variables[name] != nil { throw .usage("--env sets '\(name)' more than once") }
            d.variables[name] = String(pair[pair.index(after: eq)...])
        }
        if args.has("capture-env") { d.captured = Console.allEnvironment() }
        if let queue = args.value("queue") {
            try JobManager.validateQueueName(queue, "--queue")
            d.queue = queue
        }
        for id in args.all("after") {
            do { try JobInput.validateID(id) } catch { throw .usage("--after \(id): \(error.message)") }
            if !d.after.contains(id) { d.after.append(id) }
        }
        return d
    }

    /// A field set both in the job and by an option is refused: which one was meant is unclear. A
    /// job's `env` and `--env` may both be given, for different names; the captured environment is
    /// what both add to.
    static func apply(_ d: JobDefaults, to input: JobInput) throws(QueueError) -> JobInput {
        var job = input
        func conflict(_ field: String, _ option: String) -> QueueError {
            .usage("'\(field)' is set in the job and by \(option); give it once")
        }
        if let id = d.id { if job.id != nil { throw conflict("id", "--id") }; job.id = id }
        if let p = d.priority { if job.priority != nil { throw conflict("priority", "--priority") }; job.priority = p }
        if d.runAt != nil || d.delay != nil {
            if job.runAt != nil { throw conflict("run_at", d.delay != nil ? "--delay" : "--run-at") }
            job.runAt = d.runAt
        }
        if let t = d.timeout { if job.timeout != nil { throw conflict("timeout", "--timeout") }; job.timeout = t }
        if d.cwdGiven, job.cwd != nil { throw conflict("cwd", "--cwd") }
        if job.cwd == nil { job.cwd = d.cwd }
        if let n = d.maxRetries { if job.maxRetries != nil { throw conflict("max_retries", "--max-retries") }; job.maxRetries = n }
        if let q = d.queue { if job.queue != nil { throw conflict("queue", "--queue") }; job.queue = q }
        if !d.after.isEmpty { job.after = (job.after ?? []) + d.after.filter { !(job.after ?? []).contains($0) } }
        if !d.variables.isEmpty || d.captured != nil {
            var variables = d.captured ?? [:]
            for (name, value) in d.variables { variables[name] = value }
            for (name, value) in job.environment?.variables ?? [:] {
                if d.variables[name] != nil { throw conflict("env.\(name)", "--env") }
                variables[name] = value
            }
            job.environment = JobEnvironment(variables: variables, captured: d.captured != nil)
        }
        return job
    }

    /// Adds `inputs` in one transaction, all or none, with what `options` set, and prints each new id.
    static func enqueue(_ inputs: [JobInput], options args: ParsedArguments, _ context: Context) throws(QueueError) {
        let defaults = try jobDefaults(args)
        if defaults.id != nil, inputs.count > 1 { throw .usage("--id names one job, and \(inputs.count) were given") }
        let inputs = try inputs.map { (input) throws(QueueError) in try apply(defaults, to: input) }
        let jobs = try context.transaction(.newJobs(count: inputs.count, ids: inputs.compactMap(\.id) + inputs.flatMap { $0.after ?? [] })) { (s) throws(QueueError) in
            var inputs = inputs
            if defaults.delay != nil {
                for i in inputs.indices { inputs[i].runAt = s.now.adding(seconds: defaults.delay!) }
            }
            return try JobManager.enqueue(inputs, in: &s)
        }
        for job in jobs { context.print(job.id) }
    }
}
