import JobManager
import QueueStorage
import QueueSystem
import Testing
@testable import Worker

// The worker's decisions driven with a fake clock: each input carries the time it happens at, so
// timeouts, grace periods and retries of a write are checked in microseconds.

let wallClock = Timestamp(milliseconds: 1_764_000_000_000)

func job(_ id: String, timeout: Double? = nil) -> Job {
    var j = Job(id: id, command: "sleep 100", maxRetries: 3, sequence: 1, now: wallClock)
    j.state = .processing
    j.timeout = timeout
    return j
}

/// A core and the actions it has taken so far.
struct Harness {
    var core: WorkerCore
    var actions: [WorkerCore.Action] = []

    /// Children are recorded at once unless `childRecordDelay` says otherwise.
    init(slots: Int = 1, drain: Bool = false, grace: Int64 = 5_000, childRecordDelay: Int64 = 0) {
        var settings = WorkerCore.Settings(slots: slots, drain: drain)
        settings.graceMilliseconds = grace
        settings.childRecordDelayMilliseconds = childRecordDelay
        core = WorkerCore(settings, at: 0)
    }

    @discardableResult
    mutating func send(_ input: WorkerCore.Input, at now: Int64) -> [WorkerCore.Action] {
        let new = core.handle(input, at: now)
        actions += new
        return new
    }

    /// Starts the core and has it claim `jobs`, which it spawns with pids 100, 101, …
    mutating func claim(_ jobs: [Job], at now: Int64 = 0) {
        let first = send(.tick, at: now)
        guard case .exchange = first.last else { Issue.record("no claim: \(first)"); return }
        let reply = WorkerCore.Reply(claimed: jobs)
        let spawns = send(.exchanged(reply), at: now)
        #expect(spawns.filter { if case .spawn = $0 { true } else { false } }.count == jobs.count)
        // The children are recorded as they start (the harness records them at once).
        var recorded: [String] = []
        for (i, j) in jobs.enumerated() {
            let started = send(.spawned(j, pid: Int32(100 + i), startTime: 7, startedAt: wallClock, note: nil), at: now)
            for request in started.compactMap(Harness.isExchange) {
                recorded += request.children.map(\.jobID)
                send(.exchanged(WorkerCore.Reply()), at: now)
            }
        }
        #expect(recorded == jobs.map(\.id))
    }

    static func isExchange(_ a: WorkerCore.Action) -> WorkerCore.Request? {
        if case .exchange(let r) = a { return r }
        return nil
    }

    static func signals(_ actions: [WorkerCore.Action]) -> [ProcessSignal] {
        actions.compactMap { if case .signal(_, _, let s) = $0 { s } else { nil } }
    }

    static func ended(_ actions: [WorkerCore.Action]) -> [WorkerCore.Result] {
        actions.compactMap { if case .runEnded(let r, _, _) = $0 { r } else { nil } }
    }
}

@Suite struct WorkerCoreTests {
    @Test func aStopDuringAClaimGivesTheClaimedJobsBackUnstarted() {
        var h = Harness(slots: 2)
        let claim = h.send(.tick, at: 0)
        #expect(claim.compactMap(Harness.isExchange).first?.claim == 2)
        // Ctrl+C arrives while the claim's transaction runs.
        let during = h.send(.stopSignal, at: 1)
        #expect(during == [.emit(.stopRequested(running: 0))], "nothing else while the transaction runs")
        let after = h.send(.exchanged(WorkerCore.Reply(claimed: [job("a"), job("b")])), at: 2)
        #expect(after.first == .giveBack([job("a"), job("b")]))
        #expect(!after.contains { if case .spawn = $0 { true } else { false } })
        #expect(after.suffix(2) == [.emit(.stopped(forced: false)), .finish(exitCode: 0)])
    }

