import Foundation
@preconcurrency import Glibc
import Testing
import TestSupport

/// The wall clock is not to be trusted: it can step back. That may not hold plain jobs back.
@Suite struct ClockTests {
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
