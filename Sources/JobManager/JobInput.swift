import QueueStorage
import QueueSystem

/// A job as a user describes it, validated. Built from one JSON object.
package struct JobInput: Equatable, Sendable {
    package var id: String?
    package var command: String
    package var maxRetries: Int?
    package var priority: Int?
    package var runAt: Timestamp?
    package var timeout: Double?
    package var cwd: String?
    /// The program's arguments when `command` is run directly, without a shell; nil: a shell line.
    package var arguments: [String]?
    package var backoffBase: Double?
    package var maxBackoff: Double?
    /// The named queue; nil: `default`.
    package var queue: String?
    /// Ids of jobs that must complete first.
    package var after: [String]?
    package var environment: JobEnvironment?

    package static let fields = ["id", "command", "args", "max_retries", "priority", "run_at", "timeout", "cwd", "backoff_base",
                                 "max_backoff", "queue", "after", "env"]
    /// Fields of a whole job record (as the earlier QueueCTL tools document it), accepted when they
    /// describe a job that has not run yet.
    package static let recordFields = ["state", "attempts", "created_at", "updated_at", "next_retry_at"]
    package static let priorityRange = -1000...1000
    package static let maximumTimeout = 31_536_000.0
    package static let maximumCommandBytes = 65_536
    package static let maximumIDLength = 128
    /// One `NAME=value` as exec(2) takes it (MAX_ARG_STRLEN, 128 KiB with its NUL), and all of them.
    package static let maximumEnvironmentEntryBytes = 131_071
    package static let maximumEnvironmentBytes = 1 << 20
    /// Set by the worker for each run; a job cannot set them.
    package static let runVariables = ["QUEUECTL_JOB_ID", "QUEUECTL_ATTEMPT", JobManager.runMarkerName]

    package init(id: String? = nil, command: String, maxRetries: Int? = nil, priority: Int? = nil) {
        self.id = id
        self.command = command
        self.maxRetries = maxRetries
        self.priority = priority
    }

    /// Parses and validates one JSON object such as `{"id":"job1","command":"sleep 2"}`.
    package init(json bytes: [UInt8]) throws(QueueError) {
        let value: JSONValue
        do { value = try JSONValue.parse(bytes) } catch { throw .usage("invalid JSON: \(error)") }
        guard case .object(let members) = value else {
            throw .usage("a job must be a JSON object like {\"command\": \"echo hi\"}, not \(value.typeName)")
        }
        var command: String?
        for (key, value) in members {
            switch key {
            case "command":
                guard case .string(let s) = value else { throw .usage("field 'command' must be a string, not \(value.typeName)") }
                command = s
            case "id":
                // A whole number names a job as well as a string of its digits does.
                if case .number(let text) = value, !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
                    id = text
                    continue
                }
                guard case .string(let s) = value else { throw .usage("field 'id' must be a string, not \(value.typeName)") }
                id = s
            case "args":
                guard case .array(let items) = value else {
                    throw .usage("field 'args' must be an array of strings, like [\"-c\", \"print(1)\"], not \(value.typeName)")
                }
                var words: [String] = []
                for (i, item) in items.enumerated() {
                    guard case .string(let s) = item else { throw .usage("field 'args' item \(i + 1) must be a string, not \(item.typeName)") }
                    words.append(s)
                }
                arguments = words.isEmpty ? nil : words
            case "queue":
                guard case .string(let s) = value else { throw .usage("field 'queue' must be a string, not \(value.typeName)") }
                queue = s
            case "after":
                guard case .array(let items) = value else { throw .usage("field 'after' must be an array of job ids, not \(value.typeName)") }
                var ids: [String] = []
                for item in items {
                    guard case .string(let s) = item else { throw .usage("field 'after' must hold job ids (strings), not \(item.typeName)") }
                    ids.append(s)
                }
                after = ids
            case "backoff_base":
                backoffBase = try Self.decimal(value, "backoff_base", QueueConfig.backoffBaseRange)
            case "max_backoff":
                maxBackoff = try Self.decimal(value, "max_backoff", QueueConfig.secondsRange)
            case "state":
                guard case .string(let s) = value, s == JobState.pending.rawValue else {
                    let given = if case .string(let s) = value { "'\(s)'" } else { value.typeName }
                    throw .usage("field 'state' of a new job can only be \"pending\", not \(given); a job's state is the queue's to change")
                }
            case "attempts":
                guard case .number(let text) = value, text == "0" else {
                    throw .usage("field 'attempts' of a new job can only be 0: a job starts with no failed runs")
                }
            case "created_at", "updated_at":
                guard case .string(let s) = value else { throw .usage("field '\(key)' must be a string, not \(value.typeName)") }
                _ = try Self.time(s, "field '\(key)'")
            case "next_retry_at":
                guard case .null = value else {
                    throw .usage("field 'next_retry_at' of a new job can only be null; to run it later, give 'run_at'")
                }
            case "max_retries":
                maxRetries = try Self.integer(value, "max_retries", 0...1000)
            case "priority":
                priority = try Self.integer(value, "priority", Self.priorityRange)
            case "run_at":
                guard case .string(let s) = value else { throw .usage("field 'run_at' must be a string, not \(value.typeName)") }
                runAt = try Self.time(s, "field 'run_at'")
            case "timeout":
                guard case .number(let text) = value, let seconds = Double(text) else {
                    throw .usage("field 'timeout' must be a number of seconds, not \(value.typeName)")
                }
                timeout = try Self.timeout(seconds, "field 'timeout'")
            case "cwd":
                guard case .string(let s) = value else { throw .usage("field 'cwd' must be a string, not \(value.typeName)") }
                cwd = s
            case "env":
                guard case .object(let variables) = value else {
                    throw .usage("field 'env' must be an object of strings like {\"TZ\": \"UTC\"}, not \(value.typeName)")
                }
                var set: [String: String] = [:]
                for (name, value) in variables {
                    guard case .string(let s) = value else { throw .usage("field 'env': '\(name)' must be a string, not \(value.typeName)") }
                    set[name] = s
                }
                environment = JobEnvironment(variables: set)
            default:
                let hint = closestMatch(key, among: Self.fields + Self.recordFields).map { "; did you mean '\($0)'?" } ?? "; known fields: \(Self.fields.joined(separator: ", "))"
                throw .usage("unknown field '\(key)' in job\(hint)")
            }
        }
        guard let command else { throw .usage("missing field 'command': the shell command to run") }
        self.command = command
        try validate()
    }

    private static func integer(_ value: JSONValue, _ name: String, _ range: ClosedRange<Int>) throws(QueueError) -> Int {
        guard case .number(let text) = value, let n = Int(text) else {
            if case .number(let text) = value, text.drop(while: { $0 == "-" }).allSatisfy(\.isNumber) {
                throw .usage("field '\(name)' must be between \(range.lowerBound) and \(range.upperBound), not \(text)")
            }
            throw .usage("field '\(name)' must be an integer, not \(value.typeName == "a number" ? "a fraction or exponent" : value.typeName)")
        }
        guard range.contains(n) else { throw .usage("field '\(name)' must be between \(range.lowerBound) and \(range.upperBound), not \(n)") }
        return n
    }

    private static func decimal(_ value: JSONValue, _ name: String, _ range: ClosedRange<Double>) throws(QueueError) -> Double {
        guard case .number(let text) = value, let n = Double(text), n.isFinite else {
            throw .usage("field '\(name)' must be a number, not \(value.typeName)")
        }
        guard range.contains(n) else {
            throw .usage("field '\(name)' must be between \(formatNumber(range.lowerBound)) and \(formatNumber(range.upperBound)), not \(text)")
        }
        return n
    }

    private static func formatNumber(_ n: Double) -> String { n == n.rounded() ? String(Int(n)) : String(n) }

    /// Checks the command and id; the same rules apply however the job was given.
    package func validate() throws(QueueError) {
        try Self.checkCommand(command, arguments: arguments, "field 'command'")
        if let id { try Self.validateID(id) }
        if let queue { try JobManager.validateQueueName(queue, "field 'queue'") }
        for id in after ?? [] { try Self.validateID(id) }
        if let cwd, !cwd.hasPrefix("/") || cwd.utf8.contains(0) {
            throw .usage("field 'cwd' must be an absolute path, not '\(cwd)'")
        }
        if let environment { try Self.validate(environment) }
    }

    /// Names a child's environment reads as given, values without NUL, sizes exec(2) accepts; a
    /// captured environment may hold the run variables (a job enqueued from a job), which the worker sets anew.
    package static func validate(_ environment: JobEnvironment) throws(QueueError) {
        var total = 0
        for (name, value) in environment.variables {
            if let problem = JobEnvironment.problem(withName: name) { throw .usage(problem) }
            if value.utf8.contains(0) { throw .usage("environment variable '\(name)' must not contain a NUL character") }
            let bytes = name.utf8.count + 1 + value.utf8.count
            if bytes > maximumEnvironmentEntryBytes {
                throw .usage("environment variable '\(name)' is \(bytes) bytes; the limit is \(maximumEnvironmentEntryBytes)")
            }
            if !environment.captured, runVariables.contains(name) {
                throw .usage("environment variable '\(name)' is set by the worker for each run; a job cannot set it")
            }
            total += bytes
        }
        if total > maximumEnvironmentBytes {
            throw .usage("the environment is \(total) bytes; the limit is \(maximumEnvironmentBytes) (1 MiB)")
        }
    }

    /// A command as every job needs one: not blank, at most 64 KiB with its arguments, no NUL; with
    /// arguments, a program that does not look like an option. `what` names where it was given
    /// (`field 'command'`, `--command`).
    package static func checkCommand(_ command: String, arguments: [String]? = nil, _ what: String) throws(QueueError) {
        if command.allSatisfy(\.isWhitespace) { throw .usage("\(what) must not be empty") }
        let bytes = command.utf8.count + (arguments ?? []).reduce(0) { $0 + $1.utf8.count + 1 }
        if bytes > maximumCommandBytes {
            throw .usage("\(what)\(arguments == nil ? "" : " with its args") is \(bytes) bytes; the limit is \(maximumCommandBytes)")
        }
        if command.utf8.contains(0) { throw .usage("\(what) must not contain a NUL character") }
        if let arguments {
            if arguments.contains(where: { $0.utf8.contains(0) }) { throw .usage("field 'args' must not contain a NUL character") }
            if command.hasPrefix("-") { throw .usage("with 'args', \(what) is the program to run and must not start with '-'") }
        }
    }

    /// A job runs in its directory: one that does not exist, is not a directory or cannot be entered
    /// would fail every run, so it is refused when the job is enqueued. `what` names where it was
    /// given (`--cwd`, `field 'cwd'`).
    package static func checkDirectory(_ path: String, _ what: String) throws(QueueError) {
        let status: Files.Status
        do { status = try Files.status(path) } catch {
            if error == .noSuchFileOrDirectory { throw .usage("\(what) '\(path)' does not exist; a job must run in an existing directory") }
            throw .usage("\(what) '\(path)' cannot be used: \(error)")
        }
        guard status.isDirectory else { throw .usage("\(what) '\(path)' is not a directory") }
        guard Files.canEnter(path) else { throw .usage("\(what) '\(path)' cannot be entered (no search permission)") }
    }

    /// An ISO 8601 time with a zone, such as `2026-01-01T02:00:00Z` or `2026-01-01T03:00:00+01:00`.
    package static func time(_ text: String, _ what: String) throws(QueueError) -> Timestamp {
        guard let t = Timestamp(iso8601: text) else {
            throw .usage("\(what) must be an ISO 8601 time with a zone, like 2026-01-01T02:00:00Z, not '\(text)'")
        }
        return t
    }

    package static func timeout(_ seconds: Double, _ what: String) throws(QueueError) -> Double {
        guard seconds.isFinite, seconds > 0, seconds <= maximumTimeout else {
            throw .usage("\(what) must be a number of seconds above 0 and at most \(Int(maximumTimeout))")
        }
        return seconds
    }

    /// `90`, `30s`, `5m`, `2h`, `1d` as seconds.
    package static func duration(_ text: String, _ what: String) throws(QueueError) -> Double {
        guard let seconds = NumberInput.durationSeconds(text), seconds <= maximumTimeout else {
            throw .usage("\(what) must be a whole number with s, m, h or d, like 30s, 5m, 2h or 1d, not '\(text)'")
        }
        return seconds
    }

    /// Ids are names of files too (logs), so they are kept to a safe alphabet.
    package static func validateID(_ id: String) throws(QueueError) {
        if id.isEmpty { throw .usage("job id must not be empty") }
        if id.utf8.count > maximumIDLength { throw .usage("job id is longer than \(maximumIDLength) characters") }
        let allowed = id.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E || b == 0x5F || b == 0x2D
        }
        if !allowed { throw .usage("job id '\(id)' may only contain letters, digits, '.', '_' and '-'") }
        if id == "." || id == ".." { throw .usage("job id must not be '.' or '..'") }
        if id.hasPrefix("-") { throw .usage("job id '\(id)' must not start with '-'") }
    }
}

/// The candidate nearest to `word` by edit distance, if it is near enough to be a likely typo.
package func closestMatch(_ word: String, among candidates: [String]) -> String? {
    // Optimal string alignment: an insertion, deletion, substitution or swap of neighbours is one edit.
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in stride(from: 1, through: a.count, by: 1) {
            for j in stride(from: 1, through: b.count, by: 1) {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
    }
    let w = Array(word)
    let best = candidates.map { ($0, distance(w, Array($0))) }.min { $0.1 < $1.1 }
    guard let best, best.1 <= max(2, word.count / 3) else { return nil }
    return best.0
}
