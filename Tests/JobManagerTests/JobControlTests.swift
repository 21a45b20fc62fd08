import Testing
import QueueSystem
@testable import QueueStorage
@testable import JobManager

/// A document of jobs in the given states (ids are the state names unless given), `seq` in order.
func documentOf(_ jobs: [(String, JobState)]) -> Document {
    var d = Document()
    d.nextSequence = Int64(jobs.count) + 1
    d.jobs = JobTable(jobs.enumerated().map { n, entry in
        var j = Job(id: entry.0, command: "echo \(entry.0)", maxRetries: 3, sequence: Int64(n + 1), now: Timestamp(milliseconds: t0.milliseconds - 60_000))
        j.state = entry.1
        if entry.1 == .processing {
            j.worker = ProcessIdentity.current()
            j.child = ProcessIdentity(pid: 999_997, startTime: 1)
            j.startedAt = Timestamp(milliseconds: t0.milliseconds - 5_000)
        }
        if entry.1 == .completed || entry.1 == .dead { j.finishedAt = Timestamp(milliseconds: t0.milliseconds - 1_000) }
        return j
    })
    return d
}

@Suite struct KillTests {
    let me = ProcessIdentity.current()

    @Test func killMarksRunningJobsAndKeepsThem() throws {
        var s = snapshot(documentOf([("a", .processing), ("b", .processing), ("c", .pending)]))
        let killed = try JobManager.kill(["a", "b", "a"], in: &s)
        #expect(killed.map(\.id) == ["a", "b"], "each once, in the order given")
        #expect(s.document.jobs.filter(\.killRequested).map(\.id) == ["a", "b"])
        #expect(s.document.jobs.count == 3, "nothing removed")
        #expect(s.document.jobs.summary(at: 0).killRequested, "the worker finds it by its summary")
        #expect(JobManager.explain(s.document.jobs[0], now: t0, workers: []).contains("; killed, being terminated"), "show says so")
    }

    @Test(arguments: [["a", "c"], ["a", "gone"], ["a", "done"], ["a", "dead"], ["a", "cancelling"]])
    func aBatchWithOneJobThatIsNotRunningKillsNone(ids: [String]) {
        var d = documentOf([("a", .processing), ("c", .pending), ("done", .completed), ("dead", .dead), ("cancelling", .processing)])
        d.jobs[4].cancelRequested = true
        var s = snapshot(d)
        #expect(throws: QueueError.self) { try JobManager.kill(ids, in: &s) }
        #expect(!s.changed && !s.document.jobs[0].killRequested)
    }

    @Test func killAllTakesEveryRunningJobButOnesBeingCancelled() throws {
        var d = documentOf([("a", .processing), ("b", .pending), ("c", .processing), ("d", .processing)])
        d.jobs[3].cancelRequested = true
        var s = snapshot(d)
        #expect(try JobManager.killAll(in: &s).map(\.id) == ["a", "c"])
        var none = snapshot(documentOf([("b", .pending)]))
        #expect(try JobManager.killAll(in: &none).isEmpty)
        #expect(!none.changed)
    }

    func finish(_ s: inout Snapshot, _ outcome: RunOutcome) -> JobTransition? {
        JobManager.finish(jobID: "a", worker: me, outcome: outcome, startedAt: Timestamp(milliseconds: t0.milliseconds - 5_000),
                          durationMilliseconds: 5_000, in: &s)
    }

    @Test func aRunEndedForAKillIsDeadWithKilledAndCountsAsAFailedRun() throws {
        var s = snapshot(documentOf([("a", .processing)]))
        _ = try JobManager.kill(["a"], in: &s)
        let t = try #require(finish(&s, .killed))
        let j = s.document.jobs[0]
        #expect(t.killed && t.job == j)
        #expect(j.state == .dead && j.lastError == "killed" && j.exitCode == nil)
        #expect(j.attempts == 1, "the run it had counts, whatever retries were left")
        #expect(!j.killRequested && j.worker == nil && j.child == nil && j.runAt == nil)
        #expect(j.finishedAt == t0 && j.durationMilliseconds == 5_000)
        let c = s.document.counters
        #expect(c.runs == 1 && c.failedRuns == 1 && c.dlqMoves == 1 && c.retries == 0)
    }

