import Foundation
import Glibc
import Testing
import TestSupport
import QueueSystem
@testable import QueueStorage
@testable import JobManager

let t0 = Timestamp(milliseconds: 1_762_252_200_000)  // 2025-11-04T10:30:00Z

func snapshot(_ document: Document = Document(), now: Timestamp = t0) -> Snapshot {
    Snapshot(document: document, now: now)
}

func enqueue(_ s: inout Snapshot, _ inputs: JobInput...) throws(QueueError) -> [Job] {
    try JobManager.enqueue(inputs, in: &s)
}

/// A worker identity that is certainly dead: no such pid.
let deadWorker = ProcessIdentity(pid: 999_999, startTime: 12345)

@Suite struct JobIDValidationTests {
    @Test(arguments: ["a", "A", "0", "job-1", "job_1", "job.1", "a.b_c-D9", "a..b", "...", ".hidden", "x-", String(repeating: "a", count: 128)])
    func validIDs(id: String) throws {
        try JobInput.validateID(id)
        var s = snapshot()
        let jobs = try enqueue(&s, JobInput(id: id, command: "true"))
        #expect(jobs.map(\.id) == [id])
    }

    @Test(arguments: ["", ".", "..", "-a", "--", "-", String(repeating: "a", count: 129), "a b", "a/b", "../x", "a\\b", "é", "a\nb",
                      "a\u{0}b", "a:b", "a*", "😀", "a$b", "a'b"])
    func invalidIDs(id: String) {
        var s = snapshot()
        #expect(throws: QueueError.self) { try JobInput.validateID(id) }
        do {
            _ = try enqueue(&s, JobInput(id: id, command: "true"))
            Issue.record("id \(id.debugDescription) accepted")
        } catch {
            #expect(error.kind == .usage, "\(error.message)")
            #expect(!error.message.isEmpty)
        }
        #expect(s.document.jobs.isEmpty)
        #expect(!s.changed)
    }
}

@Suite struct JobInputJSONTests {
    func parse(_ text: String) throws(QueueError) -> JobInput { try JobInput(json: Array(text.utf8)) }

