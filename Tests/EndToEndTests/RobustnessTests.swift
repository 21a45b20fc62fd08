import Foundation
import Testing
import TestSupport

/// CPU use of a process so far, in clock ticks (utime + stime from /proc/PID/stat).
func cpuTicks(_ pid: Int32) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")") else { return 0 }
    let fields = text[text.index(after: close)...].split(separator: " ")
    return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
}

/// Workers that must neither spin, leak, give up on a bad write, nor trust a previous boot.
@Suite struct RobustnessTests {
    @Test func anIdleWorkerSleeps() throws {
        let q = QueueSandbox()
        let a = q.start(["worker", "start"])
        let b = q.start(["worker", "start"])
        #expect(eventually { ((try? q.document())?["workers"] as? [Any])?.count == 2 })
        let before = cpuTicks(a.pid) + cpuTicks(b.pid)
        usleep(1_500_000)
        // Two busy loops would burn about 300 ticks in 1.5 s; idle workers a handful.
        #expect(cpuTicks(a.pid) + cpuTicks(b.pid) - before < 40)
        a.signal(SIGINT)
        b.signal(SIGINT)
        #expect(a.wait(seconds: 10) == 0 && b.wait(seconds: 10) == 0)
    }

    @Test func aJobThatClosesItsOutputDoesNotMakeTheWorkerSpin() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"quiet","command":"exec >/dev/null 2>&1; sleep 2"}"#)
        let worker = q.start(["worker", "start"])
        #expect(eventually { q.jobs()["quiet"]?["child_pid"] != nil })
        usleep(200_000)
        let before = cpuTicks(worker.pid)
        usleep(1_000_000)
        #expect(cpuTicks(worker.pid) - before < 30)
        #expect(eventually { q.state(of: "quiet") == "completed" })
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
    }

    @Test func aFailedWriteKeepsTheWorkerAndItsResults() throws {
        let q = QueueSandbox()
        let gate = q.root + "/gate"
        q.ok("enqueue", #"{"id":"j","command":"while [ ! -e \#(gate) ]; do sleep 0.05; done"}"#)
        let worker = q.start(["worker", "start"])
        #expect(eventually { q.jobs()["j"]?["child_pid"] != nil })
        // A directory where the temporary file must go makes every write fail.
        try FileManager.default.createDirectory(atPath: q.dataPath + ".tmp", withIntermediateDirectories: false)
        _ = FileManager.default.createFile(atPath: gate, contents: nil)
        #expect(eventually { worker.stdout().contains("could not update the queue") })
        #expect(worker.wait(seconds: 0.2) == nil, "the worker keeps going")
        #expect(q.state(of: "j") == "processing")
        try FileManager.default.removeItem(atPath: q.dataPath + ".tmp")
        #expect(eventually { q.state(of: "j") == "completed" }, "the kept result is recorded, not lost")
        #expect(q.jobs()["j"]?["attempts"] as? Int == 0)
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
    }

    @Test func afterARebootRecordedProcessesAreGoneAndNothingIsSignalled() throws {
        let q = QueueSandbox()
        q.ok("prune", "--dry-run")  // creates the queue home
        // A live process standing where a worker of an earlier boot was recorded, and one where its child was.
        let stranger = Child(argv: ["/bin/sleep", "60"], env: q.environment(), stdin: nil, directory: q.root)
        let start = try #require(processStartTime(stranger.pid))
        let now = "2026-01-01T00:00:00.000Z"
        let data = """
            {"version": 2, "next_seq": 2, "boot_id": "00000000-0000-0000-0000-000000000000",
             "config": {"max_retries": 3, "backoff_base": 2, "max_backoff": 3600, "worker_count": 1},
             "workers": [{"pid": \(stranger.pid), "start_time": \(start), "slots": 1, "started_at": "\(now)"}],
             "jobs": [{"id": "j", "command": "sleep 60", "state": "processing", "attempts": 0, "max_retries": 3,
                       "seq": 1, "created_at": "\(now)", "updated_at": "\(now)", "started_at": "\(now)",
                       "worker_pid": \(stranger.pid), "worker_start_time": \(start),
                       "child_pid": \(stranger.pid), "child_start_time": \(start)}]}
            """
        try data.write(toFile: q.dataPath, atomically: true, encoding: .utf8)
        chmod(q.dataPath, 0o600)
        #expect(q.run(["prune", "--dry-run"]).status == 0)  // takes the lock, so recovers
        #expect(q.state(of: "j") == "failed")
        #expect(q.jobs()["j"]?["last_error"] as? String == "worker lost")
        #expect(((try q.document())["workers"] as? [Any])?.isEmpty == true)
        usleep(100_000)
        #expect(processIsRunning(stranger.pid), "a process of this boot is never signalled for one of an earlier boot")
    }

    @Test func jobsDoNotInheritTheWorkersOtherDescriptors() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"fds","command":"ls /proc/$$/fd"}"#)
        let shell = Child.shell("exec 7</dev/null 9>/dev/null; exec '\(queuectlBinary)' worker start --drain",
                                env: q.environment(), directory: q.root)
        #expect(shell.wait(seconds: 20) == 0)
        let log = q.ok("logs", "fds")
        let fds = log.split(separator: "\n").filter { !$0.hasPrefix("===") }.compactMap { Int($0) }
        #expect(Set(fds).isSubset(of: [0, 1, 2, 10]), "only stdin, stdout, stderr (and sh's own): \(fds)")
        #expect(!fds.contains(7) && !fds.contains(9))
    }

    @Test func workerStopWaitGivesUpAfterItsTimeout() throws {
        let q = QueueSandbox()
        let worker = q.start(["worker", "start"])
        #expect(eventually { ((try? q.document())?["workers"] as? [Any])?.count == 1 })
        worker.signal(SIGSTOP)
        let r = q.run(["worker", "stop", "--wait", "--timeout", "0.3"])
        #expect(r.status == 124)
        #expect(r.stderr.contains(String(worker.pid)))
        worker.signal(SIGCONT)
        #expect(worker.wait(seconds: 10) == 0, "the SIGTERM it got while stopped still stops it")
    }
}

