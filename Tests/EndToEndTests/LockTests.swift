import Foundation
@preconcurrency import Glibc
import Testing
import TestSupport

/// util-linux `flock -o <home>/data.lock sleep 60`: holds the queue lock as its own pid (`-o`: the
/// `sleep` it runs does not hold it), as a paused queuectl would.
final class LockHolderProcess {
    static let tool = "/usr/bin/flock"
    let child: Child
    var pid: Int32 { child.pid }

    init(_ q: QueueSandbox) throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.tool), "util-linux flock(1) is needed")
        child = Child(argv: [Self.tool, "-o", q.home + "/data.lock", "/bin/sleep", "60"], env: q.environment(), stdin: nil, directory: q.root)
        try #require(eventually(within: 10) { Self.holds(self.child.pid) }, "flock never took the lock")
    }

    /// True once `/proc/locks` shows `pid` holding (not waiting for) a lock.
    static func holds(_ pid: Int32) -> Bool {
        let text = (try? String(contentsOfFile: "/proc/locks", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").contains { !$0.contains("->") && $0.contains(" WRITE \(pid) ") }
    }

    /// Ctrl+Z, as it were; returns once the kernel shows it stopped.
    func stop() throws {
        child.signal(SIGSTOP)
        try #require(eventually(within: 10) {
            let stat = (try? String(contentsOfFile: "/proc/\(self.pid)/stat", encoding: .utf8)) ?? ""
            return stat.split(separator: ")").last?.split(separator: " ").first == "T"
        })
    }

    /// Continues it and ends it, and the `sleep` it started; the lock is then free.
    func end() {
        if let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8) {
            for child in text.split(separator: " ").compactMap({ Int32($0) }) { kill(child, SIGKILL) }
        }
        child.signal(SIGCONT)
        child.signal(SIGTERM)
        child.wait()
    }

    deinit { end() }
}

@Suite struct LockTests {
    /// A queue with a completed job `done` (with a log) and a pending job `todo`.
    func queueWithJobs() -> QueueSandbox {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"done","command":"echo hello"}"#)
        let worker = q.bounded(["worker", "start", "--drain"], seconds: 20)
        precondition(worker.status == 0 && q.state(of: "done") == "completed", "\(worker)")
        q.ok("enqueue", #"{"id":"todo","command":"echo later"}"#)
        return q
    }

    @Test func readOnlyCommandsDoNotWaitForAStoppedLockHolder() throws {
        let q = queueWithJobs()
        let holder = try LockHolderProcess(q)
        try holder.stop()
        let before = q.dataBytes()
        let commands: [([String], Int32, String)] = [
            (["status"], 0, "pending"), (["status", "--json"], 0, "\"pending\": 1"), (["list"], 0, "todo"),
            (["list", "--json", "--state", "completed"], 0, "done"), (["show", "todo"], 0, "waiting for a free worker slot"),
            (["stats"], 0, "runs"), (["dlq", "list"], 0, "empty"), (["config", "get"], 0, "max-retries"),
            (["config", "get", "max-retries"], 0, "3"), (["logs", "done"], 0, "hello"), (["output", "get", "done"], 0, "hello"),
            (["wait", "done"], 0, "done completed"), (["wait", "todo", "--timeout", "0.2"], 124, ""),
            (["worker", "stop"], 0, "no workers are running"),
        ]
        for (args, status, output) in commands {
            let r = q.bounded(args, seconds: 5)
            #expect(r.status == status && (output.isEmpty || r.stdout.contains(output)), "queuectl \(args) -> \(r)")
            #expect(!r.stderr.contains("waiting for the queue lock"), "queuectl \(args) -> \(r)")
        }
        #expect(q.dataBytes() == before)
        #expect(LockHolderProcess.holds(holder.pid), "the holder kept the lock throughout")
    }

