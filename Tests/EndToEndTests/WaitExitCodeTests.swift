import Foundation
@preconcurrency import Glibc
import Testing
import TestSupport

/// `wait` with one id exits with the job's own exit code (as `tsp -w` does), and says when no worker
/// is running to make progress.
@Suite struct WaitExitCodeTests {
    @Test func oneJobsWaitExitsWithItsOwnExitCode() throws {
        let q = QueueSandbox()
        q.fastRetries()
        q.ok("enqueue", #"{"id":"seven","command":"exit 7","max_retries":0}"#)
        q.ok("enqueue", #"{"id":"fine","command":"true"}"#)
        q.ok("enqueue", #"{"id":"signalled","command":"kill -9 $$","max_retries":0}"#)
        q.ok("enqueue", #"{"id":"long","command":"sleep 60","max_retries":0}"#)
        let worker = q.start(["worker", "start", "--count", "4"])
        let seven = q.run(["wait", "seven"])
        #expect(seven.status == 7 && seven.stdout == "seven dead\n", "\(seven)")
        #expect(q.run(["wait", "fine"]).status == 0)
        #expect(q.run(["wait", "signalled"]).status == 1, "no exit code of its own: 1")
        #expect(q.run(["wait", "seven", "fine"]).status == 1, "several ids: 1 if any is dead, as before")
        #expect(eventually { q.jobs()["long"]?["child_pid"] != nil })
        q.ok("kill", "long")
        #expect(q.run(["wait", "long", "--timeout", "20"]).status == 1, "a killed job has no exit code of its own")
        #expect(q.run(["wait", "fine", "--timeout", "0"]).status == 0, "finished jobs need no time")
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
    }

    @Test func waitSaysAfterASecondWhenNoWorkerIsRunning() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"stuck","command":"true"}"#)
        let started = Date()
        let alone = q.run(["wait", "stuck", "--timeout", "1.5"])
        #expect(alone.status == 124)
        #expect(alone.stderr.contains("no worker is running to make progress; start one with: queuectl worker start"), "\(alone)")
        #expect(Date().timeIntervalSince(started) >= 1.5)

        q.ok("enqueue", "--delay", "1h", #"{"id":"later","command":"true"}"#)
        let worker = q.start(["worker", "start"])
        #expect(eventually { q.state(of: "stuck") == "completed" })
        let served = q.run(["wait", "later", "--timeout", "1.5"])
        #expect(served.status == 124 && !served.stderr.contains("no worker"), "a worker is running: \(served)")
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
    }
}
