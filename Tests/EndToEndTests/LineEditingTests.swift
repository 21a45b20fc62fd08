import Foundation
import Testing
import TestSupport

/// The shell at a terminal (a pseudo-terminal): editing keys, history across sessions, Tab, Ctrl+C,
/// plain line reading where the terminal cannot edit, and the terminal put back on every way out.
@Suite struct LineEditingTests {
    static let left = "\u{1B}[D", right = "\u{1B}[C", up = "\u{1B}[A", down = "\u{1B}[B"
    static let home = "\u{1B}[H", end = "\u{1B}[F", delete = "\u{1B}[3~", backspace = "\u{7F}"
    static let ctrlA = "\u{01}", ctrlE = "\u{05}", ctrlU = "\u{15}", ctrlW = "\u{17}", ctrlC = "\u{03}", ctrlD = "\u{04}"

    func shell(_ q: QueueSandbox, _ extra: [String: String] = [:]) -> TerminalChild {
        TerminalChild(argv: [queuectlBinary, "shell"], env: q.environment(["TERM": "xterm", "NO_COLOR": "1"].merging(extra) { $1 }))
    }

    @Test func arrowsHomeEndAndControlKeysEditTheLine() throws {
        let q = QueueSandbox()
        let s = shell(q)
        s.waitForPrompt(since: 0)
        // Typed with a letter missing at each end and one in the middle, then fixed with the keys.
        var m = s.mark
        s.send(#"nqueue {"id":"e1","command":"echo wrld"}"# + Self.home + "e" + Self.end + String(repeating: Self.left, count: 5) + "o"
            + Self.right + Self.right + "\r")
        #expect(s.waitFor("e1\r\n", since: m))
        #expect(q.jobs()["e1"]?["command"] as? String == "echo world")
        // Ctrl+U empties the line; Ctrl+W takes the word before the cursor; Ctrl+A and Ctrl+E go to the ends.
        s.waitForPrompt(since: m)
        m = s.mark
        s.send("garbage" + Self.ctrlU + "ist --state pend" + Self.ctrlW + "pending" + Self.ctrlA + "l" + Self.ctrlE + " --json\r")
        #expect(s.waitFor(#""id": "e1""#, since: m))
        // Delete takes the character under the cursor, Backspace the one before it.
        s.waitForPrompt(since: m)
        m = s.mark
        s.send("xshow e1zz" + Self.backspace + Self.backspace + Self.home + Self.delete + "\r")
        #expect(s.waitFor("echo world", since: m))
        #expect(!s.output(since: m).contains("Error"))
        s.waitForPrompt(since: m)
        s.send(Self.ctrlD)
        #expect(s.wait(seconds: 5) == 0)
        #expect(s.lineMode == (canonical: true, echo: true), "the terminal is as it was")
    }

    @Test func historyIsKeptAcrossSessionsPrivateAndBounded() throws {
        let q = QueueSandbox()
        q.ok("status")  // the queue exists: the history is kept in it
        let first = shell(q)
        var m = first.enter("config set max-retries 7", after: 0)
        m = first.enter(" list", after: m)  // a line that starts with a space is not kept
        m = first.enter("exit", after: m)
        #expect(first.wait(seconds: 5) == 0)
        let path = q.home + "/history"
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "config set max-retries 7\nexit\n")
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        #expect(mode == 0o600)

        q.ok("config", "set", "max-retries", "3")
        let second = shell(q)
        second.waitForPrompt(since: 0)
        m = second.mark
        // Up twice: the line before 'exit', run again.
        second.send(Self.up + Self.up + "\r")
        #expect(second.waitFor("max-retries = 7", since: m))
        #expect(q.ok("config", "get", "max-retries") == "7\n")
        // What was being typed comes back below the newest entry.
        second.waitForPrompt(since: m)
        m = second.mark
        second.send("sta" + Self.up + Self.up + Self.down + Self.down + "ts\r")
        #expect(second.waitFor("success rate", since: m))
        second.waitForPrompt(since: m)
        second.send("exit\r")
        #expect(second.wait(seconds: 5) == 0)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines == ["config set max-retries 7", "exit", "config set max-retries 7", "stats", "exit"])

