import Foundation
import Testing
import TestSupport

/// Workers that survive the terminal: nohup, `worker start --detach` (issue 12, item 10).
@Suite struct DetachTests {
    /// The signal masks of `/proc/PID/status` (SigIgn, SigCgt), as numbers.
    func signalMask(_ pid: Int32, _ field: String) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return UInt64(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces), radix: 16)
        }
        return nil
    }

    func bit(_ signal: Int32) -> UInt64 { 1 << UInt64(signal - 1) }

    func registeredPids(_ q: QueueSandbox) -> [Int32] {
        ((try? q.document())?["workers"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int32 }
    }

    @Test func underNohupSIGHUPStaysIgnoredAndTheWorkerGoesOn() throws {
        let q = QueueSandbox()
        let worker = q.start([queuectlBinary, "worker", "start"], program: "/usr/bin/nohup")
        #expect(eventually { registeredPids(q) == [worker.pid] }, "\(worker.stderr())")
        let ignored = try #require(signalMask(worker.pid, "SigIgn")), caught = try #require(signalMask(worker.pid, "SigCgt"))
        #expect(ignored & bit(SIGHUP) != 0)
        #expect(caught & bit(SIGHUP) == 0)
        #expect(caught & bit(SIGINT) != 0 && caught & bit(SIGTERM) != 0)
        worker.signal(SIGHUP)
        q.ok("add", "--id", "after-hangup", "true")
        #expect(q.run(["wait", "after-hangup", "--timeout", "20"]).status == 0)
        #expect(worker.wait(seconds: 0.2) == nil, "the worker exited on SIGHUP: \(worker.stdout())")
        #expect(!worker.stdout().contains("stopping"))
        worker.signal(SIGTERM)
        #expect(worker.wait(seconds: 20) == 0)
    }

    @Test func detachedWorkerRunsInItsOwnSessionLogsToWorkerLogAndShowsInStatus() throws {
        let q = QueueSandbox()
        let r = q.run(["worker", "start", "--detach", "--count", "2"])
        #expect(r.status == 0, "\(r)")
        let pid = try #require(Int32(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(r)")
        defer { kill(pid, SIGKILL) }
        // Registered before the command returned, so status shows it at once.
        #expect(registeredPids(q) == [pid])
        let status = try #require(try JSONSerialization.jsonObject(with: Data(q.ok("status", "--json").utf8)) as? [String: Any])
        let workers = try #require(status["workers"] as? [[String: Any]])
        #expect(workers.map { $0["pid"] as? Int32 } == [pid])
        #expect(workers.first?["slots"] as? Int == 2)
        #expect(q.ok("status").contains(String(pid)))
        // Session leader of its own session, with no terminal, stdin /dev/null, output to worker.log.
        let statLine = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = statLine[statLine.index(after: statLine.lastIndex(of: ")")!)...].split(separator: " ")
        #expect(fields[3] == "\(pid)")  // field 6, the session
        #expect(fields[4] == "0")  // field 7, tty_nr: none
        let log = q.home + "/worker.log"
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/0") == "/dev/null")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/1") == log)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/2") == log)

        q.ok("add", "--id", "bg", "echo", "from the background")
        #expect(q.run(["wait", "bg", "--timeout", "20"]).status == 0)
        #expect(q.ok("logs", "bg").contains("from the background"))
        #expect(q.run(["worker", "stop", "--wait", "--timeout", "20"]).status == 0)
        let lines = try String(contentsOfFile: log, encoding: .utf8)
        #expect(lines.contains("worker \(pid) started with 2 slots"))
        #expect(lines.contains("(stop it with 'queuectl worker stop')"))
        #expect(lines.contains("bg completed"))
        #expect(lines.contains("worker stopped"))
        #expect(!processIsRunning(pid))
        var st = stat()
        #expect(stat(log, &st) == 0 && st.st_mode & 0o777 == 0o600)

        // A second one appends to the same log.
        let again = q.run(["worker", "start", "--detach", "--drain"])
        #expect(again.status == 0)
        let second = try #require(Int32(again.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(eventually { !processIsRunning(second) })
        let after = try String(contentsOfFile: log, encoding: .utf8)
        #expect(after.hasPrefix(lines))
        #expect(after.contains("exiting (--drain)"))
    }

    @Test func aDetachedWorkerThatCannotStartIsAnErrorWithWhatItSaid() throws {
        let q = QueueSandbox()
        q.ok("add", "--id", "a", "true")
        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: q.dataPath))
        let r = q.run(["worker", "start", "--detach"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("the worker exited at once (exit 1)"), "\(r)")
        #expect(r.stderr.contains("data.json"), "\(r)")
        #expect(r.stdout.isEmpty)
        #expect(q.run(["worker", "start", "--detach", "--count", "0"]).status == 64)
    }
}
