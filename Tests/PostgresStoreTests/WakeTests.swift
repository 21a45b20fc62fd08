import JobManager
import PostgresStore
import QueueStorage
import QueueSystem
import Testing
import TestSupport

/// Which changes wake a PostgreSQL worker: those that can make a job claimable. Another worker's
/// claims, and runs it completed that nothing waits for, are announced as quiet; views still hear them.
@Suite(.enabled(if: testPostgres != nil, "QUEUECTL_TEST_POSTGRES is not set: Scripts/test.sh starts a server with Scripts/postgres.sh"))
struct WakeTests {
    /// Drains the worker's wake-ups that arrived within a short while; true if one was news to it.
    func woken(_ session: Session) throws -> Bool {
        var news = false
        let deadline = monotonicMilliseconds() + 300
        while monotonicMilliseconds() < deadline {
            _ = waitForInput([session.session.wakeDescriptor], timeoutMilliseconds: 50)
            if session.session.takeWake() { news = true }
        }
        return news
    }

    @Test func anotherWorkersClaimsAndPlainCompletionsAreQuietAndAnEnqueueIsNot() throws {
        let q = try Queue(.postgres)
        let a = try q.session(), b = try q.session()
        let view = try q.store.changeNotifier()
        _ = try woken(b)
        try q.enqueue("x", "y")
        #expect(try woken(b), "an enqueue wakes a worker")
        let claimed = try a.claim(1)
        #expect(claimed.count == 1)
        #expect(try !woken(b), "another worker's claim frees nothing")
        try a.exchange(results: [claimed[0]: .exited(.exited(0))])
        #expect(try !woken(b), "a completion nothing waits for frees nothing")
        view.drain()
        try q.enqueue("z")
        #expect(!waitForInput([view.descriptor], timeoutMilliseconds: 2_000).isEmpty, "a view hears every change")
    }

    /// A channel belongs to the whole database; queues kept apart by schema must not hear each other.
    @Test func aQueueInAnotherSchemaOfTheDatabaseWakesNoOne() throws {
        let q = try Queue(.postgres), other = try Queue(.postgres)
        let worker = try q.session()
        let view = try q.store.changeNotifier()
        _ = try woken(worker)
        view.drain()
        try other.enqueue("elsewhere")
        #expect(try !woken(worker), "another schema's enqueue is not this queue's")
        #expect(waitForInput([view.descriptor], timeoutMilliseconds: 300).isEmpty, "nor does a view of this queue hear it")
        try q.enqueue("here")
        #expect(try woken(worker), "this queue's own enqueue still wakes it")
    }

    @Test func aCompletionThatAJobWaitsForWakesTheOtherWorkers() throws {
        let q = try Queue(.postgres)
        let a = try q.session(), b = try q.session()
        try q.enqueue("first")
        var dependent = JobInput(command: "true")
        dependent.id = "second"
        dependent.after = ["first"]
        _ = try q.enqueue([dependent])
        #expect(try a.claim(2) == ["first"])
        _ = try woken(b)
        try a.exchange(results: ["first": .exited(.exited(0))])
        #expect(try woken(b), "a completion that frees a waiting job is news")
    }
}
