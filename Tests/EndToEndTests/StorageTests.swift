import Foundation
import Glibc
import Testing
import TestSupport

/// Retention, verbatim copies of unchanged jobs, a worker's cached document, and a corrupt time the
/// fast path must refuse.
@Suite struct StorageTests {
    @Test func aRunThatPrintsNothingLeavesNoLogUntilARunDoes() throws {
        let q = QueueSandbox()
        q.fastRetries()
        q.ok("enqueue", #"{"id":"silent","command":"true"}"#)
        // Silent on its first run, failing; it prints on its second.
        q.ok("enqueue", #"{"id":"later","command":"[ $QUEUECTL_ATTEMPT = 1 ] && exit 3; echo second","max_retries":3}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(q.state(of: "silent") == "completed" && q.state(of: "later") == "completed")
        #expect(!FileManager.default.fileExists(atPath: q.home + "/logs/silent.log"), "a job that printed nothing has no log")
        let none = q.run(["logs", "silent"])
        #expect(none.status == 0 && none.stdout.isEmpty && none.stderr == "job 'silent' has no output yet\n")
        let log = q.ok("logs", "later")
        #expect(log.hasPrefix("=== queuectl: run 2 of 3, started "), "the log starts with the first run that printed: \(log)")
        #expect(log.contains("second\n=== queuectl: exit 0 after "))
    }

    @Test func aLogThatCannotBeCreatedAtTheFirstOutputIsSaid() throws {
        let q = QueueSandbox()
        let gate = q.root + "/gate"
        q.ok("enqueue", #"{"id":"late","command":"while [ ! -e \#(gate) ]; do sleep 0.02; done; echo hello"}"#)
        let worker = q.start(["worker", "start"])
        #expect(eventually { q.state(of: "late") == "processing" })
        // The log does not exist yet (nothing printed); a FIFO takes its place before the first output.
        #expect(mkfifo(q.home + "/logs/late.log", 0o600) == 0)
        _ = FileManager.default.createFile(atPath: gate, contents: nil)
        #expect(eventually { q.state(of: "late") == "completed" })
        let error = try #require(q.jobs()["late"]?["last_error"] as? String)
        #expect(error.contains("output not logged") && error.contains("late.log"), "\(error)")
        #expect(worker.stdout().contains("late: output not logged"), "\(worker.stdout())")
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
    }

    @Test func pruneKeepsTheNewestCompletedJobsAndRemovesTheirLogs() throws {
        let q = QueueSandbox()
        q.fastRetries()
        for i in 1...6 { q.ok("enqueue", #"{"id":"j\#(i)","command":"echo \#(i)"}"#) }
        q.ok("enqueue", #"{"id":"dead","command":"echo failing; false","max_retries":0}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let before = q.dataBytes()
        #expect(q.ok("prune", "--keep", "2", "--dry-run") == "j1\nj2\nj3\nj4\n")
        #expect(q.dataBytes() == before, "a dry run changes nothing")
        #expect(q.ok("prune", "--keep", "2") == "j1\nj2\nj3\nj4\n")
        #expect(Set(q.jobs().keys) == ["j5", "j6", "dead"], "dead jobs stay in the DLQ")
        let logs = try FileManager.default.contentsOfDirectory(atPath: q.home + "/logs")
        #expect(Set(logs) == ["j5.log", "j6.log", "dead.log"])
        #expect(q.run(["prune", "--keep", "-1"]).status == 64)
    }

    @Test func pruneByAgeAndWorkersApplyTheConfiguredRetention() throws {
        let q = QueueSandbox()
        q.ok("config", "set", "keep-completed", "3")
        for i in 1...10 { q.ok("enqueue", #"{"id":"r\#(i)","command":"true"}"#) }
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let kept = q.jobs().keys
        #expect(kept.count >= 3 && kept.count <= 4, "pruned once 10% (at least one) over the limit: \(kept.sorted())")
        #expect(kept.contains("r10"), "the newest stay")
        #expect(!kept.contains("r1"))

        q.ok("config", "set", "keep-completed-for", "1h")
        #expect(q.ok("prune", "--older-than", "0").split(separator: "\n").count == kept.count, "--older-than 0 removes them all")
        #expect(q.jobs().isEmpty)
        #expect(q.ok("config", "get", "keep-completed-for") == "3600\n")
    }

    @Test func aJobThatDidNotChangeIsWrittenBackAsItsOriginalBytes() throws {
        let q = QueueSandbox()
        q.ok("prune", "--dry-run")  // creates the queue home
        // Hand-written, with its own spacing and key order: any re-encoding would show.
        let odd = #"{ "state":"completed" , "id":"kept",  "command":"echo \u0041", "attempts":0,"max_retries":3,"seq":1,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z" }"#
        let data = """
            {"version": 2, "next_seq": 2, "config": {"max_retries": 3, "backoff_base": 2, "max_backoff": 3600, "worker_count": 1},
             "workers": [], "jobs": [\(odd)]}
            """
        try data.write(toFile: q.dataPath, atomically: true, encoding: .utf8)
        chmod(q.dataPath, 0o600)
        q.ok("enqueue", #"{"id":"new","command":"true"}"#)
        let text = String(decoding: q.dataBytes() ?? Data(), as: UTF8.self)
        #expect(text.contains(odd))
        #expect(q.jobs()["kept"]?["command"] as? String == "echo A")
        #expect(q.state(of: "new") == "pending")
    }

    @Test func timesBeyondYear9999AreRefusedSoTheFileStaysReadable() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"a","command":"true"}"#)
        let before = q.dataBytes()
        for args in [["enqueue", "--run-at", "9999-12-31T23:59:59-00:01", #"{"command":"true"}"#],
                     ["enqueue", #"{"command":"true","run_at":"0000-01-01T00:00:00+00:01"}"#]] {
            let r = q.run(args)
            #expect(r.status == 64, "\(args)")
            #expect(r.stderr.contains("ISO 8601"))
        }
        #expect(q.dataBytes() == before)
        #expect(q.run(["status"]).status == 0)
        q.ok("enqueue", "--run-at", "9999-12-31T23:59:59Z", #"{"id":"last","command":"true"}"#)
        #expect(q.run(["list"]).status == 0, "the latest time that can be written is read back")
    }

    @Test func aWorkerNoticesAnEditInPlaceThatKeepsSizeAndModificationTime() throws {
        let q = QueueSandbox()
        q.ok("enqueue", "--run-at", "2999-01-01T00:00:00Z", #"{"id":"held","command":"true"}"#)
        let worker = q.start(["worker", "start"])
        #expect(eventually { ((try? q.document())?["workers"] as? [Any])?.count == 1 })
        q.ok("enqueue", #"{"id":"go","command":"true"}"#)
        #expect(eventually { q.state(of: "go") == "completed" })  // the worker has now written the file itself
        // Same size, same mtime (as cp -p or touch -r would leave it): only the inode change time moves.
        var st = stat()
        stat(q.dataPath, &st)
        let text = String(decoding: q.dataBytes() ?? Data(), as: UTF8.self)
        let edited = text.replacingOccurrences(of: "\"run_at\": \"2999-", with: "\"run_at\": \"2000-")
        #expect(edited.utf8.count == text.utf8.count && edited != text)
        let handle = try #require(FileHandle(forUpdatingAtPath: q.dataPath))
        try handle.write(contentsOf: Data(edited.utf8))
        try handle.close()
        var times = [st.st_atim, st.st_mtim]
        #expect(utimensat(AT_FDCWD, q.dataPath, &times, 0) == 0)
        #expect(eventually { q.state(of: "held") == "completed" }, "the changed file was read again, not the kept copy")
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
    }

    @Test func aWorkerNoticesADataFileEditedInPlace() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"first","command":"true"}"#)
        let worker = q.start(["worker", "start"])
        #expect(eventually { q.state(of: "first") == "completed" })
        // Rewrite the file in place (same inode), as an editor might, adding a pending job.
        var text = String(decoding: q.dataBytes() ?? Data(), as: UTF8.self)
        let added = #"{"id": "edited", "command": "true", "state": "pending", "attempts": 0, "max_retries": 3, "priority": 0, "seq": 99, "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z"}"#
        let jobsStart = try #require(text.range(of: "\"jobs\": ["))
        text.insert(contentsOf: "\n    " + added + ",", at: jobsStart.upperBound)
        let handle = try #require(FileHandle(forUpdatingAtPath: q.dataPath))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
        #expect(eventually { q.state(of: "edited") == "completed" }, "the cached document is not used for a changed file")
        #expect(q.state(of: "first") == "completed")
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
    }

    /// A first job whose created_at has ten NUL bytes for a date makes the data file invalid for every
    /// command; the fast path once let it through, and `list` then trapped (exit 132).
    @Test func aCorruptFirstDateIsReportedNotATrap() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"a","command":"true"}"#)
        var bytes = [UInt8](try #require(q.dataBytes()))
        let key = Array("\"created_at\": \"".utf8)
        let at = try #require((0...(bytes.count - key.count)).first { Array(bytes[$0..<$0 + key.count]) == key }) + key.count
        bytes.replaceSubrange(at..<at + 10, with: [UInt8](repeating: 0, count: 10))
        try Data(bytes).write(to: URL(fileURLWithPath: q.dataPath))
        let status = q.run(["status"])
        #expect(status.status != 0, "status accepted a data file with control characters in a time: \(status)")
        let list = q.run(["list"])
        #expect(list.status < 128, "list died of a signal: \(list.status)")
        #expect(list.stderr.contains("not valid"), "\(list)")
    }
}
