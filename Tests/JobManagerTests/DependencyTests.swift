import Testing
import QueueSystem
@testable import QueueStorage
@testable import JobManager

private let worker = ProcessIdentity.current()

private func input(_ id: String, after: [String]? = nil, queue: String? = nil, priority: Int? = nil) -> JobInput {
    var i = JobInput(id: id, command: "true", priority: priority)
    i.after = after
    i.queue = queue
    return i
}

private func claimIDs(_ s: inout Snapshot, limit: Int = 10, queues: [String]? = nil) -> [String] {
    JobManager.claim(limit: limit, for: worker, queues: queues, in: &s).map(\.id)
}

/// Ends a claimed job's run as `exit code`.
private func end(_ id: String, code: Int32, in s: inout Snapshot) {
    _ = JobManager.finish(jobID: id, worker: worker, outcome: .exited(.exited(code)), startedAt: s.now, durationMilliseconds: 1, in: &s)
}

@Suite struct DependencyTests {
    @Test func aJobIsClaimedOnlyOnceEveryDependencyHasCompleted() throws {
        var s = snapshot()
        _ = try JobManager.enqueue([input("a"), input("b"), input("c", after: ["a", "b"])], in: &s)
        #expect(claimIDs(&s, limit: 1) == ["a"])
        end("a", code: 0, in: &s)
        #expect(claimIDs(&s) == ["b"], "c still waits for b")
        #expect(JobManager.explain(s.document.jobs[2], now: s.now, in: s.document) == "waiting for job 'b' to complete (it is processing)")
        end("b", code: 0, in: &s)
        #expect(claimIDs(&s) == ["c"])
    }

    @Test func aDeadDependencyKillsItsDependentsAndRetryingItBringsThemBack() throws {
        var s = snapshot()
        s.document.config.maxRetries = 1
        _ = try JobManager.enqueue([input("a"), input("b", after: ["a"]), input("c", after: ["b"])], in: &s)
        #expect(claimIDs(&s) == ["a"])
        end("a", code: 2, in: &s)
        #expect(s.document.jobs[0].state == .dead)
        JobManager.settleDependencies(in: &s)
        #expect(s.document.jobs.map(\.state) == [.dead, .dead, .dead], "the chain dies with its head")
        #expect(s.document.jobs[1].lastError == "dependency 'a' died")
        #expect(s.document.jobs[2].lastError == "dependency 'b' died")
        #expect(s.document.counters.dlqMoves == 3)

        s.document.jobs[0].state = .pending  // as `dlq retry a` leaves it
        JobManager.settleDependencies(in: &s)
        #expect(s.document.jobs.map(\.state) == [.pending, .pending, .pending], "retrying the head brings the chain back")
        #expect(s.document.jobs[1].dependencyDied == nil && s.document.jobs[1].lastError == nil)
        #expect(claimIDs(&s) == ["a"])
    }

    @Test func aCancelledDependencyKillsItsDependentsButACompletedOneThatWasPrunedDoesNot() throws {
        var s = snapshot()
        _ = try JobManager.enqueue([input("a"), input("b", after: ["a"])], in: &s)
        _ = try JobManager.cancel("a", in: &s)
        JobManager.settleDependencies(in: &s)
        #expect(s.document.jobs[0].state == .dead)
        #expect(s.document.jobs[0].lastError == "dependency 'a' was cancelled")

        // Retention keeps a completed job that another still waits for.
        var t = snapshot()
        _ = try JobManager.enqueue([input("x"), input("y", after: ["x"]), input("z")], in: &t)
        #expect(claimIDs(&t, limit: 1) == ["x"])
        end("x", code: 0, in: &t)
        let pruned = JobManager.prune(Retention(keep: 0, maximumAge: 0), in: &t)
        #expect(pruned.isEmpty, "x is awaited by y: \(pruned)")
        #expect(claimIDs(&t) == ["y", "z"])
    }