    @Test func fields() throws {
        let i = try parse(#"{"id": "j1", "command": "sleep 2", "max_retries": 5, "priority": -3}"#)
        #expect(i == JobInput(id: "j1", command: "sleep 2", maxRetries: 5, priority: -3))
        #expect(try parse(#"{"command": "x"}"#) == JobInput(command: "x"))
    }

    @Test(arguments: [
        (#"{"comand": "x"}"#, "comand"),
        (#"{"command": "x", "comand": "y"}"#, "comand"),
        (#"{"command": "x", "max_retry": 1}"#, "max_retry"),
        (#"{"command": "x", "bogus": 1}"#, "bogus"),
        (#"{"id": "a"}"#, "command"),
        (#"{"command": ""}"#, "command"),
        (#"{"command": "   \n\t"}"#, "command"),
        (#"{"command": 5}"#, "command"),
        (#"{"command": null}"#, "command"),
        (#"{"command": "x", "id": 5.5}"#, "id"),
        (#"{"command": "x", "id": ""}"#, "id"),
        (#"{"command": "x", "id": "a/b"}"#, "a/b"),
        (#"{"command": "x", "max_retries": -1}"#, "max_retries"),
        (#"{"command": "x", "max_retries": 1.5}"#, "max_retries"),
        (#"{"command": "x", "max_retries": 1e2}"#, "max_retries"),
        (#"{"command": "x", "max_retries": "3"}"#, "max_retries"),
        (#"{"command": "x", "max_retries": 99999999999999999999}"#, "max_retries"),
        (#"{"command": "x", "priority": true}"#, "priority"),
        (#"{"command": "x", "command": "y"}"#, "duplicate"),
        (#"["command"]"#, "object"),
        (#""echo""#, "object"),
        (#"{"command": "x"} {"#, "JSON"),
        (#"{"command": "a\u0000b"}"#, "NUL"),
    ])
    func rejected(text: String, mentioning word: String) {
        do {
            let i = try parse(text)
            Issue.record("accepted \(text) as \(i)")
        } catch {
            #expect(error.kind == .usage)
            #expect(error.message.contains(word), "\(text) -> \(error.message)")
        }
    }

    @Test func typoGetsAHint() {
        do { _ = try parse(#"{"comand": "x"}"#); Issue.record("accepted") } catch {
            #expect(error.message.contains("did you mean 'command'"), "\(error.message)")
        }
    }

    @Test func commandSizeLimit() throws {
        _ = try parse(#"{"command": ""# + String(repeating: "x", count: JobInput.maximumCommandBytes) + #""}"#)
        #expect(throws: QueueError.self) {
            try parse(#"{"command": ""# + String(repeating: "x", count: JobInput.maximumCommandBytes + 1) + #""}"#)
        }
    }
}

@Suite struct EnqueueTests {
    @Test func enqueueSetsDefaultsFromConfig() throws {
        var d = Document()
        d.config.maxRetries = 7
        var s = snapshot(d)
        let jobs = try enqueue(&s, JobInput(id: "a", command: "echo a"), JobInput(id: "b", command: "echo b", maxRetries: 0, priority: 5))
        #expect(s.changed)
        #expect(Array(s.document.jobs) == jobs)
        #expect(jobs[0].maxRetries == 7)
        #expect(jobs[1].maxRetries == 0)
        #expect(jobs[1].priority == 5)
        for job in jobs {
            #expect(job.state == .pending)
            #expect(job.attempts == 0)
            #expect(job.createdAt == t0)
            #expect(job.updatedAt == t0)
            #expect(job.runAt == nil)
            #expect(job.worker == nil)
        }
        #expect(jobs[0].sequence < jobs[1].sequence)
        #expect(s.document.nextSequence > jobs[1].sequence)
    }

    @Test func sequencesKeepIncreasingAcrossEnqueues() throws {
        var s = snapshot()
        var all: [Job] = []
        for i in 0..<5 { all += try enqueue(&s, JobInput(id: "j\(i)", command: "x"), JobInput(command: "y")) }
        let seqs = all.map(\.sequence)
        #expect(seqs == seqs.sorted())
        #expect(Set(seqs).count == seqs.count)
    }

    @Test func duplicateWithTheQueueFailsTheWholeBatch() throws {
        var s = snapshot()
        _ = try enqueue(&s, JobInput(id: "taken", command: "x"))
        let before = s.document
        do {
            _ = try enqueue(&s, JobInput(id: "new1", command: "x"), JobInput(id: "taken", command: "y"), JobInput(id: "new2", command: "z"))
            Issue.record("duplicate accepted")
        } catch {
            #expect(error.message.contains("taken"))
        }
        #expect(s.document == before)
    }

    @Test func duplicateWithinTheBatchFailsTheWholeBatch() {
        var s = snapshot()
        #expect(throws: QueueError.self) {
            try enqueue(&s, JobInput(id: "a", command: "x"), JobInput(id: "b", command: "x"), JobInput(id: "a", command: "x"))
        }
        #expect(s.document.jobs.isEmpty)
        #expect(s.document.nextSequence == Document().nextSequence)
    }

    @Test func invalidJobLateInTheBatchFailsTheWholeBatch() {
        var s = snapshot()
        #expect(throws: QueueError.self) {
            try enqueue(&s, JobInput(id: "a", command: "x"), JobInput(id: "b", command: "  "))
        }
        #expect(s.document.jobs.isEmpty)
    }

    @Test func generatedIDsAreUniqueValidAndAvoidExistingOnes() throws {
        var s = snapshot()
        _ = try enqueue(&s, JobInput(id: "given", command: "x"))
        let inputs = (0..<2000).map { _ in JobInput(command: "x") }
        let jobs = try JobManager.enqueue(inputs, in: &s)
        let ids = jobs.map(\.id)
        #expect(Set(ids).count == 2000)
        #expect(!ids.contains("given"))
        for id in ids { #expect(throws: Never.self) { try JobInput.validateID(id) } }
    }

    @Test func generatedIDDoesNotCollideWithALaterGivenIDInTheSameBatch() throws {
        // A given id after a generated one is checked against the generated ones too.
        var s = snapshot()
        let first = try enqueue(&s, JobInput(command: "x"))[0]
        #expect(throws: QueueError.self) { try enqueue(&s, JobInput(id: first.id, command: "y")) }
    }
}

@Suite struct ClaimTests {
    func job(_ id: String, priority: Int = 0, seq: Int64, created: Int64 = 0, runAt: Int64? = nil, state: JobState = .pending) -> Job {
        var j = Job(id: id, command: "echo \(id)", maxRetries: 3, priority: priority, sequence: seq,
                    now: Timestamp(milliseconds: t0.milliseconds - 100_000 + created))
        j.state = state
        j.runAt = runAt.map { Timestamp(milliseconds: t0.milliseconds - 100_000 + $0) }
        return j
    }

    /// Priority, then enqueue order: neither created_at (which moves with the clock) nor a past run_at
    /// reorders claims.
    @Test func orderIsPriorityThenSequence() {
        var d = Document()
        d.jobs = [
            job("low-old", priority: -1, seq: 1, created: 0),
            job("mid-late", seq: 2, created: 500),
            job("mid-early", seq: 3, created: 100),
            job("high", priority: 5, seq: 4, created: 900),
            job("mid-tie-b", seq: 6, created: 300),
            job("mid-tie-a", seq: 5, created: 300),
            job("retry-early", seq: 7, created: 0, runAt: 200, state: .failed),
        ]
        var s = snapshot(d)
        let claimed = JobManager.claim(limit: 100, for: ProcessIdentity.current(), in: &s)
        #expect(claimed.map(\.id) == ["high", "mid-late", "mid-early", "mid-tie-a", "mid-tie-b", "retry-early", "low-old"])
    }

    @Test func limitIsRespectedAndTheBestAreTaken() {
        var d = Document()
        d.jobs = JobTable((1...10).map { job("j\($0)", priority: $0 % 3, seq: Int64($0), created: Int64($0)) })
        var s = snapshot(d)
        let me = ProcessIdentity.current()
        let first = JobManager.claim(limit: 3, for: me, in: &s)
        #expect(first.map(\.id) == ["j2", "j5", "j8"])
        #expect(s.document.jobs.filter { $0.state == .processing }.count == 3)
        let second = JobManager.claim(limit: 3, for: me, in: &s)
        #expect(second.map(\.id) == ["j1", "j4", "j7"])
        #expect(JobManager.claim(limit: 0, for: me, in: &s).isEmpty)
        #expect(JobManager.claim(limit: -1, for: me, in: &s).isEmpty)
        #expect(JobManager.claim(limit: 100, for: me, in: &s).count == 4)
        #expect(JobManager.claim(limit: 100, for: me, in: &s).isEmpty)
    }

    @Test func claimMarksTheJob() {
        var d = Document()
        d.jobs = [job("a", seq: 1)]
        var s = snapshot(d)
        let me = ProcessIdentity.current()
        let claimed = JobManager.claim(limit: 1, for: me, in: &s)
        #expect(claimed.count == 1)
        let j = s.document.jobs[0]
        #expect(j == claimed[0])
        #expect(j.state == .processing)
        #expect(j.worker == me)
        #expect(j.startedAt == t0)
        #expect(j.updatedAt == t0)
        #expect(j.attempts == 0)
    }

    @Test func onlyPendingAndDueFailedJobsAreClaimed() {
        var d = Document()
        d.jobs = [
            job("future-retry", seq: 1, runAt: 100_001, state: .failed),   // run_at 1 ms after now
            job("due-retry", seq: 2, runAt: 100_000, state: .failed),      // run_at == now
            job("done", seq: 3, state: .completed),
            job("dead", seq: 4, state: .dead),
            job("busy", seq: 5, state: .processing),
            job("future-pending", seq: 6, created: 100_500),               // created in the future (clock stepped back)
            job("far-future-pending", seq: 7, created: 253_402_300_799_999 - t0.milliseconds),
            job("future-scheduled", seq: 8, runAt: 100_001),
        ]
        var s = snapshot(d)
        let claimed = JobManager.claim(limit: 10, for: ProcessIdentity.current(), in: &s)
        // Only run_at gates a claim: a plain job is runnable whatever its created_at says.
        #expect(claimed.map(\.id) == ["due-retry", "future-pending", "far-future-pending"])
        #expect(JobManager.nextEligibleTime(in: s.document, after: t0) == Timestamp(milliseconds: t0.milliseconds + 1))
    }

    @Test func failedJobIsClaimedOnceItsRunAtComes() {
        var d = Document()
        d.jobs = [job("r", seq: 1, runAt: 105_000, state: .failed)]
        var early = snapshot(d, now: Timestamp(milliseconds: t0.milliseconds + 4_999))
        #expect(JobManager.claim(limit: 1, for: ProcessIdentity.current(), in: &early).isEmpty)
        #expect(!early.changed)
        var due = snapshot(d, now: Timestamp(milliseconds: t0.milliseconds + 5_000))
        #expect(JobManager.claim(limit: 1, for: ProcessIdentity.current(), in: &due).map(\.id) == ["r"])
    }

    @Test func claimWithNothingToDoDoesNotChangeTheSnapshot() {
        var d = Document()
        d.jobs = [job("done", seq: 1, state: .completed)]
        var s = snapshot(d)
        #expect(JobManager.claim(limit: 5, for: ProcessIdentity.current(), in: &s).isEmpty)
        #expect(!s.changed)
    }
}

/// `show`'s reason follows the claim rule: only run_at holds a job back.
@Suite struct ExplainTests {
    let later = Timestamp(milliseconds: t0.milliseconds + 3_600_000)

    func job(_ state: JobState, created: Timestamp, runAt: Timestamp? = nil) -> Job {
        var j = Job(id: "j", command: "true", maxRetries: 3, sequence: 1, now: created)
        j.state = state
        j.runAt = runAt
        if state == .failed { j.attempts = 1; j.lastError = "exit 1" }
        return j
    }

    @Test func aPlainJobCreatedInTheFutureIsWaitingOnlyForASlot() {
        let j = job(.pending, created: later)
        #expect(JobManager.explain(j, now: t0, workers: []).hasPrefix("waiting for a free worker slot"))
        #expect(JobManager.nextEligibleTime(in: { var d = Document(); d.jobs = [j]; return d }(), after: t0) == nil)
    }

    @Test func aFutureRunAtIsTheReason() {
        let scheduled = job(.pending, created: t0, runAt: later)
        #expect(JobManager.explain(scheduled, now: t0, workers: []) == "scheduled for \(later.iso8601), in 1h 0m")
        let retry = job(.failed, created: t0, runAt: later)
        #expect(JobManager.explain(retry, now: t0, workers: []) == "failed (exit 1); waiting for run 2 of 3 in 1h 0m")
    }

    @Test func aFailedJobWithoutRunAtIsDueWhateverItsCreatedAt() {
        let j = job(.failed, created: later)
        #expect(JobManager.explain(j, now: t0, workers: []).hasPrefix("failed (exit 1); run 2 of 3 is due, waiting for a free worker slot"))
    }
}

@Suite struct FinishTests {
    let me = ProcessIdentity.current()

    func claimed(maxRetries: Int = 3, attempts: Int = 0, config: QueueConfig = QueueConfig()) -> Snapshot {
        var d = Document()
        d.config = config
        var j = Job(id: "j", command: "false", maxRetries: maxRetries, sequence: 1, now: Timestamp(milliseconds: t0.milliseconds - 60_000))
        j.attempts = attempts
        d.jobs = [j]
        var s = snapshot(d, now: Timestamp(milliseconds: t0.milliseconds - 10_000))
        _ = JobManager.claim(limit: 1, for: me, in: &s)
        return snapshot(s.document, now: t0)
    }

    func finish(_ s: inout Snapshot, _ outcome: RunOutcome, worker: ProcessIdentity? = nil) -> JobTransition? {
        JobManager.finish(jobID: "j", worker: worker ?? me, outcome: outcome, startedAt: Timestamp(milliseconds: t0.milliseconds - 9_000),
                          durationMilliseconds: 9_000, in: &s)
    }

    @Test func successCompletes() throws {
        var s = claimed()
        let t = try #require(finish(&s, .exited(.exited(0))))
        let j = s.document.jobs[0]
        #expect(t.job == j)
        #expect(t.retryInSeconds == nil)
        #expect(j.state == .completed)
        #expect(j.attempts == 0)
        #expect(j.exitCode == 0)
        #expect(j.runAt == nil)
        #expect(j.worker == nil)
        #expect(j.child == nil)
        #expect(j.finishedAt == t0)
        #expect(j.updatedAt == t0)
        #expect(j.startedAt == Timestamp(milliseconds: t0.milliseconds - 9_000))
        #expect(j.durationMilliseconds == 9_000)
    }

    @Test func commandNotFoundIsAFailedRunWithBackoff() throws {
        var s = claimed()
        let t = try #require(finish(&s, .exited(.exited(127))))
        let j = s.document.jobs[0]
        #expect(j.state == .failed)
        #expect(j.attempts == 1)
        #expect(j.exitCode == 127)
        #expect(j.lastError == "exit 127: command not found")
        #expect(j.runAt == Timestamp(milliseconds: t0.milliseconds + 2_000))  // 2^1 seconds
        #expect(t.retryInSeconds == 2)
        #expect(j.worker == nil)
    }

    @Test func backoffFollowsAttemptsAndConfig() throws {
        var config = QueueConfig()
        config.backoffBase = 3
        config.maxBackoff = 20
        for (attemptsBefore, delay) in [(0, 3.0), (1, 9.0), (2, 20.0), (5, 20.0)] {
            var s = claimed(maxRetries: 10, attempts: attemptsBefore, config: config)
            let t = try #require(finish(&s, .exited(.exited(1))))
            #expect(s.document.jobs[0].attempts == attemptsBefore + 1)
            #expect(s.document.jobs[0].state == .failed)
            #expect(t.retryInSeconds == delay)
            #expect(s.document.jobs[0].runAt == t0.adding(seconds: delay))
            #expect(s.document.jobs[0].lastError == "exit 1")
        }
    }

    @Test func lastRetryThenDead() throws {
        // max_retries counts runs: the second failed run of three leaves one, the third is the last.
        var s = claimed(maxRetries: 3, attempts: 1)
        _ = finish(&s, .exited(.exited(1)))
        #expect(s.document.jobs[0].state == .failed)
        #expect(s.document.jobs[0].attempts == 2)
        var last = claimed(maxRetries: 3, attempts: 2)
        let t = try #require(finish(&last, .exited(.exited(1))))
        #expect(last.document.jobs[0].state == .dead)
        #expect(last.document.jobs[0].attempts == 3)
        #expect(last.document.jobs[0].runAt == nil)
        #expect(t.retryInSeconds == nil)
    }

    @Test func maxRetriesZeroOrOneGoesStraightToTheDLQ() {
        for runs in [0, 1] {
            var s = claimed(maxRetries: runs)
            _ = finish(&s, .exited(.exited(2)))
            #expect(s.document.jobs[0].state == .dead)
            #expect(s.document.jobs[0].attempts == 1)
            #expect(s.document.jobs[0].exitCode == 2)
        }
    }

    @Test func jobsOwnMaxRetriesDecidesNotTheConfig() {
        var config = QueueConfig()
        config.maxRetries = 0
        var s = claimed(maxRetries: 2, config: config)
        _ = finish(&s, .exited(.exited(1)))
        #expect(s.document.jobs[0].state == .failed)
    }

    @Test func signalAndSpawnFailureAreFailedRuns() {
        var s = claimed()
        _ = finish(&s, .exited(.signaled(SIGKILL)))
        #expect(s.document.jobs[0].state == .failed)
        #expect(s.document.jobs[0].exitCode == nil)
        #expect(s.document.jobs[0].lastError == "killed by signal 9 (SIGKILL)")
        var c = claimed()
        _ = finish(&c, .couldNotStart("No such file or directory"))
        #expect(c.document.jobs[0].state == .failed)
        #expect(c.document.jobs[0].lastError == "could not start: No such file or directory")
    }

    @Test func errorTexts() {
        #expect(RunOutcome.exited(.exited(0)).errorText == nil)
        #expect(RunOutcome.exited(.exited(0)).succeeded)
        #expect(!RunOutcome.exited(.exited(1)).succeeded)
        #expect(RunOutcome.exited(.exited(126)).errorText == "exit 126: command not executable")
        #expect(RunOutcome.exited(.exited(3)).errorText == "exit 3")
        #expect(RunOutcome.exited(.signaled(SIGTERM)).errorText == "killed by signal 15 (SIGTERM)")
    }

    @Test func finishByAnotherWorkerIsIgnored() {
        var s = claimed()
        let before = s.document
        #expect(finish(&s, .exited(.exited(0)), worker: ProcessIdentity(pid: me.pid, startTime: me.startTime + 1)) == nil)
        #expect(finish(&s, .exited(.exited(0)), worker: deadWorker) == nil)
        #expect(s.document == before)
        #expect(!s.changed)
    }

    @Test func finishOfAJobNoLongerProcessingIsIgnored() {
        var s = claimed()
        _ = finish(&s, .exited(.exited(0)))
        let done = s.document
        #expect(finish(&s, .exited(.exited(1))) == nil)  // a second report
        #expect(s.document == done)
        #expect(JobManager.finish(jobID: "nope", worker: me, outcome: .exited(.exited(0)), startedAt: t0, durationMilliseconds: 0, in: &s) == nil)
    }

    @Test func releasePutsBackWithoutCountingAnAttempt() throws {
        var s = claimed(attempts: 1)
        let t = try #require(JobManager.release(jobID: "j", worker: me, in: &s))
        #expect(!t.removed)
        let j = t.job
        #expect(j.state == .pending)
        #expect(j.attempts == 1)
        #expect(j.worker == nil)
        #expect(j.runAt == nil)
        #expect(JobManager.release(jobID: "j", worker: me, in: &s) == nil)
    }

    @Test func aJobCancelledWhileItRanIsRemovedNotPutBackByAShutdown() throws {
        var s = claimed()
        _ = try JobManager.cancel("j", in: &s)
        let t = try #require(JobManager.release(jobID: "j", worker: me, in: &s))
        #expect(t.removed)
        #expect(s.document.jobs.isEmpty, "it would have run again")
    }

    @Test func aJobCancelledBetweenItsClaimAndItsGivingBackIsRemoved() throws {
        var s = snapshot()
        _ = try enqueue(&s, JobInput(id: "j", command: "x"))
        var before: Job?
        _ = JobManager.claim(limit: 1, for: me, in: &s) { before = $0 }
        _ = try JobManager.cancel("j", in: &s)
        JobManager.unclaim("j", restoring: try #require(before), worker: me, in: &s)
        #expect(s.document.jobs.isEmpty)
    }

    @Test func aWorkerWithAnotherNamespacesWorkersPidAndStartTimeIsRefused() throws {
        var s = snapshot()
        let first = WorkerRecord(process: ProcessIdentity(pid: 1, startTime: 500), slots: 1, startedAt: t0, pidNamespace: 41)
        try JobManager.register(first, in: &s)
        var twin = first
        twin.pidNamespace = 42
        #expect(throws: QueueError.self) { try JobManager.register(twin, in: &s) }
        #expect(s.document.workers == [first])
        // Its own namespace's earlier record of the pid is replaced; unregistering leaves others' records.
        var later = first
        later.process = ProcessIdentity(pid: 1, startTime: 900)
        try JobManager.register(later, in: &s)
        JobManager.unregister(first, in: &s)
        #expect(s.document.workers == [later])
    }
}

@Suite struct RecoveryTests {
    /// A job whose run started (its child, long gone, was recorded) on `owner`.
    func processing(_ id: String, owner: ProcessIdentity?, attempts: Int = 0, maxRetries: Int = 3) -> Job {
        var j = Job(id: id, command: "sleep 100", maxRetries: maxRetries, sequence: 1, now: Timestamp(milliseconds: t0.milliseconds - 60_000))
        j.state = .processing
        j.worker = owner
        j.child = ProcessIdentity(pid: 999_998, startTime: 12346)
        j.attempts = attempts
        j.startedAt = Timestamp(milliseconds: t0.milliseconds - 30_000)
        return j
    }

    @Test func jobOfADeadWorkerFailsWithWorkerLost() throws {
        var d = Document()
        d.jobs = [processing("lost", owner: deadWorker)]
        var s = snapshot(d)
        let recovered = JobManager.recoverOrphans(in: &s)
        #expect(recovered.count == 1)
        let j = s.document.jobs[0]
        #expect(j.state == .failed)
        #expect(j.attempts == 1)
        #expect(j.lastError == "worker lost")
        #expect(j.exitCode == nil)
        #expect(j.worker == nil)
        #expect(j.runAt == t0.adding(seconds: 2))
        #expect(j.durationMilliseconds == 30_000)
        #expect(recovered[0].job == j)
    }

    @Test func reusedPidCountsAsDead() {
        let me = ProcessIdentity.current()
        var d = Document()
        d.jobs = [processing("reused", owner: ProcessIdentity(pid: me.pid, startTime: me.startTime + 7))]
        var s = snapshot(d)
        #expect(JobManager.recoverOrphans(in: &s).count == 1)
        #expect(s.document.jobs[0].state == .failed)
        #expect(s.document.jobs[0].lastError == "worker lost")
    }

    @Test func lastRunLostGoesToTheDLQ() {
        var d = Document()
        d.jobs = [processing("final", owner: deadWorker, attempts: 3, maxRetries: 3)]
        var s = snapshot(d)
        JobManager.recoverOrphans(in: &s)
        #expect(s.document.jobs[0].state == .dead)
        #expect(s.document.jobs[0].attempts == 4)
    }

    @Test func jobWithoutOwnerIsRecovered() {
        var d = Document()
        d.jobs = [processing("ownerless", owner: nil)]
        var s = snapshot(d)
        #expect(JobManager.recoverOrphans(in: &s).count == 1)
        #expect(s.document.jobs[0].state == .failed)
    }

    @Test func aClaimWhoseChildNeverStartedGoesBackWithoutAnAttempt() {
        var job = processing("unstarted", owner: deadWorker, attempts: 0, maxRetries: 0)
        job.child = nil
        var d = Document()
        d.jobs = [job]
        var s = snapshot(d)
        let recovered = JobManager.recoverOrphans(in: &s)
        let j = s.document.jobs[0]
        #expect(recovered.map(\.job) == [j])
        #expect(j.state == .pending, "not the DLQ, though it had no retry left")
        #expect(j.attempts == 0)
        #expect(j.worker == nil && j.startedAt == nil)
        #expect(j.lastError?.contains("without using an attempt") == true)
        #expect(s.document.counters.runs == 0 && s.document.counters.dlqMoves == 0)
    }

    @Test func anUnrecordedChildStillRunningIsKilledAndItsRunCounts() throws {
        // The worker died after spawning but before recording the child: only the marker finds it.
        let marker = JobManager.runMarker(worker: deadWorker, jobID: "unrecorded")
        let pid = try Processes.spawnShell("sleep 300", directory: nil, environment: [marker.name: marker.value], output: nil)
        defer { Processes.signalGroup(pid, .kill); _ = waitForExit(pid) }
        #expect(eventually { Processes.withEnvironmentEntry("\(marker.name)=\(marker.value)").contains(pid) })
        var job = processing("unrecorded", owner: deadWorker)
        job.child = nil
        var d = Document()
        d.jobs = [job]
        var s = snapshot(d)
        JobManager.recoverOrphans(in: &s)
        #expect(s.document.jobs[0].state == .failed)
        #expect(s.document.jobs[0].attempts == 1)
        #expect(waitForExit(pid) == .signaled(SIGKILL))
    }

    @Test func aSetsidChildOfARecordedRunIsKilledByItsMarker() throws {
        // The recorded shell's group is killed, and the child that left it with setsid goes too.
        let marker = JobManager.runMarker(worker: deadWorker, jobID: "escaped")
        let pidFile = "/tmp/queuectl-setsid-\(getpid())"
        defer { unlink(pidFile) }
        let shell = try Processes.spawnShell("setsid sh -c 'echo $$ > \(pidFile); exec sleep 300' & wait", directory: nil,
                                             environment: [marker.name: marker.value], output: nil)
        defer { Processes.signalGroup(shell, .kill); _ = waitForExit(shell) }
        var escaped: Int32 = 0
        #expect(eventually {
            escaped = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { Int32($0.filter(\.isNumber)) } ?? 0
            return escaped > 0 && Processes.processGroup(of: escaped) == escaped
        })
        var job = processing("escaped", owner: deadWorker)
        job.child = ProcessIdentity(pid: shell, startTime: try #require(Processes.startTime(of: shell)))
        var d = Document()
        d.jobs = [job]
        var s = snapshot(d)
        JobManager.recoverOrphans(in: &s)
        #expect(s.document.jobs[0].state == .failed, "recovered only once every process of the run is gone")
        #expect(eventually { !processIsRunning(escaped) }, "the setsid child carried the marker and was killed")
    }

    @Test func liveOwnerIsLeftAlone() {
        let me = ProcessIdentity.current()
        var d = Document()
        d.jobs = [processing("mine", owner: me)]
        d.workers = [WorkerRecord(process: me, slots: 2, startedAt: t0)]
        var s = snapshot(d)
        #expect(JobManager.recoverOrphans(in: &s).isEmpty)
        #expect(s.document == d)
        #expect(!s.changed, "a recovery that finds nothing must not rewrite the data file")
    }

    @Test func staleWorkerRecordsAreRemovedLiveOnesKept() {
        let me = ProcessIdentity.current()
        var d = Document()
        d.workers = [
            WorkerRecord(process: deadWorker, slots: 1, startedAt: t0),
            WorkerRecord(process: me, slots: 2, startedAt: t0),
            WorkerRecord(process: ProcessIdentity(pid: me.pid, startTime: me.startTime + 1), slots: 3, startedAt: t0),
        ]
        var s = snapshot(d)
        JobManager.recoverOrphans(in: &s)
        #expect(s.document.workers == [WorkerRecord(process: me, slots: 2, startedAt: t0)])
    }

    @Test func otherStatesAreNotTouched() {
        var d = Document()
        for (i, state) in [JobState.pending, .failed, .completed, .dead].enumerated() {
            var j = processing("s\(i)", owner: deadWorker)
            j.state = state
            j.sequence = Int64(i + 1)
            d.jobs.append(j)
        }
        var s = snapshot(d)
        #expect(JobManager.recoverOrphans(in: &s).isEmpty)
        #expect(s.document.jobs == d.jobs)
    }

    @Test func orphanedChildProcessGroupIsKilled() throws {
        // A real orphan: a shell (leader of its own group) with a grandchild, owned by a dead worker.
        let pid = try Processes.spawnShell("sleep 300 & wait", directory: nil, environment: [:], output: nil)
        defer { Processes.signalGroup(pid, .kill); _ = waitForExit(pid) }
        let start = try #require(Processes.startTime(of: pid))
        var job = processing("orphan", owner: deadWorker)
        job.child = ProcessIdentity(pid: pid, startTime: start)
        var d = Document()
        d.jobs = [job]
        var s = snapshot(d)
        JobManager.recoverOrphans(in: &s)
        #expect(s.document.jobs[0].child == nil)
        // The shell dies of SIGKILL (its group was signalled).
        #expect(waitForExit(pid) == .signaled(SIGKILL))
    }

    @Test func liveChildOfALiveWorkerIsNotKilled() throws {
        let pid = try Processes.spawnShell("sleep 300", directory: nil, environment: [:], output: nil)
        defer { Processes.signalGroup(pid, .kill); _ = waitForExit(pid) }
        var job = processing("running", owner: ProcessIdentity.current())
        job.child = ProcessIdentity(pid: pid, startTime: try #require(Processes.startTime(of: pid)))
        var d = Document()
        d.jobs = [job]
        var s = snapshot(d)
        JobManager.recoverOrphans(in: &s)
        usleep(50_000)
        #expect(Processes.reapIfExited(pid) == nil)
        #expect(job.child!.isAlive)
    }

    @Test func recoveryThroughTheStoreIsPersisted() throws {
        var template = Array("/tmp/queuectl-jm-XXXXXX".utf8CString)
        let dir = String(cString: mkdtemp(&template)!)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = Store(home: QueueHome(directory: dir + "/q"))
        try store.transaction { (s) throws(QueueError) in
            _ = try JobManager.enqueue([JobInput(id: "x", command: "sleep 1")], in: &s)
            _ = JobManager.claim(limit: 1, for: deadWorker, in: &s)
            JobManager.recordChild(ProcessIdentity(pid: 999_998, startTime: 1), jobID: "x", worker: deadWorker, in: &s)
            try JobManager.register(WorkerRecord(process: deadWorker, slots: 1, startedAt: s.now), in: &s)
        }
        #expect(try store.read().jobs[0].state == .processing)
        _ = try store.transaction { (s) throws(QueueError) in JobManager.recoverOrphans(in: &s) }
        let d = try store.read()
        #expect(d.jobs[0].state == .failed)
        #expect(d.jobs[0].lastError == "worker lost")
        #expect(d.jobs[0].attempts == 1)
        #expect(d.workers.isEmpty)
    }
}

@Suite struct ListAndCountTests {
    @Test func listFollowsEnqueueOrderWhateverTheFileOrder() throws {
        var s = snapshot()
        _ = try enqueue(&s, JobInput(id: "a", command: "x"), JobInput(id: "b", command: "x"), JobInput(id: "c", command: "x"))
        s.document.jobs.swapAt(0, 2)  // as a hand edit could leave them
        #expect(JobManager.list(s.document, state: nil).map(\.id) == ["a", "b", "c"])
        #expect(JobManager.list(s.document, state: .pending, limit: 2).map(\.id) == ["a", "b"])
    }

    @Test func listIsInEnqueueOrderAndFilters() throws {
        var s = snapshot()
        _ = try enqueue(&s, JobInput(id: "a", command: "x", priority: -5), JobInput(id: "b", command: "x", priority: 9), JobInput(id: "c", command: "x"))
        _ = JobManager.claim(limit: 1, for: ProcessIdentity.current(), in: &s)
        #expect(JobManager.list(s.document, state: nil).map(\.id) == ["a", "b", "c"])
        #expect(JobManager.list(s.document, state: .processing).map(\.id) == ["b"])
        #expect(JobManager.list(s.document, state: .pending).map(\.id) == ["a", "c"])
        #expect(JobManager.list(s.document, state: .dead).isEmpty)
        #expect(JobManager.list(s.document, state: nil, limit: 2).map(\.id) == ["a", "b"])
        #expect(JobManager.list(s.document, state: .pending, limit: 1).map(\.id) == ["a"])
        let counts = JobManager.counts(s.document)
        #expect(counts == [.pending: 2, .processing: 1, .completed: 0, .failed: 0, .dead: 0])
    }

    @Test func jobLookup() throws {
        var s = snapshot()
        _ = try enqueue(&s, JobInput(id: "a", command: "x"))
        #expect(try JobManager.job("a", in: s.document).id == "a")
        do { _ = try JobManager.job("zz", in: s.document); Issue.record("found") } catch {
            #expect(error.kind == .failure)
            #expect(error.message.contains("zz"))
        }
    }

    @Test func typoHints() {
        #expect(closestMatch("comand", among: JobInput.fields) == "command")
        #expect(closestMatch("max-retries", among: JobInput.fields) == "max_retries")
        #expect(closestMatch("zzzzzzzzzz", among: JobInput.fields) == nil)
    }
}

@Suite struct LeaseTests {
    /// A worker in another PID namespace renewed 5 s ago for a 30 s lease; the config now says 2 s.
    @Test func aLoweredLeaseTakesNoLiveWorkerBeforeItHasRenewed() throws {
        var template = Array("/tmp/queuectl-lease-XXXXXX".utf8CString)
        let dir = String(cString: mkdtemp(&template)!)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let home = QueueHome(directory: dir + "/q")
        _ = try Store(home: home).transaction { (s) throws(QueueError) in s.document.config.leaseSeconds = 2 }
        let other = WorkerRecord(process: ProcessIdentity(pid: 1, startTime: 7), slots: 1, startedAt: t0,
                                 pidNamespace: (Processes.pidNamespace ?? 0) &+ 1)
        let lease = try home.createLease(for: other)
        try lease.overwrite(Lease.contents(at: bootClockMilliseconds() - 5_000, leaseMilliseconds: 30_000))
        var config = QueueConfig()
        config.leaseSeconds = 2
        #expect(JobManager.liveness(of: other, home: home, config: config).isAlive, "it promised 30 s")
        try lease.overwrite(Lease.contents(at: bootClockMilliseconds() - 5_000, leaseMilliseconds: 2_000))
        #expect(!JobManager.liveness(of: other, home: home, config: config).isAlive, "renewed for 2 s, 5 s ago")
        config.leaseSeconds = 10
        #expect(JobManager.liveness(of: other, home: home, config: config).isAlive, "the config's longer lease counts too")
    }
}
