import Foundation
@preconcurrency import Glibc
import Testing
import TestSupport

/// The wall clock is not to be trusted: it can be set past year 9999 or step back. Neither may brick
/// the queue or hold plain jobs back.
@Suite struct ClockTests {
    /// Debian's `faketime`, which `Scripts/test.sh` installs when it is missing. Without it the test
    /// that needs it is skipped on a developer's machine and fails under CI (CI=true).
    static let faketime: String? = ["/usr/bin/faketime", "/usr/local/bin/faketime"].first { access($0, X_OK) == 0 }

    /// A time as the data file writes it: `2026-11-24T08:00:00.250Z`.
    static func canonical(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }

    /// Sets a job's `created_at` and `updated_at` in the data file, as if it had been enqueued while the
    /// clock read `time` (the file keeps the writer's exact form, so it is read by the fast path too).
    static func setCreated(_ q: QueueSandbox, _ id: String, to time: String) throws {
        var text = String(decoding: try #require(q.dataBytes()), as: UTF8.self)
        let line = try #require(text.split(separator: "\n").first { $0.contains("{\"id\": \"\(id)\",") })
        var edited = String(line)
        for key in ["created_at", "updated_at"] {
            let start = try #require(edited.range(of: "\"\(key)\": \""))
            let value = start.upperBound..<edited.index(start.upperBound, offsetBy: 24)
            edited.replaceSubrange(value, with: time)
        }
        text = text.replacingOccurrences(of: line, with: edited)
        try Data(text.utf8).write(to: URL(fileURLWithPath: q.dataPath))
        chmod(q.dataPath, 0o600)
        #expect(q.jobs()[id]?["created_at"] as? String == time)
    }

    @Test func aCommandRunWithTheClockPastYear9999LeavesAFileEveryLaterCommandReads() throws {
        guard let faketime = Self.faketime else {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                Issue.record("faketime is missing: Scripts/test.sh installs it (apt-get install faketime)")
            }
            return
        }
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"before","command":"true"}"#)
        // 10000-01-02T00:00:00Z: a day past the last time a four-digit year can write.
        let future = Child(argv: [faketime, "@253402387200", queuectlBinary, "enqueue", #"{"id":"far","command":"true"}"#],
                           env: q.environment(), stdin: nil, directory: q.root)
        #expect(future.wait(seconds: 20) == 0, "enqueue under faketime: \(future.stderr())")
        let config = Child(argv: [faketime, "@253402387200", queuectlBinary, "config", "set", "max-retries", "2"],
                           env: q.environment(), stdin: nil, directory: q.root)
        #expect(config.wait(seconds: 20) == 0, "config set under faketime: \(config.stderr())")

        let text = String(decoding: try #require(q.dataBytes()), as: UTF8.self)
        #expect(!text.contains("\"10000-"), "a five-digit year was written:\n\(text)")
        #expect(q.jobs()["far"]?["created_at"] as? String == "9999-12-31T23:59:59.999Z")
        // Every later command, at the real time, still reads the file.
        for args in [["status"], ["list"], ["show", "far"], ["config", "get", "max-retries"]] {
            let r = q.run(args)
            #expect(r.status == 0 && r.stderr.isEmpty, "queuectl \(args) -> \(r)")
        }
        // And the job "created" at the end of time is runnable now: only run_at gates a claim.
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(q.state(of: "far") == "completed")
        #expect(q.state(of: "before") == "completed")
    }

    @Test func afterTheClockStepsBackPlainJobsRunAtOnceInEnqueueOrder() throws {
        let q = QueueSandbox()
        let order = q.root + "/order.txt"
        for id in ["a", "b", "c"] { q.ok("enqueue", #"{"id":"\#(id)","command":"echo \#(id) >> \#(order)"}"#) }
        q.ok("enqueue", "--delay", "1h", #"{"id":"later","command":"true"}"#)
        // As if the clock read an hour ahead when 'a' was enqueued and then stepped back; 'c' an hour behind.
        try Self.setCreated(q, "a", to: Self.canonical(Date().addingTimeInterval(3600)))
        try Self.setCreated(q, "c", to: Self.canonical(Date().addingTimeInterval(-3600)))

        let shown = q.ok("show", "a")
        #expect(shown.contains("waiting for a free worker slot"), "\(shown)")
        #expect(q.ok("show", "later").contains("scheduled for"))

        let r = q.run(["worker", "start", "--count", "1", "--drain"])
        #expect(r.status == 0, "\(r)")
        #expect(q.state(of: "a") == "completed", "a plain job 'created in the future' must be claimed at once: \(r)")
        let ran = try String(contentsOfFile: order, encoding: .utf8).split(separator: "\n")
        #expect(ran == ["a", "b", "c"], "FIFO comes from seq, not from created_at")
        #expect(q.state(of: "later") == "pending", "run_at still gates its claim")
    }
}