    @Test func unknownIdsSelfWaitsAndCyclesAreRefusedAtEnqueue() throws {
        var s = snapshot()
        _ = try JobManager.enqueue([input("a")], in: &s)
        let before = s.document
        for (batch, says) in [([input("b", after: ["nope"])], "no job with id 'nope'"),
                              ([input("b", after: ["b"])], "cannot wait for itself"),
                              ([input("b", after: ["c"]), input("c", after: ["b"])], "cycle: b -> c -> b")] {
            do {
                _ = try JobManager.enqueue(batch, in: &s)
                Issue.record("accepted \(batch)")
            } catch {
                #expect(error.kind == .usage && error.message.contains(says), "\(error.message)")
            }
            #expect(s.document == before)
        }
        // Within one batch, a job may wait for one given after it.
        _ = try JobManager.enqueue([input("b", after: ["c"]), input("c")], in: &s)
        #expect(claimIDs(&s) == ["a", "c"])
    }

    @Test func aJobEnqueuedAfterADeadJobIsDeadAtOnce() throws {
        var s = snapshot()
        _ = try JobManager.enqueue([input("a")], in: &s)
        s.document.jobs[0].state = .dead
        let added = try JobManager.enqueue([input("b", after: ["a"])], in: &s)
        #expect(added.map(\.id) == ["b"])
        #expect(s.document.jobs[1].state == .dead && s.document.jobs[1].dependencyDied == "a")
    }
}

@Suite struct QueueLimitTests {
    @Test func aWorkerClaimsOnlyFromItsQueues() throws {
        var s = snapshot()
        _ = try JobManager.enqueue([input("d"), input("m1", queue: "mail"), input("m2", queue: "mail"), input("v", queue: "video")], in: &s)
        #expect(claimIDs(&s, queues: ["mail"]) == ["m1", "m2"])
        #expect(claimIDs(&s, queues: ["default", "video"]) == ["d", "v"])
        #expect(s.document.jobs[0].queue == nil, "the default queue is not written out")
    }

    @Test func theHomesAndEachQueuesLimitHoldAcrossClaims() throws {
        var s = snapshot()
        s.document.config.maxRunning = 3
        s.document.config.queueMaxRunning = ["mail": 1]
        _ = try JobManager.enqueue([input("m1", queue: "mail", priority: 5), input("m2", queue: "mail", priority: 5), input("a"), input("b"),
                                    input("c")], in: &s)
        #expect(claimIDs(&s, limit: 10) == ["m1", "a", "b"], "mail has room for one, the home for three")
        #expect(claimIDs(&s) == [], "another worker's claim finds no room either")
        end("m1", code: 0, in: &s)
        #expect(claimIDs(&s) == ["m2"])
        end("a", code: 0, in: &s)
        #expect(claimIDs(&s) == ["c"])
    }

    @Test func pauseStopsClaimsAndResumeLetsThemGoOn() throws {
        var s = snapshot()
        _ = try JobManager.enqueue([input("a"), input("m", queue: "mail")], in: &s)
        #expect(JobManager.pause(queue: "mail", in: &s))
        #expect(!JobManager.pause(queue: "mail", in: &s), "already paused")
        #expect(JobManager.explain(s.document.jobs[1], now: s.now, in: s.document).hasPrefix("queue 'mail' is paused"))
        JobManager.pause(queue: nil, in: &s)
        #expect(claimIDs(&s) == [])
        #expect(JobManager.explain(s.document.jobs[0], now: s.now, in: s.document).hasPrefix("the queue is paused"))
        // Both survive the data file.
        let again = try DocumentCodec.decode(DocumentCodec.encode(s.document))
        #expect(again.paused && again.pausedQueues == ["mail"])
        JobManager.resume(queue: "mail", in: &s)
        #expect(claimIDs(&s) == [], "the home is still paused")
        JobManager.resume(queue: nil, in: &s)
        #expect(claimIDs(&s) == ["a", "m"])
        #expect(!JobManager.resume(queue: nil, in: &s), "nothing was paused")
    }

    @Test func queuesDependenciesAndLimitsSurviveTheDataFile() throws {
        var d = Document()
        d.config.maxRunning = 4
        d.config.queueMaxRunning = ["mail": 2, "b": 1]
        var j = Job(id: "x", command: "true", maxRetries: 3, sequence: 1, now: t0)
        j.queue = "mail"
        j.after = ["y", "z"]
        j.dependencyDied = "y"
        d.jobs = [j]
        d.nextSequence = 2
        let again = try DocumentCodec.decode(DocumentCodec.encode(d))
        #expect(again == d)
        #expect(again.jobs.summary(at: 0).queue == "mail" && again.jobs.summary(at: 0).after == ["y", "z"])
    }
}
