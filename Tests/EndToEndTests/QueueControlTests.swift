import Foundation
import Testing
import TestSupport

/// Dependencies, named queues, pause, and the limits on jobs running at once, through the binary.
@Suite struct QueueControlTests {
    /// The most jobs that ran at once, from lines `start` and `end` that each run appends.
    func mostAtOnce(_ path: String) throws -> Int {
        var running = 0, most = 0
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            running += line == "start" ? 1 : -1
            most = max(most, running)
        }
        return most
    }

    @Test func aJobAfterAnotherRunsOnlyOnceItHasCompleted() throws {
        let q = QueueSandbox()
        let order = q.root + "/order"
        #expect(q.ok("add", "--", "sleep 0.3; echo first >> \(order)") == "1\n")
        #expect(q.ok("add", "--after", "1", "--", "echo second >> \(order)") == "2\n")
        #expect(q.ok("show", "2").contains("waiting for job '1' to complete (it is pending)"))
        #expect(q.run(["worker", "start", "--count", "4", "--drain"]).status == 0)
        #expect(try String(contentsOfFile: order, encoding: .utf8) == "first\nsecond\n", "4 slots, and still one after the other")
        #expect(q.jobs()["2"]?["after"] as? [String] == ["1"])
    }

    @Test func aDeadDependencyKillsItsDependentAndRetryingItBringsItBack() throws {
        let q = QueueSandbox()
        q.fastRetries()
        let marker = q.root + "/tried"
        // Fails on its first run, succeeds once retried.
        q.ok("add", "--id", "flaky", "--max-retries", "1", "--", "[ -f \(marker) ] || { touch \(marker); exit 1; }")
        q.ok("add", "--id", "next", "--after", "flaky", "--", "true")
        q.ok("add", "--id", "last", "--after", "next", "--", "true")
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(q.state(of: "flaky") == "dead" && q.state(of: "next") == "dead" && q.state(of: "last") == "dead")
        #expect(q.jobs()["next"]?["last_error"] as? String == "dependency 'flaky' died")
        #expect(q.jobs()["last"]?["last_error"] as? String == "dependency 'next' died")
        #expect(q.ok("dlq", "retry", "flaky") == "flaky\n")
        #expect(q.state(of: "next") == "pending" && q.state(of: "last") == "pending", "the chain comes back with its head")
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(["flaky", "next", "last"].allSatisfy { q.state(of: $0) == "completed" })
    }

    @Test func aCancelledDependencyKillsItsDependent() throws {
        let q = QueueSandbox()
        q.ok("add", "--id", "a", "--delay", "1h", "--", "true")
        q.ok("add", "--id", "b", "--after", "a", "--", "true")
        q.ok("cancel", "a")
        #expect(q.state(of: "b") == "dead")
        #expect(q.jobs()["b"]?["last_error"] as? String == "dependency 'a' was cancelled")
    }

    @Test func unknownDependenciesAndCyclesAreRefusedAndChangeNothing() throws {
        let q = QueueSandbox()
        q.ok("add", "--id", "a", "--", "true")
        let before = q.dataBytes()
        let unknown = q.run(["add", "--after", "nope", "--", "true"])
        #expect(unknown.status == 64 && unknown.stderr.contains("no job with id 'nope'"), "\(unknown)")
        let cycle = q.run(["enqueue", "-"], stdin: #"{"id":"x","command":"true","after":["y"]}"# + "\n" + #"{"id":"y","command":"true","after":["x"]}"# + "\n")
        #expect(cycle.status == 64 && cycle.stderr.contains("cycle: x -> y -> x"), "\(cycle)")
        let selfWait = q.run(["enqueue", #"{"id":"s","command":"true","after":["s"]}"#])
        #expect(selfWait.status == 64 && selfWait.stderr.contains("itself"), "\(selfWait)")
        #expect(q.dataBytes() == before)
    }

    @Test func pauseHoldsAcrossWorkersUntilResume() throws {
        let q = QueueSandbox()
        #expect(q.ok("pause").hasPrefix("paused"))
        q.ok("add", "--id", "held", "--", "true")
        #expect(q.run(["worker", "start", "--drain"]).status == 0, "a draining worker finds nothing runnable")
        #expect(q.state(of: "held") == "pending")
        #expect(q.ok("show", "held").contains("the queue is paused"))
        q.ok("resume")
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(q.state(of: "held") == "completed")

        q.ok("pause", "--queue", "mail")
        q.ok("add", "--id", "m", "--queue", "mail", "--", "true")
        q.ok("add", "--id", "d", "--", "true")
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(q.state(of: "m") == "pending" && q.state(of: "d") == "completed")
        #expect(q.ok("resume", "--queue", "mail") == "resumed queue 'mail'\n")
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(q.state(of: "m") == "completed")
    }

    @Test func aWorkerClaimsOnlyFromTheQueuesItIsGiven() throws {
        let q = QueueSandbox()
        q.ok("add", "--id", "m", "--queue", "mail", "--", "true")
        q.ok("add", "--id", "v", "--queue", "video", "--", "true")
        q.ok("add", "--id", "d", "--", "true")
        #expect(q.run(["worker", "start", "--queue", "mail", "--queue", "default", "--drain"]).status == 0)
        #expect(q.state(of: "m") == "completed" && q.state(of: "d") == "completed" && q.state(of: "v") == "pending")
        let bad = q.run(["worker", "start", "--queue", "no/such"])
        #expect(bad.status == 64 && bad.stderr.contains("queue name"), "\(bad)")
    }

    /// Two overlapping cron drains with --count 4 each run no more than the limits allow.
    @Test func limitsHoldAcrossWorkerProcesses() throws {
        let q = QueueSandbox()
        let slow = q.root + "/slow", all = q.root + "/all"
        q.ok("config", "set", "queue.slow.max-running", "1")
        q.ok("config", "set", "max-running", "3")
        let lines = (1...4).map { #"{"id":"s\#($0)","queue":"slow","command":"echo start >> \#(slow); echo start >> \#(all); sleep 0.2; echo end >> \#(slow); echo end >> \#(all)"}"# }
            + (1...6).map { #"{"id":"p\#($0)","command":"echo start >> \#(all); sleep 0.2; echo end >> \#(all)"}"# }
        q.ok("enqueue", "-", stdin: lines.joined(separator: "\n") + "\n")
        let one = q.start(["worker", "start", "--count", "4", "--drain"])
        let two = q.start(["worker", "start", "--count", "4", "--drain"])
        #expect(one.wait(seconds: 30) == 0 && two.wait(seconds: 30) == 0)
        // A drain exits when nothing is runnable now, even if jobs wait only for room: finish the rest.
        for _ in 0..<10 where q.jobs().values.contains(where: { $0["state"] as? String != "completed" }) {
            #expect(q.run(["worker", "start", "--count", "4", "--drain"]).status == 0)
        }
        #expect(q.jobs().values.allSatisfy { $0["state"] as? String == "completed" })
        #expect(try mostAtOnce(slow) == 1, "queue slow ran one at a time")
        #expect(try mostAtOnce(all) <= 3, "the home ran at most three at once")
        #expect(q.ok("config", "get", "queue.slow.max-running") == "1\n")
    }
}

@Suite struct QueueViewTests {
    @Test func statusAndTopShowThePauseAndTheCountsPerQueue() throws {
        let q = QueueSandbox()
        q.ok("add", "--queue", "mail", "--", "true")
        q.ok("add", "--", "true")
        let plain = q.ok("status")
        #expect(plain.contains("  Queues:\n    default: 1 pending, 0 processing, 0 completed, 0 failed, 0 dead\n    mail: 1 pending,"), "\(plain)")
        #expect(!plain.contains("Paused"))
        q.ok("pause", "--queue", "mail")
        #expect(q.ok("status").contains("    mail: 1 pending, 0 processing, 0 completed, 0 failed, 0 dead (paused)\n"))
        q.ok("pause")
        let paused = q.ok("status")
        #expect(paused.contains("  Paused: no worker claims a job until 'queuectl resume'"), "\(paused)")
        let top = q.start(["top", "--interval", "0.2"])
        defer { top.signal(SIGKILL) }
        #expect(eventually { top.stdout().contains("PAUSED") && top.stdout().contains("queue mail: 1 pending") }, "\(top.stdout())")
        let one = QueueSandbox()
        one.ok("add", "--", "true")
        #expect(!one.ok("status").contains("Queues:"), "one default queue needs no split")
    }
}

@Suite struct DependentRetryTests {
    @Test func aJobThatDiedWithItsDependencyIsRetriedWithItNotAlone() throws {
        let q = QueueSandbox()
        q.ok("add", "--id", "a", "--max-retries", "1", "--", "false")
        q.ok("add", "--id", "b", "--after", "a", "--", "true")
        q.ok("add", "--id", "x", "--delay", "1h", "--", "true")
        q.ok("add", "--id", "y", "--after", "x", "--", "true")
        q.ok("cancel", "x")
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(q.state(of: "b") == "dead" && q.state(of: "y") == "dead")
        let before = q.dataBytes()
        let alone = q.run(["dlq", "retry", "b"])
        #expect(alone.status == 1 && alone.stderr.contains("retry 'a' and 'b' comes back with it"), "\(alone)")
        let gone = q.run(["retry", "y"])
        #expect(gone.status == 1 && gone.stderr.contains("which was cancelled"), "\(gone)")
        #expect(q.dataBytes() == before, "refused, nothing changed")
        #expect(q.ok("dlq", "retry", "a", "b") == "a\nb\n", "together they go")
        #expect(q.state(of: "b") == "pending")
        // --all takes every job that can run again, not the one whose dependency was cancelled.
        q.ok("config", "set", "max-retries", "1")
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(q.ok("dlq", "retry", "--all") == "a\nb\n")
        #expect(q.state(of: "y") == "dead")
    }
}
