import Foundation
import Testing
import TestSupport

/// The numbered menu at a terminal (a pseudo-terminal), as 'queuectl' alone opens it.
@Suite struct MenuTests {
    static let choose = "Choose (0-9 or a letter): "
    static let pause = "Press Enter to continue..."
    static let ctrlU = "\u{15}", ctrlC = "\u{03}"

    func menu(_ q: QueueSandbox, _ argv: [String] = []) -> TerminalChild {
        TerminalChild(argv: [queuectlBinary] + argv, env: q.environment(["TERM": "xterm", "NO_COLOR": "1"]))
    }

    @Test func aloneOnATerminalQueuectlOpensTheMenuAndEachResultWaitsForEnter() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"a","command":"true"}"#)
        let m = menu(q)
        #expect(m.waitFor("1  Status"))
        #expect(m.waitFor("0  Exit"))
        var mark = m.enter("1", after: 0, prompt: Self.choose)
        #expect(m.waitFor(Self.pause, since: mark))
        #expect(m.output(since: mark).contains("pending"), "the status, above the pause")
        #expect(!m.output(since: mark).contains("1  Status"), "the menu waits to come back")
        mark = m.enter("", after: mark, prompt: Self.pause)
        #expect(m.waitFor("1  Status", since: mark))
        m.enter("0", after: mark, prompt: Self.choose)
        #expect(m.wait(seconds: 5) == 0)
        #expect(m.lineMode == (canonical: true, echo: true))
        for flag in ["-i", "--interactive"] {
            let other = menu(q, [flag])
            #expect(other.waitFor("1  Status"))
            other.enter("0", after: 0, prompt: Self.choose)
            #expect(other.wait(seconds: 5) == 0)
        }
    }

    @Test func withoutATerminalQueuectlAloneIsAUsageErrorAndNeverWaits() throws {
        let q = QueueSandbox()
        let r = q.run([])
        #expect(r.status == 64)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.contains("Error: no command given"))
        #expect(r.stderr.contains("Usage: queuectl <subcommand>"))
        #expect(!FileManager.default.fileExists(atPath: q.home), "nothing created")
        // -i asks for the menu in so many words: it reads its answers from the pipe.
        let piped = q.run(["-i"], stdin: "1\n0\n")
        #expect(piped.status == 0)
        #expect(piped.stdout.contains("1  Status") && piped.stdout.contains("Pending: 0"))
    }

    @Test func enqueueAsksAgainForABadValueKeepingWhatWasTypedAndCtrlCGoesBack() throws {
        let q = QueueSandbox()
        let m = menu(q)
        var mark = m.enter("3", after: 0, prompt: Self.choose)
        m.waitForPrompt("Job id (empty for a generated one): ", since: mark)
        m.send(Self.ctrlC)
        #expect(m.waitFor("1  Status", since: mark), "Ctrl+C at a question goes back to the menu")
        mark = m.enter("3", after: mark, prompt: Self.choose)
        mark = m.enter("bad id!", after: mark, prompt: "Job id (empty for a generated one): ")
        #expect(m.waitFor("may only contain letters", since: mark))
        // Asked again with the answer in the line, to be fixed.
        #expect(m.waitFor("Job id (empty for a generated one): bad id!", since: mark))
        m.send(Self.ctrlU + "m1\r")
        mark = m.enter("", after: mark, prompt: "Command: ")
        #expect(m.waitFor("'command' must not be empty", since: mark))
        mark = m.enter("echo from the menu", after: mark, prompt: "Command: ")
        mark = m.enter("abc", after: mark, prompt: "Max retries (runs it gets; empty for the configured 3): ")
        #expect(m.waitFor("invalid value 'abc' for max retries", since: mark))
        #expect(m.waitFor("empty for the configured 3): abc", since: mark))
        m.send(Self.ctrlU + "2\r")
        #expect(m.waitFor("m1\r\n", since: mark))
        #expect(m.waitFor(Self.pause, since: mark))
        let m1 = try #require(q.jobs()["m1"])
        #expect(m1["command"] as? String == "echo from the menu")
        #expect(m1["max_retries"] as? Int == 2)
        #expect(q.jobs().count == 1, "nothing from the cancelled try")
        mark = m.enter("", after: mark, prompt: Self.pause)
        // A job whose id is taken is asked for again, before anything is sent.
        mark = m.enter("3", after: mark, prompt: Self.choose)
        mark = m.enter("m1", after: mark, prompt: "Job id (empty for a generated one): ")
        #expect(m.waitFor("a job with id 'm1' already exists", since: mark))
        #expect(m.waitFor("generated one): m1", since: mark))
        m.send(Self.ctrlC)
        m.enter("0", after: mark, prompt: Self.choose)
        #expect(m.wait(seconds: 5) == 0)
    }

    @Test func theDLQAndConfigurationNumbersAndLetters() throws {
        let q = QueueSandbox()
        q.fastRetries()
        q.ok("enqueue", #"{"id":"doomed","command":"false","max_retries":1}"#)
        q.ok("enqueue", #"{"id":"lost","command":"no-such-command-here","max_retries":1}"#)
        q.ok("enqueue", #"{"id":"ok","command":"true"}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let m = menu(q)
        // 2, then 6: the dead jobs.
        var mark = m.enter("2", after: 0, prompt: Self.choose)
        mark = m.enter("6", after: mark, prompt: "Which jobs (0-6): ")
        #expect(m.waitFor(Self.pause, since: mark))
        #expect(m.output(since: mark).contains("doomed") && !m.output(since: mark).contains("ok "))
        mark = m.enter("", after: mark, prompt: Self.pause)
        // f: the failures grouped by last error.
        mark = m.enter("f", after: mark, prompt: Self.choose)
        #expect(m.waitFor(Self.pause, since: mark))
        #expect(m.output(since: mark).contains("exit 127: command not found"))
        mark = m.enter("", after: mark, prompt: Self.pause)
        // 7 asks until the id is a dead job's.
        mark = m.enter("7", after: mark, prompt: Self.choose)
        mark = m.enter("ok", after: mark, prompt: "Id of the dead job to retry: ")
        #expect(m.waitFor("job 'ok' is not in the DLQ (it is completed)", since: mark))
        #expect(m.waitFor("retry: ok", since: mark))
        m.send(Self.ctrlU + "doomed\r")
        #expect(m.waitFor(Self.pause, since: mark))
        #expect(q.state(of: "doomed") == "pending")
        mark = m.enter("", after: mark, prompt: Self.pause)
        // d: delete from the DLQ, all of it once confirmed.
        mark = m.enter("d", after: mark, prompt: Self.choose)
        mark = m.enter("all", after: mark, prompt: "Ids of the dead jobs to delete, or 'all': ")
        mark = m.enter("y", after: mark, prompt: "Delete all 1 dead job for good? [y/N] ")
        #expect(m.waitFor(Self.pause, since: mark))
        #expect(q.jobs()["lost"] == nil && q.jobs()["doomed"] != nil)
        mark = m.enter("", after: mark, prompt: Self.pause)
        // 8 with a key in either spelling; 9 asks again for a bad value.
        mark = m.enter("8", after: mark, prompt: Self.choose)
        mark = m.enter("max_retries", after: mark, prompt: "Key (empty for all): ")
        #expect(m.waitFor("3\r\n", since: mark))
        mark = m.enter("", after: mark, prompt: Self.pause)
        mark = m.enter("9", after: mark, prompt: Self.choose)
        mark = m.enter("max-retries", after: mark, prompt: "Key: ")
        mark = m.enter("-1", after: mark, prompt: "Value for max-retries: ")
        #expect(m.waitFor("invalid value -1 for max-retries", since: mark))
        #expect(m.waitFor("max-retries: -1", since: mark))
        m.send(Self.ctrlU + "5\r")
        #expect(m.waitFor("max-retries = 5", since: mark))
        mark = m.enter("", after: mark, prompt: Self.pause)
        // s: statistics; a typed command runs as in the shell.
        mark = m.enter("s", after: mark, prompt: Self.choose)
        #expect(m.waitFor("success rate", since: mark))
        mark = m.enter("", after: mark, prompt: Self.pause)
        mark = m.enter(#"enqueue {"id":"typed","command":"true"}"#, after: mark, prompt: Self.choose)
        #expect(m.waitFor("typed\r\n", since: mark))
        mark = m.enter("", after: mark, prompt: Self.pause)
        m.enter("0", after: mark, prompt: Self.choose)
        #expect(m.wait(seconds: 5) == 0)
        #expect(q.ok("config", "get", "max-retries") == "5\n")
        #expect(q.jobs()["typed"] != nil)
    }

    @Test func workersStartInTheBackgroundScaleUpAndDownAndTheLiveViewComesBack() throws {
        let q = QueueSandbox()
        let m = menu(q)
        // 4: a worker in the background, with the slots asked for.
        var mark = m.enter("4", after: 0, prompt: Self.choose)
        mark = m.enter("0", after: mark, prompt: "Jobs it runs at once (empty for the configured 1): ")
        #expect(m.waitFor("for jobs at once", since: mark))
        #expect(m.waitFor("configured 1): 0", since: mark))
        m.send(Self.ctrlU + "2\r")
        #expect(m.waitFor("started in the background with 2 slots", since: mark))
        mark = m.enter("", after: mark, prompt: Self.pause)
        let first = try #require(workerPids(q).first)
        q.ok("enqueue", #"{"id":"j1","command":"true"}"#)
        #expect(eventually { q.state(of: "j1") == "completed" }, "it runs jobs while the menu waits")
        // w: the workers; start another; stop the first by pid.
        mark = m.enter("w", after: mark, prompt: Self.choose)
        mark = m.enter("1", after: mark, prompt: "Choose (0-2): ")
        mark = m.enter("", after: mark, prompt: "Jobs it runs at once (empty for the configured 1): ")
        #expect(m.waitFor("started in the background with 1 slot", since: mark))
        mark = m.enter("", after: mark, prompt: Self.pause)
        #expect(eventually { workerPids(q).count == 2 })
        let second = try #require(workerPids(q).first { $0 != first })
        mark = m.enter("2", after: mark, prompt: "Choose (0-2): ")
        mark = m.enter(String(first), after: mark, prompt: "Pid of the worker to stop: ")
        #expect(m.waitFor("asked worker \(first) to stop", since: mark))
        #expect(eventually { !processIsRunning(first) })
        #expect(processIsRunning(second))
        mark = m.enter("", after: mark, prompt: Self.pause)
        mark = m.enter("0", after: mark, prompt: "Choose (0-2): ")
        // t: the live view, and back with q.
        mark = m.enter("t", after: mark, prompt: Self.choose)
        #expect(m.waitFor("q to quit", since: mark))
        m.send("q")
        #expect(m.waitFor("1  Status", since: mark))
        // 5: stop the workers.
        mark = m.enter("5", after: mark, prompt: Self.choose)
        #expect(m.waitFor("asked worker \(second) to stop", since: mark))
        #expect(eventually { !processIsRunning(second) })
        mark = m.enter("", after: mark, prompt: Self.pause)
        m.enter("0", after: mark, prompt: Self.choose)
        #expect(m.wait(seconds: 5) == 0, "no question: the workers started here have ended")
    }
}

/// The pids of the workers registered in the queue's data file.
func workerPids(_ q: QueueSandbox) -> [Int32] {
    (((try? q.document())?["workers"] as? [[String: Any]]) ?? []).compactMap { $0["pid"] as? Int32 }
}
