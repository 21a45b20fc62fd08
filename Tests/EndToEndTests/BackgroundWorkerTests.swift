import Foundation
import Testing
import TestSupport

/// Workers started from the shell run in the background, log to worker.log, stop with 'worker
/// stop', and are asked about when the shell is left.
@Suite struct BackgroundWorkerTests {
    func shell(_ q: QueueSandbox) -> TerminalChild {
        TerminalChild(argv: [queuectlBinary, "shell"], env: q.environment(["TERM": "xterm", "NO_COLOR": "1"]))
    }

    @Test func aWorkerStartedInTheShellRunsJobsInTheBackgroundUntilWorkerStop() throws {
        let q = QueueSandbox()
        let s = shell(q)
        var m = s.enter("worker start --count 2", after: 0)
        #expect(s.waitFor("started in the background with 2 slots; its events go to \(q.home)/worker.log", since: m))
        #expect(s.waitForPrompt(since: m), "the prompt comes back while the worker runs")
        let pid = try #require(workerPids(q).first)
        #expect(childProcesses(of: s.pid).contains(pid))
        for i in 1...3 { m = s.enter(#"enqueue {"id":"b\#(i)","command":"echo job \#(i)"}"#, after: m) }
        #expect(eventually { (1...3).allSatisfy { q.state(of: "b\($0)") == "completed" } })
        // The worker writes an event line just after the transaction that records it.
        func log() -> String { (try? String(contentsOfFile: q.home + "/worker.log", encoding: .utf8)) ?? "" }
        #expect(eventually { (1...3).allSatisfy { log().contains("b\($0) completed") } }, "\(log())")
        #expect(log().contains("worker \(pid) started with 2 slots"))
        #expect(!s.output.contains("b1 completed"), "the events go to the log, not over the prompt")
        m = s.enter("worker stop", after: m)
        #expect(s.waitFor("asked worker \(pid) to stop", since: m))
        #expect(eventually { !processIsRunning(pid) })
        #expect(try String(contentsOfFile: q.home + "/worker.log", encoding: .utf8).contains("worker stopped"))
        s.enter("exit", after: m)
        #expect(s.wait(seconds: 5) == 0, "nothing to ask about: the worker has ended")
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: q.home + "/worker.log")[.posixPermissions] as? Int)
        #expect(mode == 0o600)
    }

    @Test func leavingTheShellAsksWhetherToStopTheWorkersStartedThere() throws {
        let q = QueueSandbox()
        // n: left running.
        let first = shell(q)
        var m = first.enter("worker start", after: 0)
        #expect(first.waitFor("started in the background", since: m))
        let kept = try #require(workerPids(q).first)
        m = first.enter("exit", after: m)
        #expect(first.waitFor("A worker started here is still running (pid \(kept)).", since: m))
        first.enter("n", after: m, prompt: "Stop it before leaving? Running jobs finish first. [Y/n] ")
        #expect(first.wait(seconds: 5) == 0)
        #expect(first.output(since: m).contains("left running"))
        #expect(processIsRunning(kept))
        q.ok("enqueue", #"{"id":"after","command":"true"}"#)
        #expect(eventually { q.state(of: "after") == "completed" }, "it still runs jobs with the shell gone")
        q.ok("worker", "stop", String(kept))
        #expect(eventually { !processIsRunning(kept) })

        // Ctrl+C at the question: not leaving. Then Enter: stopped, gracefully.
        let second = shell(q)
        m = second.enter("worker start", after: 0)
        #expect(second.waitFor("started in the background", since: m))
        let stopped = try #require(workerPids(q).first)
        q.ok("enqueue", #"{"id":"long","command":"sleep 1"}"#)
        #expect(eventually { q.state(of: "long") == "processing" })
        // A worker started elsewhere is not the shell's to stop.
        let elsewhere = q.start(["worker", "start"])
        #expect(eventually { workerPids(q).count == 2 })
        m = second.mark
        second.send("\u{04}")
        second.waitForPrompt("[Y/n] ", since: m)
        second.send("\u{03}")
        #expect(second.waitForPrompt(since: m), "back at the prompt")
        m = second.enter("quit", after: m)
        second.enter("", after: m, prompt: "[Y/n] ")
        #expect(second.waitFor("asked worker \(stopped) to stop", since: m))
        #expect(second.wait(seconds: 5) == 0)
        #expect(eventually { !processIsRunning(stopped) })
        #expect(q.state(of: "long") == "completed", "its running job finished first")
        #expect(processIsRunning(elsewhere.pid), "only the workers started in that shell")
        elsewhere.signal(SIGTERM)
        #expect(elsewhere.wait(seconds: 10) == 0)
    }

    @Test func withNoOneToAskTheWorkersAreLeftRunningAndItSaysSo() throws {
        let q = QueueSandbox()
        let r = q.run(["shell"], stdin: "worker start\nexit\n")
        #expect(r.status == 0)
        let pid = try #require(workerPids(q).first)
        #expect(r.stdout.contains("worker \(pid) started in the background"))
        #expect(r.stderr.contains("leaving worker \(pid) running in the background; 'queuectl worker stop' stops it"))
        #expect(processIsRunning(pid))
        q.ok("worker", "stop", "--wait", "--timeout", "10")
        #expect(!processIsRunning(pid))
    }

    @Test func aWorkerThatCannotStartSaysWhyAtThePrompt() throws {
        let q = QueueSandbox()
        let r = q.run(["shell"], stdin: "worker start --count 0\nworker start --cout 2\nexit\n")
        #expect(r.status == 0)
        #expect(r.stderr.contains("invalid value 0 for --count"), "what the worker said, from its log")
        #expect(r.stderr.contains("unknown option '--cout'. Did you mean '--count'?"), "refused before starting anything")
        #expect(workerPids(q).isEmpty)
        #expect(!r.stderr.contains("leaving"))
    }
}
