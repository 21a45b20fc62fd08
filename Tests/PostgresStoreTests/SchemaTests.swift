import Dispatch
import Foundation
import JobManager
import PostgresStore
import QueueStorage
import QueueSystem
import Synchronization
import Testing
import TestSupport

@Suite(.enabled(if: testPostgres != nil, "QUEUECTL_TEST_POSTGRES is not set: Scripts/test.sh starts a server with Scripts/postgres.sh"))
struct SchemaTests {
    @Test func initCreatesTheTablesOnceAndSaysSoTheSecondTime() throws {
        let db = PostgresSandbox()
        let store = PostgresQueueStore(conninfo: db.conninfo, home: QueueHome(directory: "/nonexistent"))
        #expect(try store.initialize().hasPrefix("created the queuectl tables (schema 2)"))
        #expect(try store.initialize().hasSuffix("are at schema 2 already; nothing to do"))
        #expect(try db.sql("SELECT count(*) FROM queuectl_meta") == "1\n")
    }

    @Test func aDatabaseWithoutTheTablesSaysToRunStoreInit() throws {
        let db = PostgresSandbox()
        let store = PostgresQueueStore(conninfo: db.conninfo, home: QueueHome(directory: "/nonexistent"))
        do {
            _ = try store.read(.none)
            Issue.record("read a database without the tables")
        } catch {
            #expect(error.message.hasSuffix("has no queuectl tables yet: create them with 'queuectl store init'"))
        }
    }

    @Test func aNewerSchemaIsRefusedAndLeftAsItIs() throws {
        let db = PostgresSandbox()
        let store = PostgresQueueStore(conninfo: db.conninfo, home: QueueHome(directory: "/nonexistent"))
        _ = try store.initialize()
        try db.sql("UPDATE queuectl_meta SET schema_version = 3")
        func refusal(_ attempt: () throws(QueueError) -> Void) -> String? {
            do {
                try attempt()
                return nil
            } catch {
                return error.message
            }
        }
        for message in [refusal { () throws(QueueError) in _ = try store.read(.none) },
                        refusal { () throws(QueueError) in _ = try store.initialize() }] {
            #expect(message?.contains("are at schema 3, newer than this queuectl knows (2)") == true, "\(message ?? "accepted")")
        }
        #expect(try db.sql("SELECT schema_version FROM queuectl_meta") == "3\n")
    }

