import Foundation
import Testing
import TestSupport

/// The shell and the menu through piped stdin, and the live view (in a pseudo-terminal).
@Suite struct InteractiveTests {
    @Test func theShellRunsTheSameCommandsWithTheSameOutput() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"a","command":"echo a"}"#)
        q.ok("config", "set", "max-retries", "2")
        let commands = [["list"], ["status", "--json"], ["config", "get", "--json"], ["show", "a"], ["help", "dlq"]]
        let expected = commands.map { q.run($0).stdout }.joined()
        let r = q.run(["shell"], stdin: commands.map { $0.joined(separator: " ") }.joined(separator: "\n") + "\n")
        #expect(r.status == 0)
        #expect(r.stdout == expected, "no prompt, and the very same output")
        #expect(r.stderr.isEmpty)
    }

    @Test func errorsNeverEndTheShellAndJSONNeedsNoQuotes() throws {
        let q = QueueSandbox()
        let script = """
            bogus
            enqueue {"id": "x", "command": "echo a b"}
            list --state nope
            enqueue '{"id":"y","command":"true"}'
            enqueue "unterminated
            config set max-retries -1

            exit
            enqueue {"id": "z", "command": "true"}
            """
        let r = q.run(["shell"], stdin: script)
        #expect(r.status == 0)
        #expect(r.stdout == "x\ny\n")
        #expect(r.stderr.contains("unknown command 'bogus'"))
        #expect(r.stderr.contains("unknown state 'nope'"))
        #expect(r.stderr.contains("unterminated"))
        #expect(r.stderr.contains("invalid value -1 for max-retries"))
        #expect(q.jobs()["x"]?["command"] as? String == "echo a b")
        #expect(q.jobs()["z"] == nil, "nothing runs after exit")
    }

    @Test func theMenuDoesTheCommonActionsWithAnswersPipedIn() throws {
        let q = QueueSandbox()
        q.fastRetries()
        q.ok("enqueue", #"{"id":"doomed","command":"false","max_retries":1}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let answers = ["menu", "3", "m1", "echo from the menu", "2", "9", "max-retries", "4", "7", "nope", "doomed",
                       "2", "2", "x", "0", "exit"]
        let r = q.run(["shell"], stdin: answers.joined(separator: "\n") + "\n")
        #expect(r.status == 0)
        #expect(r.stdout.contains("1  Status"))
        #expect(r.stdout.contains("Command: \n"), "each question on a line of its own")
        #expect(r.stdout.contains("max-retries = 4"))
        #expect(r.stdout.contains("m1"))
        #expect(!r.stdout.contains("Press Enter"), "no pause with no one to press it")
        #expect(r.stderr.contains("no job with id 'nope'"))
        #expect(r.stderr.contains("choose a number from 0 to 9"))
        let m1 = try #require(q.jobs()["m1"])
        #expect(m1["command"] as? String == "echo from the menu")
        #expect(m1["max_retries"] as? Int == 2)
        #expect(q.state(of: "doomed") == "pending", "retried from the DLQ through the menu, after the bad id was asked again")
        #expect(q.ok("config", "get", "max-retries") == "4\n")
    }

    @Test func topDrawsInPlaceAndQuitsOnQRestoringTheTerminal() throws {
        let q = QueueSandbox()
        q.fastRetries()
        q.ok("enqueue", #"{"id":"finished","command":"true"}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        q.ok("enqueue", "--delay", "1h", #"{"id":"tonight","command":"true"}"#)
        let top = TerminalChild(argv: [queuectlBinary, "top", "--interval", "0.2"], env: q.environment(["TERM": "xterm", "NO_COLOR": ""]))
        #expect(top.waitForOutput { $0.contains("tonight") && $0.contains("finished") })
        let screen = top.output
        #expect(screen.contains("\u{1B}[?1049h"), "the alternate screen")
        #expect(screen.contains("WORKERS") && screen.contains("NEXT UP") && screen.contains("RECENT"))
        #expect(screen.contains("completed 1") && screen.contains("pending 1"))
        #expect(screen.contains("\u{1B}[32m"), "colour on a terminal")
        #expect(top.waitForOutput { $0.components(separatedBy: "\u{1B}[H").count > 3 }, "redrawn in place")
        top.send("q")
        #expect(top.wait(seconds: 5) == 0)
        #expect(top.output.hasSuffix("\u{1B}[?25h\u{1B}[?1049l"), "cursor and screen restored")
    }

    @Test func ctrlCQuitsTheWatchViewAndNoColorIsHonoured() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"a","command":"true"}"#)
        let view = TerminalChild(argv: [queuectlBinary, "status", "--watch"], env: q.environment(["TERM": "xterm", "NO_COLOR": "1"]))
        #expect(view.waitForOutput { $0.contains("pending 1") })
        #expect(!view.output.contains("\u{1B}[3"), "no colour with NO_COLOR")
        view.send("\u{03}")
        #expect(view.wait(seconds: 5) == 0)
        #expect(view.output.hasSuffix("\u{1B}[?1049l"))
    }

    @Test func pipedTheViewIsPlainRepeatedText() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"a","command":"true"}"#)
        let view = q.start(["top", "--interval", "0.1"])
        #expect(eventually { view.stdout().components(separatedBy: "WORKERS").count > 2 })
        view.signal(SIGINT)
        #expect(view.wait(seconds: 5) == 0)
        #expect(!view.stdout().contains("\u{1B}"), "no escape sequences when not on a terminal")
        #expect(view.stdout().contains("pending 1"))
    }

    @Test func recentShowsTheEightLastFinishedRunsNewestFirst() throws {
        let q = QueueSandbox()
        for i in 0..<10 { q.ok("enqueue", #"{"id":"j\#(i)","command":"true"}"#) }
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        // Finish times in an order unlike the queue's: job i finished at minute[i] past ten.
        let minute = [3, 7, 0, 9, 5, 1, 8, 2, 6, 4]
        var document = try q.document()
        document["jobs"] = (document["jobs"] as! [[String: Any]]).map { job in
            var job = job
            job["finished_at"] = String(format: "2026-11-24T10:%02d:00.000Z", minute[Int((job["id"] as! String).dropFirst())!])
            return job
        }
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: q.dataPath))
        let view = q.start(["top", "--interval", "0.1"])
        #expect(eventually { view.stdout().components(separatedBy: "WORKERS").count > 2 })
        view.signal(SIGINT)
        #expect(view.wait(seconds: 5) == 0)
        let frame = view.stdout().components(separatedBy: "WORKERS")[1]
        let recent = frame.components(separatedBy: "RECENT")[1]
        let shown = recent.split(separator: " ").filter { $0.hasPrefix("j") && $0.count == 2 }
        #expect(shown == ["j3", "j6", "j1", "j8", "j4", "j9", "j0", "j7"])
    }

    @Test func tablesAreColouredOnlyOnATerminal() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"a","command":"true"}"#)
        let onTerminal = TerminalChild(argv: [queuectlBinary, "list"], env: q.environment(["TERM": "xterm", "NO_COLOR": ""]))
        #expect(onTerminal.wait(seconds: 5) == 0)
        #expect(onTerminal.output.contains("\u{1B}[33mpending"))
        let json = TerminalChild(argv: [queuectlBinary, "list", "--json"], env: q.environment(["TERM": "xterm", "NO_COLOR": ""]))
        #expect(json.wait(seconds: 5) == 0)
        #expect(!json.output.contains("\u{1B}"))
        #expect(!q.ok("list").contains("\u{1B}"))
    }
}
