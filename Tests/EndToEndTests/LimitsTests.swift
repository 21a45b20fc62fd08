import Foundation
@preconcurrency import Glibc
import Testing
import TestSupport

/// Limits the process or the queue sets: the file-size limit, the log bound.
@Suite struct LimitsTests {
    @Test func aFileSizeLimitBelowTheDataFileFailsTheWriteWithAMessageAndChangesNothing() throws {
        let q = QueueSandbox()
        for i in 1...8 { q.ok("enqueue", #"{"id":"j\#(i)","command":"echo job \#(i) with some words to make the file grow"}"#) }
        let before = try #require(q.dataBytes())
        try #require(before.count > 1024, "the data file must be larger than the limit below")
        // `ulimit -f 1` is 512 bytes in dash (1024 in bash): below the file either way.
        let limited = Child.shell("ulimit -f 1; exec '\(queuectlBinary)' enqueue '{\"id\":\"new\",\"command\":\"true\"}'",
                                  env: q.environment(), directory: q.root)
        let status = limited.wait(seconds: 20)
        let shown = "exit \(String(describing: status))\n--- stderr\n\(limited.stderr())"
        #expect(status == 1, "a write past the limit must fail with exit 1, not kill the process (SIGXFSZ is 25): \(shown)")
        #expect(limited.stderr().hasPrefix("Error: cannot write \(q.dataPath)"), "\(shown)")
        #expect(limited.stderr().contains("file-size limit") && limited.stderr().contains("ulimit -f"), "\(shown)")
        #expect(limited.stderr().contains("the previous data file is unchanged"), "\(shown)")
        #expect(limited.stdout().isEmpty, "no id is printed for a job that was not added")
        #expect(q.dataBytes() == before, "the data file changed")
        #expect(!FileManager.default.fileExists(atPath: q.dataPath + ".tmp"), "the temporary file was left behind")
        // Without the limit the same command works: nothing was left half done.
        q.ok("enqueue", #"{"id":"new","command":"true"}"#)
        #expect(q.state(of: "new") == "pending")
    }

    /// What the cut markers of a log say was cut, added up, and how many bytes of `#` it still holds.
    static func logAccount(_ log: String) -> (cut: Int, kept: Int, markers: Int) {
        let pattern = try! NSRegularExpression(pattern: #"\n\[queuectl: (\d+) bytes of (?:older )?output cut here\]\n"#)
        let matches = pattern.matches(in: log, range: NSRange(log.startIndex..., in: log))
        let cut = matches.reduce(0) { $0 + Int((log as NSString).substring(with: $1.range(at: 1)))! }
        return (cut, log.utf8.filter { $0 == UInt8(ascii: "#") }.count, matches.count)
    }

    /// A run that prints 600,000 bytes into a 1,024-byte log: the marker must say that all but what
    /// is kept was cut (it said 146 once the whole-file bound cut the in-run marker away).
    @Test func theLogsCutMarkerCountsEveryByteCut() throws {
        let q = QueueSandbox()
        q.ok("config", "set", "max-log-bytes", "1024")
        let printed = 600_000
        q.ok("enqueue", #"{"id":"loud","command":"head -c \#(printed) /dev/zero | tr '\\0' '#'; exit 1","max_retries":0}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let first = try String(contentsOfFile: q.home + "/logs/loud.log", encoding: .utf8)
        let one = Self.logAccount(first)
        #expect(first.utf8.count <= 1024 + 64, "the bound plus its marker: \(first)")
        #expect(one.markers == 1, "one marker, where the output was cut:\n\(first)")
        #expect(one.cut + one.kept == printed, "the marker says \(one.cut) bytes were cut and \(one.kept) are kept, of \(printed):\n\(first)")

        // A second run appends to the log and the bound cuts it again, taking the first marker with it.
        q.ok("dlq", "retry", "loud")
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let second = try String(contentsOfFile: q.home + "/logs/loud.log", encoding: .utf8)
        let two = Self.logAccount(second)
        #expect(second.utf8.count <= 1024 + 64, "the bound plus its marker: \(second)")
        // What was cut also holds the first run's footer and the second run's header (under 200 bytes).
        let extra = two.cut + two.kept - 2 * printed
        #expect((0...200).contains(extra), "the markers say \(two.cut) bytes were cut and \(two.kept) are kept, of \(2 * printed) printed:\n\(second)")
    }
}
