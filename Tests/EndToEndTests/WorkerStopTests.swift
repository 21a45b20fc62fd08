import Foundation
import Testing
import TestSupport

/// `worker stop <pid>`: one worker of the queue, or none if a pid is wrong.
@Suite struct WorkerStopTests {
    @Test func workerStopTakesPidsAndRefusesOneThatIsNotAWorkerOfThisQueue() throws {
        let q = QueueSandbox()
        let a = q.start(["worker", "start"]), b = q.start(["worker", "start"])
        #expect(eventually { (((try? q.document())?["workers"] as? [Any]) ?? []).count == 2 })
        let before = q.dataBytes()
        for (args, status, message) in [(["1"], Int32(1), "no worker of this queue has pid 1"),
                                        ([String(a.pid), "1"], 1, "no worker of this queue has pid 1"),
                                        (["abc"], 64, "invalid value 'abc' for <pid>")] {
            let r = q.run(["worker", "stop"] + args)
            #expect(r.status == status, "\(args)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        #expect(processIsRunning(a.pid) && processIsRunning(b.pid), "a wrong pid stops none")
        #expect(q.dataBytes() == before)
        let r = q.run(["worker", "stop", String(a.pid), "--wait"])
        #expect(r.status == 0)
        #expect(r.stdout == "asked worker \(a.pid) to stop\nworker \(a.pid) exited\n")
        #expect(a.wait(seconds: 5) == 0)
        #expect(processIsRunning(b.pid))
        q.ok("worker", "stop")
        #expect(b.wait(seconds: 5) == 0)
    }
}
