import QueueSystem

/// The data file's JSON form: one object with `version`, `next_seq`, `config`, `workers` and `jobs`,
/// one job per line so the file reads well and diffs well. Decoding is strict: a missing or unknown
/// field, a wrong type or a newer version is an error, so nothing the file holds is silently dropped.
package enum DocumentCodec {
    package static func decode(_ bytes: [UInt8]) throws(JSONError) -> Document {
        try decode(FileBytes(array: bytes))
    }

    /// Reads the whole document, checking every job in full but keeping only each job's summary and
    /// where its bytes are; jobs are decoded whole when they are read (`JobTable`). Pages of a mapped
    /// file are handed back as the scan passes them.
    package static func decode(_ source: FileBytes) throws(JSONError) -> Document {
        guard source.bytes.count < Int(UInt32.max) else {
            throw JSONError(message: "it is 4 GiB or larger; prune finished jobs with a smaller queue", offset: 0, pointsAtByte: false)
        }
        var reader = JSONReader(source.bytes)
        var document = try readDocument(&reader, source: source)
        try reader.expectEnd()
        document.jobs.source = source
        if document.version == 1 { upgradeFromVersion1(&document) }
        return document
    }

    /// Version 1 counted `max_retries` as retries after the first run; it now counts runs. Each job
    /// and the config get one more, so every job keeps the number of runs it had. The jobs are
    /// decoded (and rewritten whole by the next write, as version 2).
    static func upgradeFromVersion1(_ document: inout Document) {
        document.config.maxRetries = min(document.config.maxRetries + 1, QueueConfig.maxRetriesRange.upperBound)
        for i in document.jobs.indices { document.jobs[i].maxRetries += 1 }
        document.version = Document.currentVersion
    }

    /// One job from its own bytes (a range `decode` recorded).
    static func decodeJob(_ bytes: UnsafeBufferPointer<UInt8>, index: Int) throws(JSONError) -> Job {
        var reader = JSONReader(bytes)
        return try readJob(&reader, index: index, whole: true)
    }

    /// One job or the config on its own, as the data file writes and reads it: how a database store
    /// keeps them, so both stores read a record by the same strict rules.
    package static func encodeJob(_ job: Job) -> [UInt8] {
        var w = JSONWriter()
        writeJob(job, to: &w)
        return w.bytes
    }

    package static func decodeJob(_ bytes: [UInt8]) throws(JSONError) -> Job {
        try decodeAlone(bytes) { (r) throws(JSONError) in try readJob(&r, index: 0, whole: true) }
    }

    package static func encodeConfig(_ config: QueueConfig) -> [UInt8] {
        var w = JSONWriter()
        writeConfig(config, to: &w)
        return w.bytes
    }

    package static func decodeConfig(_ bytes: [UInt8]) throws(JSONError) -> QueueConfig {
        try decodeAlone(bytes) { (r) throws(JSONError) in try readConfig(&r) }
    }

    /// One value that must be all of `bytes`.
    private static func decodeAlone<T>(_ bytes: [UInt8], _ read: (inout JSONReader) throws(JSONError) -> T) throws(JSONError) -> T {
        try bytes.withUnsafeBufferPointer { (buffer) throws(JSONError) in
            var reader = JSONReader(buffer)
            let value = try read(&reader)
            try reader.expectEnd()
            return value
        }
    }

    package static func encode(_ document: Document) -> [UInt8] {
        var bytes: [UInt8] = []
        write(document) { (chunk: UnsafeRawBufferPointer) in bytes.append(contentsOf: chunk) }
        return bytes
    }

    /// Writes the document in chunks to `sink`. Jobs that did not change are copied from the bytes they
    /// were read from, not encoded again: a run of them that lies together there, separators and all,
    /// goes to `sink` straight from the source. Returns where each job's object is in what was written.
    @discardableResult
    package static func write<E: Error>(_ document: Document, to sink: (UnsafeRawBufferPointer) throws(E) -> Void) throws(E) -> [Range<Int>] {
        let chunk = 1 << 16
        var w = JSONWriter(capacity: chunk)
        var written = 0
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(document.jobs.count)
        func send(_ bytes: UnsafeRawBufferPointer) throws(E) {
            try sink(bytes)
            written += bytes.count
        }
        func flush() throws(E) {
            try w.bytes.withUnsafeBytes { raw in Result { () throws(E) in try send(raw) } }.get()
            w.bytes.removeAll(keepingCapacity: true)
        }
        w.raw("{\n  \"version\": "); w.int(document.version)
        w.raw(",\n  \"next_seq\": "); w.int(document.nextSequence)
        if let boot = document.bootID { w.raw(",\n  \"boot_id\": "); w.string(boot) }
        if document.paused { w.raw(",\n  \"paused\": true") }
        if !document.pausedQueues.isEmpty { w.raw(",\n  \"paused_queues\": "); writeStrings(document.pausedQueues, to: &w) }
        w.raw(",\n  \"config\": "); writeConfig(document.config, to: &w)
        w.raw(",\n  \"stats\": {")
        w.key("runs", first: true); w.int(document.counters.runs)
        w.key("failed_runs"); w.int(document.counters.failedRuns)
        w.key("retries"); w.int(document.counters.retries)
        w.key("dlq_moves"); w.int(document.counters.dlqMoves)
        w.raw("}")
        w.raw(",\n  \"workers\": [")
        for (i, worker) in document.workers.enumerated() {
            w.raw(i == 0 ? "\n    " : ",\n    ")
            writeWorker(worker, to: &w)
        }
        w.raw(document.workers.isEmpty ? "]" : "\n  ]")
        w.raw(",\n  \"jobs\": [")

        let table = document.jobs
        // Bytes of unchanged jobs still to be copied from the source; they come after `w`'s bytes.
        var run: Range<Int>?
        var released = 0
        func copyRun() throws(E) {
            guard let from = run, let source = table.source else { return }
            run = nil
            if from.count < chunk {
                w.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: source.bytes[from]))
            } else {
                try flush()
                try send(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: source.bytes[from])))
            }
            // The mapped pages passed are handed back, so a large file does not stay resident.
            source.release(passedUpTo: from.upperBound, since: &released)
        }
        for (i, entry) in table.entries.enumerated() {
            let range = entry.range  // bytes in table.source, which an entry with a range always has
            // Runs are cut at 2 MB: looking for separators maps the pages, which are handed back
            // only once their run is written.
            if let range, let current = run, current.count < 2 << 20, continues(current, with: range, in: table.source!.bytes) {
                let start = written + w.bytes.count + (range.lowerBound - current.lowerBound)
                ranges.append(start..<start + range.count)
                run = current.lowerBound..<range.upperBound
                continue
            }
            try copyRun()
            w.raw(i == 0 ? "\n    " : jobSeparator)
            let start = written + w.bytes.count
            if let range {
                ranges.append(start..<start + range.count)
                run = range
            } else if let box = entry.box {
                writeJob(box.job, to: &w)
                ranges.append(start..<written + w.bytes.count)
            }
            if w.bytes.count >= chunk { try flush() }
        }
        try copyRun()
        w.raw(table.isEmpty ? "]\n}\n" : "\n  ]\n}\n")
        try flush()
        return ranges
    }

    /// What the writer puts between two jobs: a comma and a new line indented four spaces.
    private static let jobSeparator: StaticString = ",\n    "

    /// True when the job at `next` follows the run `bytes[run]` with just `jobSeparator` between
    /// them, so the two go out as one copy.
    private static func continues(_ run: Range<Int>, with next: Range<Int>, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let length = jobSeparator.utf8CodeUnitCount
        guard next.lowerBound == run.upperBound + length else { return false }
        for k in 0..<length where bytes[run.upperBound + k] != jobSeparator.utf8Start[k] { return false }
        return true
    }

    // MARK: writing

    package static func writeJob(_ job: Job, to w: inout JSONWriter) {
        w.raw("{")
        w.key("id", first: true); w.string(job.id)
        w.key("command"); w.string(job.command)
        w.key("state"); w.string(job.state.rawValue)
        w.key("attempts"); w.int(job.attempts)
        w.key("max_retries"); w.int(job.maxRetries)
        w.key("priority"); w.int(job.priority)
        w.key("seq"); w.int(job.sequence)
        w.key("created_at"); w.timestamp(job.createdAt)
        w.key("updated_at"); w.timestamp(job.updatedAt)
        if let v = job.runAt { w.key("run_at"); w.timestamp(v) }
        if let v = job.exitCode { w.key("exit_code"); w.int(v) }
        if let v = job.lastError { w.key("last_error"); w.string(v) }
        if let v = job.startedAt { w.key("started_at"); w.timestamp(v) }
        if let v = job.finishedAt { w.key("finished_at"); w.timestamp(v) }
        if let v = job.durationMilliseconds { w.key("duration_ms"); w.int(v) }
        if let v = job.worker { w.key("worker_pid"); w.int(v.pid); w.key("worker_start_time"); w.int(v.startTime) }
        if let v = job.child { w.key("child_pid"); w.int(v.pid); w.key("child_start_time"); w.int(v.startTime) }
        if let v = job.timeout { w.key("timeout"); w.double(v) }
        if let v = job.cwd { w.key("cwd"); w.string(v) }
        if let v = job.environment {
            w.key("env"); writeEnvironment(v.entries, to: &w)
            if v.captured { w.key("env_captured"); w.bool(true) }
        }
        if job.cancelRequested { w.key("cancel_requested"); w.bool(true) }
        if job.killRequested { w.key("kill_requested"); w.bool(true) }
        if job.restarts != 0 { w.key("restarts"); w.int(job.restarts) }
        if let v = job.arguments { w.key("args"); writeStrings(v, to: &w) }
        if let v = job.backoffBase { w.key("backoff_base"); w.double(v) }
        if let v = job.maxBackoff { w.key("max_backoff"); w.double(v) }
        if let v = job.queue { w.key("queue"); w.string(v) }
        if let v = job.after { w.key("after"); writeStrings(v, to: &w) }
        if let v = job.dependencyDied { w.key("dependency_died"); w.string(v) }
        w.raw("}")
    }

    static func writeStrings(_ strings: [String], to w: inout JSONWriter) {
        w.raw("[")
        for (i, s) in strings.enumerated() {
            if i > 0 { w.raw(", ") }
            w.string(s)
        }
        w.raw("]")
    }

    /// `{"NAME": "value", ...}`, one space after each colon and comma, as the fast reader expects.
    static func writeEnvironment(_ entries: [(name: String, value: String)], to w: inout JSONWriter) {
        w.raw("{")
        for (i, entry) in entries.enumerated() {
            if i > 0 { w.raw(", ") }
            w.string(entry.name); w.raw(": "); w.string(entry.value)
        }
        w.raw("}")
    }

    package static func writeConfig(_ c: QueueConfig, to w: inout JSONWriter) {
        w.raw("{")
        w.key("max_retries", first: true); w.int(c.maxRetries)
        w.key("backoff_base"); w.double(c.backoffBase)
        w.key("max_backoff"); w.double(c.maxBackoff)
        w.key("worker_count"); w.int(c.workerCount)
        w.key("job_timeout"); w.double(c.jobTimeout)
        w.key("max_log_bytes"); w.int(c.maxLogBytes)
        w.key("keep_completed"); w.int(c.keepCompleted)
        w.key("keep_completed_for"); w.double(c.keepCompletedFor)
        w.key("lease_seconds"); w.double(c.leaseSeconds)
        w.key("scheduling_mode"); w.string(c.schedulingMode.rawValue)
        w.key("max_running"); w.int(c.maxRunning)
        if !c.queueMaxRunning.isEmpty {
            w.key("queue_max_running"); w.raw("{")
            for (i, (name, limit)) in c.queueMaxRunning.sorted(by: { $0.key < $1.key }).enumerated() {
                if i > 0 { w.raw(", ") }
                w.string(name); w.raw(": "); w.int(limit)
            }
            w.raw("}")
        }
        w.raw("}")
    }

    static func writeWorker(_ r: WorkerRecord, to w: inout JSONWriter) {
        w.raw("{")
        w.key("pid", first: true); w.int(r.process.pid)
        w.key("start_time"); w.int(r.process.startTime)
        w.key("slots"); w.int(r.slots)
        w.key("started_at"); w.timestamp(r.startedAt)
        if let ns = r.pidNamespace { w.key("pid_ns"); w.int(ns) }
        w.raw("}")
    }

    // MARK: reading

    static func readDocument(_ r: inout JSONReader, source: FileBytes) throws(JSONError) -> Document {
        var d = Document()
        var seen: Set<String> = []
        try r.readObject { (r, key) throws(JSONError) in
            seen.insert(key)
            switch key {
            case "version":
                d.version = try r.readInt()
                guard d.version >= 1 else { throw r.error("version \(d.version) is not valid") }
                guard d.version <= Document.currentVersion else {
                    var e = r.error("it is version \(d.version), newer than this queuectl understands (\(Document.currentVersion)); upgrade queuectl")
                    e.pointsAtByte = false
                    throw e
                }
            case "next_seq": d.nextSequence = try r.readInt64()
            case "boot_id": d.bootID = try r.readString()
            case "paused": d.paused = try r.readBool()
            case "paused_queues": d.pausedQueues = try readStrings(&r)
            case "config": d.config = try readConfig(&r)
            case "stats": d.counters = try readCounters(&r)
            case "workers":
                try r.readArray { (r, i) throws(JSONError) in d.workers.append(try readWorker(&r, context: "workers[\(i)]")) }
            case "jobs":
                var released = 0
                // A job takes well over 64 bytes, so this never has to grow (and copy) the table;
                // the part reserved but never written is never resident.
                d.jobs.entries.reserveCapacity(source.bytes.count / 64)
                var canonical = CanonicalJobReader(r.bytes)
                try r.readArray { (r, i) throws(JSONError) in
                    _ = r.peek()
                    let start = r.offset
                    let summary: JobSummary
                    if let fast = canonical.summary(at: start) {
                        summary = fast
                        r.offset = canonical.offset
                    } else {
                        summary = JobSummary(try readJob(&r, index: i, whole: false))
                    }
                    d.jobs.entries.append(JobTable.Entry(summary: summary, range: start..<r.offset, box: nil))
                    source.release(passedUpTo: r.offset, since: &released)
                }
            default: throw r.error("unknown field \"\(key)\" in the top-level object")
            }
        }
        for required in ["version", "config", "workers", "jobs"] where !seen.contains(required) {
            throw r.error("missing field \"\(required)\" in the top-level object")
        }
        if let repeated = firstRepeatedID(d.jobs.entries) { throw r.error("job id \"\(repeated)\" appears twice") }
        if let highest = d.jobs.entries.map(\.summary.sequence).max(), highest >= d.nextSequence { d.nextSequence = highest + 1 }
        return d
    }

    /// The first id that two jobs share. Hashes ids with FNV-1a into an open-addressing table, which is
    /// several times quicker than a Set<String> for 100,000 ids; a hash match is confirmed by the ids.
    static func firstRepeatedID(_ entries: [JobTable.Entry]) -> String? {
        guard entries.count > 1 else { return nil }
        var capacity = 16
        while capacity < entries.count * 2 { capacity <<= 1 }
        var slots = [Int32](repeating: -1, count: capacity)
        var hashes = [UInt64](repeating: 0, count: capacity)
        for (i, entry) in entries.enumerated() {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            var id = entry.summary.id
            id.withUTF8 { for b in $0 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 } }
            var slot = Int(truncatingIfNeeded: hash) & (capacity - 1)
            while slots[slot] >= 0 {
                if hashes[slot] == hash, entries[Int(slots[slot])].summary.id == entry.summary.id { return entry.summary.id }
                slot = (slot + 1) & (capacity - 1)
            }
            slots[slot] = Int32(i)
            hashes[slot] = hash
        }
        return nil
    }

    static func readTimestamp(_ r: inout JSONReader, _ field: String, _ context: @autoclosure () -> String) throws(JSONError) -> Timestamp {
        guard let t = try r.readTimestamp() else { throw r.error("\(context()).\(field): not an ISO 8601 time") }
        return t
    }

    /// A job's fields, found by the key's bytes without building a String (the hot path of every command).
    enum JobField: Int, CaseIterable {
        case id, command, state, attempts, maxRetries, priority, seq, createdAt, updatedAt, runAt, exitCode, lastError
        case startedAt, finishedAt, durationMs, workerPid, workerStartTime, childPid, childStartTime
        case timeout, cwd, env, envCaptured, cancelRequested, args, backoffBase, maxBackoff, queue, after, dependencyDied, killRequested, restarts

        var name: String {
            switch self {
            case .id: return "id"
            case .command: return "command"
            case .state: return "state"
            case .attempts: return "attempts"
            case .maxRetries: return "max_retries"
            case .priority: return "priority"
            case .seq: return "seq"
            case .createdAt: return "created_at"
            case .updatedAt: return "updated_at"
            case .runAt: return "run_at"
            case .exitCode: return "exit_code"
            case .lastError: return "last_error"
            case .startedAt: return "started_at"
            case .finishedAt: return "finished_at"
            case .durationMs: return "duration_ms"
            case .workerPid: return "worker_pid"
            case .workerStartTime: return "worker_start_time"
            case .childPid: return "child_pid"
            case .childStartTime: return "child_start_time"
            case .timeout: return "timeout"
            case .cwd: return "cwd"
            case .env: return "env"
            case .envCaptured: return "env_captured"
            case .cancelRequested: return "cancel_requested"
            case .args: return "args"
            case .backoffBase: return "backoff_base"
            case .maxBackoff: return "max_backoff"
            case .queue: return "queue"
            case .after: return "after"
            case .dependencyDied: return "dependency_died"
            case .killRequested: return "kill_requested"
            case .restarts: return "restarts"
            }
        }

        static let required: [JobField] = [.id, .command, .state, .attempts, .maxRetries, .createdAt, .updatedAt]

        /// Field names grouped by length, so a key is compared with a handful of names at most.
        static let byLength: [[(bytes: [UInt8], field: JobField)]] = {
            var table = [[(bytes: [UInt8], field: JobField)]](repeating: [], count: 32)
            for f in allCases { table[f.name.utf8.count].append((Array(f.name.utf8), f)) }
            return table
        }()

        init?(key: UnsafeBufferPointer<UInt8>) {
            guard key.count < JobField.byLength.count else { return nil }
            for candidate in JobField.byLength[key.count] {
                let matches = candidate.bytes.withUnsafeBufferPointer { name in
                    var i = 0
                    while i < name.count, name[i] == key[i] { i += 1 }
                    return i == name.count
                }
                if matches {
                    self = candidate.field
                    return
                }
            }
            return nil
        }
    }

    /// A job object. With `whole` false, the long strings (command, last error, cwd) are checked but
    /// not built: the summary does not need them.
    static func readJob(_ r: inout JSONReader, index: Int, whole: Bool) throws(JSONError) -> Job {
        var job = Job(id: "", command: "", maxRetries: 0, sequence: 0, now: Timestamp(milliseconds: 0))
        var seen: UInt32 = 0
        var workerPid: Int32?, workerStart: UInt64?, childPid: Int32?, childStart: UInt64?
        var variables: [String: String]?, captured = false
        let context = { "jobs[\(index)]" }
        try r.readObjectKeys { (r, key, keyOffset) throws(JSONError) in
            guard let field = JobField(key: key) else {
                throw r.error("\(context()): unknown field \"\(String(decoding: key, as: UTF8.self))\"")
            }
            let bit: UInt32 = 1 << field.rawValue
            if seen & bit != 0 { throw JSONError(message: "\(context()): duplicate key \"\(field.name)\"", offset: keyOffset) }
            seen |= bit
            switch field {
            case .id: job.id = try r.readString()
            case .command: if whole { job.command = try r.readString() } else { try r.skipString() }
            case .state:
                let start = r.offset
                if let raw = r.rawStringWithoutEscapes(), let state = JobState(utf8: raw) {
                    job.state = state
                } else {
                    r.offset = start
                    let text = (try? r.readString()) ?? "?"
                    r.offset = start
                    throw r.error("\(context()).state: unknown state \"\(text)\" (expected one of \(JobState.names))")
                }
            case .attempts: job.attempts = try r.readInt()
            case .maxRetries: job.maxRetries = try r.readInt()
            case .priority: job.priority = try r.readInt()
            case .seq: job.sequence = try r.readInt64()
            case .createdAt: job.createdAt = try readTimestamp(&r, field.name, context())
            case .updatedAt: job.updatedAt = try readTimestamp(&r, field.name, context())
            case .runAt: job.runAt = try readTimestamp(&r, field.name, context())
            case .exitCode: job.exitCode = try r.readInt()
            case .lastError: if whole { job.lastError = try r.readString() } else { try r.skipString() }
            case .startedAt: job.startedAt = try readTimestamp(&r, field.name, context())
            case .finishedAt: job.finishedAt = try readTimestamp(&r, field.name, context())
            case .durationMs: job.durationMilliseconds = try r.readInt64()
            case .workerPid: workerPid = try readPid(&r, field.name, context())
            case .workerStartTime: workerStart = try readStartTime(&r, field.name, context())
            case .childPid: childPid = try readPid(&r, field.name, context())
            case .childStartTime: childStart = try readStartTime(&r, field.name, context())
            case .timeout: job.timeout = try r.readDouble()
            case .cwd: if whole { job.cwd = try r.readString() } else { try r.skipString() }
            case .env: variables = try readEnvironment(&r, whole: whole, context())
            case .envCaptured: captured = try r.readBool()
            case .cancelRequested: job.cancelRequested = try r.readBool()
            case .args:
                let arguments = try readStrings(&r)
                if whole { job.arguments = arguments }
            case .backoffBase: job.backoffBase = try readDouble(&r, in: QueueConfig.backoffBaseRange, field.name, context())
            case .maxBackoff: job.maxBackoff = try readDouble(&r, in: QueueConfig.secondsRange, field.name, context())
            // Read whole or not: the summary keeps these (claims need them).
            case .queue: job.queue = try r.readString()
            case .after: job.after = try readStrings(&r)
            case .dependencyDied: job.dependencyDied = try r.readString()
            case .killRequested: job.killRequested = try r.readBool()
            case .restarts: job.restarts = try r.readInt()
            }
        }
        for field in JobField.required where seen & (1 << field.rawValue) == 0 {
            throw r.error("\(context()): missing field \"\(field.name)\"")
        }
        job.worker = try identity(workerPid, workerStart, "worker", &r, context())
        job.child = try identity(childPid, childStart, "child", &r, context())
        if captured || variables != nil { job.environment = JobEnvironment(variables: variables ?? [:], captured: captured) }
        return job
    }

    /// A job's `env` object of strings. Names are checked as at enqueue; with `whole` false the values
    /// are checked but not built.
    static func readEnvironment(_ r: inout JSONReader, whole: Bool, _ context: @autoclosure () -> String) throws(JSONError) -> [String: String] {
        var variables: [String: String] = [:]
        try r.readObject { (r, name) throws(JSONError) in
            if let problem = JobEnvironment.problem(withName: name) { throw r.error("\(context()).env: \(problem)") }
            guard r.peek() == UInt8(ascii: "\"") else { throw r.error("\(context()).env.\(name): not a string") }
            if whole {
                let value = try r.readString()
                if value.utf8.contains(0) { throw r.error("\(context()).env.\(name): contains a NUL character") }
                variables[name] = value
            } else {
                try r.skipString()
            }
        }
        return variables
    }

    static func readStrings(_ r: inout JSONReader) throws(JSONError) -> [String] {
        var strings: [String] = []
        try r.readArray { (r, _) throws(JSONError) in strings.append(try r.readString()) }
        return strings
    }

    static func readDouble(_ r: inout JSONReader, in range: ClosedRange<Double>, _ field: String,
                           _ context: @autoclosure () -> String) throws(JSONError) -> Double {
        let start = r.offset
        let value = try r.readDouble()
        guard range.contains(value) else {
            r.offset = start
            throw r.error("\(context()).\(field): out of range")
        }
        return value
    }

    static func readPid(_ r: inout JSONReader, _ field: String, _ context: @autoclosure () -> String) throws(JSONError) -> Int32 {
        let start = r.offset
        guard let pid = Int32(exactly: try r.readInt64()), pid > 0 else {
            r.offset = start
            throw r.error("\(context()).\(field): not a process id")
        }
        return pid
    }

    static func readStartTime(_ r: inout JSONReader, _ field: String, _ context: @autoclosure () -> String,
                              what: String = "a process start time") throws(JSONError) -> UInt64 {
        let start = r.offset
        guard let time = UInt64(exactly: try r.readInt64()) else {
            r.offset = start
            throw r.error("\(context()).\(field): not \(what)")
        }
        return time
    }

    /// A process is a pid and its start time: both or neither.
    static func identity(_ pid: Int32?, _ start: UInt64?, _ prefix: String, _ r: inout JSONReader,
                         _ context: @autoclosure () -> String) throws(JSONError) -> ProcessIdentity? {
        switch (pid, start) {
        case let (pid?, start?): return ProcessIdentity(pid: pid, startTime: start)
        case (nil, nil): return nil
        default: throw r.error("\(context()): \(prefix)_pid and \(prefix)_start_time go together")
        }
    }

    static func readConfig(_ r: inout JSONReader) throws(JSONError) -> QueueConfig {
        var c = QueueConfig()
        try r.readObject { (r, key) throws(JSONError) in
            switch key {
            case "max_retries": c.maxRetries = try r.readInt()
            case "backoff_base": c.backoffBase = try r.readDouble()
            case "max_backoff": c.maxBackoff = try r.readDouble()
            case "worker_count": c.workerCount = try r.readInt()
            case "job_timeout": c.jobTimeout = try r.readDouble()
            case "max_log_bytes": c.maxLogBytes = try r.readInt()
            case "keep_completed": c.keepCompleted = try r.readInt()
            case "keep_completed_for": c.keepCompletedFor = try r.readDouble()
            case "lease_seconds": c.leaseSeconds = try r.readDouble()
            case "scheduling_mode":
                let start = r.offset
                guard let mode = SchedulingMode(rawValue: try r.readString()) else {
                    r.offset = start
                    throw r.error("config: scheduling_mode must be \(SchedulingMode.names)")
                }
                c.schedulingMode = mode
            case "max_running": c.maxRunning = try r.readInt()
            case "queue_max_running":
                try r.readObject { (r, name) throws(JSONError) in c.queueMaxRunning[name] = try r.readInt() }
            default: throw r.error("config: unknown field \"\(key)\"")
            }
        }
        if let bad = c.firstInvalidSetting { throw r.error("config: \(bad) is out of range") }
        return c
    }

    static func readCounters(_ r: inout JSONReader) throws(JSONError) -> Counters {
        var c = Counters()
        try r.readObject { (r, key) throws(JSONError) in
            switch key {
            case "runs": c.runs = try r.readInt()
            case "failed_runs": c.failedRuns = try r.readInt()
            case "retries": c.retries = try r.readInt()
            case "dlq_moves": c.dlqMoves = try r.readInt()
            default: throw r.error("stats: unknown field \"\(key)\"")
            }
        }
        return c
    }

    static func readWorker(_ r: inout JSONReader, context: String) throws(JSONError) -> WorkerRecord {
        var pid: Int32?, start: UInt64?, slots: Int?, startedAt: Timestamp?, namespace: UInt64?
        try r.readObject { (r, key) throws(JSONError) in
            switch key {
            case "pid_ns": namespace = try readStartTime(&r, key, context, what: "a PID namespace")
            case "pid": pid = try readPid(&r, key, context)
            case "start_time": start = try readStartTime(&r, key, context)
            case "slots": slots = try r.readInt()
            case "started_at": startedAt = try readTimestamp(&r, key, context)
            default: throw r.error("\(context): unknown field \"\(key)\"")
            }
        }
        guard let pid, let start, let slots, let startedAt else { throw r.error("\(context): needs pid, start_time, slots and started_at") }
        return WorkerRecord(process: ProcessIdentity(pid: pid, startTime: start), slots: slots, startedAt: startedAt,
                            pidNamespace: namespace)
    }
}
