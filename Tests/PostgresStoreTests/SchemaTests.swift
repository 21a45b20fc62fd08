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
        #expect(try store.initialize().hasPrefix("created the queuectl tables (schema 1)"))
        #expect(try store.initialize().hasSuffix("are at schema 1 already; nothing to do"))
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
        try db.sql("UPDATE queuectl_meta SET schema_version = 2")
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
            #expect(message?.contains("are at schema 2, newer than this queuectl knows (1)") == true, "\(message ?? "accepted")")
        }
        #expect(try db.sql("SELECT schema_version FROM queuectl_meta") == "2\n")
    }
}
