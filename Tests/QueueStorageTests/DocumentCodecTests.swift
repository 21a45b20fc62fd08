import Foundation
import Testing
import QueueSystem
@testable import QueueStorage

/// A document with many jobs in every state, every optional field set on some, and awkward text.
func sampleDocument(jobCount: Int = 60) -> Document {
    var d = Document()
    d.nextSequence = Int64(jobCount) + 10
    d.config.maxRetries = 5
    d.config.backoffBase = 1.5
    d.config.maxBackoff = 120.25
    d.config.workerCount = 4
    d.workers = [
        WorkerRecord(process: ProcessIdentity(pid: 4242, startTime: 123_456_789), slots: 3, startedAt: Timestamp(milliseconds: 1_700_000_000_123)),
        WorkerRecord(process: ProcessIdentity(pid: Int32.max, startTime: UInt64(Int64.max)), slots: 256, startedAt: Timestamp(milliseconds: 0)),
        WorkerRecord(process: ProcessIdentity(pid: 1, startTime: 99), slots: 2, startedAt: Timestamp(milliseconds: 5), pidNamespace: 4_026_532_254),
    ]
    d.config.leaseSeconds = 2.5
    for i in 0..<jobCount {
        let base = Int64(1_762_252_200_000) + Int64(i) * 1_001
        var job = Job(id: "job-\(i)_x.\(i)", command: awkwardStrings[i % awkwardStrings.count] + " #\(i)",
                      maxRetries: i % 7, priority: (i % 5) - 2, sequence: Int64(i + 1), now: Timestamp(milliseconds: base))
        job.state = JobState.allCases[i % JobState.allCases.count]
        job.attempts = i % 4
        job.updatedAt = Timestamp(milliseconds: base + 999)
        if i % 2 == 0 { job.runAt = Timestamp(milliseconds: base + 60_000) }
        if i % 3 == 0 { job.exitCode = [0, 1, 127, 255, -1][i % 5] }
        if i % 3 == 1 { job.lastError = awkwardStrings[(i * 7) % awkwardStrings.count] }
        if i % 4 != 3 { job.startedAt = Timestamp(milliseconds: base + 5) }
        if i % 4 == 0 { job.finishedAt = Timestamp(milliseconds: base + 6_789) }
        if i % 5 == 0 { job.durationMilliseconds = Int64(i) * 1_000_003 }
        if i % 6 == 0 { job.worker = ProcessIdentity(pid: Int32(1000 + i), startTime: UInt64(i) * 99_991) }
        if i % 6 == 0 { job.child = ProcessIdentity(pid: Int32(2000 + i), startTime: UInt64(i) * 99_991 + 3) }
        // Any text but NUL and, in a name, '=' (which enqueue refuses and the reader rejects).
        let text = awkwardStrings.filter { !$0.utf8.contains(0) && !$0.contains("=") }
        if i % 8 == 1 { job.environment = JobEnvironment(variables: ["K\(i)": text[i % text.count], "PATH": "/bin"]) }
        if i % 8 == 5 { job.environment = JobEnvironment(variables: [text[i % text.count] + "_": "v"], captured: true) }
        if i % 7 == 2 { job.killRequested = true }
        if i % 5 == 4 { job.restarts = i }
        d.jobs.append(job)
    }
    // The largest values each field can hold.
    var big = Job(id: String(repeating: "z", count: 128), command: "true", maxRetries: 1000, priority: -1000,
                  sequence: Int64(jobCount) + 5, now: Timestamp(milliseconds: 253_402_300_799_999))  // 9999-12-31T23:59:59.999Z
    big.durationMilliseconds = Int64.max
    big.exitCode = Int(Int32.max)
    d.jobs.append(big)
    return d
}