    @Test func aSecondStopTerminatesKillsAfterTheGraceAndWaitsForTheWholeGroup() {
        var h = Harness(grace: 5_000)
        h.claim([job("a")])
        h.send(.stopSignal, at: 10)
        let second = h.send(.stopSignal, at: 20)
        #expect(second == [.emit(.terminating(running: 1)), .signal(jobID: "a", pid: 100, .terminate)])
        #expect(h.core.deadline == 5_020)
        #expect(h.send(.tick, at: 5_019).isEmpty, "no SIGKILL before the grace period is over")
        #expect(Harness.signals(h.send(.tick, at: 5_020)) == [.kill])
        // The shell is gone but a member of its group ignored SIGTERM and lives on: not over yet.
        let exited = h.send(.childExited(pid: 100, status: .signaled(9), groupAlive: true), at: 5_021)
        #expect(exited == [.emit(.waitingForGroup(job("a")))])
        #expect(Harness.signals(h.send(.tick, at: 5_520)) == [.kill], "the group is killed again while it lives")
        let over = h.send(.groupEmptied(pid: 100), at: 5_600)
        let result = try! #require(Harness.ended(over).first)
        #expect(result.interrupted, "put back without using an attempt")
        #expect(over.compactMap(Harness.isExchange).first?.results == [result])
        let done = h.send(.exchanged(WorkerCore.Reply()), at: 5_601)
        #expect(done == [.emit(.stopped(forced: true)), .finish(exitCode: 130)])
    }