        // Only the newest thousand lines are kept.
        try (1...1200).map { "list --limit \($0)" }.joined(separator: "\n").appending("\n").write(toFile: path, atomically: false, encoding: .utf8)
        let third = shell(q)
        third.enter("exit", after: 0)
        #expect(third.wait(seconds: 5) == 0)
        let kept = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(kept.count == 1000)
        #expect(kept.first == "list --limit 202" && kept.last == "exit")
        // A piped script's lines are not a person's history.
        #expect(q.run(["shell"], stdin: "status\nexit\n").status == 0)
        #expect(try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") == kept)
    }

    @Test func tabCompletesCommandsOptionsStatesAndJobIDs() throws {
        let q = QueueSandbox()
        q.fastRetries()
        q.ok("enqueue", #"{"id":"abc-one","command":"true"}"#)
        q.ok("enqueue", #"{"id":"abd-two","command":"true"}"#)
        q.ok("enqueue", #"{"id":"gone","command":"false","max_retries":1}"#)
        q.ok("enqueue", #"{"id":"late","command":"true","run_at":"2099-01-01T00:00:00Z"}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let s = shell(q)
        s.waitForPrompt(since: 0)
        // Two commands start with 'sh': the first Tab rings, the second lists them.
        var m = s.mark
        s.send("sh\t\t")
        #expect(s.waitFor("shell  show", since: m))
        s.send("o\tab\t")
        #expect(s.waitFor("show ab", since: m))
        s.send("c\t\r")
        #expect(s.waitFor("id          abc-one", since: m))
        // The DLQ's commands offer the dead jobs only.
        s.waitForPrompt(since: m)
        m = s.mark
        s.send("dlq re\t\t\r")
        #expect(s.waitFor("dlq retry gone", since: m))
        #expect(eventually { q.state(of: "gone") == "pending" })
        s.waitForPrompt(since: m)
        m = s.mark
        s.send("list --st\tpe\t\r")
        #expect(s.waitFor("list --state pending", since: m))
        #expect(s.waitFor("late", since: m))
        s.waitForPrompt(since: m)
        s.send("exit\r")
        #expect(s.wait(seconds: 5) == 0)
    }

    @Test func ctrlCCancelsTheLineOrTheCommandRunningNotTheShell() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"slow","command":"sleep 1; echo done"}"#)
        let s = shell(q)
        s.waitForPrompt(since: 0)
        // The line being typed.
        var m = s.mark
        s.send(#"enqueue {"id":"never","command":"true"}"# + Self.ctrlC)
        #expect(s.waitFor("^C\r\n", since: m))
        // 'wait' for a job no worker runs.
        m = s.enter("wait slow", after: m)
        sleepForOutput(s, "wait slow")
        s.send(Self.ctrlC)
        #expect(s.waitForPrompt(since: m))
        // The live view.
        m = s.enter("top --interval 0.2", after: m)
        #expect(s.waitFor("q to quit", since: m))
        s.send(Self.ctrlC)
        #expect(s.waitFor("\u{1B}[?1049l", since: m), "the view put the screen back")
        #expect(s.waitForPrompt(since: m))
        // A worker in the foreground: the first Ctrl+C lets its job finish, as on the command line.
        m = s.enter("worker start --drain --count 1", after: m)
        #expect(s.waitFor("slow started", since: m))
        // Once its child is recorded the job is in a process group of its own, out of Ctrl+C's reach.
        #expect(eventually { q.jobs()["slow"]?["child_pid"] != nil })
        s.send(Self.ctrlC)
        #expect(s.waitFor("waiting for 1 running job to finish", since: m))
        #expect(s.waitFor("worker stopped", since: m))
        #expect(s.waitForPrompt(since: m))
        #expect(q.state(of: "slow") == "completed")
        #expect(q.jobs()["never"] == nil)
        #expect(processIsRunning(s.pid), "the shell is still there")
        s.send("exit\r")
        #expect(s.wait(seconds: 5) == 0)
    }

    /// Waits for `text` to be echoed, so a key sent next reaches the command it started.
    func sleepForOutput(_ s: TerminalChild, _ text: String) {
        _ = s.waitFor(text)
        usleep(200_000)
    }

    @Test func aDumbTerminalGetsPlainLinesAndCtrlCStillCancels() throws {
        let q = QueueSandbox()
        let s = shell(q, ["TERM": "dumb"])
        #expect(s.waitForPrompt(since: 0, editing: false))
        var m = s.mark
        s.send(#"enqueue {"id":"never","command":"true"}"# + Self.ctrlC)
        #expect(s.waitForPrompt(since: m, editing: false))
        m = s.mark
        s.send(#"enqueue {"id":"kept","command":"true"}"# + "\r")
        #expect(s.waitFor("kept\r\n", since: m))
        #expect(s.waitForPrompt(since: m, editing: false))
        s.send(Self.ctrlD)
        #expect(s.wait(seconds: 5) == 0)
        #expect(!s.output.contains("\u{1B}"), "no escape sequences for a terminal that cannot take them")
        #expect(q.jobs().keys.sorted() == ["kept"])
    }

    @Test func theTerminalIsPutBackWhenTheShellIsKilledOrAProgramItRanIs() throws {
        let q = QueueSandbox()
        let s = shell(q)
        s.waitForPrompt(since: 0)
        #expect(s.lineMode == (canonical: false, echo: false), "raw while a line is edited")
        s.signal(SIGTERM)
        #expect(s.wait(seconds: 5) == 128 + SIGTERM)
        #expect(s.lineMode == (canonical: true, echo: true))

        // The live view killed outright cannot put the terminal back itself: the shell does.
        let t = shell(q)
        let m = t.enter("top", after: 0)
        #expect(t.waitFor("q to quit", since: m))
        let top = try #require(childProcesses(of: t.pid).first)
        kill(top, SIGKILL)
        #expect(t.waitForPrompt(since: m))
        t.send("exit\r")
        #expect(t.wait(seconds: 5) == 0)
        #expect(t.lineMode == (canonical: true, echo: true))
    }
}

/// The pids whose parent is `pid`.
func childProcesses(of pid: Int32) -> [Int32] {
    let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
    return text.split(separator: " ").compactMap { Int32($0) }
}
