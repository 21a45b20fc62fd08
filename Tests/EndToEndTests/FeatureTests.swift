import Foundation
import Testing
import TestSupport

/// Priority, scheduling, timeouts, logs, environment, show, retry, cancel, wait, drain, stats.
@Suite struct FeatureTests {
    @Test func higherPriorityRunsFirstAndFIFOWithinAPriority() throws {
        let q = QueueSandbox()
        let order = q.root + "/order.txt"
        for (id, priority) in [("low1", 0), ("high", 10), ("low2", 0), ("mid", 5), ("low3", 0)] {
            q.ok("enqueue", "--priority", String(priority), #"{"id":"\#(id)","command":"echo \#(id) >> \#(order)"}"#)
        }
        #expect(q.run(["worker", "start", "--count", "1", "--drain"]).status == 0)
        let ran = try String(contentsOfFile: order, encoding: .utf8).split(separator: "\n")
        #expect(ran == ["high", "mid", "low1", "low2", "low3"])
    }

    @Test func aScheduledJobIsNotClaimedBeforeItsTime() throws {
        let q = QueueSandbox()
        q.ok("enqueue", "--delay", "1h", #"{"id":"later","command":"true"}"#)
        q.ok("enqueue", #"{"id":"past","command":"true","run_at":"2020-01-01T00:00:00+02:00"}"#)
        q.ok("enqueue", "--run-at", "2999-01-01T00:00:00Z", #"{"id":"far","command":"true"}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(q.state(of: "past") == "completed")
        #expect(q.state(of: "later") == "pending")
        #expect(q.state(of: "far") == "pending")
        #expect(q.ok("show", "later").contains("scheduled for"))

        q.ok("enqueue", "--delay", "1s", #"{"id":"soon","command":"true"}"#)
        let worker = q.start(["worker", "start"])
        #expect(q.run(["wait", "soon", "--timeout", "20"]).status == 0)
        let job = try #require(q.jobs()["soon"])
        let waited = try #require(timestamp(job["started_at"])) - (try #require(timestamp(job["created_at"])))
        #expect(waited >= 1.0)
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
    }

    @Test func aRunOverItsTimeoutIsTerminatedAndRetriedByThePolicy() throws {
        let q = QueueSandbox()
        q.fastRetries()
        let pids = q.root + "/pids"
        q.ok("enqueue", "--timeout", "0.3", #"{"id":"slow","command":"echo $$ >> \#(pids); sleep 60","max_retries":2}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let job = try #require(q.jobs()["slow"])
        #expect(job["state"] as? String == "dead")
        #expect(job["attempts"] as? Int == 2)
        #expect(job["last_error"] as? String == "timed out after 0.3s")
        let shells = try String(contentsOfFile: pids, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        #expect(shells.count == 2)
        #expect(shells.allSatisfy { !processIsRunning($0) })
    }

    @Test func aRunThatIgnoresSIGTERMIsKilledAfterTheGracePeriod() throws {
        let q = QueueSandbox()
        q.ok("config", "set", "job-timeout", "0.2")
        q.ok("enqueue", #"{"id":"stubborn","command":"trap '' TERM; sleep 60","max_retries":0}"#)
        let r = q.run(["worker", "start", "--drain"])
        #expect(r.status == 0)
        #expect(q.jobs()["stubborn"]?["last_error"] as? String == "timed out after 0.2s")
        #expect(q.state(of: "stubborn") == "dead")
    }

    @Test func outputGoesToABoundedLogThatKeepsTheStartAndTheEnd() throws {
        let q = QueueSandbox()
        q.ok("config", "set", "max-log-bytes", "4096")
        q.ok("enqueue", #"{"id":"chatty","command":"echo FIRST; head -c 200000 /dev/zero | tr '\\0' x; echo; echo LAST >&2; exit 1","max_retries":2}"#)
        q.fastRetries()
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let log = q.ok("logs", "chatty")
        #expect(log.hasPrefix("=== queuectl: run 1 of 2, started "), "the start is kept")
        #expect(log.contains("LAST\n=== queuectl: exit 1 after ") && log.hasSuffix("s ===\n"), "the end (run 2) is kept")
        #expect(log.contains("FIRST") && log.contains("LAST"))
        #expect(log.contains("cut here"))
        #expect(log.contains("=== queuectl: exit 1 after "))
        #expect(log.utf8.count < 4096 + 200)
        #expect(q.ok("output", "get", "chatty") == log)

        q.ok("dlq", "delete", "chatty")
        #expect(!FileManager.default.fileExists(atPath: q.home + "/logs/chatty.log"), "the log goes with the job")
        #expect(q.run(["logs", "chatty"]).status == 1)
    }

    @Test func aJobRunsWhereItWasEnqueuedAndKnowsItsIDAndAttempt() throws {
        let q = QueueSandbox()
        let here = q.root + "/workdir"
        try FileManager.default.createDirectory(atPath: here, withIntermediateDirectories: true)
        let enqueue = Child.shell("cd '\(here)' && exec '\(queuectlBinary)' enqueue '{\"id\":\"env\",\"command\":\"echo $PWD $QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT\"}'",
                                  env: q.environment(), directory: q.root)
        #expect(enqueue.wait() == 0)
        q.ok("enqueue", "--cwd", "/tmp", #"{"id":"elsewhere","command":"pwd"}"#)
        // A directory that is gone by the time the job runs (enqueue refuses one that is already missing).
        let gone = q.root + "/soon-gone"
        try FileManager.default.createDirectory(atPath: gone, withIntermediateDirectories: true)
        q.ok("enqueue", #"{"id":"gone","command":"true","cwd":"\#(gone)","max_retries":0}"#)
        try FileManager.default.removeItem(atPath: gone)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(q.ok("logs", "env").contains("\(here) env 1\n"))
        #expect(q.ok("logs", "elsewhere").contains("/tmp\n"))
        #expect(q.jobs()["gone"]?["last_error"] as? String == "could not start: directory \(gone) does not exist")
    }

    @Test func showExplainsWhyAJobIsOrIsNotRunning() throws {
        let q = QueueSandbox()
        q.ok("config", "set", "max-backoff", "600")
        q.ok("enqueue", #"{"id":"f","command":"exit 4","max_retries":3}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let failed = q.ok("show", "f")
        #expect(failed.contains("waiting for run 2 of 3 in"))
        #expect(failed.contains("exit 4"))
        let json = try JSONSerialization.jsonObject(with: Data(q.ok("show", "f", "--json").utf8)) as! [String: Any]
        #expect(json["state"] as? String == "failed")
        #expect((json["explanation"] as? String)?.contains("run 2 of 3") == true)

        // retry runs it now, without waiting for the backoff.
        #expect(q.ok("retry", "f") == "f\n")
        q.ok("enqueue", #"{"id":"long","command":"sleep 60"}"#)
        let worker = q.start(["worker", "start", "--count", "2"])
        #expect(eventually { q.jobs()["f"]?["attempts"] as? Int == 2 })
        #expect(eventually { q.state(of: "long") == "processing" })
        #expect(q.ok("show", "long").contains("running on worker \(worker.pid) for"))
        worker.interruptTwice()
        #expect(worker.wait(seconds: 15) == 130)
    }

    @Test func cancelRemovesWaitingJobsAndTerminatesARunningOne() throws {
        let q = QueueSandbox()
        q.ok("enqueue", "--delay", "1h", #"{"id":"waiting","command":"true"}"#)
        #expect(q.ok("cancel", "waiting") == "waiting\n")
        #expect(q.jobs()["waiting"] == nil)

        q.ok("enqueue", #"{"id":"running","command":"sleep 60"}"#)
        let worker = q.start(["worker", "start"])
        #expect(eventually { q.jobs()["running"]?["child_pid"] != nil })
        let child = try #require(q.jobs()["running"]?["child_pid"] as? Int32)
        let r = q.run(["cancel", "running"])
        #expect(r.status == 0)
        #expect(r.stderr.contains("terminating it"))
        #expect(eventually { q.jobs()["running"] == nil }, "removed when its run ends, not retried")
        #expect(!processIsRunning(child))
        #expect(eventually { worker.stdout().contains("running ended and was removed (cancelled)") }, "the worker says so once the job is gone")
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)

        q.ok("enqueue", #"{"id":"done","command":"true"}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(q.run(["cancel", "done"]).status == 1)
        #expect(q.run(["cancel", "nope"]).status == 1)
    }

    @Test func waitReportsCompletedDeadAndTimeout() throws {
        let q = QueueSandbox()
        q.fastRetries()
        q.ok("enqueue", #"{"id":"ok","command":"true"}"#)
        q.ok("enqueue", #"{"id":"bad","command":"false","max_retries":0}"#)
        q.ok("enqueue", "--delay", "1h", #"{"id":"never","command":"true"}"#)
        let worker = q.start(["worker", "start", "--count", "2"])
        let both = q.run(["wait", "ok", "bad"])
        #expect(both.status == 1)
        #expect(both.stdout == "ok completed\nbad dead\n")
        #expect(q.run(["wait", "ok"]).status == 0)
        let timedOut = q.run(["wait", "never", "--timeout", "0.3"])
        #expect(timedOut.status == 124)
        #expect(timedOut.stderr.contains("never"))
        #expect(q.run(["wait", "missing"]).status == 1)
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
    }

    @Test func statsCountRunsRetriesAndDLQMoves() throws {
        let q = QueueSandbox()
        q.fastRetries()
        q.ok("enqueue", #"{"id":"ok","command":"true"}"#)
        q.ok("enqueue", #"{"id":"bad","command":"false","max_retries":2}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let stats = try JSONSerialization.jsonObject(with: Data(q.ok("stats", "--json").utf8)) as! [String: Any]
        #expect(stats["runs"] as? Int == 3)
        #expect(stats["failed_runs"] as? Int == 2)
        #expect(stats["retries"] as? Int == 1)
        #expect(stats["dlq_moves"] as? Int == 1)
        #expect(stats["finished_last_hour"] as? Int == 2)
        #expect(abs((stats["success_rate"] as? Double ?? 0) - 0.3333) < 0.001)
        let runTime = try #require(stats["run_time_ms"] as? [String: Any])
        #expect(runTime["median"] is Int && runTime["p95"] is Int)
        #expect((stats["jobs"] as? [String: Int])?["dead"] == 1)
        #expect(q.ok("stats").contains("success rate"))
    }

    @Test func drainExitsWithNothingToDoAndLeavesFutureRetries() throws {
        let q = QueueSandbox()
        let empty = q.run(["worker", "start", "--drain"])
        #expect(empty.status == 0)
        #expect(empty.stdout.contains("no job is runnable now"))
        q.ok("enqueue", #"{"id":"f","command":"false"}"#)  // default backoff: retry in 2s
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(q.state(of: "f") == "failed")
    }
}
