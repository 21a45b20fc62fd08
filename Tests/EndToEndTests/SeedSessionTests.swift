import Foundation
import Testing
import TestSupport

/// The earlier QueueCTL tools' interactive sessions (../shared/seeds), typed at a terminal (a
/// pseudo-terminal) as their READMEs show them, and what a person sees in reply.
@Suite struct SeedSessionTests {
    static let choose = "Choose (0-9 or a letter): "
    static let pause = "Press Enter to continue..."

    func terminal(_ q: QueueSandbox, _ argv: [String]) -> TerminalChild {
        TerminalChild(argv: [queuectlBinary] + argv, env: q.environment(["TERM": "xterm", "NO_COLOR": "1"]))
    }

    /// 000's "Basic Workflow": jobs given as a program and its args, two workers in the background
    /// while the person goes on typing, and 'worker stop' when done.
    @Test func seed000BasicWorkflow() throws {
        let q = QueueSandbox()
        let s = terminal(q, ["shell"])
        var m = s.enter(#"enqueue {"command": "echo", "args": ["Task 1"]}"#, after: 0)
        #expect(s.waitFor("1\r\n", since: m))
        m = s.enter(#"enqueue {"command": "echo", "args": ["Task 2"]}"#, after: m)
        #expect(s.waitFor("2\r\n", since: m))
        m = s.enter(#"enqueue {"command": "sleep", "args": ["2"]}"#, after: m)
        #expect(s.waitFor("3\r\n", since: m))
        m = s.enter("worker start 2", after: m)
        #expect(s.waitFor("started in the background with 2 slots", since: m))
        #expect(eventually { q.state(of: "3") == "processing" })
        m = s.enter("status", after: m)
        #expect(s.waitForPrompt(since: m))
        let status = s.output(since: m)
        #expect(status.contains("Processing: 1\r\n") && status.contains("Completed: 2\r\n"))
        #expect(status.contains("Workers: 1 active, 2 slots"))
        m = s.enter("list --state pending", after: m)
        #expect(s.waitFor("No pending jobs.", since: m))
        let worker = try #require(workerPids(q).first)
        m = s.enter("worker stop", after: m)
        #expect(s.waitFor("asked worker \(worker) to stop", since: m))
        #expect(s.waitForPrompt(since: m))
        // The worker finishes the sleep it is running before it stops.
        #expect(eventually { !processIsRunning(worker) })
        #expect(q.state(of: "3") == "completed")
        s.enter("exit", after: m)
        #expect(s.wait(seconds: 5) == 0)
        #expect(q.ok("logs", "1").contains("Task 1\n") && q.ok("logs", "2").contains("Task 2\n"))
    }

    /// 000's "Handling Failures": a job that fails every run, 'set max-retries', a worker in the
    /// background, the failed jobs, the DLQ and 'dlq retry 1'.
    @Test func seed000HandlingFailures() throws {
        let q = QueueSandbox()
        q.fastRetries()
        let s = terminal(q, ["shell"])
        var m = s.enter(#"enqueue {"command": "false", "args": []}"#, after: 0)
        #expect(s.waitFor("1\r\n", since: m))
        m = s.enter("set max-retries 3", after: m)
        #expect(s.waitFor("max-retries = 3", since: m))
        m = s.enter("worker start 1", after: m)
        #expect(s.waitFor("started in the background with 1 slot", since: m))
        #expect(eventually { q.state(of: "1") == "dead" }, "three runs, then the DLQ")
        m = s.enter("list --state failed", after: m)
        #expect(s.waitFor("No failed jobs.", since: m))
        m = s.enter("dlq list", after: m)
        #expect(s.waitForPrompt(since: m))
        let dead = s.output(since: m).components(separatedBy: "\r\n").first { $0.hasPrefix("1 ") }
        #expect(dead?.split(separator: " ").dropFirst().first == "3", "three attempts")
        m = s.enter("dlq retry 1", after: m)
        #expect(s.waitFor("job 1 moved from the DLQ back to pending", since: m))
        // The worker still running takes it again: three more runs.
        #expect(eventually { q.state(of: "1") == "dead" && counter(q, "runs") == 6 })
        m = s.enter("exit", after: m)
        s.enter("y", after: m, prompt: "[Y/n] ")
        #expect(s.wait(seconds: 5) == 0)
        #expect(eventually { workerPids(q).isEmpty })
    }

    /// 001's "Testing Scenarios" 1 to 4 and 7, the way its README does them with the menu.
    @Test func seed001MenuScenarios() throws {
        let q = QueueSandbox()
        // Retries 2 s then 4 s apart (base 2): long enough to see a job in the failed state, short for a test.
        q.ok("config", "set", "max-backoff", "4")
        let s = terminal(q, [])
        func enqueue(_ id: String, _ command: String, _ retries: String, after mark: Int) -> Int {
            var m = s.enter("3", after: mark, prompt: Self.choose)
            m = s.enter(id, after: m, prompt: "Job id (empty for a generated one): ")
            m = s.enter(command, after: m, prompt: "Command: ")
            m = s.enter(retries, after: m, prompt: "Max retries (runs it gets; empty for the configured 3): ")
            #expect(s.waitFor("\(id)\r\n", since: m))
            return s.enter("", after: m, prompt: Self.pause)
        }
        // 1. Basic job execution: enqueue test1, start a worker, see it completed.
        var m = enqueue("test1", "echo Success", "", after: 0)
        m = s.enter("4", after: m, prompt: Self.choose)
        m = s.enter("1", after: m, prompt: "Jobs it runs at once (empty for the configured 1): ")
        #expect(s.waitFor("started in the background with 1 slot", since: m))
        m = s.enter("", after: m, prompt: Self.pause)
        #expect(eventually { q.state(of: "test1") == "completed" })
        m = s.enter("1", after: m, prompt: Self.choose)
        #expect(s.waitFor("Completed: 1\r\n", since: m))
        m = s.enter("", after: m, prompt: Self.pause)
        // 2. Failed job retry: test2 fails and waits for its retry; 2 then 5 lists it.
        m = enqueue("test2", "exit 1", "3", after: m)
        #expect(eventually { q.state(of: "test2") == "failed" })
        m = s.enter("2", after: m, prompt: Self.choose)
        m = s.enter("5", after: m, prompt: "Which jobs (0-6): ")
        #expect(s.waitFor("test2", since: m))
        m = s.enter("", after: m, prompt: Self.pause)
        // 3. DLQ movement: test3 runs twice, then 6 shows it in the DLQ.
        m = enqueue("test3", "exit 1", "2", after: m)
        #expect(eventually { q.state(of: "test3") == "dead" })
        m = s.enter("6", after: m, prompt: Self.choose)
        #expect(s.waitFor(Self.pause, since: m))
        #expect(s.output(since: m).contains("test3"))
        m = s.enter("", after: m, prompt: Self.pause)
        // 4. DLQ retry, with the worker stopped (5) so that test3 stays pending to be seen.
        let worker = try #require(workerPids(q).first)
        m = s.enter("5", after: m, prompt: Self.choose)
        #expect(s.waitFor("asked worker \(worker) to stop", since: m))
        #expect(eventually { !processIsRunning(worker) })
        m = s.enter("", after: m, prompt: Self.pause)
        m = s.enter("7", after: m, prompt: Self.choose)
        m = s.enter("test3", after: m, prompt: "Id of the dead job to retry: ")
        #expect(s.waitFor("test3\r\n", since: m))
        m = s.enter("", after: m, prompt: Self.pause)
        m = s.enter("2", after: m, prompt: Self.choose)
        m = s.enter("2", after: m, prompt: "Which jobs (0-6): ")
        #expect(s.waitFor("test3", since: m))
        m = s.enter("", after: m, prompt: Self.pause)
        // 7. Configuration: view, set max-retries 5 and backoff-base 3.0, view again.
        m = s.enter("8", after: m, prompt: Self.choose)
        m = s.enter("", after: m, prompt: "Key (empty for all): ")
        #expect(s.waitFor("max-retries", since: m))
        m = s.enter("", after: m, prompt: Self.pause)
        for (key, value) in [("max-retries", "5"), ("backoff-base", "3.0")] {
            m = s.enter("9", after: m, prompt: Self.choose)
            m = s.enter(key, after: m, prompt: "Key: ")
            m = s.enter(value, after: m, prompt: "Value for \(key): ")
            #expect(s.waitFor("\(key) = \(value == "3.0" ? "3" : value)", since: m))
            m = s.enter("", after: m, prompt: Self.pause)
        }
        m = s.enter("8", after: m, prompt: Self.choose)
        m = s.enter("backoff-base", after: m, prompt: "Key (empty for all): ")
        #expect(s.waitFor("3\r\n", since: m))
        m = s.enter("", after: m, prompt: Self.pause)
        s.enter("0", after: m, prompt: Self.choose)
        #expect(s.wait(seconds: 5) == 0)
        #expect(q.ok("config", "get", "max-retries") == "5\n")
    }

    /// 004's menu options, each where our menu has it: workers in the background (its 4, our 4),
    /// adding a job (its 1, our 3), status and the live dashboard (its 2: our 1 and t), worker
    /// management with scaling up and down (its 6: our w), the DLQ with retry, delete and the failure
    /// patterns (its 7: our 6, 7, d, f), and the configuration (its 8: our 8 and 9).
    @Test func seed004MenuOptions() throws {
        let q = QueueSandbox()
        q.fastRetries()
        let s = terminal(q, [])
        // Starting workers: in the background, and the menu comes back.
        var m = s.enter("4", after: 0, prompt: Self.choose)
        m = s.enter("", after: m, prompt: "Jobs it runs at once (empty for the configured 1): ")
        #expect(s.waitFor("started in the background with 1 slot", since: m))
        m = s.enter("", after: m, prompt: Self.pause)
        let first = try #require(workerPids(q).first)
        // Adding jobs: a command, queued and run by the worker at once.
        for (id, command) in [("ok", "echo fine"), ("bad1", "exit 4"), ("bad2", "exit 4"), ("gone", "no-such-command-here")] {
            m = s.enter("3", after: m, prompt: Self.choose)
            m = s.enter(id, after: m, prompt: "Job id (empty for a generated one): ")
            m = s.enter(command, after: m, prompt: "Command: ")
            m = s.enter(id == "ok" ? "" : "1", after: m, prompt: "Max retries (runs it gets; empty for the configured 3): ")
            #expect(s.waitFor("\(id)\r\n", since: m))
            m = s.enter("", after: m, prompt: Self.pause)
        }
        #expect(eventually { ["bad1", "bad2", "gone"].allSatisfy { q.state(of: $0) == "dead" } && q.state(of: "ok") == "completed" })
        // Monitoring: the status, then the live view, which redraws until q.
        m = s.enter("1", after: m, prompt: Self.choose)
        #expect(s.waitFor("Dead: 3\r\n", since: m))
        m = s.enter("", after: m, prompt: Self.pause)
        m = s.enter("t", after: m, prompt: Self.choose)
        #expect(s.waitFor("dead 3", since: m))
        s.send("q")
        #expect(s.waitFor("1  Status", since: m))
        // Worker management: the active workers, one more, one fewer.
        m = s.enter("w", after: m, prompt: Self.choose)
        #expect(s.waitFor("pid \(first)", since: m))
        m = s.enter("1", after: m, prompt: "Choose (0-2): ")
        m = s.enter("2", after: m, prompt: "Jobs it runs at once (empty for the configured 1): ")
        #expect(s.waitFor("started in the background with 2 slots", since: m))
        m = s.enter("", after: m, prompt: Self.pause)
        #expect(s.waitFor("Workers: 2 active, 3 slots", since: m))
        m = s.enter("2", after: m, prompt: "Choose (0-2): ")
        m = s.enter(String(first), after: m, prompt: "Pid of the worker to stop: ")
        #expect(s.waitFor("asked worker \(first) to stop", since: m))
        #expect(eventually { !processIsRunning(first) })
        m = s.enter("", after: m, prompt: Self.pause)
        #expect(s.waitFor("Workers: 1 active, 2 slots", since: m))
        m = s.enter("0", after: m, prompt: "Choose (0-2): ")
        // The DLQ: the failures by last error, a retry, a delete.
        m = s.enter("f", after: m, prompt: Self.choose)
        #expect(s.waitFor(Self.pause, since: m))
        let patterns = s.output(since: m)
        #expect(patterns.contains("exit 4") && patterns.contains("bad1, bad2") && patterns.contains("exit 127: command not found"))
        m = s.enter("", after: m, prompt: Self.pause)
        m = s.enter("6", after: m, prompt: Self.choose)
        #expect(s.waitFor("gone", since: m))
        m = s.enter("", after: m, prompt: Self.pause)
        m = s.enter("d", after: m, prompt: Self.choose)
        m = s.enter("gone", after: m, prompt: "Ids of the dead jobs to delete, or 'all': ")
        #expect(s.waitFor("gone\r\n", since: m))
        m = s.enter("", after: m, prompt: Self.pause)
        #expect(q.jobs()["gone"] == nil)
        m = s.enter("7", after: m, prompt: Self.choose)
        m = s.enter("bad1", after: m, prompt: "Id of the dead job to retry: ")
        #expect(s.waitFor("job bad1 moved from the DLQ back to pending", since: m))
        m = s.enter("", after: m, prompt: Self.pause)
        #expect(eventually { q.state(of: "bad1") == "dead" && counter(q, "dlq_moves") == 4 },
                "the worker ran it again")
        // The configuration: a retry policy and a worker setting.
        for (key, value) in [("max-retries", "5"), ("worker-count", "2")] {
            m = s.enter("9", after: m, prompt: Self.choose)
            m = s.enter(key, after: m, prompt: "Key: ")
            m = s.enter(value, after: m, prompt: "Value for \(key): ")
            #expect(s.waitFor("\(key) = \(value)", since: m))
            m = s.enter("", after: m, prompt: Self.pause)
        }
        m = s.enter("8", after: m, prompt: Self.choose)
        m = s.enter("worker-count", after: m, prompt: "Key (empty for all): ")
        #expect(s.waitFor("2\r\n", since: m))
        m = s.enter("", after: m, prompt: Self.pause)
        // Leaving with a worker still running: asked, and left running.
        let second = try #require(workerPids(q).first)
        m = s.enter("0", after: m, prompt: Self.choose)
        #expect(s.waitFor("A worker started here is still running (pid \(second)).", since: m))
        s.enter("n", after: m, prompt: "[Y/n] ")
        #expect(s.wait(seconds: 5) == 0)
        #expect(processIsRunning(second))
        q.ok("worker", "stop", "--wait", "--timeout", "10")
    }
}

/// One of the queue's running totals, from `stats --json`.
func counter(_ q: QueueSandbox, _ name: String) -> Int? {
    let stats = try? JSONSerialization.jsonObject(with: Data(q.ok("stats", "--json").utf8)) as? [String: Any]
    return stats?[name] as? Int
}