func decodeError(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> JSONError? {
    do {
        let d = try DocumentCodec.decode(Array(text.utf8))
        Issue.record("decoded: \(d)", sourceLocation: sourceLocation)
        return nil
    } catch { return error }
}

let minimalDocument = #"{"version": 2, "config": {}, "workers": [], "jobs": []}"#
let minimalJob = #"{"id": "a", "command": "true", "state": "pending", "attempts": 0, "max_retries": 3, "created_at": "2025-11-04T10:30:00Z", "updated_at": "2025-11-04T10:30:00Z"}"#
func document(jobs: [String], extraTop: String = "") -> String {
    #"{"version": 2, "next_seq": 100, "config": {}, "workers": [], "jobs": ["# + jobs.joined(separator: ",") + "]" + extraTop + "}"
}

@Suite struct DocumentCodecTests {
    @Test func roundTripOfAFullDocument() throws {
        let d = sampleDocument()
        let bytes = DocumentCodec.encode(d)
        let back = try DocumentCodec.decode(bytes)
        #expect(back == d)
        // Encoding is deterministic: the same document gives the same bytes.
        #expect(DocumentCodec.encode(back) == bytes)
    }

    /// Times at the limit round-trip; times past it (a clock set beyond year 9999, or before year 0)
    /// are written as the limit, so the file they are written to is read back.
    @Test func timesAtAndPastTheLastYearRoundTrip() throws {
        var d = Document()
        d.nextSequence = 2
        let past = Timestamp(milliseconds: Timestamp.latest.milliseconds + 86_400_000)
        var job = Job(id: "far", command: "true", maxRetries: 3, sequence: 1, now: Timestamp.latest)
        job.runAt = past
        job.startedAt = Timestamp(milliseconds: Timestamp.earliest.milliseconds - 1)
        job.finishedAt = Timestamp(milliseconds: .max)
        d.jobs.append(job)
        d.workers = [WorkerRecord(process: ProcessIdentity(pid: 7, startTime: 8), slots: 1, startedAt: past)]
        let bytes = DocumentCodec.encode(d)
        #expect(!String(decoding: bytes, as: UTF8.self).contains("\"10000-"))
        let back = try DocumentCodec.decode(bytes)
        #expect(back.jobs[0].createdAt == Timestamp.latest)
        #expect(back.jobs[0].runAt == Timestamp.latest)
        #expect(back.jobs[0].startedAt == Timestamp.earliest)
        #expect(back.jobs[0].finishedAt == Timestamp.latest)
        #expect(back.workers[0].startedAt == Timestamp.latest)
        #expect(String(decoding: DocumentCodec.encode(back), as: UTF8.self) == String(decoding: bytes, as: UTF8.self))
        #expect(try DocumentCodec.decode(DocumentCodec.encode(back)) == back)
    }

    @Test func emptyDocumentRoundTrip() throws {
        let d = Document()
        #expect(try DocumentCodec.decode(DocumentCodec.encode(d)) == d)
    }

    @Test func encodingIsValidJSONThatFoundationReadsTheSame() throws {
        let d = sampleDocument()
        let bytes = DocumentCodec.encode(d)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["version"] as? Int == 2)
        let config = try #require(object["config"] as? [String: Any])
        #expect(config["max_retries"] as? Int == 5)
        #expect(config["backoff_base"] as? Double == 1.5)
        #expect(config["max_backoff"] as? Double == 120.25)
        #expect(config["worker_count"] as? Int == 4)
        let jobs = try #require(object["jobs"] as? [[String: Any]])
        #expect(jobs.count == d.jobs.count)
        for (j, job) in zip(jobs, d.jobs) {
            #expect(j["id"] as? String == job.id)
            #expect(j["command"] as? String == job.command)
            #expect(j["state"] as? String == job.state.rawValue)
            #expect((j["attempts"] as? NSNumber)?.intValue == job.attempts)
            #expect((j["max_retries"] as? NSNumber)?.intValue == job.maxRetries)
            #expect((j["priority"] as? NSNumber)?.intValue == job.priority)
            #expect(j["created_at"] as? String == job.createdAt.iso8601)
            #expect(j["updated_at"] as? String == job.updatedAt.iso8601)
            #expect(j["run_at"] as? String == job.runAt?.iso8601)
            #expect(j["last_error"] as? String == job.lastError)
            #expect((j["exit_code"] as? NSNumber)?.intValue == job.exitCode)
            #expect((j["duration_ms"] as? NSNumber)?.int64Value == job.durationMilliseconds)
            #expect((j["worker_pid"] as? NSNumber)?.int32Value == job.worker?.pid)
            #expect((j["child_start_time"] as? NSNumber)?.uint64Value == job.child?.startTime)
        }
        let workers = try #require(object["workers"] as? [[String: Any]])
        #expect(workers.count == 3)
        #expect((workers[1]["pid"] as? NSNumber)?.int32Value == Int32.max)
        #expect(workers[1]["pid_ns"] == nil)
        #expect((workers[2]["pid_ns"] as? NSNumber)?.uint64Value == 4_026_532_254)
    }

    @Test func jobsDecodedWithFoundationCodableMatch() throws {
        struct J: Decodable { let id: String; let command: String; let last_error: String? }
        struct D: Decodable { let jobs: [J] }
        let d = sampleDocument()
        let decoded = try JSONDecoder().decode(D.self, from: Data(DocumentCodec.encode(d)))
        #expect(decoded.jobs.map(\.id) == d.jobs.map(\.id))
        #expect(decoded.jobs.map(\.command) == d.jobs.map(\.command))
        #expect(decoded.jobs.map(\.last_error) == d.jobs.map(\.lastError))
    }

    @Test func documentWrittenByFoundationDecodes() throws {
        let commands = awkwardStrings
        let jobs: [[String: Any]] = commands.enumerated().map { i, c in
            ["id": "f\(i)", "command": c, "state": "failed", "attempts": 2, "max_retries": 3, "priority": 7, "seq": i + 1,
             "created_at": "2025-11-04T10:30:00Z", "updated_at": "2025-11-04T10:30:00.5+05:30", "run_at": "2025-11-04T10:31:00.000Z",
             "last_error": c, "exit_code": 127, "duration_ms": 1234]
        }
        let top: [String: Any] = ["version": 2, "next_seq": 1, "config": ["max_retries": 2, "backoff_base": 3.5, "max_backoff": 60, "worker_count": 2],
                                  "workers": [["pid": 12, "start_time": 34, "slots": 2, "started_at": "2025-01-01T00:00:00Z"]], "jobs": jobs]
        for options: JSONSerialization.WritingOptions in [[], [.prettyPrinted], [.sortedKeys], [.withoutEscapingSlashes]] {
            let data = try JSONSerialization.data(withJSONObject: top, options: options)
            let d = try DocumentCodec.decode(Array(data))
            #expect(d.jobs.map(\.command) == commands)
            #expect(d.jobs.map(\.lastError) == commands)
            #expect(d.jobs[0].updatedAt == Timestamp(milliseconds: 1_762_232_400_500))  // 10:30:00.5 at +05:30 = 05:00:00.5Z
            #expect(d.config.backoffBase == 3.5)
            #expect(d.config.maxBackoff == 60)
            #expect(d.workers == [WorkerRecord(process: ProcessIdentity(pid: 12, startTime: 34), slots: 2, startedAt: Timestamp(iso8601: "2025-01-01T00:00:00Z")!)])
            // next_seq is raised above every job's seq so a new job never reuses one.
            #expect(d.nextSequence == Int64(commands.count) + 1)
        }
    }

    @Test func minimalDocumentDecodes() throws {
        let d = try DocumentCodec.decode(Array(minimalDocument.utf8))
        #expect(d.jobs.isEmpty)
        #expect(d.config == QueueConfig())
        let one = try DocumentCodec.decode(Array(document(jobs: [minimalJob]).utf8))
        #expect(one.jobs.count == 1)
        #expect(one.jobs[0].runAt == nil)
        #expect(one.jobs[0].worker == nil)
        // Fields added later default when a file lacks them.
        #expect(!one.jobs[0].killRequested && one.jobs[0].restarts == 0)
    }

    // MARK: rejections

    @Test func truncatedDocument() {
        let bytes = DocumentCodec.encode(sampleDocument(jobCount: 5))
        for cut in [1, 10, bytes.count / 3, bytes.count / 2, bytes.count - 3] {
            #expect(throws: JSONError.self) { try DocumentCodec.decode(Array(bytes.prefix(cut))) }
        }
        #expect(throws: JSONError.self) { try DocumentCodec.decode([]) }
    }

    @Test func trailingGarbageAfterTheDocument() {
        let e = decodeError(minimalDocument + " {}")
        #expect(e?.message.contains("after") == true)
        #expect(decodeError(minimalDocument + "x") != nil)
    }

    @Test func unknownFieldsAreNamed() {
        #expect(decodeError(document(jobs: [], extraTop: #", "extra": 1"#))?.message.contains("\"extra\"") == true)
        let typo = minimalJob.replacingOccurrences(of: "\"command\"", with: "\"comand\"")
        let e = decodeError(document(jobs: [typo]))
        #expect(e?.message.contains("comand") == true, "\(String(describing: e))")
        #expect(e?.message.contains("jobs[0]") == true)
        let badConfig = #"{"version": 2, "config": {"max_retry": 3}, "workers": [], "jobs": []}"#
        #expect(decodeError(badConfig)?.message.contains("max_retry") == true)
        let badWorker = #"{"version": 2, "config": {}, "workers": [{"pid": 1, "start_time": 2, "slots": 1, "started_at": "2025-01-01T00:00:00Z", "host": "x"}], "jobs": []}"#
        #expect(decodeError(badWorker)?.message.contains("host") == true)
    }

    @Test(arguments: ["id", "command", "state", "attempts", "max_retries", "created_at", "updated_at"])
    func missingRequiredJobField(field: String) throws {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(minimalJob.utf8)) as? [String: Any])
        object.removeValue(forKey: field)
        let job = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        let e = decodeError(document(jobs: [minimalJob.replacingOccurrences(of: "\"a\"", with: "\"b\""), job]))
        #expect(e?.message.contains("\"\(field)\"") == true, "\(String(describing: e))")
        #expect(e?.message.contains("jobs[1]") == true, "\(String(describing: e))")
    }

    @Test(arguments: ["version", "config", "workers", "jobs"])
    func missingRequiredTopLevelField(field: String) throws {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(minimalDocument.utf8)) as? [String: Any])
        object.removeValue(forKey: field)
        let text = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        #expect(decodeError(text)?.message.contains("\"\(field)\"") == true)
    }

    @Test func newerVersionIsRefused() {
        let e = decodeError(minimalDocument.replacingOccurrences(of: #""version": 2"#, with: #""version": 3"#))
        #expect(e?.message.contains("newer") == true, "\(String(describing: e))")
        #expect(decodeError(minimalDocument.replacingOccurrences(of: #""version": 2"#, with: #""version": 0"#)) != nil)
        #expect(decodeError(minimalDocument.replacingOccurrences(of: #""version": 2"#, with: #""version": "1""#)) != nil)
    }

    @Test func aVersionOneFileIsReadWithOneMoreRunForEveryJobAndTheConfig() throws {
        // Version 1 counted max_retries as retries after the first run: 2 meant three runs.
        let v1 = #"{"version": 1, "next_seq": 3, "config": {"max_retries": 2}, "workers": [], "jobs": ["#
            + #"{"id": "a", "command": "x", "state": "failed", "attempts": 1, "max_retries": 2, "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z"},"#
            + #"{"id": "b", "command": "y", "state": "pending", "attempts": 0, "max_retries": 0, "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z"}]}"#
        let d = try DocumentCodec.decode(Array(v1.utf8))
        #expect(d.version == 2)
        #expect(d.config.maxRetries == 3)
        #expect(d.jobs.map(\.maxRetries) == [3, 1])
        #expect(d.jobs.map(\.maxRuns) == [3, 1])
        // Written back as version 2 with the runs it now counts, and read again unchanged.
        let again = try DocumentCodec.decode(DocumentCodec.encode(d))
        #expect(again.version == 2)
        #expect(again.jobs.map(\.maxRetries) == [3, 1])
        #expect(again.config.maxRetries == 3)
    }

    @Test func duplicateJobID() {
        let e = decodeError(document(jobs: [minimalJob, minimalJob]))
        #expect(e?.message.contains("\"a\"") == true, "\(String(describing: e))")
        #expect(e?.message.contains("twice") == true)
    }

    @Test func duplicateKeyInAJob() {
        let dup = minimalJob.replacingOccurrences(of: #""attempts": 0"#, with: #""attempts": 0, "attempts": 1"#)
        #expect(decodeError(document(jobs: [dup]))?.message.contains("duplicate") == true)
    }

    @Test func wrongTypesAndBadValues() {
        let cases = [
            (#""attempts": 0"#, #""attempts": "0""#),
            (#""attempts": 0"#, #""attempts": 0.5"#),
            (#""attempts": 0"#, #""attempts": null"#),
            (#""state": "pending""#, #""state": "running""#),
            (#""state": "pending""#, #""state": "Pending""#),
            (#""command": "true""#, #""command": 1"#),
            (#""created_at": "2025-11-04T10:30:00Z""#, #""created_at": "2025-02-30T10:30:00Z""#),
            (#""created_at": "2025-11-04T10:30:00Z""#, #""created_at": "yesterday""#),
            (#""created_at": "2025-11-04T10:30:00Z""#, #""created_at": 1762252200"#),
        ]
        for (from, to) in cases {
            let job = minimalJob.replacingOccurrences(of: from, with: to)
            #expect(job != minimalJob)
            #expect(decodeError(document(jobs: [job])) != nil, "\(to)")
        }
        #expect(decodeError(#"{"version": 2, "config": {"backoff_base": 1e999}, "workers": [], "jobs": []}"#) != nil)
        #expect(decodeError("[]") != nil)
        #expect(decodeError("null") != nil)
    }

    /// The decoder promises nothing the file holds is silently dropped. A worker pid without its start
    /// time (or one out of range) must be an error, not a job that silently loses its owner.
    @Test func partialOrOutOfRangeProcessIdentityIsAnError() {
        let variants = [
            #", "worker_pid": 12"#,                                         // start time missing
            #", "worker_start_time": 12"#,                                  // pid missing
            #", "child_pid": 12"#,
            #", "worker_pid": 99999999999, "worker_start_time": 5"#,        // pid beyond Int32
            #", "worker_pid": 12, "worker_start_time": -5"#,                // negative start time
        ]
        for extra in variants {
            let job = minimalJob.replacingOccurrences(of: #""state": "pending""#, with: #""state": "processing""#).dropLast() + extra + "}"
            let e = decodeError(document(jobs: [String(job)]))
            #expect(e != nil, "accepted a job with\(extra)")
        }
    }

    @Test func errorOffsetPointsIntoTheInput() {
        let text = document(jobs: [minimalJob, minimalJob.replacingOccurrences(of: #""id": "a""#, with: #""id": "b""#).replacingOccurrences(of: "pending", with: "bogus")])
        guard let e = decodeError(text) else { return }
        #expect(e.offset > text.utf8.count / 2 && e.offset <= text.utf8.count)
        #expect(e.message.contains("bogus"))
    }
}

/// The config in the data file must satisfy the same rules `config set` enforces: a hand-edited
/// `max_backoff` of 1e300 would otherwise reach `Timestamp.adding(seconds:)`, whose Int64 conversion
/// traps, crashing the worker after a failed run and leaving the job stuck in `processing`.
@Suite struct DocumentConfigValidationTests {
    @Test(arguments: [
        #""max_backoff": 1e300"#, #""max_backoff": -5"#, #""backoff_base": 0.5"#, #""backoff_base": 1e300"#,
        #""worker_count": 0"#, #""worker_count": -3"#, #""max_retries": -1"#,
    ])
    func outOfRangeConfigIsRejected(member: String) {
        let text = #"{"version": 2, "config": {"# + member + #"}, "workers": [], "jobs": []}"#
        #expect(decodeError(text) != nil, "accepted config {\(member)}")
    }

    @Test func hugeBackoffInTheFileDoesNotCrashTheRetryArithmetic() async {
        await #expect(processExitsWith: .success) {
            let text = #"{"version": 2, "config": {"max_backoff": 1e300, "backoff_base": 1e300}, "workers": [], "jobs": []}"#
            guard let d = try? DocumentCodec.decode(Array(text.utf8)) else { return }  // rejected: fine
            // Accepted: the delay the policy computes must still be usable as a run_at.
            _ = Timestamp(milliseconds: 0).adding(seconds: d.config.maxBackoff)
        }
    }
}
