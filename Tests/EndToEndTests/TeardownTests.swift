import Foundation
import Testing
import TestSupport

/// A run ends only when every process of it is gone: its whole process group, and, for a run the
/// worker ends or a lost worker's run, every process carrying its marker.
@Suite struct TeardownTests {
    /// The pid a job wrote to `file`, once it has.
    func pid(in file: String) -> Int32? {
        (try? String(contentsOfFile: file, encoding: .utf8)).flatMap { Int32($0.filter(\.isNumber)) }
    }

    @Test func aTimedOutRunIsNotRetriedWhileAChildThatIgnoresTermLives() throws {
        let q = QueueSandbox()
        q.fastRetries()
        let events = q.root + "/events", bg = q.root + "/bg"
        // Each run notes whether the last run's TERM-ignoring child is still alive as it starts.
        let command = """
            if [ -f \(bg) ] && kill -0 $(cat \(bg)) 2>/dev/null; then echo overlap >> \(events); fi; \
            echo run $QUEUECTL_ATTEMPT >> \(events); \
            (trap '' TERM; exec sleep 30) & echo $! > \(bg); wait
            """
        let job: [String: Any] = ["id": "stubborn", "command": command, "max_retries": 2, "timeout": 0.3]
        q.ok("enqueue", String(decoding: try JSONSerialization.data(withJSONObject: job), as: UTF8.self))
        let worker = q.start(["worker", "start"])
        defer { if let p = pid(in: bg) { kill(p, SIGKILL) } }
        #expect(eventually(within: 15) { (try? String(contentsOfFile: events, encoding: .utf8))?.contains("run 2") == true },
                "\(worker.stdout())")
        let log = try String(contentsOfFile: events, encoding: .utf8)
        #expect(!log.contains("overlap"), "the retry started while the first run's child still ran:\n\(log)")
        #expect(worker.stdout().contains("stubborn's shell has exited"), "\(worker.stdout())")
        worker.signal(SIGKILL)
    }

    @Test func aShellThatExitsLeavesItsRunGoingUntilItsGroupHasEnded() throws {
        let q = QueueSandbox()
        let gate = q.root + "/gate", done = q.root + "/done"
        q.ok("enqueue", #"{"id":"bg","command":"(while [ ! -e \#(gate) ]; do sleep 0.02; done; touch \#(done)) & exit 0"}"#)
        let worker = q.start(["worker", "start"])
        #expect(eventually { q.jobs()["bg"]?["child_pid"] != nil })
        let child = try #require(q.jobs()["bg"]?["child_pid"] as? Int32)
        #expect(eventually { !processIsRunning(child) }, "the shell itself exits at once")
        #expect(q.state(of: "bg") == "processing", "its background process still runs, so the run does")
        let show = q.run(["show", "bg"])
        #expect(show.stdout.contains("its shell has exited"), "\(show)")
        _ = FileManager.default.createFile(atPath: gate, contents: nil)
        #expect(eventually { q.state(of: "bg") == "completed" })
        #expect(FileManager.default.fileExists(atPath: done), "recorded only after the last process of the group ended")
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
    }

    @Test func aSetsidChildOfAKilledWorkersJobIsKilledBeforeTheRetry() throws {
        let q = QueueSandbox()
        q.fastRetries()
        let escaped = q.root + "/escaped"
        q.ok("enqueue", #"{"id":"daemon","command":"if [ \"$QUEUECTL_ATTEMPT\" = 1 ]; then setsid sh -c 'echo $$ > \#(escaped); exec sleep 60' & wait; fi"}"#)
        let worker = q.start(["worker", "start"])
        defer { if let p = pid(in: escaped) { kill(p, SIGKILL) } }
        #expect(eventually { q.jobs()["daemon"]?["child_pid"] != nil && pid(in: escaped) != nil })
        let daemon = try #require(pid(in: escaped))
        worker.signal(SIGKILL)
        worker.wait()
        #expect(processIsRunning(daemon))
        // The next command that takes the lock recovers the job, and ends every process of its run.
        #expect(q.run(["config", "set", "max-backoff", "0"]).status == 0)
        #expect(q.state(of: "daemon") == "failed")
        #expect(eventually(within: 5) { !processIsRunning(daemon) }, "the process that left the group with setsid was killed")
    }

    @Test func twentyShortJobsCostTheWorkerLittleCPU() throws {
        let q = QueueSandbox()
        let jobs = (0..<20).map { _ in #"{"command":"sleep 0.2"}"# }.joined(separator: "\n")
        q.ok("enqueue", "-", stdin: jobs)
        let worker = q.start(["worker", "start", "--count", "4"])
        #expect(eventually(within: 30) { q.jobs().values.allSatisfy { $0["state"] as? String == "completed" } })
        // The worker's own CPU (its children's is not counted): the old loop spun on a zero poll
        // timeout and burnt about 2 s of it here.
        let ticks = cpuTicks(worker.pid)
        #expect(ticks < 20, "the worker used \(ticks) ticks of CPU")
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
        #expect(q.ok("list", "--state", "completed").split(separator: "\n").count >= 20)
    }
}