    /// Schema 1 kept the counts by triggers: with them still there, each write would count twice. Such
    /// tables are refused until `store init` takes the triggers away and counts the jobs again.
    @Test func aSchema1DatabaseIsRefusedUntilStoreInitBringsItUp() throws {
        let q = try Queue(.postgres)
        let db = try #require(q.sandbox)
        try q.enqueue("a", "b", "c")
        try db.sql(backToSchema1)
        try db.sql("DELETE FROM queuectl_counts WHERE state = 'pending'")  // off, to be counted again
        do {
            _ = try q.store.read(.none)
            Issue.record("read schema 1 tables")
        } catch {
            #expect(error.message.hasSuffix("are at schema 1, older than this queuectl's (2); they have been left as they are: "
                + "bring them up to date with 'queuectl store init'"), "\(error)")
        }
        #expect(throws: QueueError.self) { try q.enqueue("d") }
        #expect(try db.sql("SELECT count(*) FROM queuectl_jobs") == "3\n")

        let postgres = try #require(q.store as? PostgresQueueStore)
        #expect(try postgres.initialize().hasSuffix("from schema 1 up to 2"))
        #expect(try db.sql("SELECT schema_version FROM queuectl_meta") == "2\n")
        #expect(try db.sql("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'queuectl_jobs'::regclass AND NOT tgisinternal") == "0\n")
        #expect(try db.sql("SELECT count(*) FROM pg_proc WHERE proname LIKE 'queuectl_count%' AND pronamespace = current_schema()::regnamespace") == "0\n")
        #expect(try db.sql(countsBesideJobs.counts) == "default pending 3\n")
        try q.enqueue("d")
        #expect(try db.sql(countsBesideJobs.counts) == "default pending 4\n", "counted once, not by a trigger too")
        #expect(try postgres.initialize().hasSuffix("are at schema 2 already; nothing to do"))
    }

    /// The counts are kept by queuectl's own writes: after every kind of change they are still the jobs.
    @Test func theCountsAreStillTheJobsAfterEveryKindOfChange() throws {
        let q = try Queue(.postgres)
        let db = try #require(q.sandbox)
        func agree(_ step: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            #expect(try db.sql(countsBesideJobs.counts) == db.sql(countsBesideJobs.jobs), "after \(step)", sourceLocation: sourceLocation)
        }
        try q.set("max-retries", "1")
        try q.set("keep-completed", "1")
        var inputs = (1...6).map { n in
            var input = JobInput(id: "j\(n)", command: "true")
            if n % 2 == 0 { input.queue = "even" }
            return input
        }
        var waiting = JobInput(id: "j7", command: "true")
        waiting.after = ["j3"]
        inputs.append(waiting)
        try q.enqueue(inputs)
        try agree("an enqueue into two queues")
        let w = try q.session()
        #expect(try w.claim(4) == ["j1", "j2", "j3", "j4"])
        try agree("claims")
        try w.exchange(results: ["j1": .exited(.exited(0)), "j2": .exited(.exited(0)), "j4": .exited(.exited(0)), "j3": .exited(.exited(3))],
                       prune: true)
        #expect(try db.sql("SELECT string_agg(id || ' ' || state, ', ' ORDER BY id) FROM queuectl_jobs")
                == "j3 dead, j4 completed, j5 pending, j6 pending, j7 dead\n", "pruned to one completed; j7 died with j3")
        try agree("completions, a retention prune, a death and a death by dependency")
        try q.dlqRetry(["j3"])
        #expect(try q.job("j7").state == .pending, "back with its dependency")
        try agree("a retry from the DLQ, which brings a job back with it")
        let claimed = try w.exchange(claim: 1).claimed
        #expect(claimed.map(\.id) == ["j3"])
        try w.giveBack(["j3"], of: claimed)
        try agree("a claim given back")
        let gone = try StandIn()
        let other = try q.session(gone.identity)
        #expect(try other.claim(1) == ["j3"])
        gone.kill()
        try q.touch()
        #expect(try q.job("j3").state != .processing, "recovered")
        try agree("the recovery of a gone worker's job")
        try q.cancel(["j6"])
        try agree("a cancelled job")
        try q.store.transaction(.ids(["j5"]), onExistingJobs: true) { (s) throws(QueueError) in
            _ = try JobManager.edit("j5", JobEdit(queue: "moved"), in: &s)
        }
        try agree("a move to another queue")
    }

    /// A retention prune that waits for a completed job's row while another transaction restarts it
    /// leaves the job, now pending, and its count: the row is checked again as it is.
    @Test func aJobRestartedWhileAPruneWaitsForItIsNeitherPrunedNorMiscounted() throws {
        let q = try Queue(.postgres)
        let db = try #require(q.sandbox)
        try q.set("keep-completed", "1")
        try q.enqueue("x", "a", "b")
        let w = try q.session()
        #expect(try w.claim(1) == ["x"])
        try w.finish(["x": 0])
        #expect(try w.claim(2) == ["a", "b"])
        let locked = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        let failures = Failures()
        let conninfo = db.conninfo
        Thread.detachNewThread {
            defer { done.signal() }
            do {
                let other = try PostgresConnection(conninfo)
                try other.execute("BEGIN")
                _ = try other.query("SELECT 1 FROM queuectl_jobs WHERE id = 'x' FOR UPDATE")
                locked.signal()
                // Until the prune waits for the row.
                let deadline = monotonicMilliseconds() + 20_000
                while try other.query("SELECT count(*) AS n FROM pg_locks WHERE NOT granted")[0, "n"] == "0" {
                    guard monotonicMilliseconds() < deadline else { throw ContractFailure("the prune never waited for the row") }
                    usleep(2_000)
                }
                // As `restart` would, with the counts.
                try other.execute("UPDATE queuectl_jobs SET state = 'pending' WHERE id = 'x'; "
                    + "INSERT INTO queuectl_counts (queue, state, stripe, n) VALUES ('default', 'completed', 99, -1), ('default', 'pending', 99, 1)")
                try other.execute("COMMIT")
            } catch {
                locked.signal()
                failures.add("\(error)")
            }
        }
        locked.wait()
        try w.exchange(results: ["a": .exited(.exited(0)), "b": .exited(.exited(0))], prune: true)
        done.wait()
        #expect(failures.all.isEmpty, "\(failures.all)")
        #expect(try db.sql("SELECT string_agg(id || ' ' || state, ', ' ORDER BY id) FROM queuectl_jobs") == "b completed, x pending\n")
        #expect(try db.sql(countsBesideJobs.counts) == db.sql(countsBesideJobs.jobs))
    }

    /// `store init` on tables at this schema takes the counts again when they are off.
    @Test func storeInitTakesCountsThatAreOffAgain() throws {
        let q = try Queue(.postgres)
        let db = try #require(q.sandbox)
        try q.enqueue("a", "b")
        let postgres = try #require(q.store as? PostgresQueueStore)
        #expect(try postgres.initialize().hasSuffix("are at schema 2 already; nothing to do"))
        try db.sql("DELETE FROM queuectl_jobs WHERE id = 'a'")  // by hand
        #expect(try postgres.initialize().hasSuffix("their counts of jobs per queue and state were off (a row changed by hand?) "
            + "and have been taken again from the jobs"))
        #expect(try db.sql(countsBesideJobs.counts) == "default pending 1\n")
        #expect(try postgres.initialize().hasSuffix("nothing to do"))
    }
}

/// Errors a test's other thread met.
final class Failures: Sendable {
    private let list = Mutex<[String]>([])
    func add(_ failure: String) { list.withLock { $0.append(failure) } }
    var all: [String] { list.withLock { $0 } }
}