    @Test func aRunThatFailedByItselfOnceAKillWasAskedIsNotRetried() throws {
        var s = snapshot(documentOf([("a", .processing)]))
        _ = try JobManager.kill(["a"], in: &s)
        _ = finish(&s, .exited(.exited(3)))
        #expect(s.document.jobs[0].state == .dead && s.document.jobs[0].lastError == "killed")
        #expect(s.document.jobs[0].exitCode == 3, "the exit it had is kept")
    }

    @Test func aRunThatCompletedBeforeTheKillCompleted() throws {
        var s = snapshot(documentOf([("a", .processing)]))
        _ = try JobManager.kill(["a"], in: &s)
        _ = finish(&s, .exited(.exited(0)))
        #expect(s.document.jobs[0].state == .completed)
        #expect(!s.document.jobs[0].killRequested, "nothing is left to kill")
    }

    @Test func aKilledJobThatAShutdownInterruptsIsDeadNotPutBack() throws {
        var s = snapshot(documentOf([("a", .processing)]))
        _ = try JobManager.kill(["a"], in: &s)
        let t = try #require(JobManager.release(jobID: "a", worker: me, in: &s))
        #expect(t.killed && s.document.jobs[0].state == .dead && s.document.jobs[0].lastError == "killed")
    }

    @Test func aKilledClaimGivenBackUnstartedIsDeadWithoutARun() throws {
        var s = snapshot(documentOf([("a", .pending)]))
        var before: Job?
        _ = JobManager.claim(limit: 1, for: me, in: &s) { before = $0 }
        _ = try JobManager.kill(["a"], in: &s)
        JobManager.unclaim("a", restoring: try #require(before), worker: me, in: &s)
        let j = s.document.jobs[0]
        #expect(j.state == .dead && j.lastError == "killed" && j.attempts == 0 && !j.killRequested)
        #expect(s.document.counters.runs == 0 && s.document.counters.dlqMoves == 1)
    }

    @Test func aKilledJobWhoseWorkerDiedIsRecoveredDead() throws {
        var d = documentOf([("a", .processing)])
        d.jobs[0].worker = deadWorker
        d.jobs[0].killRequested = true
        var s = snapshot(d)
        let recovered = JobManager.recoverOrphans(in: &s)
        #expect(recovered.map(\.killed) == [true])
        #expect(s.document.jobs[0].state == .dead && s.document.jobs[0].lastError == "killed")
        #expect(s.document.jobs[0].durationMilliseconds == 5_000)
    }
}

@Suite struct CancelManyTests {
    @Test func cancelOfSeveralIsAllOrNone() throws {
        var s = snapshot(documentOf([("a", .pending), ("b", .failed), ("c", .processing), ("d", .completed)]))
        #expect(throws: QueueError.self) { try JobManager.cancel(["a", "d"], in: &s) }
        #expect(throws: QueueError.self) { try JobManager.cancel(["a", "missing"], in: &s) }
        #expect(!s.changed && s.document.jobs.count == 4)
        let results = try JobManager.cancel(["a", "c", "b", "a"], in: &s)
        #expect(results.count == 3)
        #expect(s.document.jobs.map(\.id) == ["c", "d"])
        #expect(s.document.jobs[0].cancelRequested, "a running one is marked, removed when its run ends")
    }

    @Test func theJobsOfAStateAreFoundInEnqueueOrder() {
        let d = documentOf([("p1", .pending), ("f", .failed), ("p2", .pending)])
        #expect(JobManager.ids(in: .pending, of: d) == ["p1", "p2"])
        #expect(JobManager.ids(in: .dead, of: d).isEmpty)
    }
}

@Suite struct RestartTests {
    @Test func aFinishedJobRunsAgainAsAFreshSetOfAttemptsAtTheBack() throws {
        var d = documentOf([("done", .completed), ("dead", .dead), ("waiting", .pending)])
        d.jobs[1].attempts = 4
        d.jobs[1].lastError = "exit 2"
        var s = snapshot(d)
        let restarted = try JobManager.restart(["dead", "done"], in: &s)
        #expect(restarted.map(\.id) == ["dead", "done"])
        let dead = s.document.jobs[1]
        #expect(dead.state == .pending && dead.attempts == 0 && dead.runAt == nil && dead.restarts == 1)
        #expect(dead.lastError == "exit 2", "its history stays until the next run")
        #expect(dead.sequence == 4 && s.document.jobs[0].sequence == 5 && s.document.nextSequence == 6, "behind the jobs waiting")
        #expect(dead.updatedAt == t0)
        let claimed = JobManager.claim(limit: 3, for: ProcessIdentity.current(), in: &s)
        #expect(claimed.map(\.id) == ["waiting", "dead", "done"])
        #expect(claimed[1].restarts == 1, "the worker's header says which restart a run belongs to")
    }

