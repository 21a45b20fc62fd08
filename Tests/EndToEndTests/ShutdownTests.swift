import Foundation
import Testing
import TestSupport

/// Ctrl+C, SIGTERM, SIGHUP and `worker stop`.
@Suite struct ShutdownTests {
    @Test(arguments: [SIGINT, SIGTERM, SIGHUP])
    func firstSignalLetsTheRunningJobFinishAndClaimsNothingMore(signal: Int32) throws {
        let q = QueueSandbox()
        let marker = q.root + "/finished"
        let gate = q.root + "/gate"
        // The job waits for the test to open the gate, so the signal surely arrives mid-job.
        q.ok("enqueue", #"{"id":"running","command":"while [ ! -e \#(gate) ]; do sleep 0.05; done; touch \#(marker)"}"#)
        let worker = q.start(["worker", "start", "--count", "1"])
        #expect(eventually { q.state(of: "running") == "processing" })
        q.ok("enqueue", #"{"id":"waiting","command":"true"}"#)
        worker.signal(signal)
        #expect(eventually { worker.stdout().contains("stopping") })
        #expect(worker.wait(seconds: 0.3) == nil, "the worker waits for its running job")
        _ = FileManager.default.createFile(atPath: gate, contents: nil)
        #expect(worker.wait(seconds: 10) == 0)
        #expect(FileManager.default.fileExists(atPath: marker))
        #expect(q.state(of: "running") == "completed")
        #expect(q.state(of: "waiting") == "pending", "nothing is claimed after the stop request")
        #expect(((try q.document())["workers"] as? [Any])?.isEmpty == true, "the worker unregistered")
    }

    @Test func secondInterruptTerminatesJobsAndPutsThemBackWithoutUsingARetry() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"long","command":"sleep 60"}"#)
        let worker = q.start(["worker", "start"])
        #expect(eventually { q.jobs()["long"]?["child_pid"] != nil })
        let child = try #require(q.jobs()["long"]?["child_pid"] as? Int32)
        worker.signal(SIGINT)
        #expect(eventually { worker.stdout().contains("stopping") })
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 130)
        let job = try #require(q.jobs()["long"])
        #expect(job["state"] as? String == "pending")
        #expect(job["attempts"] as? Int == 0)
        #expect(eventually(within: 5) { !processIsRunning(child) }, "the job's process is gone")
    }

    @Test func jobsRunInTheirOwnProcessGroupSoCtrlCDoesNotReachThem() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"long","command":"sleep 60"}"#)
        let worker = q.start(["worker", "start"])
        #expect(eventually { q.jobs()["long"]?["child_pid"] != nil })
        let child = try #require(q.jobs()["long"]?["child_pid"] as? Int32)
        #expect(getpgid(child) == child, "the child leads its own process group")
        #expect(getpgid(child) != getpgid(worker.pid))
        worker.interruptTwice()
        #expect(worker.wait(seconds: 10) == 130)
    }

    @Test func aWorkerStartedWithInterruptIgnoredStillStopsOnSIGINT() throws {
        let q = QueueSandbox()
        // `sh -c 'trap "" INT; exec queuectl ...'` starts the worker with SIGINT ignored, as `&` in a script does.
        let shell = Child.shell("trap '' INT; exec '\(queuectlBinary)' worker start", env: q.environment(), directory: q.root)
        #expect(eventually { ((try? q.document())?["workers"] as? [Any])?.count == 1 })
        shell.signal(SIGINT)
        #expect(shell.wait(seconds: 10) == 0)
    }

    @Test func workerStopWaitReturnsOnceEveryWorkerHasExited() throws {
        let q = QueueSandbox()
        let a = q.start(["worker", "start"])
        let b = q.start(["worker", "start", "--count", "2"])
        #expect(eventually { ((try? q.document())?["workers"] as? [Any])?.count == 2 })
        let r = q.run(["worker", "stop", "--wait"])
        #expect(r.status == 0)
        #expect(!processIsRunning(a.pid) && !processIsRunning(b.pid))
        #expect(a.wait() == 0 && b.wait() == 0)
        #expect(q.ok("worker", "stop").contains("no workers"))
    }
}
