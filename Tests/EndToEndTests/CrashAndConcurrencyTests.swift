import Foundation
import Testing
import TestSupport

/// Workers that die, processes that race, writers killed mid-write.
@Suite struct CrashAndConcurrencyTests {
    @Test func aKilledWorkersJobIsRecoveredItsCommandKilledAndItCompletesOnRetry() throws {
        let q = QueueSandbox()
        q.fastRetries()
        // The first run hangs; the retry (attempt 2) finishes at once.
        q.ok("enqueue", #"{"id":"orphan","command":"if [ \"$QUEUECTL_ATTEMPT\" = 1 ]; then sleep 60; fi"}"#)
        let worker = q.start(["worker", "start"])
        #expect(eventually { q.jobs()["orphan"]?["child_pid"] != nil })
        let child = try #require(q.jobs()["orphan"]?["child_pid"] as? Int32)
        worker.signal(SIGKILL)
        worker.wait()
        #expect(processIsRunning(child), "killing a worker alone leaves its job running")

        // Any command that takes the lock recovers the job (a read-only one such as status does not).
        #expect(q.run(["status"]).status == 0)
        #expect(q.state(of: "orphan") == "processing", "status reads without the lock, and so recovers nothing")
        #expect(q.run(["prune", "--dry-run"]).status == 0)
        let recovered = try #require(q.jobs()["orphan"])
        #expect(recovered["state"] as? String == "failed")
        #expect(recovered["last_error"] as? String == "worker lost")
        #expect(recovered["attempts"] as? Int == 1)
        #expect(eventually(within: 5) { !processIsRunning(child) }, "the orphaned command was killed")
        #expect(((try q.document())["workers"] as? [Any])?.isEmpty == true, "the dead worker's record is gone")

        let second = q.start(["worker", "start"])
        #expect(eventually { q.state(of: "orphan") == "completed" })
        second.signal(SIGINT)
        #expect(second.wait(seconds: 10) == 0)
    }

    @Test func aWorkerKilledBeforeRecordingItsChildStillHasThatChildKilled() throws {
        let q = QueueSandbox()
        q.ok("prune", "--dry-run")  // creates the queue home
        // A stand-in for a worker, and a child it started but did not record before it died.
        let worker = Child(argv: ["/bin/sleep", "60"], env: q.environment(), stdin: nil, directory: q.root)
        let workerStart = try #require(processStartTime(worker.pid))
        let child = Child(argv: ["/bin/sleep", "60"],
                          env: q.environment(["QUEUECTL_RUN": "\(worker.pid):\(workerStart):orphan"]),
                          stdin: nil, directory: q.root)
        let now = "2026-01-01T00:00:00.000Z"
        let data = """
            {"version": 2, "next_seq": 2, "config": {"max_retries": 3, "backoff_base": 2, "max_backoff": 3600, "worker_count": 1},
             "workers": [{"pid": \(worker.pid), "start_time": \(workerStart), "slots": 1, "started_at": "\(now)"}],
             "jobs": [{"id": "orphan", "command": "sleep 60", "state": "processing", "attempts": 0, "max_retries": 3,
                       "seq": 1, "created_at": "\(now)", "updated_at": "\(now)", "started_at": "\(now)",
                       "worker_pid": \(worker.pid), "worker_start_time": \(workerStart)}]}
            """
        try data.write(toFile: q.dataPath, atomically: true, encoding: .utf8)
        chmod(q.dataPath, 0o600)
        #expect(q.run(["prune", "--dry-run"]).status == 0)
        #expect(q.state(of: "orphan") == "processing", "a live owner keeps its job")
        #expect(processIsRunning(child.pid))

        worker.signal(SIGKILL)
        worker.wait()
        #expect(q.run(["prune", "--dry-run"]).status == 0)
        #expect(q.state(of: "orphan") == "failed")
        #expect(q.jobs()["orphan"]?["last_error"] as? String == "worker lost")
        #expect(eventually(within: 5) { !processIsRunning(child.pid) }, "the unrecorded child was found by its marker and killed")
    }

    @Test func eightEnqueuersAndThreeWorkersLoseNothingAndRunNothingTwice() throws {
        let q = QueueSandbox()
        let ran = q.root + "/ran.txt"
        q.ok("prune", "--dry-run")  // create the home before the racers start
        let workers = (0..<3).map { _ in q.start(["worker", "start", "--count", "4"]) }
        let enqueuers = (0..<8).map { p in
            Child.shell("""
                for i in $(seq 1 100); do
                  '\(queuectlBinary)' enqueue "{\\"id\\":\\"p\(p)-$i\\",\\"command\\":\\"echo \\$QUEUECTL_JOB_ID >> \(ran)\\"}" >/dev/null || exit 1
                done
                """, env: q.environment(), directory: q.root)
        }
        for e in enqueuers { #expect(e.wait() == 0) }
        let expected = Set((0..<8).flatMap { p in (1...100).map { "p\(p)-\($0)" } })
        #expect(eventually(within: 120) {
            let jobs = q.jobs()
            return jobs.count == 800 && jobs.values.allSatisfy { $0["state"] as? String == "completed" }
        })
        for w in workers { w.signal(SIGTERM) }
        for w in workers { #expect(w.wait(seconds: 20) == 0) }
        #expect(Set(q.jobs().keys) == expected)
        let lines = try String(contentsOfFile: ran, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.count == 800, "each job ran exactly once")
        #expect(Set(lines) == expected)
    }

    @Test func enqueueKilledAtRandomMomentsNeverCorruptsOrLosesAcknowledgedJobs() throws {
        let q = QueueSandbox()
        // A few thousand jobs make each write long enough to be hit mid-way.
        let seed = (1...3000).map { #"{"id":"seed\#($0)","command":"echo \#(String(repeating: "x", count: 100))"}"# }
        q.ok("enqueue", "-", stdin: seed.joined(separator: "\n"))
        var acknowledged: Set<String> = []
        var generator = SystemRandomNumberGenerator()
        for i in 0..<40 {
            let id = "k\(i)"
            let p = q.start(["enqueue", #"{"id":"\#(id)","command":"true"}"#])
            usleep(UInt32.random(in: 0...30_000, using: &generator))
            p.signal(SIGKILL)
            if p.wait() == 0 { acknowledged.insert(id) }
            let document = try q.document()  // throws if the file does not decode
            let ids = Set(((document["jobs"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String })
            #expect(acknowledged.isSubset(of: ids), "every enqueue that exited 0 is in the file")
            #expect(ids.count >= 3000)
        }
        // A temporary file left by a killed writer does not get in the way of the next one.
        #expect(q.run(["enqueue", #"{"id":"after","command":"true"}"#]).status == 0)
        #expect(q.state(of: "after") == "pending")
    }
}