    @Test(arguments: [["done", "waiting"], ["done", "running"], ["done", "failed"], ["done", "nope"]])
    func aBatchWithAJobThatHasNotFinishedRestartsNone(ids: [String]) {
        var s = snapshot(documentOf([("done", .completed), ("waiting", .pending), ("running", .processing), ("failed", .failed)]))
        #expect(throws: QueueError.self) { try JobManager.restart(ids, in: &s) }
        #expect(!s.changed)
    }
}

@Suite struct EditTests {
    @Test func editChangesWhatIsGivenAndNothingElse() throws {
        var d = documentOf([("a", .failed)])
        d.jobs[0].timeout = 5
        d.jobs[0].runAt = Timestamp(milliseconds: t0.milliseconds + 60_000)
        var s = snapshot(d)
        let later = Timestamp(milliseconds: t0.milliseconds + 3_600_000)
        let job = try JobManager.edit("a", JobEdit(command: "make test", priority: 7, runAt: .some(later)), in: &s)
        #expect(job.command == "make test" && job.priority == 7 && job.runAt == later && job.timeout == 5)
        #expect(job.updatedAt == t0 && s.document.jobs[0] == job)
        #expect(s.document.jobs.summary(at: 0).priority == 7, "claims see the new priority")
        _ = try JobManager.edit("a", JobEdit(runAt: .some(nil), timeout: .some(nil)), in: &s)
        #expect(s.document.jobs[0].runAt == nil && s.document.jobs[0].timeout == nil)
    }

    @Test func anEditThatChangesNothingWritesNothing() throws {
        var s = snapshot(documentOf([("a", .pending)]))
        _ = try JobManager.edit("a", JobEdit(command: "echo a"), in: &s)
        #expect(!s.changed)
    }

    @Test func aRunningJobOrABadCommandIsRefused() {
        var s = snapshot(documentOf([("run", .processing), ("done", .completed)]))
        #expect(throws: QueueError.self) { try JobManager.edit("run", JobEdit(priority: 1), in: &s) }
        #expect(throws: QueueError.self) { try JobManager.edit("done", JobEdit(runAt: .some(t0)), in: &s) }
        #expect(throws: QueueError.self) { try JobManager.edit("done", JobEdit(command: "  "), in: &s) }
        #expect(throws: QueueError.self) { try JobManager.edit("nope", JobEdit(priority: 1), in: &s) }
        #expect(!s.changed)
        #expect((try? JobManager.edit("done", JobEdit(command: "true"), in: &s)) != nil, "a finished job can be edited before a restart")
    }
}

@Suite struct ListOrderTests {
    @Test func nextIsRunningThenRunnableInClaimOrderThenByWhenTheyMayRunThenFinished() {
        var d = documentOf([("done", .completed), ("late", .pending), ("low", .pending), ("run", .processing),
                            ("high", .pending), ("soon", .failed), ("dead", .dead), ("due", .failed)])
        d.jobs[1].runAt = Timestamp(milliseconds: t0.milliseconds + 600_000)
        d.jobs[2].priority = -1
        d.jobs[4].priority = 3
        d.jobs[5].runAt = Timestamp(milliseconds: t0.milliseconds + 60_000)
        d.jobs[7].runAt = Timestamp(milliseconds: t0.milliseconds - 1)
        let next = JobManager.list(d, state: nil, order: .next, now: t0).map(\.id)
        #expect(next == ["run", "high", "due", "low", "soon", "late", "done", "dead"])
        #expect(JobManager.list(d, state: .pending, order: .next, limit: 2, now: t0).map(\.id) == ["high", "low"])
        #expect(JobManager.list(d, state: nil, order: .enqueued, now: t0).map(\.id).first == "done")
    }
}
