import Foundation
@preconcurrency import Glibc
import Testing
import TestSupport

/// `kill`, and `cancel` of many.
@Suite struct RunControlTests {
    /// Waits until `id` runs with its child recorded, and returns the child's pid.
    func running(_ q: QueueSandbox, _ id: String) -> Int32? {
        var pid: Int32?
        eventually { pid = q.jobs()[id]?["child_pid"] as? Int32; return pid != nil }
        return pid
    }

    /// A running job is torn down by its worker (its `setsid` child too) and kept, dead with "killed",
    /// its log and history with it; it can run again.
    @Test func killEndsARunAndKeepsTheJobDeadWithItsLog() throws {
        let q = QueueSandbox()
        let escaped = q.root + "/escaped.pid"
        q.ok("enqueue", #"{"id":"long","command":"echo started; setsid sleep 60 & echo $! > \#(escaped); sleep 60"}"#)
        let worker = q.start(["worker", "start"])
        let child = try #require(running(q, "long"))
        #expect(eventually { FileManager.default.fileExists(atPath: q.home + "/logs/long.log") && q.ok("logs", "long").contains("started") })
        let r = q.run(["kill", "long"])
        #expect(r.status == 0 && r.stdout == "long\n", "\(r)")
        #expect(eventually { q.state(of: "long") == "dead" })
        let job = try #require(q.jobs()["long"])
        #expect(job["last_error"] as? String == "killed")
        #expect(job["attempts"] as? Int == 1)
        #expect(job["kill_requested"] == nil, "the request is gone once recorded")
        #expect(!processIsRunning(child))
        let setsidChild = try #require(Int32(try String(contentsOfFile: escaped, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(eventually(within: 5) { !processIsRunning(setsidChild) }, "a child that left the group goes too, as for a timeout")
        let log = q.ok("logs", "long")
        #expect(log.contains("started\n") && log.contains("=== queuectl: killed after "), "\(log)")
        #expect(q.ok("dlq", "list").contains("killed"))
        #expect(worker.stdout().contains("long killed (queuectl kill); terminating it"))
        #expect(worker.stdout().contains("long killed after"))
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
    }

    @Test func killOfSeveralIsAllOrNoneAndKillAllTakesEveryRunningJob() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"a","command":"sleep 60"}"#)
        q.ok("enqueue", #"{"id":"b","command":"sleep 60"}"#)
        q.ok("enqueue", "--delay", "1h", #"{"id":"later","command":"true"}"#)
        let worker = q.start(["worker", "start", "--count", "2"])
        _ = try #require(running(q, "a"))
        _ = try #require(running(q, "b"))
        let before = try #require(q.dataBytes())
        for ids in [["a", "later"], ["a", "missing"]] {
            let r = q.run(["kill"] + ids)
            #expect(r.status == 1 && r.stderr.hasPrefix("Error: ") && r.stdout.isEmpty, "\(r)")
        }
        #expect(q.dataBytes() == before, "nothing changed")
        #expect(q.run(["kill"]).status == 64)
        #expect(q.run(["kill", "a", "--all"]).status == 64)
        let all = q.run(["kill", "--all"])
        #expect(all.status == 0 && all.stdout == "a\nb\n", "\(all)")
        #expect(eventually { q.state(of: "a") == "dead" && q.state(of: "b") == "dead" })
        #expect(q.state(of: "later") == "pending")
        let none = q.run(["kill", "--all"])
        #expect(none.status == 0 && none.stdout.isEmpty && none.stderr.contains("no job is running"), "\(none)")
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
    }

    @Test func cancelTakesSeveralIdsOrAStateAllOrNone() throws {
        let q = QueueSandbox()
        q.fastRetries()
        for id in ["p1", "p2", "p3"] { q.ok("enqueue", "--delay", "1h", #"{"id":"\#(id)","command":"true"}"#) }
        q.ok("enqueue", #"{"id":"done","command":"true"}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let before = try #require(q.dataBytes())
        let mixed = q.run(["cancel", "p1", "done"])
        #expect(mixed.status == 1 && mixed.stderr.contains("done"), "\(mixed)")
        #expect(q.run(["cancel", "--state", "completed"]).status == 64)
        #expect(q.run(["cancel", "--state", "nonsense"]).status == 64)
        #expect(q.run(["cancel", "p1", "--state", "pending"]).status == 64)
        #expect(q.dataBytes() == before)
        #expect(q.ok("cancel", "p1", "p2") == "p1\np2\n")
        #expect(q.ok("cancel", "--state", "pending") == "p3\n")
        #expect(Set(q.jobs().keys) == ["done"])
        let again = q.run(["cancel", "--state", "pending"])
        #expect(again.status == 0 && again.stdout.isEmpty && again.stderr.contains("no pending jobs"))
    }
}
