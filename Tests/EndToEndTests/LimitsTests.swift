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
}
