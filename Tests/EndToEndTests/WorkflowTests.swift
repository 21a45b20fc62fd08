import Foundation
import Testing
import TestSupport

/// The scenarios users check first, run against the built binary in a temporary queue home.
@Suite struct WorkflowTests {
    @Test func aJobCompletes() throws {
        let q = QueueSandbox()
        let id = q.ok("enqueue", #"{"id":"job1","command":"echo hello"}"#)
        #expect(id == "job1\n")
        let worker = q.start(["worker", "start", "--count", "1"])
        #expect(eventually { q.state(of: "job1") == "completed" })
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
        let job = try #require(q.jobs()["job1"])
        #expect(job["exit_code"] as? Int == 0)
        #expect(job["attempts"] as? Int == 0)
        #expect(job["started_at"] is String && job["finished_at"] is String)
        #expect(worker.stdout().contains("job1 completed"))
        #expect(worker.stdout().contains("job1 started"))
    }

    @Test func enqueuePrintsOnlyTheIDSoScriptsCanCaptureIt() {
        let q = QueueSandbox()
        let r = q.run(["enqueue", #"{"command":"true"}"#])
        #expect(r.status == 0)
        let id = r.stdout.trimmingCharacters(in: .newlines)
        #expect(id == "1", "the first job given no id is numbered 1")
        #expect(q.state(of: id) == "pending")
        #expect(r.stderr.isEmpty)
    }

    @Test func aFailingJobBacksOffThenLandsInTheDLQ() throws {
        let q = QueueSandbox()
        q.ok("config", "set", "max-backoff", "1")  // base 2 stays: delays are min(1, 2^n)
        q.ok("enqueue", #"{"id":"flaky","command":"exit 3","max_retries":3}"#)
        let worker = q.start(["worker", "start"])
        #expect(eventually { q.state(of: "flaky") == "failed" })
        let failed = try #require(q.jobs()["flaky"])
        #expect(failed["attempts"] as? Int == 1)
        #expect(failed["last_error"] as? String == "exit 3")
        let finished = try #require(timestamp(failed["finished_at"]))
        let runAt = try #require(timestamp(failed["run_at"]))
        #expect(abs(runAt - finished - 1.0) < 0.002, "delay is min(max_backoff, base^1) = 1s")

        #expect(eventually { q.state(of: "flaky") == "dead" })
        let dead = try #require(q.jobs()["flaky"])
        #expect(dead["attempts"] as? Int == 3, "max_retries counts runs: three, then the DLQ")
        worker.signal(SIGTERM)
        #expect(worker.wait(seconds: 10) == 0)
        #expect(worker.stdout().contains("moved to the DLQ"))

        let dlq = try JSONSerialization.jsonObject(with: Data(q.ok("dlq", "list", "--json").utf8)) as! [[String: Any]]
        #expect(dlq.map { $0["id"] as? String } == ["flaky"])

        #expect(q.ok("dlq", "retry", "flaky") == "flaky\n")
        let retried = try #require(q.jobs()["flaky"])
        #expect(retried["state"] as? String == "pending")
        #expect(retried["attempts"] as? Int == 0)
        #expect(retried["last_error"] as? String == "exit 3", "the last error is kept for reference")
    }

    @Test func aCommandThatDoesNotExistFailsIntoTheDLQ() throws {
        let q = QueueSandbox()
        q.fastRetries()
        q.ok("enqueue", #"{"id":"ghost","command":"no-such-command-queuectl-test","max_retries":2}"#)
        let worker = q.start(["worker", "start"])
        #expect(eventually { q.state(of: "ghost") == "dead" })
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
        let job = try #require(q.jobs()["ghost"])
        #expect(job["exit_code"] as? Int == 127)
        #expect(job["last_error"] as? String == "exit 127: command not found")
        #expect(job["attempts"] as? Int == 2)
    }

    @Test func fiftyJobsOnTwoWorkerProcessesEachRunOnce() throws {
        let q = QueueSandbox()
        let ran = q.root + "/ran.txt"
        let lines = (1...50).map { #"{"id":"j\#($0)","command":"echo $QUEUECTL_JOB_ID >> \#(ran)"}"# }
        q.ok("enqueue", "-", stdin: lines.joined(separator: "\n"))
        let a = q.start(["worker", "start", "--count", "3"])
        let b = q.start(["worker", "start", "--count", "3"])
        #expect(eventually { q.jobs().values.allSatisfy { $0["state"] as? String == "completed" } })
        a.signal(SIGINT)
        b.signal(SIGINT)
        #expect(a.wait(seconds: 10) == 0)
        #expect(b.wait(seconds: 10) == 0)
        let ids = try String(contentsOfFile: ran, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(ids.count == 50)
        #expect(Set(ids) == Set((1...50).map { "j\($0)" }))
        #expect(a.stdout().contains("completed") && b.stdout().contains("completed"), "both workers took jobs")
    }

    @Test func jobsAndConfigSurviveARestart() throws {
        let q = QueueSandbox()
        q.ok("config", "set", "max_retries", "5")
        q.ok("enqueue", #"{"id":"done","command":"true"}"#)
        let worker = q.start(["worker", "start"])
        #expect(eventually { q.state(of: "done") == "completed" })
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
        q.ok("enqueue", #"{"id":"later","command":"true"}"#)
        // Every command is a new process: what they see is what is on disk.
        #expect(q.ok("config", "get", "max-retries") == "5\n")
        let listed = try JSONSerialization.jsonObject(with: Data(q.ok("list", "--json").utf8)) as! [[String: Any]]
        #expect(listed.map { $0["id"] as? String } == ["done", "later"])
        #expect(listed.map { $0["state"] as? String } == ["completed", "pending"])
        #expect(listed[1]["max_retries"] as? Int == 5, "new jobs take max_retries from the config")
        let status = try JSONSerialization.jsonObject(with: Data(q.ok("status", "--json").utf8)) as! [String: Any]
        let counts = try #require(status["jobs"] as? [String: Int])
        #expect(counts == ["pending": 1, "processing": 0, "completed": 1, "failed": 0, "dead": 0, "total": 2])
        #expect((status["workers"] as? [Any])?.isEmpty == true)
    }

    @Test func statusShowsTheWorkerAndWhatItRuns() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"long","command":"sleep 30"}"#)
        let worker = q.start(["worker", "start", "--count", "2"])
        #expect(eventually { q.state(of: "long") == "processing" })
        let status = try JSONSerialization.jsonObject(with: Data(q.ok("status", "--json").utf8)) as! [String: Any]
        let workers = try #require(status["workers"] as? [[String: Any]])
        #expect(workers.count == 1)
        #expect(workers.first?["pid"] as? Int == Int(worker.pid))
        #expect(workers.first?["slots"] as? Int == 2)
        #expect(workers.first?["jobs"] as? [String] == ["long"])
        #expect(q.ok("status").contains(String(worker.pid)))
        worker.interruptTwice()
        #expect(worker.wait(seconds: 15) == 130)
    }
}

/// Seconds since the epoch of an ISO 8601 string from the data file.
func timestamp(_ value: Any?) -> Double? {
    guard let text = value as? String else { return nil }
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.date(from: text)?.timeIntervalSince1970
}
