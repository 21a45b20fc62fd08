import Foundation
@preconcurrency import Glibc
import Testing
import TestSupport

/// What `logs` shows: stdout and stderr in one stream in time order, `--stderr` alone, `-n` of the
/// job's own lines, `--run`; logs written before streams were recorded; the cut of a long log.
@Suite struct LogStreamTests {
    /// A job that writes to stdout and stderr in turn, each write only once the one before is in its
    /// log (as many times as this is the run; a log not created yet holds none), so the order the
    /// worker saw is the order written, whatever the load.
    static let alternating = #"""
        L="$QUEUECTL_HOME/logs/$QUEUECTL_JOB_ID.log"
        seen() { i=0; while [ $i -lt 1000 ]; do n=$(grep -ca "$1" "$L" 2>/dev/null); [ "${n:-0}" -ge "$QUEUECTL_ATTEMPT" ] && break; sleep 0.01; i=$((i+1)); done; }
        echo out-one; seen out-one
        echo err-one >&2; seen err-one
        printf 'out-two '; seen out-two
        echo err-two >&2; seen err-two
        printf 'tab\there \020 dle\n'
        exit 4
        """#

    static func enqueueAlternating(_ q: QueueSandbox, id: String, runs: Int = 1) throws {
        let command = String(data: try JSONSerialization.data(withJSONObject: alternating, options: [.fragmentsAllowed]), encoding: .utf8)!
        q.ok("enqueue", #"{"id":"\#(id)","command":\#(command),"max_retries":\#(runs)}"#)
    }

    @Test func bothStreamsAreOneStreamInTimeOrderAndStderrAlone() throws {
        let q = QueueSandbox()
        q.fastRetries()
        try Self.enqueueAlternating(q, id: "both", runs: 2)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let log = q.ok("logs", "both")
        let runs = log.components(separatedBy: "=== queuectl: run ").count - 1
        #expect(runs == 2, "\(log)")
        let output = "out-one\nerr-one\nout-two err-two\ntab\there \u{10} dle\n"
        let lines = log.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.first?.hasPrefix("=== queuectl: run 1 of ") == true, "\(log)")
        // Each run: its header, its output exactly as written (a DLE included), its footer.
        let perRun = log.components(separatedBy: "=== queuectl: run ").dropFirst()
        for run in perRun {
            let body = run.drop { $0 != "\n" }.dropFirst()
            #expect(body.hasPrefix(output) && body.dropFirst(output.count).hasPrefix("=== queuectl: exit 4 after "), "\(log)")
        }
        #expect(q.ok("output", "get", "both") == log, "output get stays an alias")

        let stderr = q.ok("logs", "both", "--stderr")
        #expect(stderr.contains("err-one\nerr-two\n"), "\(stderr)")
        #expect(!stderr.contains("out-"), "only stderr lines: \(stderr)")
        #expect(stderr.contains("=== queuectl: run 1 of ") && stderr.contains("=== queuectl: exit 4 after "), "queuectl's lines frame them")

        #expect(q.ok("logs", "both", "-n", "2") == "out-two err-two\ntab\there \u{10} dle\n", "the job's last lines, no footer")
        #expect(q.ok("logs", "both", "--lines", "2", "--stderr") == "err-one\nerr-two\n")
        #expect(q.ok("logs", "both", "-n", "0").isEmpty)
        #expect(q.ok("logs", "both", "-n", "100").components(separatedBy: "out-one").count - 1 == runs, "every run's lines, none of ours")

        let second = q.ok("logs", "both", "--run", "2")
        #expect(second.hasPrefix("=== queuectl: run 2 of 2, started ") && second.contains(output) && second.components(separatedBy: "=== queuectl: run").count == 2,
                "\(second)")
        let missing = q.run(["logs", "both", "--run", "9"])
        #expect(missing.status == 1 && missing.stderr.contains("no run 9"), "\(missing)")
        for bad in [["logs", "both", "-n", "-1"], ["logs", "both", "--run", "0"], ["logs", "both", "--run", "1", "-f"]] {
            #expect(q.run(bad).status == 64, "\(bad)")
        }
    }

    /// A log written before streams were recorded (no marks) reads as it always did, and a run added
    /// to it reads as new.
    @Test func aLogWithoutStreamMarksReadsAsItAlwaysDid() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"old","command":"echo new run; echo new err >&2"}"#)
        let old = "=== queuectl: run 1 of 4, started 2026-11-24T08:26:50.390Z ===\nhello\nworld=== queuectl: exit 1 after 0.002s ===\n"
            + "\n[queuectl: 120 bytes of older output cut here]\n"
            + "=== queuectl: run 2 of 4, started 2026-11-24T08:26:52.390Z ===\nbye\n=== queuectl: exit 0 after 0.001s ===\n"
        try FileManager.default.createDirectory(atPath: q.home + "/logs", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        #expect(FileManager.default.createFile(atPath: q.home + "/logs/old.log", contents: Data(old.utf8), attributes: [.posixPermissions: 0o600]))
        #expect(q.ok("logs", "old") == old, "byte for byte")
        #expect(q.ok("logs", "old", "-n", "2") == "world\nbye\n")
        #expect(q.ok("logs", "old", "--run", "1").hasSuffix("world=== queuectl: exit 1 after 0.002s ===\n\n[queuectl: 120 bytes of older output cut here]\n"))
        #expect(!q.ok("logs", "old", "--stderr").contains("hello"), "unmarked output counts as stdout")

        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let both = q.ok("logs", "old")
        #expect(both.hasPrefix(old), "\(both)")
        #expect(both.dropFirst(old.count).hasPrefix("=== queuectl: run 1 of ") && both.contains("new run\nnew err\n=== queuectl: exit 0 after "), "\(both)")
        #expect(q.ok("logs", "old", "--stderr", "-n", "5") == "new err\n")
        #expect(q.ok("logs", "old", "-n", "1") == "new err\n")
    }

    /// The bound on a log keeps working with stream marks: the cut says how much it stands for, the
    /// kept end keeps its stream, and a run whose header was cut away gets it back after the marker.
    @Test func aLongLogIsCutKeepingStreamsAndRuns() throws {
        let q = QueueSandbox()
        q.ok("config", "set", "max-log-bytes", "1024")
        let printed = 200_000
        q.ok("enqueue", #"{"id":"loud","command":"head -c \#(printed) /dev/zero | tr '\\0' o; head -c \#(printed) /dev/zero | tr '\\0' e >&2; echo END >&2; exit 1","max_retries":0}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let raw = try #require(FileManager.default.contents(atPath: q.home + "/logs/loud.log"))
        #expect(raw.count <= 1024 + 64, "the bound plus its marker: \(raw.count)")
        let first = q.ok("logs", "loud")
        let account = LimitsTests.logAccount(first)
        let kept = q.ok("logs", "loud", "-n", "1000").utf8.count
        #expect(account.markers == 1, "\(first)")
        #expect(account.cut + kept == 2 * printed + 4, "the marker says \(account.cut) bytes were cut and \(kept) are kept: \(first)")
        #expect(first.contains("END\n=== queuectl: exit 1 after "), "\(first)")
        let stderr = q.ok("logs", "loud", "--stderr")
        #expect(stderr.contains("eeeeEND\n") && !stderr.contains("oooo"), "the kept end is still stderr: \(stderr)")

        // A second run appends; the cut now takes the first run's end and the second run's header.
        q.ok("dlq", "retry", "loud")
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let second = q.ok("logs", "loud")
        #expect(try #require(FileManager.default.contents(atPath: q.home + "/logs/loud.log")).count <= 1024 + 64)
        #expect(second.hasPrefix("=== queuectl: run 1 of 1, started ") && second.contains("cut here]\n=== queuectl: run 1 of 1, started "),
                "the kept end's run is said again after the marker: \(second)")
        let latest = q.ok("logs", "loud", "--run", "1")
        #expect(!latest.contains("oooo") && latest.contains("END\n=== queuectl: exit 1 after "),
                "the latest run 1 is the kept end alone: \(latest)")
        #expect(q.ok("logs", "loud", "--stderr", "-n", "1").hasSuffix("eeeeEND\n"))
    }
}