/// Descriptors open in process `pid` now.
func openDescriptors(_ pid: Int32) -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count ?? -1
}

@Suite struct DescriptorTests {
    /// The shell runs each worker in a process of its own and keeps none of their descriptors (the
    /// log it hands a background worker): after three more workers in the foreground and three in
    /// the background it has as many open as after the first of each (which opened the queue
    /// directory it keeps).
    @Test func workersRunFromTheShellLeaveItNoDescriptorsOpen() throws {
        let q = QueueSandbox()
        let shell = TerminalChild(argv: [queuectlBinary, "shell"], env: q.environment(["TERM": "xterm"]))
        var m = 0
        var counts: [Int] = []
        for round in 0..<4 {
            m = shell.enter("worker start --drain", after: m)
            #expect(shell.waitFor("worker stopped", since: m))
            m = shell.enter("worker start", after: m)
            #expect(shell.waitFor("started in the background", since: m))
            m = shell.enter("worker stop --wait", after: m)
            #expect(shell.waitFor("all workers have exited", since: m))
            #expect(shell.waitForPrompt(since: m))
            if round == 0 || round == 3 { counts.append(openDescriptors(shell.pid)) }
        }
        #expect(counts[0] > 0)
        #expect(counts[1] == counts[0])
        shell.send("exit\r")
        #expect(shell.wait(seconds: 5) == 0)
    }
}

@Suite struct WorkerRecordTests {
    /// Another process judged the worker gone and removed its record: the worker registers again
    /// at its next transaction instead of claiming with no record.
    @Test func aWorkerWhoseRecordWasRemovedRegistersAgain() throws {
        let q = QueueSandbox()
        let worker = q.start(["worker", "start"])
        #expect(eventually { ((try? q.document())?["workers"] as? [Any])?.count == 1 })
        var document = try q.document()
        document["workers"] = [Any]()
        let temporary = q.home + "/edit.json"
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: temporary))
        chmod(temporary, 0o600)
        #expect(rename(temporary, q.dataPath) == 0)
        q.ok("enqueue", #"{"id":"after","command":"true"}"#)
        #expect(eventually { q.state(of: "after") == "completed" })
        let workers = try #require((try q.document())["workers"] as? [[String: Any]])
        #expect(workers.map { $0["pid"] as? Int32 } == [worker.pid], "registered again")
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
    }
}