    @Test func aLostLeaseKillsEveryRunAtOnceWithoutAGraceAndStops() {
        var h = Harness(slots: 2, grace: 5_000)
        h.claim([job("a"), job("b", timeout: 60)])
        // One run is already in a timeout's teardown, whose SIGKILL is 5 s away.
        #expect(Harness.signals(h.send(.tick, at: 60_000)) == [.terminate])
        let before = h.actions.count
        let fenced = h.send(.leaseLost("cannot renew"), at: 60_001)
        #expect(fenced.first == .emit(.fencing("cannot renew", running: 2)))
        #expect(Harness.signals(fenced) == [.kill, .kill], "both groups killed at once, the grace period skipped")
        #expect(h.send(.leaseLost("again"), at: 60_002).allSatisfy { if case .emit(.fencing) = $0 { false } else { true } },
                "said once")
        // The store is unreachable: every write fails, and the worker stops anyway, saying what it could not record.
        var inFlight = h.actions[before...].contains { Harness.isExchange($0) != nil }
        var finished: [WorkerCore.Action] = []
        func step(_ input: WorkerCore.Input, _ now: Int64) {
            let actions = h.send(input, at: now)
            if actions.contains(where: { Harness.isExchange($0) != nil }) { inFlight = true }
            finished += actions.filter { if case .finish = $0 { true } else { false } }
        }
        step(.childExited(pid: 100, status: .signaled(9), groupAlive: false), 60_010)
        step(.childExited(pid: 101, status: .signaled(9), groupAlive: false), 60_011)
        var now: Int64 = 60_012
        while finished.isEmpty, now < 120_000 {
            if inFlight {
                inFlight = false
                step(.exchangeFailed("server gone"), now)
            } else {
                step(.tick, now)
            }
            now += 500
        }
        let requests = h.actions[before...].compactMap(Harness.isExchange)
        #expect(requests.allSatisfy { $0.claim == 0 }, "nothing more is claimed")
        #expect(h.actions[before...].contains(.emit(.resultsNotRecorded(2))), "both runs' ends said to be unrecorded")
        #expect(finished == [.finish(exitCode: 130)])
    }

    @Test func aTimeoutWithAChildThatIgnoresTermIsRecordedOnlyOnceItsGroupIsGone() {
        var h = Harness(grace: 2_000)
        h.claim([job("slow", timeout: 1)], at: 0)
        #expect(h.core.deadline == 1_000)
        let due = h.send(.tick, at: 1_000)
        #expect(due == [.emit(.jobTimedOut(job("slow", timeout: 1), seconds: 1)), .signal(jobID: "slow", pid: 100, .terminate)])
        #expect(h.core.deadline == 3_000)
        #expect(Harness.signals(h.send(.tick, at: 3_000)) == [.kill])
        // The shell obeyed, its background child did not: the run is still on.
        #expect(Harness.ended(h.send(.childExited(pid: 100, status: .signaled(15), groupAlive: true), at: 3_001)).isEmpty)
        #expect(h.core.lingeringGroups == [100])
        let ended = Harness.ended(h.send(.groupEmptied(pid: 100), at: 3_010))
        #expect(ended.map(\.outcome) == [.timedOut(1)])
        #expect(ended.first?.interrupted == false, "a timeout is a failed run, retried by the policy")
        #expect(h.actions.contains { if case .runEnded(_, 100, tornDown: true) = $0 { true } else { false } })
    }

    @Test func aShellThatExitsWhileItsGroupLivesIsStillRunning() {
        var h = Harness()
        h.claim([job("bg")])
        let exited = h.send(.childExited(pid: 100, status: .exited(0), groupAlive: true), at: 50)
        #expect(Harness.ended(exited).isEmpty)
        #expect(h.core.runs.count == 1, "the slot stays taken")
        #expect(h.core.deadline == 1_050, "the group is looked at again besides each SIGCHLD")
        let ended = Harness.ended(h.send(.groupEmptied(pid: 100), at: 900))
        #expect(ended.map(\.outcome) == [.exited(.exited(0))])
        #expect(ended.first?.durationMilliseconds == 900)
    }

    @Test func aFailedWriteKeepsTheResultsAndWaitsBeforeTryingAgain() {
        var h = Harness()
        h.claim([job("a")])
        let ended = h.send(.childExited(pid: 100, status: .exited(1), groupAlive: false), at: 40)
        let request = try! #require(ended.compactMap(Harness.isExchange).first, "no other job runs: recorded at once")
        #expect(request.results.map(\.job.id) == ["a"])
        let failed = h.send(.exchangeFailed("no space left on device"), at: 41)
        #expect(failed == [.emit(.storageFailed("no space left on device"))])
        #expect(h.core.deadline == 1_041, "it sleeps until the retry instead of spinning")
        #expect(h.send(.tick, at: 1_040).isEmpty)
        #expect(h.send(.queueChanged, at: 1_040).isEmpty, "another writer does not make it retry sooner")
        let again = h.send(.tick, at: 1_041).compactMap(Harness.isExchange)
        #expect(again.first?.results == request.results)
    }

    @Test func cancelOfARunningJobTerminatesItAndRecordsItsEnd() {
        var h = Harness(grace: 3_000)
        h.claim([job("a")])
        // The next look at the queue finds it cancelled.
        let look = h.send(.queueChanged, at: 100).compactMap(Harness.isExchange)
        #expect(look.count == 1)
        let cancelled = h.send(.exchanged(WorkerCore.Reply(cancelled: ["a"])), at: 101)
        #expect(cancelled == [.emit(.cancelling(job("a"))), .signal(jobID: "a", pid: 100, .terminate)])
        let ended = Harness.ended(h.send(.childExited(pid: 100, status: .signaled(15), groupAlive: false), at: 150))
        #expect(ended.map(\.outcome) == [.exited(.signaled(15))])
        #expect(h.core.deadline != nil && h.core.deadline! <= 150, "recorded at once")
        #expect(!h.actions.contains(.signal(jobID: "a", pid: 100, .kill)), "no SIGKILL for a group that is gone")
    }

    /// `kill` of a running job: the teardown a timeout gets (SIGTERM, SIGKILL after the grace, the
    /// whole group awaited), and the run ends as killed, not as the signal that ended the shell.
    @Test func aKillTerminatesLikeATimeoutAndTheRunEndsAsKilled() {
        var h = Harness(grace: 2_000)
        h.claim([job("a")])
        #expect(h.send(.queueChanged, at: 100).compactMap(Harness.isExchange).first?.running == ["a"])
        let killed = h.send(.exchanged(WorkerCore.Reply(killed: ["a"])), at: 101)
        #expect(killed == [.emit(.killing(job("a"))), .signal(jobID: "a", pid: 100, .terminate)])
        #expect(h.core.deadline == 2_101)
        #expect(h.send(.tick, at: 2_100).isEmpty, "no SIGKILL before the grace period is over")
        #expect(Harness.signals(h.send(.tick, at: 2_101)) == [.kill])
        #expect(Harness.ended(h.send(.childExited(pid: 100, status: .signaled(9), groupAlive: true), at: 2_102)).isEmpty,
                "not over while its group lives")
        let ended = h.send(.groupEmptied(pid: 100), at: 2_200)
        #expect(Harness.ended(ended).map(\.outcome) == [.killed])
        #expect(Harness.ended(ended).first?.interrupted == false, "recorded as a run, not put back")
        #expect(ended.contains { if case .runEnded(_, 100, tornDown: true) = $0 { true } else { false } }, "everything marked goes")
        // Heard again in the next look (the mark stays until the run is recorded): nothing more is sent.
        #expect(h.send(.exchanged(WorkerCore.Reply(killed: ["a"])), at: 2_201).allSatisfy { if case .signal = $0 { false } else { true } })
    }

    @Test func aKillDuringATimeoutsTeardownEndsTheRunAsKilledOnTheSameTimers() {
        var h = Harness(grace: 1_000)
        h.claim([job("slow", timeout: 1)])
        _ = h.send(.tick, at: 1_000)  // timed out: SIGTERM
        #expect(h.send(.queueChanged, at: 1_100).compactMap(Harness.isExchange).count == 1)
        let heard = h.send(.exchanged(WorkerCore.Reply(killed: ["slow"])), at: 1_101)
        #expect(Harness.signals(heard).isEmpty, "the group was asked already")
        #expect(h.core.deadline == 2_000, "the kill keeps the timeout's grace period")
        let ended = Harness.ended(h.send(.childExited(pid: 100, status: .signaled(15), groupAlive: false), at: 1_200))
        #expect(ended.map(\.outcome) == [.killed], "dead as killed, not retried as a timeout")
    }

    @Test func aKillOfAJobBeingCancelledLeavesTheCancelToIt() {
        var h = Harness()
        h.claim([job("a")])
        _ = h.send(.queueChanged, at: 100)
        _ = h.send(.exchanged(WorkerCore.Reply(cancelled: ["a"], killed: ["a"])), at: 101)
        let ended = Harness.ended(h.send(.childExited(pid: 100, status: .signaled(15), groupAlive: false), at: 150))
        #expect(ended.map(\.outcome) == [.exited(.signaled(15))], "the store removes it as cancelled")
        #expect(Harness.signals(h.actions) == [.terminate], "one teardown")
    }

    @Test func anIdleWorkerSleepsUntilItsNextLook() {
        var h = Harness(slots: 4)
        #expect(h.send(.tick, at: 0).compactMap(Harness.isExchange).count == 1)
        #expect(h.send(.exchanged(WorkerCore.Reply(nextEligibleInMilliseconds: 250)), at: 3).isEmpty)
        #expect(h.core.deadline == 253, "a scheduled job is looked for when it is due")
        #expect(h.send(.tick, at: 100).isEmpty)
        var idle = Harness()
        _ = idle.send(.tick, at: 0)
        _ = idle.send(.exchanged(WorkerCore.Reply()), at: 0)
        #expect(idle.core.deadline == 1_000)
        // A change by another process after a quiet spell is looked at at once.
        #expect(idle.send(.queueChanged, at: 50).compactMap(Harness.isExchange).count == 1)
    }

    /// A shell loop enqueues a job every few milliseconds: once a transaction has claimed all there
    /// was, the changes and results of the next 20 ms are taken in one transaction, not one each.
    @Test func aStreamOfEnqueuesIsClaimedAndRecordedSeveralToATransaction() {
        var h = Harness(slots: 4, childRecordDelay: 100)
        _ = h.send(.tick, at: 0)
        _ = h.send(.exchanged(WorkerCore.Reply(claimed: [job("a")])), at: 0)  // asked for 4, got 1: caught up
        _ = h.send(.spawned(job("a"), pid: 100, startTime: 7, startedAt: wallClock, note: nil), at: 0)
        #expect(h.actions.compactMap(Harness.isExchange).count == 1, "the child's record waits for the batch")
        #expect(h.send(.queueChanged, at: 3).isEmpty, "another enqueue 3 ms later waits")
        #expect(h.send(.childExited(pid: 100, status: .exited(0), groupAlive: false), at: 5).filter {
            if case .exchange = $0 { true } else { false } }.isEmpty, "its result waits too")
        #expect(h.send(.queueChanged, at: 9).isEmpty)
        #expect(h.core.deadline == 20)
        let batch = h.send(.tick, at: 20).compactMap(Harness.isExchange)
        #expect(batch.count == 1)
        #expect(batch.first?.results.map(\.job.id) == ["a"])
        #expect(batch.first?.children.map(\.jobID) == ["a"])
        #expect(batch.first?.claim == 4)
        // A stop does not wait for the batch.
        var s = Harness(slots: 2, childRecordDelay: 100)
        _ = s.send(.tick, at: 0)
        _ = s.send(.exchanged(WorkerCore.Reply(claimed: [job("b")])), at: 0)
        _ = s.send(.spawned(job("b"), pid: 200, startTime: 7, startedAt: wallClock, note: nil), at: 0)
        _ = s.send(.childExited(pid: 200, status: .exited(0), groupAlive: false), at: 2)
        #expect(s.send(.stopSignal, at: 3).compactMap(Harness.isExchange).count == 1)
    }

    @Test func aBusyWorkerHasNoTimerButItsRunsTimeouts() {
        var h = Harness(slots: 1)
        h.claim([job("a")])
        #expect(h.core.deadline == 10_000, "all slots busy, nothing due: it waits for an event, or to renew its lease")
        let look = h.send(.queueChanged, at: 200).compactMap(Harness.isExchange)
        #expect(look.map(\.claim) == [0], "no free slot: it looks only for a cancel of its own jobs")
    }

    @Test func theLeaseIsRenewedOnTimeWhateverElseHappens() {
        var h = Harness(slots: 1)
        h.claim([job("a")])
        #expect(h.send(.tick, at: 9_999).isEmpty)
        #expect(h.send(.tick, at: 10_000) == [.renewLease])
        #expect(h.core.deadline == 20_000)
        // A transaction that reads a shorter lease from the config brings the next renewal forward.
        _ = h.send(.queueChanged, at: 10_500)
        _ = h.send(.exchanged(WorkerCore.Reply(leaseRenewalMilliseconds: 1_000)), at: 10_500)
        #expect(h.core.deadline == 11_500)
    }

    /// Another process holds the lock for long: each transaction gives up after a moment and the
    /// loop keeps control, so timeouts, stops and the lease go on; it is said once.
    @Test func aLockHeldElsewhereIsRetriedSoonWhileTimeoutsAndStopsGoOn() {
        var h = Harness(grace: 1_000)
        h.claim([job("a", timeout: 1)])
        #expect(h.send(.queueChanged, at: 100).compactMap(Harness.isExchange).count == 1)
        let busy = h.send(.lockBusy("held by pid 9 (stopped)"), at: 300)
        #expect(busy == [.emit(.waitingForLock("held by pid 9 (stopped)"))])
        #expect(h.core.deadline == 350, "tried again soon")
        // Every try until 1.2 s gives up on the lock; the loop has control between them.
        var now: Int64 = 350, said = 0, terminated = false
        while now <= 1_200 {
            for action in h.send(.tick, at: now) {
                switch action {
                case .exchange: for a in h.send(.lockBusy("held by pid 9 (stopped)"), at: now + 200) {
                    if case .emit(.waitingForLock) = a { said += 1 }
                    if case .signal(_, _, .terminate) = a { terminated = true }
                }
                case .signal(_, _, .terminate): terminated = true
                default: break
                }
            }
            now = max(now + 1, h.core.deadline ?? now + 1)
        }
        #expect(said == 0, "said once")
        #expect(terminated, "the run's timeout is enforced while the lock is held elsewhere")
        #expect(h.send(.stopSignal, at: now).first == .emit(.stopRequested(running: 1)), "and a stop is heard")
    }

    @Test func drainExitsWhenNothingIsRunnable() {
        var h = Harness(drain: true)
        _ = h.send(.tick, at: 0)
        let done = h.send(.exchanged(WorkerCore.Reply()), at: 1)
        #expect(done == [.emit(.drained), .emit(.stopped(forced: false)), .finish(exitCode: 0)])
    }

    @Test func drainRecordsARunThatEndedWhileATransactionWithoutAClaimWasOnItsWay() {
        var h = Harness(drain: true, childRecordDelay: 0)
        _ = h.send(.tick, at: 0)
        h.send(.exchanged(WorkerCore.Reply(claimed: [job("a")])), at: 1)
        let started = h.send(.spawned(job("a"), pid: 100, startTime: 7, startedAt: wallClock, note: nil), at: 2)
        #expect(started.compactMap(Harness.isExchange).first?.claim == 0, "the child is recorded; no slot is free to claim")
        // The run ends while that transaction is on its way.
        h.send(.childExited(pid: 100, status: .exited(0), groupAlive: false), at: 3)
        let reply = h.send(.exchanged(WorkerCore.Reply()), at: 4)
        #expect(!reply.contains(.emit(.drained)), "a reply to a transaction that claimed nothing does not end the drain")
        var now: Int64 = 5
        var recorded: [String] = []
        var done: [WorkerCore.Action] = []
        var actions = reply
        while done.isEmpty, now < 10_000 {
            if actions.isEmpty { actions = h.send(.tick, at: now) }
            defer { actions = [] }
            if let request = actions.compactMap(Harness.isExchange).first {
                recorded += request.results.map(\.job.id)
                done = h.send(.exchanged(WorkerCore.Reply()), at: now)
            }
            now += 10
        }
        #expect(recorded == ["a"])
        #expect(done == [.emit(.drained), .emit(.stopped(forced: false)), .finish(exitCode: 0)])
    }

    @Test func aTransactionSaysWhichClaimedJobsAreStillBeingStarted() {
        var h = Harness(slots: 2, childRecordDelay: 0)
        _ = h.send(.tick, at: 0)
        h.send(.exchanged(WorkerCore.Reply(claimed: [job("a"), job("b")])), at: 1)
        // The first child is recorded while the second job is not spawned yet: a store that finds
        // "b" claimed by this worker must not take it for a claim whose answer was lost.
        let first = h.send(.spawned(job("a"), pid: 100, startTime: 7, startedAt: wallClock, note: nil), at: 2)
        let request = try! #require(first.compactMap(Harness.isExchange).first)
        #expect(request.running == ["a"])
        #expect(request.starting == ["b"])
        h.send(.spawned(job("b"), pid: 101, startTime: 7, startedAt: wallClock, note: nil), at: 3)
        let next = h.send(.exchanged(WorkerCore.Reply()), at: 4)
        #expect(next.compactMap(Harness.isExchange).allSatisfy { $0.starting.isEmpty && $0.running == ["a", "b"] })
    }

    @Test func aJobThatCannotStartIsAFailedRunWithTheReason() {
        var h = Harness()
        _ = h.send(.tick, at: 0)
        _ = h.send(.exchanged(WorkerCore.Reply(claimed: [job("a")])), at: 0)
        let failed = h.send(.spawnFailed(job("a"), reason: "directory /gone does not exist", startedAt: wallClock,
                                         note: "output not logged: cannot open x: Permission denied"), at: 1)
        #expect(failed.first == .emit(.outputNotLogged(job("a"), reason: "output not logged: cannot open x: Permission denied")))
        let result = try! #require(Harness.ended(failed).first)
        #expect(result.outcome == .couldNotStart("directory /gone does not exist"))
        #expect(result.note != nil)
    }

    /// Whatever the inputs, the core never asks to be woken at a time it then does nothing at: that
    /// is the spin the old loop had (a zero poll timeout with nothing to do).
    @Test func theDeadlineAlwaysLeadsToAnAction() {
        var h = Harness(slots: 2, grace: 300)
        var now: Int64 = 0
        var spawned: Int32 = 100
        var inputs: [WorkerCore.Input] = [.tick]
        var steps = 0
        while steps < 400, !h.core.finished {
            steps += 1
            let input = inputs.isEmpty ? WorkerCore.Input.tick : inputs.removeFirst()
            let actions = h.send(input, at: now)
            for action in actions {
                switch action {
                case .exchange(let request):
                    // Every third transaction fails; claims hand out timed jobs.
                    if steps % 3 == 0 { inputs.append(.exchangeFailed("disk full")); break }
                    let claimed = (0..<min(request.claim, 1)).map { _ in job("j\(steps)", timeout: 0.5) }
                    inputs.append(.exchanged(WorkerCore.Reply(claimed: claimed, nextEligibleInMilliseconds: 700)))
                case .spawn(let j):
                    inputs.append(.spawned(j, pid: spawned, startTime: 1, startedAt: wallClock, note: nil))
                    spawned += 1
                case .signal(_, let pid, .kill):
                    inputs.append(.childExited(pid: pid, status: .signaled(9), groupAlive: false))
                default: break
                }
            }
            if steps == 300 { inputs.append(.stopSignal) }
            guard inputs.isEmpty, !h.core.finished else { continue }
            let deadline = try! #require(h.core.deadline, "a running core always has a timer: its lease")
            #expect(deadline >= now || !h.core.handle(.tick, at: now).isEmpty, "woken at \(now) for nothing")
            now = max(now, deadline)
        }
        #expect(h.core.finished, "stopped once asked to")
    }
}

