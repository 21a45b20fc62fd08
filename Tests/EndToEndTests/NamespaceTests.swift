import Foundation
import Testing
import TestSupport

/// Whether this machine lets us make a PID namespace (root, or user namespaces allowed).
let pidNamespacesWork: Bool = {
    let probe = Child(argv: ["/usr/bin/unshare", "--pid", "--fork", "--mount-proc", "/bin/true"],
                      env: ProcessInfo.processInfo.environment, stdin: nil, directory: "/tmp")
    return probe.wait(seconds: 10) == 0
}()

/// A worker in a container (its own PID namespace) sharing the queue folder with one on the host.
@Suite struct NamespaceTests {
    @Test func pidNamespacesAreAvailableWhereCIRuns() {
        // CI runs as root, where `unshare` works: there the tests below must run, not skip.
        if ProcessInfo.processInfo.environment["CI"] == "true" { #expect(pidNamespacesWork, "unshare --pid failed") }
    }

    /// A queue with a lease of 2 s and two jobs that run until `gate` exists, claimed by a worker
    /// in a container (its namespace's pid 1; --kill-child ends it with unshare) and one on the host.
    func twoWorkersInTwoNamespaces() -> (QueueSandbox, String, Child, Child) {
        let q = QueueSandbox()
        q.ok("config", "set", "lease-seconds", "2")
        let gate = q.root + "/gate"
        for id in ["a", "b"] {
            q.ok("enqueue", #"{"id":"\#(id)","command":"while [ ! -e \#(gate) ]; do sleep 0.05; done"}"#)
        }
        let container = q.start(["--pid", "--fork", "--mount-proc", "--kill-child", queuectlBinary, "worker", "start"],
                                program: "/usr/bin/unshare")
        #expect(eventually { q.jobs().values.contains { $0["worker_pid"] as? Int == 1 } }, "\(container.stderr())")
        let host = q.start(["worker", "start"])
        return (q, gate, container, host)
    }

    @Test(.enabled(if: pidNamespacesWork))
    func workersInTwoPIDNamespacesNeverRecoverEachOthersJobsAndALostOneIsRecoveredAfterItsLease() throws {
        let (q, gate, container, host) = twoWorkersInTwoNamespaces()
        #expect(eventually { q.jobs().values.allSatisfy { $0["state"] as? String == "processing" } })
        let inContainer = try #require(q.jobs().first { $0.value["worker_pid"] as? Int == 1 }?.key)

        // Commands on the host take the lock again and again for longer than the lease: the
        // container's worker renews it, and nobody's job is recovered.
        let until = Date().addingTimeInterval(3)
        while Date() < until {
            q.ok("config", "set", "max-backoff", "0")
            usleep(100_000)
        }
        for (id, job) in q.jobs() {
            #expect(job["state"] as? String == "processing", "\(id) was taken from its live worker")
            #expect(job["attempts"] as? Int == 0)
        }
        let status = q.ok("status")
        #expect(status.contains("in another PID namespace; alive by its lease"), "\(status)")
        #expect(q.ok("show", inContainer).contains("alive by its lease"))

        // The container goes; its job is recovered only once the lease has run out.
        container.signal(SIGKILL)
        container.wait()
        q.ok("config", "set", "max-backoff", "0")
        #expect(q.state(of: inContainer) == "processing", "recovered before its worker's lease ran out")
        #expect(eventually(within: 10) {
            q.ok("config", "set", "max-backoff", "0")
            return q.state(of: inContainer) != "processing"
        })
        #expect(q.jobs()[inContainer]?["last_error"] as? String == "worker lost")
        _ = FileManager.default.createFile(atPath: gate, contents: nil)
        #expect(eventually { q.jobs().values.allSatisfy { $0["state"] as? String == "completed" } })
        host.signal(SIGINT)
        #expect(host.wait(seconds: 10) == 0)
    }

    /// A command holding the lock longer than the lease (stopped, say) while both workers have
    /// results to record: each keeps renewing its lease between tries of the lock, so neither is
    /// judged gone and no job is taken from its live worker.
    @Test(.enabled(if: pidNamespacesWork))
    func aLockHeldLongerThanTheLeaseCostsNoLiveWorkerItsJobs() throws {
        let (q, gate, container, host) = twoWorkersInTwoNamespaces()
        #expect(eventually { q.jobs().values.allSatisfy { $0["child_pid"] != nil } })
        let holder = try LockHolderProcess(q)
        try holder.stop()
        // Both runs end while the lock is held: both workers want it for 3 s, longer than the lease.
        _ = FileManager.default.createFile(atPath: gate, contents: nil)
        usleep(3_000_000)
        holder.end()
        #expect(eventually { q.jobs().values.allSatisfy { $0["state"] as? String == "completed" } })
        for (id, job) in q.jobs() {
            #expect(job["attempts"] as? Int == 0, "\(id) was taken from its live worker: \(job)")
        }
        #expect(!host.stdout().contains("no longer this worker's job"), "\(host.stdout())")
        #expect(!container.stdout().contains("no longer this worker's job"), "\(container.stdout())")
        host.signal(SIGINT)
        #expect(host.wait(seconds: 10) == 0)
        container.signal(SIGKILL)  // unshare passes no signal on; --kill-child ends the worker with it
        container.wait()
    }
}
