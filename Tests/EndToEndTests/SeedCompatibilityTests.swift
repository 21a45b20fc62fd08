import Foundation
import Testing
import TestSupport

/// What the earlier QueueCTL tools' READMEs (../shared/seeds) taught their users, through the binary.
@Suite struct SeedSemanticsTests {
    @Test func maxRetriesCountsRunsAndTheDelayAfterTheNthFailureIsBaseToTheN() throws {
        let q = QueueSandbox()
        q.fastRetries()
        q.ok("enqueue", #"{"id":"twice","command":"echo run $QUEUECTL_ATTEMPT; exit 1","max_retries":2}"#)
        q.ok("enqueue", #"{"id":"once","command":"exit 1","max_retries":0}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let twice = try #require(q.jobs()["twice"])
        #expect(twice["state"] as? String == "dead")
        #expect(twice["attempts"] as? Int == 2, "max_retries 2 is two runs")
        #expect(q.ok("logs", "twice").components(separatedBy: "\nrun ").count == 3, "exactly two runs printed")
        #expect(q.jobs()["once"]?["attempts"] as? Int == 1, "0 runs once, as 1 does")
        #expect(q.ok("list", "--state", "dead").contains("2/2"))
    }

    @Test func aJobsOwnBackoffSettingsOverrideTheConfig() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"own","command":"exit 1","max_retries":3,"backoff_base":1.5,"max_backoff":600}"#)
        q.ok("enqueue", #"{"id":"capped","command":"exit 1","max_retries":3,"max_backoff":0.25}"#)
        q.ok("enqueue", #"{"id":"config","command":"exit 1","max_retries":3}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        func delay(_ id: String) throws -> Double {
            let job = try #require(q.jobs()[id])
            return try #require(timestamp(job["run_at"])) - (try #require(timestamp(job["finished_at"])))
        }
        #expect(abs(try delay("own") - 1.5) < 0.002, "1.5 ^ 1")
        #expect(abs(try delay("capped") - 0.25) < 0.002, "the job's cap")
        #expect(abs(try delay("config") - 2) < 0.002, "the config's base 2 ^ 1")
        #expect(q.ok("config", "get", "backoff-base") == "2\n", "the config is untouched")
        let bad = q.run(["enqueue", #"{"command":"x","backoff_base":0.5}"#])
        #expect(bad.status == 64 && bad.stderr.contains("backoff_base"), "\(bad)")
    }

    @Test func argsRunTheProgramDirectlyAndEmptyArgsUseTheShell() throws {
        let q = QueueSandbox()
        q.fastRetries()
        q.ok("enqueue", #"{"id":"direct","command":"printf","args":["%s|","a  b","$HOME;x","it's"]}"#)
        q.ok("enqueue", #"{"id":"shell","command":"echo Hello World","args":[]}"#)
        q.ok("enqueue", #"{"id":"missing","command":"no-such-program-queuectl","args":["x"],"max_retries":1}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(q.ok("logs", "direct").contains("\na  b|$HOME;x|it's|=== queuectl: exit 0"), "no shell parsed the words")
        #expect(q.ok("logs", "shell").contains("\nHello World\n"))
        let missing = try #require(q.jobs()["missing"])
        #expect(missing["state"] as? String == "dead")
        #expect(missing["last_error"] as? String == "exit 127: command not found")
        // Shown as one line a shell reads the same way; stored as given.
        #expect(q.ok("show", "direct").contains("printf '%s|' 'a  b' '$HOME;x' 'it'\\''s'"))
        #expect(q.jobs()["direct"]?["args"] as? [String] == ["%s|", "a  b", "$HOME;x", "it's"])
        #expect(q.jobs()["shell"]?["args"] == nil, "empty args: a shell command line")
        let bad = q.run(["enqueue", #"{"command":"-x","args":["y"]}"#])
        #expect(bad.status == 64 && bad.stderr.contains("must not start with '-'"), "\(bad)")
        let notStrings = q.run(["enqueue", #"{"command":"echo","args":["a", 2]}"#])
        #expect(notStrings.status == 64 && notStrings.stderr.contains("args"), "\(notStrings)")
    }

    @Test func aWholeNewJobRecordIsAcceptedAndOneThatHasRunIsRefused() throws {
        let q = QueueSandbox()
        let record = """
            {"id": "unique-job-id", "command": "echo 'Hello World'", "state": "pending", "attempts": 0, "max_retries": 3,
             "created_at": "2025-11-04T10:30:00Z", "updated_at": "2025-11-04T10:30:00Z", "next_retry_at": null}
            """
        #expect(q.ok("enqueue", record) == "unique-job-id\n")
        #expect(q.state(of: "unique-job-id") == "pending")
        let before = q.dataBytes()
        for (field, value, says) in [("state", #""dead""#, "pending"), ("attempts", "2", "0"), ("next_retry_at", #""2025-11-04T10:31:00Z""#, "run_at"),
                                     ("created_at", #""yesterday""#, "ISO 8601")] {
            let r = q.run(["enqueue", #"{"command": "true", "\#(field)": \#(value)}"#])
            #expect(r.status == 64 && r.stderr.contains(field) && r.stderr.contains(says), "\(field): \(r)")
        }
        let typo = q.run(["enqueue", #"{"command": "true", "atempts": 0}"#])
        #expect(typo.status == 64 && typo.stderr.contains("did you mean 'attempts'"), "\(typo)")
        #expect(q.dataBytes() == before, "nothing refused changed the file")
    }

    @Test func jobsGivenNoIdAreNumberedAndNumbersWorkAsIds() throws {
        let q = QueueSandbox()
        q.ok("set", "max-retries", "1")
        #expect(q.ok("enqueue", #"{"command":"false","args":[]}"#) == "1\n")
        #expect(q.ok("enqueue", #"{"id":3,"command":"true"}"#) == "3\n", "a JSON number names a job as its digits do")
        // The third job would be 3, which is taken.
        #expect(q.ok("enqueue", #"{"command":"true"}"#) == "job-3\n")
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(q.state(of: "1") == "dead")
        let retried = q.run(["dlq", "retry", "1"])
        #expect(retried.status == 0 && retried.stdout == "1\n" && retried.stderr == "job 1 moved from the DLQ back to pending\n", "\(retried)")
        #expect(q.state(of: "1") == "pending")
    }

    @Test func fifoSchedulingIgnoresPriority() throws {
        let q = QueueSandbox()
        let ran = q.root + "/ran"
        q.ok("config", "set", "scheduling_mode", "fifo")
        #expect(q.ok("config", "get", "scheduling_mode") == "fifo\n")
        q.ok("enqueue", #"{"id":"low","command":"echo low >> \#(ran)"}"#)
        q.ok("enqueue", "--priority", "10", #"{"id":"urgent","command":"echo urgent >> \#(ran)"}"#)
        #expect(q.run(["worker", "start", "1", "--drain"]).status == 0)
        #expect(try String(contentsOfFile: ran, encoding: .utf8) == "low\nurgent\n")
        q.ok("config", "set", "scheduling_mode", "priority")
        q.ok("enqueue", #"{"id":"low2","command":"echo low2 >> \#(ran)"}"#)
        q.ok("enqueue", "--priority", "10", #"{"id":"urgent2","command":"echo urgent2 >> \#(ran)"}"#)
        #expect(q.run(["worker", "start", "1", "--drain"]).status == 0)
        #expect(try String(contentsOfFile: ran, encoding: .utf8) == "low\nurgent\nurgent2\nlow2\n")
        let bad = q.run(["config", "set", "scheduling_mode", "lifo"])
        #expect(bad.status == 64 && bad.stderr.contains("priority or fifo"), "\(bad)")
    }
}

@Suite struct SeedCommandTests {
    @Test func statusPrintsALinePerStateTheDLQAndTheWorkers() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"a","command":"sleep 30"}"#)
        q.ok("enqueue", #"{"id":"b","command":"true"}"#)
        let empty = q.ok("status")
        #expect(empty.hasPrefix("""
            Queue Status:
              Jobs:
                Pending: 2
                Processing: 0
                Completed: 0
                Failed: 0
                Dead: 0
                Total: 2
              DLQ: 0 jobs
              Workers: 0 active, 0 slots

            """), "\(empty)")
        #expect(empty.contains("    a  ") && empty.contains("    b  "), "a queue this small lists its jobs: \(empty)")
        let worker = q.start(["worker", "start", "3"])
        defer { worker.signal(SIGKILL) }
        #expect(eventually { q.state(of: "a") == "processing" && q.state(of: "b") == "completed" })
        let busy = q.ok("status")
        #expect(busy.contains("    Processing: 1\n    Completed: 1\n"), "\(busy)")
        #expect(busy.contains("  Workers: 1 active, 3 slots\n    pid \(worker.pid): 3 slots, since "), "\(busy)")
        #expect(busy.contains("UTC, running a\n"), "\(busy)")
        let listed = q.ok("worker", "status")
        #expect(listed.hasPrefix("  Workers: 1 active, 3 slots\n    pid \(worker.pid)"), "\(listed)")
        #expect(q.ok("status", "a").contains("running on worker \(worker.pid)"), "status <id> shows the job")
        for i in 1...10 { q.ok("enqueue", #"{"command":"true","run_at":"2999-01-01T00:00:00Z","id":"later\#(i)"}"#) }
        let many = q.ok("status")
        #expect(many.contains("Total: 12") && !many.contains("later1 ") && many.contains("queuectl list"), "\(many)")
        let json = try JSONSerialization.jsonObject(with: Data(q.ok("status", "--json").utf8)) as! [String: Any]
        #expect((json["jobs"] as? [String: Int])?["processing"] == 1, "status --json keeps its shape")
    }

    @Test func theOtherToolsSpellingsWork() throws {
        let q = QueueSandbox()
        #expect(q.ok("set", "max-retries", "5") == "max-retries = 5\n")
        #expect(q.ok("config", "show").contains("max-retries"))
        #expect(q.ok("config", "list", "--json").contains(#""max_retries": 5"#))
        q.ok("config", "set", "job_timeout_seconds", "7200")
        #expect(q.ok("config", "get", "job-timeout") == "7200\n")
        q.ok("config", "set", "max_backoff_seconds", "300")
        #expect(q.ok("config", "get", "max_backoff_seconds") == "300\n")
        q.ok("config", "set", "lock_lease_seconds", "60")
        #expect(q.ok("config", "get", "lease-seconds") == "60\n")
        q.ok("enqueue", #"{"id":"w","command":"true"}"#)
        #expect(q.run(["worker", "--count", "2", "--drain"]).status == 0, "worker --count 2 is worker start --count 2")
        #expect(q.state(of: "w") == "completed")
        q.ok("enqueue", #"{"id":"x","command":"true"}"#)
        let cancelled = q.run(["cancel", "x"])
        #expect(cancelled.stdout == "x\n" && cancelled.stderr == "job x cancelled and removed\n", "\(cancelled)")
    }

    @Test func retryOfADeadJobTakesItOutOfTheDLQ() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"d","command":"exit 3","max_retries":1}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(q.state(of: "d") == "dead")
        let r = q.run(["retry", "d"])
        #expect(r.status == 0 && r.stdout == "d\n" && r.stderr == "job d moved from the DLQ back to pending\n", "\(r)")
        let job = try #require(q.jobs()["d"])
        #expect(job["state"] as? String == "pending" && job["attempts"] as? Int == 0)
        #expect(q.run(["retry", "d"]).stderr.contains("not failed"), "a pending job has no retry to bring forward")
    }

    /// 003's README, command by command (as `queuectl`, not `python queuectl.py`).
    @Test func seed003Examples() throws {
        let q = QueueSandbox()
        #expect(q.ok("status").contains("Total: 0"))
        q.ok("enqueue", #"{"id":"job1","command":"echo hello"}"#)
        #expect(q.ok("list").contains("job1"))
        q.ok("enqueue", #"{"id":"task","command":"echo hello && echo error >&2"}"#)
        q.ok("enqueue", #"{"id":"bg","command":"echo bg"}"#, "--priority", "0")
        q.ok("enqueue", #"{"id":"urgent","command":"echo urgent"}"#, "--priority", "10")
        q.ok("enqueue", #"{"id":"later","command":"echo backup"}"#, "--run-at", "2999-11-08T15:00:00Z")
        #expect(q.run(["worker", "start", "--count", "1", "--drain"]).status == 0)
        #expect(q.ok("status", "job1").contains("completed"))
        #expect(q.ok("output", "get", "job1").contains("\nhello\n"))
        let task = q.ok("output", "get", "task")
        #expect(task.contains("hello\n") && task.contains("error\n"))
        let urgent = try #require(timestamp(q.jobs()["urgent"]?["started_at"]))
        let background = try #require(timestamp(q.jobs()["bg"]?["started_at"]))
        #expect(urgent < background, "priority 10 ran first")
        #expect(q.state(of: "later") == "pending", "stays pending until its time")
        #expect(q.ok("config", "get", "job_timeout_seconds") == "0\n")
        q.ok("config", "set", "job_timeout_seconds", "7200")
        #expect(q.ok("config", "get", "scheduling_mode") == "priority\n")
        #expect(q.ok("worker", "status").contains("Workers: 0 active"))
        #expect(q.ok("dlq", "list").contains("empty"))
        q.ok("enqueue", #"{"id":"bad","command":"exit 1","max_retries":1}"#)
        #expect(q.run(["worker", "start", "--count", "1", "--drain"]).status == 0)
        #expect(q.ok("dlq", "retry", "bad") == "bad\n")
        #expect(q.state(of: "bad") == "pending")
    }

    /// 001's "Testing Scenarios" on the command line, with a draining worker in place of the one the
    /// README leaves running (scenario 5 runs three at once).
    @Test func seed001TestingScenarios() throws {
        let q = QueueSandbox()
        q.fastRetries()
        q.ok("enqueue", #"{"id":"test1","command":"echo Success"}"#)
        q.ok("enqueue", #"{"id":"test2","command":"exit 1","max_retries":3}"#)
        q.ok("enqueue", #"{"id":"test3","command":"exit 1","max_retries":2}"#)
        #expect(q.run(["worker", "start", "--count", "1", "--drain"]).status == 0)
        #expect(q.ok("status").contains("    Completed: 1\n"))
        #expect(q.ok("list", "--state", "completed").contains("test1"))
        #expect(q.jobs()["test2"]?["attempts"] as? Int == 3)
        #expect(q.jobs()["test3"]?["attempts"] as? Int == 2)
        let dlq = q.ok("dlq", "list")
        #expect(dlq.contains("test2") && dlq.contains("test3"))
        q.ok("dlq", "retry", "test3")
        #expect(q.ok("list", "--state", "pending").contains("test3"))

        let many = QueueSandbox()
        let marks = many.root + "/marks"
        for i in 1...3 { many.ok("enqueue", #"{"id":"job\#(i)","command":"echo start >> \#(marks); sleep 1; echo end >> \#(marks)"}"#) }
        #expect(many.run(["worker", "start", "--count", "3", "--drain"]).status == 0)
        #expect(try String(contentsOfFile: marks, encoding: .utf8) == "start\nstart\nstart\nend\nend\nend\n", "the three ran at once")

        let persist = QueueSandbox()
        persist.ok("enqueue", #"{"id":"persist1","command":"echo test"}"#)
        #expect(persist.ok("worker", "stop") == "no workers are running\n")
        #expect(persist.run(["worker", "start", "--count", "1", "--drain"]).status == 0)
        #expect(persist.state(of: "persist1") == "completed")
        persist.ok("config", "set", "max-retries", "5")
        persist.ok("config", "set", "backoff-base", "3.0")
        #expect(persist.ok("config", "get", "backoff-base") == "3\n")
    }
}