@Suite struct WorkerCoreBatchingTests {
    /// A worker that claimed less than it had room for batches the next results for a moment
    /// (a shell loop's jobs are then recorded several to a rewrite), unless a job waits for a
    /// running one to end: then the result that frees it goes at once, so a chain runs at the pace
    /// of its jobs, not of the batching.
    @Test func aResultThatFreesAWaitingJobIsRecordedAtOnce() {
        for waiting in [false, true] {
            var h = Harness(slots: 4)
            _ = h.send(.tick, at: 0)
            var reply = WorkerCore.Reply(claimed: [job("a")])
            reply.waitingOnRunning = waiting
            h.send(.exchanged(reply), at: 0)
            for request in h.send(.spawned(job("a"), pid: 100, startTime: 7, startedAt: wallClock, note: nil), at: 0)
                .compactMap(Harness.isExchange) {
                #expect(request.children.map(\.jobID) == ["a"])
                var recordedChild = WorkerCore.Reply()
                recordedChild.waitingOnRunning = waiting
                h.send(.exchanged(recordedChild), at: 0)
            }
            let ended = h.send(.childExited(pid: 100, status: .exited(0), groupAlive: false), at: 2)
            let recorded = ended.compactMap(Harness.isExchange).first?.results.map(\.job.id)
            if waiting {
                #expect(recorded == ["a"], "recorded at once: \(ended)")
            } else {
                #expect(recorded == nil, "batched: \(ended)")
                #expect(h.core.deadline.map { $0 >= 20 } == true, "until the batching window ends")
            }
        }
    }
}

@Suite struct WorkerCoreCtrlCTests {
    /// The terminal's Ctrl+C can reach a job spawned that very moment, before it is in its own
    /// process group: its death by SIGINT while the worker stops is the Ctrl+C, not a failed run.
    @Test func aRunKilledBySIGINTWhileStoppingIsPutBackNotFailed() {
        for stopping in [false, true] {
            var h = Harness()
            h.claim([job("a")])
            if stopping { h.send(.stopSignal, at: 5) }
            let ended = Harness.ended(h.send(.childExited(pid: 100, status: .signaled(ProcessSignal.interrupt.rawValue), groupAlive: false), at: 6))
            #expect(ended.first?.interrupted == stopping, "stopping: \(stopping)")
        }
    }
}