    @Test func aWriterWithALockTimeoutGivesUpNamingTheStoppedHolder() throws {
        let q = queueWithJobs()
        let holder = try LockHolderProcess(q)
        try holder.stop()
        let before = try #require(q.dataBytes())
        let job = #"{"id":"blocked","command":"true"}"#
        let runs: [(String, [String], [String: String])] = [
            ("0.3", ["enqueue", "--lock-timeout", "0.3", job], [:]),
            ("0.3", ["enqueue", job], ["QUEUECTL_LOCK_TIMEOUT": "0.3"]),
            ("0.25", ["enqueue", "--lock-timeout=0.25", job], ["QUEUECTL_LOCK_TIMEOUT": "30"]),  // the option wins
            ("0", ["config", "set", "max-retries", "7", "--lock-timeout", "0"], [:]),
            ("0.3", ["dlq", "retry", "--all"], ["QUEUECTL_LOCK_TIMEOUT": "0.3"]),
            ("0.3", ["cancel", "todo"], ["QUEUECTL_LOCK_TIMEOUT": "0.3"]),
        ]
        for (seconds, args, env) in runs {
            let started = Date()
            let r = q.bounded(args, env: env, seconds: 10)
            let took = Date().timeIntervalSince(started)
            #expect(r.status == 1 && r.stdout.isEmpty, "queuectl \(args) \(env) -> \(r)")
            #expect(r.stderr == "Error: timed out after \(seconds)s waiting for the queue lock held by pid \(holder.pid) (stopped)\n",
                    "queuectl \(args) \(env) -> \(r)")
            #expect(took >= Double(seconds)! && took < 5, "took \(took)s")
        }
        #expect(q.dataBytes() == before, "nothing was written")
    }

    @Test func aBadLockTimeoutIsAUsageErrorNamingIt() throws {
        let q = queueWithJobs()
        let before = try #require(q.dataBytes())
        let job = #"{"id":"x","command":"true"}"#
        for (args, env, name) in [
            (["enqueue", job], ["QUEUECTL_LOCK_TIMEOUT": "soon"], "QUEUECTL_LOCK_TIMEOUT"),
            (["enqueue", job], ["QUEUECTL_LOCK_TIMEOUT": "-1"], "QUEUECTL_LOCK_TIMEOUT"),
            (["enqueue", "--lock-timeout", "nan", job], [:], "--lock-timeout"),
            (["prune", "--lock-timeout", "-2"], [:], "--lock-timeout"),
        ] {
            let r = q.bounded(args, env: env, seconds: 10)
            #expect(r.status == 64 && r.stdout.isEmpty && r.stderr.hasPrefix("Error: invalid value ") && r.stderr.contains(name),
                    "queuectl \(args) \(env) -> \(r)")
        }
        // A read-only command takes no lock, so neither the option nor the variable concerns it.
        #expect(q.bounded(["status"], env: ["QUEUECTL_LOCK_TIMEOUT": "soon"]).status == 0)
        #expect(q.bounded(["status", "--lock-timeout", "1"]).status == 64)
        #expect(q.dataBytes() == before)
    }

    @Test func aWaitingWriterSaysWhoHoldsTheLockAndFinishesOnceItIsFree() throws {
        let q = queueWithJobs()
        let holder = try LockHolderProcess(q)
        try holder.stop()
        let started = Date()
        let enqueue = q.start(["enqueue", #"{"id":"patient","command":"true"}"#])
        let message = "waiting for the queue lock, held by pid \(holder.pid) (stopped; 'kill -CONT \(holder.pid)' resumes it)\n"
        #expect(eventually(within: 10) { enqueue.stderr() == message }, "\(enqueue.stderr())")
        #expect(Date().timeIntervalSince(started) >= 1, "said after a second, not at once")
        #expect(enqueue.wait(seconds: 0.3) == nil, "it keeps waiting")
        #expect(q.state(of: "patient") == nil)

        holder.end()
        #expect(enqueue.wait(seconds: 10) == 0, "\(enqueue.stderr())")
        #expect(enqueue.stdout() == "patient\n")
        #expect(enqueue.stderr() == message, "said once")
        #expect(q.state(of: "patient") == "pending")
    }

    @Test func readOnlyCommandsLeaveADeadWorkersJobToTheNextWriterAndSaySo() throws {
        let q = QueueSandbox()
        q.ok("prune", "--dry-run")  // creates the queue home
        // A worker that has exited, recorded as running a job.
        let gone = Child(argv: ["/bin/true"], env: [:], stdin: nil, directory: q.root)
        gone.wait()
        let now = "2026-01-01T00:00:00.000Z"
        let data = """
            {"version": 2, "next_seq": 2, "config": {"max_retries": 3, "backoff_base": 2, "max_backoff": 3600, "worker_count": 1},
             "workers": [{"pid": \(gone.pid), "start_time": 1, "slots": 1, "started_at": "\(now)"}],
             "jobs": [{"id": "orphan", "command": "sleep 60", "state": "processing", "attempts": 0, "max_retries": 3,
                       "seq": 1, "created_at": "\(now)", "updated_at": "\(now)", "started_at": "\(now)",
                       "worker_pid": \(gone.pid), "worker_start_time": 1,
                       "child_pid": \(gone.pid), "child_start_time": 1}]}
            """
        try data.write(toFile: q.dataPath, atomically: true, encoding: .utf8)
        chmod(q.dataPath, 0o600)
        let before = q.dataBytes()

        let show = q.bounded(["show", "orphan"], seconds: 5)
        #expect(show.status == 0 && show.stdout.contains("but its worker (pid \(gone.pid)) is gone"), "\(show)")
        let wait = q.bounded(["wait", "orphan", "--timeout", "0.3"], seconds: 5)
        #expect(wait.status == 124 && wait.stderr.hasPrefix("job 'orphan' is running, but its worker (pid \(gone.pid)) is gone"), "\(wait)")
        let status = q.bounded(["status"], seconds: 5)
        #expect(status.status == 0 && status.stdout.contains("Workers: 0 active"), "only live workers are shown: \(status)")
        #expect(q.dataBytes() == before, "read-only commands recovered nothing")

        #expect(q.run(["prune", "--dry-run"]).status == 0)
        #expect(q.state(of: "orphan") == "failed")
        #expect(q.jobs()["orphan"]?["last_error"] as? String == "worker lost")
    }

    @Test func readOnlyCommandsOnAQueueThatDoesNotExistCreateNothing() throws {
        let q = QueueSandbox()
        #expect(!FileManager.default.fileExists(atPath: q.home))
        let r = q.bounded(["status"])
        #expect(r.status == 0 && r.stdout.contains("    Pending: 0\n") && r.stdout.contains("Workers: 0 active"), "\(r)")
        for (args, status) in [
            (["status", "--json"], 0), (["list"], 0), (["stats"], 0), (["dlq", "list"], 0), (["config", "get"], 0),
            (["config", "get", "max-retries"], 0), (["show", "x"], 1), (["logs", "x"], 1), (["wait", "x"], 1), (["worker", "stop"], 0),
        ] as [([String], Int32)] {
            let r = q.bounded(args, seconds: 5)
            #expect(r.status == status, "queuectl \(args) -> \(r)")
        }
        #expect(!FileManager.default.fileExists(atPath: q.home), "the queue folder was created")
    }

    @Test func writersThatFailOnAQueueThatDoesNotExistCreateNothing() throws {
        let q = QueueSandbox()
        for (args, status) in [
            (["config", "set", "lease-seconds", "1"], 64), (["config", "set", "max-retries", "x"], 64),
            (["retry", "nope"], 1), (["cancel", "nope"], 1), (["dlq", "retry", "nope"], 1), (["dlq", "delete", "nope"], 1),
        ] as [([String], Int32)] {
            let r = q.bounded(args, seconds: 5)
            #expect(r.status == status && r.stderr.hasPrefix("Error: "), "queuectl \(args) -> \(r)")
            #expect(!FileManager.default.fileExists(atPath: q.home), "queuectl \(args) created the queue folder")
        }
    }

    @Test func aRelativeQueueHomeIsRefused() throws {
        let q = QueueSandbox()
        // The commands run in this process's directory: a relative home would be made there.
        let name = "queuectl-relative-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let made = FileManager.default.currentDirectoryPath + "/" + name
        defer { try? FileManager.default.removeItem(atPath: made) }
        for args in [["status"], ["enqueue", #"{"command":"true"}"#], ["list"], ["worker", "start", "--drain"]] {
            let r = q.bounded(args, env: ["QUEUECTL_HOME": name + "/queue"], seconds: 5)
            #expect(r.status == 64 && r.stdout.isEmpty, "queuectl \(args) -> \(r)")
            #expect(r.stderr.hasPrefix("Error: QUEUECTL_HOME must be an absolute path, not '\(name)/queue'"), "\(r)")
        }
        #expect(!FileManager.default.fileExists(atPath: made), "a queue was made under the current directory")
    }
}

/// A worker while another process holds the lock for long: it keeps running its jobs' timeouts,
/// renewing its lease and answering Ctrl+C, and says once who holds the lock.
@Suite struct WorkerUnderAHeldLockTests {
    @Test func aWorkerEnforcesTimeoutsAndStopsWhileTheLockIsHeldElsewhere() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"slow","command":"sleep 30","timeout":1}"#)
        let worker = q.start(["worker", "start"])
        #expect(eventually { q.jobs()["slow"]?["child_pid"] != nil })
        let child = try #require(q.jobs()["slow"]?["child_pid"] as? Int32)
        let holder = try LockHolderProcess(q)
        try holder.stop()
        // The timeout comes while the lock is held: the run is ended all the same.
        #expect(eventually(within: 10) { !processIsRunning(child) }, "the timeout was not enforced")
        #expect(eventually { worker.stdout().contains("waiting for the queue lock held by pid \(holder.pid) (stopped); trying again") },
                "\(worker.stdout())")
        #expect(worker.stdout().components(separatedBy: "waiting for the queue lock").count == 2, "said once")
        worker.interruptTwice()
        #expect(worker.wait(seconds: 10) == 130, "a worker whose results cannot be written still stops on a second Ctrl+C")
        #expect(worker.stdout().contains("could not be recorded"), "\(worker.stdout())")
        holder.end()
    }
}
