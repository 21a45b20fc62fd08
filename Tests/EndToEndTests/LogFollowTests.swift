import Foundation
@preconcurrency import Glibc
import Testing
import TestSupport

/// `logs -f`: the output so far, then what comes, until the run ends; exit with the job's status.
@Suite struct LogFollowTests {
    /// A job that prints, waits for `go` to exist, then prints to stderr and exits 5: what `-f` prints
    /// before `go` was printed while the job was still running.
    @Test func followPrintsARunsOutputAsItComesAndExitsWithItsStatus() throws {
        let q = QueueSandbox()
        let go = q.root + "/go"
        q.ok("enqueue", #"{"id":"slow","command":"echo first; while [ ! -e \#(go) ]; do sleep 0.01; done; echo second >&2; exit 5","max_retries":0}"#)
        let worker = q.start(["worker", "start"])
        #expect(eventually { q.state(of: "slow") == "processing" })
        let follower = q.start(["logs", "-f", "slow"])
        #expect(eventually { follower.stdout().contains("first\n") }, "printed while the job runs: \(follower.stdout())")
        #expect(follower.wait(seconds: 0.2) == nil, "still following")
        #expect(FileManager.default.createFile(atPath: go, contents: nil))
        #expect(follower.wait(seconds: 20) == 5, "the job's exit code: \(follower.stderr())")
        let out = follower.stdout()
        #expect(out.hasPrefix("=== queuectl: run 1 of 1, started ") && out.contains("first\nsecond\n=== queuectl: exit 5 after "), "\(out)")
        #expect(out == q.ok("logs", "slow"), "the whole run, as logs prints it")
        // A finished job: its log, and its status at once.
        let again = q.run(["logs", "-f", "slow"])
        #expect(again.status == 5 && again.stdout == out)
        q.ok("enqueue", #"{"id":"ok","command":"echo fine"}"#)
        #expect(q.run(["wait", "ok"]).status == 0)
        #expect(q.run(["logs", "--follow", "ok"]).status == 0)
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
    }

    /// A job that has not run yet is followed through its next run; with no worker, that is said.
    @Test func followWaitsForAPendingJobsRunAndSaysThatNoWorkerRuns() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"later","command":"echo one; echo two; echo three"}"#)
        let follower = q.start(["logs", "-f", "-n", "1", "later"])
        #expect(eventually { follower.stderr().contains("no worker is running") }, "\(follower.stderr())")
        #expect(follower.wait(seconds: 0.1) == nil)
        let worker = q.start(["worker", "start"])
        #expect(follower.wait(seconds: 20) == 0)
        #expect(follower.stdout() == "one\ntwo\nthree\n", "with -n, only the job's own lines: \(follower.stdout())")
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
    }

    /// Following wakes on each write to the log, not once a second: five lines, each printed only once
    /// the one before has reached the follower's output, take far less than the five seconds a
    /// once-a-second look would.
    @Test func followWakesOnEachWrite() throws {
        let q = QueueSandbox()
        let seen = q.root + "/seen"
        let script = "for i in 1 2 3 4 5; do echo line-$i; n=0; while [ $n -lt 500 ] && ! grep -q line-$i \(seen) 2>/dev/null; do sleep 0.01; n=$((n+1)); done; done"
        q.ok("enqueue", #"{"id":"chat","command":"\#(script)"}"#)
        let worker = q.start(["worker", "start"])
        #expect(eventually { q.state(of: "chat") == "processing" })
        let started = Date()
        let follower = Child.shell("exec '\(queuectlBinary)' logs -f chat > \(seen)", env: q.environment(), directory: q.root)
        #expect(follower.wait(seconds: 20) == 0)
        let took = Date().timeIntervalSince(started)
        #expect(took < 3, "five round trips took \(took)s")
        let out = try String(contentsOfFile: seen, encoding: .utf8)
        #expect(out.contains("line-1\nline-2\nline-3\nline-4\nline-5\n"), "\(out)")
        worker.signal(SIGINT)
        #expect(worker.wait(seconds: 10) == 0)
    }

    @Test func aJobRemovedWhileFollowedEndsTheFollowWithAnError() throws {
        let q = QueueSandbox()
        q.ok("enqueue", "--delay", "1h", #"{"id":"gone","command":"true"}"#)
        let follower = q.start(["logs", "-f", "gone"])
        #expect(follower.wait(seconds: 0.2) == nil)
        q.ok("cancel", "gone")
        #expect(follower.wait(seconds: 10) == 1)
        #expect(follower.stderr().contains("was removed"), "\(follower.stderr())")
        #expect(q.run(["logs", "-f", "nope"]).status == 1)
    }
}
