import QueueSystem

/// The data file's JSON form: one object with `version`, `next_seq`, `config`, `workers` and `jobs`,
/// one job per line so the file reads well and diffs well. Decoding is strict: a missing or unknown
/// field, a wrong type or a newer version is an error, so nothing the file holds is silently dropped.
public enum DocumentCodec {
    public static func decode(_ bytes: [UInt8]) throws(JSONError) -> Document {
        try bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(JSONError) in
                var reader = JSONReader(buffer)
                let document = try readDocument(&reader)
                try reader.expectEnd()
                return document
            }
        }.get()
    }

    public static func encode(_ document: Document) -> [UInt8] {
        var w = JSONWriter(capacity: 256 + document.jobs.count * 320)
        w.raw("{\n  \"version\": "); w.int(document.version)
        w.raw(",\n  \"next_seq\": "); w.int(document.nextSequence)
        w.raw(",\n  \"config\": "); writeConfig(document.config, to: &w)
        w.raw(",\n  \"workers\": [")
        for (i, worker) in document.workers.enumerated() {
            w.raw(i == 0 ? "\n    " : ",\n    ")
            writeWorker(worker, to: &w)
        }
        w.raw(document.workers.isEmpty ? "]" : "\n  ]")
        w.raw(",\n  \"jobs\": [")
        for (i, job) in document.jobs.enumerated() {
            w.raw(i == 0 ? "\n    " : ",\n    ")
            writeJob(job, to: &w)
        }
        w.raw(document.jobs.isEmpty ? "]\n}\n" : "\n  ]\n}\n")
        return w.bytes
    }

    // MARK: writing

    public static func writeJob(_ job: Job, to w: inout JSONWriter) {
        w.raw("{")
        w.key("id", first: true); w.string(job.id)
        w.key("command"); w.string(job.command)
        w.key("state"); w.string(job.state.rawValue)
        w.key("attempts"); w.int(job.attempts)
        w.key("max_retries"); w.int(job.maxRetries)
        w.key("priority"); w.int(job.priority)
        w.key("seq"); w.int(job.sequence)
        w.key("created_at"); w.string(job.createdAt.iso8601)
        w.key("updated_at"); w.string(job.updatedAt.iso8601)
        if let v = job.runAt { w.key("run_at"); w.string(v.iso8601) }
        if let v = job.exitCode { w.key("exit_code"); w.int(v) }
        if let v = job.lastError { w.key("last_error"); w.string(v) }
        if let v = job.startedAt { w.key("started_at"); w.string(v.iso8601) }
        if let v = job.finishedAt { w.key("finished_at"); w.string(v.iso8601) }
        if let v = job.durationMilliseconds { w.key("duration_ms"); w.int(v) }
        if let v = job.worker { w.key("worker_pid"); w.int(v.pid); w.key("worker_start_time"); w.int(v.startTime) }
        if let v = job.child { w.key("child_pid"); w.int(v.pid); w.key("child_start_time"); w.int(v.startTime) }
        w.raw("}")
    }

    public static func writeConfig(_ c: QueueConfig, to w: inout JSONWriter) {
        w.raw("{")
        w.key("max_retries", first: true); w.int(c.maxRetries)
        w.key("backoff_base"); w.double(c.backoffBase)
        w.key("max_backoff"); w.double(c.maxBackoff)
        w.key("worker_count"); w.int(c.workerCount)
        w.raw("}")
    }

    static func writeWorker(_ r: WorkerRecord, to w: inout JSONWriter) {
        w.raw("{")
        w.key("pid", first: true); w.int(r.process.pid)
        w.key("start_time"); w.int(r.process.startTime)
        w.key("slots"); w.int(r.slots)
        w.key("started_at"); w.string(r.startedAt.iso8601)
        w.raw("}")
    }

    // MARK: reading

    static func readDocument(_ r: inout JSONReader) throws(JSONError) -> Document {
        var d = Document()
        var seen: Set<String> = []
        try r.readObject { (r, key) throws(JSONError) in
            seen.insert(key)
            switch key {
            case "version":
                d.version = try r.readInt()
                guard d.version >= 1 else { throw r.error("version \(d.version) is not valid") }
                guard d.version <= Document.currentVersion else {
                    throw r.error("version \(d.version) is newer than this queuectl understands (\(Document.currentVersion)); upgrade queuectl")
                }
            case "next_seq": d.nextSequence = try r.readInt64()
            case "config": d.config = try readConfig(&r)
            case "workers":
                try r.readArray { (r, i) throws(JSONError) in d.workers.append(try readWorker(&r, context: "workers[\(i)]")) }
            case "jobs":
                try r.readArray { (r, i) throws(JSONError) in d.jobs.append(try readJob(&r, context: "jobs[\(i)]")) }
            default: throw r.error("unknown field \"\(key)\" in the top-level object")
            }
        }
        for required in ["version", "config", "workers", "jobs"] where !seen.contains(required) {
            throw r.error("missing field \"\(required)\" in the top-level object")
        }
        var ids: Set<String> = []
        for job in d.jobs where !ids.insert(job.id).inserted { throw r.error("job id \"\(job.id)\" appears twice") }
        if let highest = d.jobs.map(\.sequence).max(), highest >= d.nextSequence { d.nextSequence = highest + 1 }
        return d
    }

    static func readTimestamp(_ r: inout JSONReader, _ field: String, _ context: String) throws(JSONError) -> Timestamp {
        let text = try r.readString()
        guard let t = Timestamp(iso8601: text) else { throw r.error("\(context).\(field): \"\(text)\" is not an ISO 8601 time") }
        return t
    }

    static func readJob(_ r: inout JSONReader, context: String) throws(JSONError) -> Job {
        var job = Job(id: "", command: "", maxRetries: 0, sequence: 0, now: Timestamp(milliseconds: 0))
        var seen: Set<String> = []
        var workerPid: Int32?, workerStart: UInt64?, childPid: Int32?, childStart: UInt64?
        try r.readObject { (r, key) throws(JSONError) in
            seen.insert(key)
            switch key {
            case "id": job.id = try r.readString()
            case "command": job.command = try r.readString()
            case "state":
                let text = try r.readString()
                guard let state = JobState(rawValue: text) else { throw r.error("\(context).state: unknown state \"\(text)\"") }
                job.state = state
            case "attempts": job.attempts = try r.readInt()
            case "max_retries": job.maxRetries = try r.readInt()
            case "priority": job.priority = try r.readInt()
            case "seq": job.sequence = try r.readInt64()
            case "created_at": job.createdAt = try readTimestamp(&r, key, context)
            case "updated_at": job.updatedAt = try readTimestamp(&r, key, context)
            case "run_at": job.runAt = try readTimestamp(&r, key, context)
            case "exit_code": job.exitCode = try r.readInt()
            case "last_error": job.lastError = try r.readString()
            case "started_at": job.startedAt = try readTimestamp(&r, key, context)
            case "finished_at": job.finishedAt = try readTimestamp(&r, key, context)
            case "duration_ms": job.durationMilliseconds = try r.readInt64()
            case "worker_pid": workerPid = Int32(exactly: try r.readInt64())
            case "worker_start_time": workerStart = UInt64(exactly: try r.readInt64())
            case "child_pid": childPid = Int32(exactly: try r.readInt64())
            case "child_start_time": childStart = UInt64(exactly: try r.readInt64())
            default: throw r.error("\(context): unknown field \"\(key)\"")
            }
        }
        for required in ["id", "command", "state", "attempts", "max_retries", "created_at", "updated_at"] where !seen.contains(required) {
            throw r.error("\(context): missing field \"\(required)\"")
        }
        if let workerPid, let workerStart { job.worker = ProcessIdentity(pid: workerPid, startTime: workerStart) }
        if let childPid, let childStart { job.child = ProcessIdentity(pid: childPid, startTime: childStart) }
        return job
    }

    static func readConfig(_ r: inout JSONReader) throws(JSONError) -> QueueConfig {
        var c = QueueConfig()
        try r.readObject { (r, key) throws(JSONError) in
            switch key {
            case "max_retries": c.maxRetries = try r.readInt()
            case "backoff_base": c.backoffBase = try r.readDouble()
            case "max_backoff": c.maxBackoff = try r.readDouble()
            case "worker_count": c.workerCount = try r.readInt()
            default: throw r.error("config: unknown field \"\(key)\"")
            }
        }
        return c
    }

    static func readWorker(_ r: inout JSONReader, context: String) throws(JSONError) -> WorkerRecord {
        var pid: Int32?, start: UInt64?, slots: Int?, startedAt: Timestamp?
        try r.readObject { (r, key) throws(JSONError) in
            switch key {
            case "pid": pid = Int32(exactly: try r.readInt64())
            case "start_time": start = UInt64(exactly: try r.readInt64())
            case "slots": slots = try r.readInt()
            case "started_at": startedAt = try readTimestamp(&r, key, context)
            default: throw r.error("\(context): unknown field \"\(key)\"")
            }
        }
        guard let pid, let start, let slots, let startedAt else { throw r.error("\(context): needs pid, start_time, slots and started_at") }
        return WorkerRecord(process: ProcessIdentity(pid: pid, startTime: start), slots: slots, startedAt: startedAt)
    }
}
