import Foundation
import Testing
import TestSupport

/// `queuectl add`: plain commands, no JSON (issue 12, item 1).
@Suite struct AddCommandTests {
    @Test func theWordsAreJoinedWithSingleSpacesExactlyAsTypedAndRun() throws {
        let q = QueueSandbox()
        // The shell has removed its quotes: the words arrive as below, and are joined, not quoted again.
        let id = q.ok("add", "echo", "two  spaces", "$QUEUECTL_JOB_ID")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!id.isEmpty)
        #expect(q.jobs()[id]?["command"] as? String == "echo two  spaces $QUEUECTL_JOB_ID")
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(q.state(of: id) == "completed")
        // The line went through /bin/sh, which split "two  spaces" again and expanded the variable.
        #expect(q.ok("logs", id).contains("\ntwo spaces \(id)\n"))
    }

    @Test func optionsAreReadOnlyBeforeTheCommand() {
        let q = QueueSandbox()
        q.ok("add", "--id", "a", "--priority", "5", "ls", "-la", "--priority", "7")
        q.ok("add", "--id", "b", "--", "--not-an-option", "x")
        let jobs = q.jobs()
        #expect(jobs["a"]?["command"] as? String == "ls -la --priority 7")
        #expect(jobs["a"]?["priority"] as? Int == 5)
        #expect(jobs["b"]?["command"] as? String == "--not-an-option x")
    }

    @Test func everyEnqueueOptionWorksOnAddAndStoresTheSameJob() throws {
        let q = QueueSandbox()
        let options = ["--priority", "9", "--run-at", "2030-01-01T00:00:00Z", "--timeout", "12.5", "--cwd", q.root,
                       "--max-retries", "7", "--env", "TZ=UTC", "--env", "EMPTY="]
        #expect(q.run(["add", "--id", "plain"] + options + ["echo", "hi"]).status == 0)
        #expect(q.run(["enqueue", "--id", "json"] + options + [#"{"command":"echo hi"}"#]).status == 0)
        let jobs = q.jobs()
        let plain = try #require(jobs["plain"]), json = try #require(jobs["json"])
        for field in ["command", "priority", "run_at", "timeout", "cwd", "max_retries"] {
            #expect("\(plain[field] ?? "none")" == "\(json[field] ?? "none")", "\(field)")
        }
        #expect(plain["priority"] as? Int == 9)
        #expect(plain["max_retries"] as? Int == 7)
        #expect(plain["env"] as? [String: String] == ["TZ": "UTC", "EMPTY": ""])
        #expect(json["env"] as? [String: String] == ["TZ": "UTC", "EMPTY": ""])

        q.ok("add", "--id", "later", "--delay", "1h", "true")
        let later = try #require(q.jobs()["later"])
        let wait = try #require(timestamp(later["run_at"])) - (try #require(timestamp(later["created_at"])))
        #expect(abs(wait - 3600) < 1)
    }

    @Test func fromAFileOneCommandPerLineBlankLinesSkipped() throws {
        let q = QueueSandbox()
        let file = q.root + "/commands.txt"
        try "echo one\n\n   \necho 'two words' > /dev/null\r\necho three\n".write(toFile: file, atomically: true, encoding: .utf8)
        let ids = q.ok("add", "--priority", "3", "--from", file).split(separator: "\n").map(String.init)
        #expect(ids.count == 3)
        let jobs = q.jobs()
        #expect(ids.map { jobs[$0]?["command"] as? String } == ["echo one", "echo 'two words' > /dev/null", "echo three"])
        #expect(ids.allSatisfy { jobs[$0]?["priority"] as? Int == 3 })

        let fromStdin = q.run(["add", "--from", "-"], stdin: "sleep 0\ntrue\n")
        #expect(fromStdin.status == 0)
        #expect(fromStdin.stdout.split(separator: "\n").count == 2)
        #expect(q.jobs().count == 5)
    }

    @Test func oneBadLineAddsNoneAndTheErrorNamesIt() throws {
        let q = QueueSandbox()
        q.ok("add", "--id", "first", "true")
        let before = try #require(q.dataBytes())
        let file = q.root + "/commands.txt"
        let long = "echo " + String(repeating: "x", count: 70_000)
        try "echo ok\n\necho fine\n\(long)\necho never\n".write(toFile: file, atomically: true, encoding: .utf8)
        let r = q.run(["add", "--from", file])
        #expect(r.status == 64)
        #expect(r.stderr.contains("\(file), line 4: the command is 70005 bytes; the limit is 65536"), "\(r)")
        #expect(r.stdout.isEmpty)
        #expect(q.dataBytes() == before)

        let nul = q.run(["add", "--from", "-"], stdin: "echo a\necho \u{0}b\n")
        #expect(nul.status == 64)
        #expect(nul.stderr.contains("standard input, line 2: the command must not contain a NUL character"), "\(nul)")
        #expect(q.dataBytes() == before)
    }

    @Test func badUsesAreRefusedWithNothingChanged() throws {
        let q = QueueSandbox()
        q.ok("add", "--id", "first", "true")
        let before = try #require(q.dataBytes())
        let file = q.root + "/two.txt", empty = q.root + "/empty.txt"
        try "true\nfalse\n".write(toFile: file, atomically: true, encoding: .utf8)
        try "\n  \n".write(toFile: empty, atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["add"], "give the command to add"),
            (["add", "--from", file, "echo"], "either as arguments or with --from"),
            (["add", "--id", "x", "--from", file], "--id names one job, and 2 were given"),
            (["add", "--from", q.root + "/missing"], "no such file"),
            (["add", "--from", empty], "no commands in \(empty)"),
            (["add", "   "], "the command must not be empty"),
            (["add", "--id", "first", "true"], "a job with id 'first' already exists"),
            (["add", "--id", "../x", "true"], "may only contain"),
            (["add", "--max-retries", "-1", "true"], "--max-retries"),
            (["add", "--delay", "5m", "--run-at", "2030-01-01T00:00:00Z", "true"], "--run-at or --delay"),
        ]
        for (args, message) in cases {
            let r = q.run(args)
            #expect(r.status != 0, "\(args)")
            #expect(r.stderr.contains(message), "\(args): \(r)")
        }
        #expect(q.dataBytes() == before)
    }
}

