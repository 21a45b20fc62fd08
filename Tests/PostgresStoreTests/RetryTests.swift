import Foundation
import JobManager
import PostgresStore
import QueueStorage
import QueueSystem
import Testing
import TestSupport

/// A transaction the server fails with a serialization failure (40001) is run again from its start;
/// what the failed attempt sent was rolled back, so the new attempt must send it all again.
@Suite(.enabled(if: testPostgres != nil, "QUEUECTL_TEST_POSTGRES is not set: Scripts/test.sh starts a server with Scripts/postgres.sh"))
struct RetryTests {
    @Test func anExchangeRunAgainAfterASerializationFailureStillStoresTheRunsLog() throws {
        let q = try Queue(.postgres)
        let db = try #require(q.sandbox)
        try q.enqueue("x")
        let w = try q.session()
        #expect(try w.claim(1) == ["x"])
        // The run's output, as the worker's log writer leaves it on this host.
        let log = "=== queuectl: run 1 of 3, started 2026-01-01T00:00:00.000Z ===\nsome output\n=== queuectl: exit 0 after 0.1s ===\n"
        try Data(log.utf8).write(to: URL(fileURLWithPath: q.store.home.logPath(for: "x")))
        // The first change of the settings row (the counters, in the exchange's last statement)
        // fails once; a sequence counts, since a rollback does not undo it.
        _ = try db.sql("""
            CREATE SEQUENCE fail_once;
            CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('fail_once') = 1 THEN RAISE EXCEPTION 'made to fail once' USING ERRCODE = '40001'; END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER fail_once BEFORE UPDATE ON queuectl_meta FOR EACH ROW EXECUTE FUNCTION fail_once();
            """)
        try w.finish(["x": 0])
        let calls = try db.sql("SELECT last_value FROM fail_once").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(calls == "2", "the exchange failed once and ran again: \(calls)")
        #expect(try q.job("x").state == .completed)
        #expect(try q.store.log("x").map { String(decoding: $0, as: UTF8.self) } == log, "the whole log is in the database")
    }
}
