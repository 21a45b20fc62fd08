import JobManager
import PostgresStore
import QueueStorage
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
        try q.enqueue((1...6).map { n in
            var input = JobInput(id: "j\(n)", command: "true")
            if n % 2 == 0 { input.queue = "even" }
            return input
        })
        try agree("an enqueue into two queues")
        let w = try q.session()
        let claimed = try w.claim(4)
        try agree("claims")
        try w.exchange(results: [claimed[0]: .exited(.exited(0)), claimed[1]: .exited(.exited(0)), claimed[2]: .exited(.exited(3))],
                       prune: true)
        try agree("a completion, a retention prune and a death")
        try q.dlqRetry([claimed[2]])
        try agree("a retry from the DLQ")
        try q.cancel(["j6", claimed[3]])
        try agree("cancelling a pending job and asking a running one to stop")
        try q.store.transaction(.ids(["j5"]), onExistingJobs: true) { (s) throws(QueueError) in
            _ = try JobManager.edit("j5", JobEdit(queue: "moved"), in: &s)
        }
        try agree("a move to another queue")
        #expect(try db.sql(countsBesideJobs.jobs) != "", "some jobs are left to count")
    }
}
