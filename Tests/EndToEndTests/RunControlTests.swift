import Foundation
@preconcurrency import Glibc
import Testing
import TestSupport

/// `kill`, `cancel` of many, `restart`, `edit`, and `list --sort next` with its priority column.
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
        #expect(eventually { worker.stdout().contains("long killed after") }, "said just after it is recorded")
        // It stays runnable: the DLQ's retry runs it again.
        q.ok("edit", "long", "--command", "true")
        q.ok("dlq", "retry", "long")
        #expect(q.run(["wait", "long", "--timeout", "20"]).status == 0)
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

    /// A finished job runs again from its first attempt; its log keeps the earlier runs, and the new
    /// run's header says it belongs to a restart.
    @Test func restartRunsAFinishedJobAgainKeepingItsLog() throws {
        let q = QueueSandbox()
        q.fastRetries()
        q.ok("enqueue", #"{"id":"r","command":"echo attempt $QUEUECTL_ATTEMPT; exit 3","max_retries":1}"#)
        q.ok("enqueue", #"{"id":"waiting","command":"true","run_at":"2999-01-01T00:00:00Z"}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(q.state(of: "r") == "dead")
        let runsBefore = q.ok("logs", "r").components(separatedBy: "=== queuectl: run ").count - 1
        #expect(q.run(["restart", "r", "waiting"]).status == 1, "a job that has not finished is refused, and the lot with it")
        #expect(q.state(of: "r") == "dead")
        #expect(q.ok("restart", "r") == "r\n")
        let job = try #require(q.jobs()["r"])
        #expect(job["state"] as? String == "pending" && job["attempts"] as? Int == 0 && job["restarts"] as? Int == 1)
        #expect(q.ok("show", "r").contains("restarts    1"))
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let log = q.ok("logs", "r")
        #expect(log.components(separatedBy: "=== queuectl: run ").count - 1 == runsBefore, "the earlier runs are kept: \(log)")
        let headers = log.split(separator: "\n").filter { $0.hasPrefix("=== queuectl: ") && $0.contains(", started ") }
        #expect(headers.last?.hasPrefix("=== queuectl: restart 1, run ") == true, "the new runs come last, under their own headers: \(log)")
        #expect(log.contains("=== queuectl: restart 1, run 1 of "), "\(log)")
        let latest = q.ok("logs", "r", "--run", "1")
        #expect(latest.hasPrefix("=== queuectl: restart 1, run 1 of ") && latest.contains("attempt 1\n"), "the latest run 1: \(latest)")
        #expect(q.run(["restart", "nope"]).status == 1)
    }

    @Test func editChangesAJobThatIsNotRunning() throws {
        let q = QueueSandbox()
        q.ok("enqueue", "--delay", "1h", #"{"id":"e","command":"echo old"}"#)
        #expect(q.ok("edit", "e", "--command", "echo new", "--priority", "7", "--timeout", "2.5") == "e\n")
        var job = try #require(q.jobs()["e"])
        #expect(job["command"] as? String == "echo new" && job["priority"] as? Int == 7 && job["timeout"] as? Double == 2.5)
        #expect(job["run_at"] != nil)
        q.ok("edit", "e", "--run-at", "2999-01-01T00:00:00+01:00", "--timeout", "0")
        job = try #require(q.jobs()["e"])
        #expect(job["run_at"] as? String == "2998-12-31T23:00:00.000Z" && job["timeout"] == nil)
        q.ok("edit", "e", "--queue", "mail")
        #expect(q.jobs()["e"]?["queue"] as? String == "mail")
        q.ok("edit", "e", "--queue", "default")
        #expect(q.jobs()["e"]?["queue"] == nil, "the default queue is not written out")
        let before = try #require(q.dataBytes())
        for bad in [["edit", "e"], ["edit", "e", "--priority", "5000"], ["edit", "e", "--command", " "], ["edit", "e", "--run-at", "tomorrow"],
                    ["edit", "e", "--timeout", "-1"], ["edit", "e", "--queue", "a b"]] {
            let r = q.run(bad)
            #expect(r.status == 64 && r.stderr.hasPrefix("Error: "), "\(bad): \(r)")
        }
        #expect(q.run(["edit", "nope", "--priority", "1"]).status == 1)
        #expect(q.dataBytes() == before, "bad input changed nothing")
        q.ok("edit", "e", "--run-at", "now")
        #expect(q.jobs()["e"]?["run_at"] == nil)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(q.ok("logs", "e").contains("new\n"))

        q.ok("enqueue", #"{"id":"busy","command":"sleep 60"}"#)
        let worker = q.start(["worker", "start"])
        _ = try #require(running(q, "busy"))
        let r = q.run(["edit", "busy", "--priority", "1"])
        #expect(r.status == 1 && r.stderr.contains("running"), "\(r)")
        worker.interruptTwice()
        #expect(worker.wait(seconds: 15) == 130)
    }

    @Test func listSortsByRunOrderAndShowsPriorityWhenOneIsSet() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"first","command":"true"}"#)
        q.ok("enqueue", #"{"id":"second","command":"true"}"#)
        let plain = q.ok("list")
        #expect(!plain.contains("PRIORITY"), "\(plain)")
        q.ok("enqueue", "--delay", "1h", "--priority", "9", #"{"id":"later","command":"true"}"#)
        q.ok("enqueue", "--priority", "5", #"{"id":"urgent","command":"true"}"#)
        q.ok("enqueue", "--delay", "1m", #"{"id":"soon","command":"true"}"#)
        let listed = q.ok("list")
        let header = try #require(listed.split(separator: "\n").first)
        #expect(header.contains("PRIORITY"), "\(listed)")
        #expect(listed.split(separator: "\n").first { $0.hasPrefix("urgent") }?.contains(" 5 ") == true, "\(listed)")
        let ids = { (text: String) in text.split(separator: "\n").dropFirst().map { String($0.split(separator: " ")[0]) } }
        #expect(ids(listed) == ["first", "second", "later", "urgent", "soon"], "enqueue order by default")
        #expect(ids(q.ok("list", "--sort", "next")) == ["urgent", "first", "second", "soon", "later"], "the order they run in")
        #expect(ids(q.ok("list", "--sort", "next", "--limit", "2")) == ["urgent", "first"])
        #expect(q.run(["list", "--sort", "random"]).status == 64)
        #expect(!q.ok("list", "--state", "completed").contains("PRIORITY"))
    }
}
