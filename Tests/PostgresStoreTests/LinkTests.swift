import Glibc
import Testing
@testable import PostgresStore
import QueueStorage
import QueueSystem

/// A transaction's BEGIN goes with its first statement, and its COMMIT may go with its last: the
/// transaction must be the same as when each went alone.
@Suite(.enabled(if: testServer != nil, "QUEUECTL_TEST_POSTGRES is not set: Scripts/test.sh starts a server with Scripts/postgres.sh"))
struct LinkTests {
    /// A table of its own for a test, which other connections can see; dropped by `drop`.
    func table(_ link: Link, _ name: String, _ columns: String = "n int PRIMARY KEY") throws -> String {
        let table = "queuectl_link_\(name)_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
        try link.sql("CREATE TABLE \(table) (\(columns))", prepare: false)
        return table
    }

    func rows(_ table: String) throws -> [[String?]] {
        try PostgresConnection(testServer!).query("SELECT n FROM \(table) ORDER BY n").values
    }

    /// The QueueError `body` throws; nil if it throws none (a test failure if it throws another).
    func failure(_ body: () throws -> Void) -> QueueError? {
        do {
            try body()
            return nil
        } catch let error as QueueError {
            return error
        } catch {
            Issue.record("not a QueueError: \(error)")
            return nil
        }
    }

    @Test func theFirstStatementIsInsideTheTransaction() throws {
        let link = Link(conninfo: testServer!)
        let t = try table(link, "first")
        defer { _ = try? link.sql("DROP TABLE \(t)", prepare: false) }
        let divided = failure {
            try link.transaction { () throws(QueueError) in
                try link.sql("INSERT INTO \(t) VALUES (1)")
                try link.sql("SELECT 1 / 0 AS n")
            }
        }
        #expect(divided?.message.contains("division by zero") == true, "\(String(describing: divided))")
        #expect(link.lastSQLState == "22012")
        #expect(try rows(t) == [], "the INSERT sent along with the BEGIN was rolled back with the rest")
        // The link goes on: a transaction after it, and a statement outside one.
        try link.transaction { () throws(QueueError) in _ = try link.sql("INSERT INTO \(t) VALUES (2)") }
        try link.sql("INSERT INTO \(t) VALUES (3)")
        #expect(try rows(t) == [["2"], ["3"]])
        // A read-only transaction is read-only from its first statement on.
        let written = failure { try link.transaction(readOnly: true) { () throws(QueueError) in _ = try link.sql("INSERT INTO \(t) VALUES (4)") } }
        #expect(written != nil && link.lastSQLState == "25006", "\(String(describing: written))")
        #expect(try rows(t) == [["2"], ["3"]])
    }

    @Test func theLastStatementCanTakeTheCommitAlong() throws {
        let link = Link(conninfo: testServer!)
        let t = try table(link, "last")
        defer { _ = try? link.sql("DROP TABLE \(t)", prepare: false) }
        let answer = try link.transaction { () throws(QueueError) -> String? in
            try link.sql("INSERT INTO \(t) VALUES (1)")
            return try link.sql("INSERT INTO \(t) VALUES (2) RETURNING n", committing: true)[0, "n"]
        }
        #expect(answer == "2")
        #expect(try rows(t) == [["1"], ["2"]], "committed: another session sees both rows")
        // The statement itself only: the whole transaction is rolled back.
        #expect(failure {
            try link.transaction { () throws(QueueError) in
                try link.sql("INSERT INTO \(t) VALUES (3)")
                try link.sql("SELECT 1 / 0 AS n", committing: true)
            }
        } != nil)
        #expect(try rows(t) == [["1"], ["2"]])
        // One statement, its BEGIN and its COMMIT, in one go.
        try link.transaction { () throws(QueueError) in _ = try link.sql("INSERT INTO \(t) VALUES (4)", committing: true) }
        #expect(try rows(t) == [["1"], ["2"], ["4"]])
    }

    @Test func aStatementSentLaterGoesWithTheNextAndItsFailureIsThatOnes() throws {
        let link = Link(conninfo: testServer!)
        let t = try table(link, "later")
        defer { _ = try? link.sql("DROP TABLE \(t)", prepare: false) }
        let seen = try link.transaction { () throws(QueueError) -> String? in
            link.sqlLater("INSERT INTO \(t) VALUES ($1)", ["1"])
            link.sqlLater("INSERT INTO \(t) VALUES ($1)", ["2"])
            return try link.sql("SELECT count(*) AS n FROM \(t)")[0, "n"]
        }
        #expect(seen == "2", "the statement after them sees what they did")
        // Left to go with the COMMIT, alone or with a last statement.
        try link.transaction { () throws(QueueError) in link.sqlLater("INSERT INTO \(t) VALUES (3)") }
        try link.transaction { () throws(QueueError) in
            link.sqlLater("INSERT INTO \(t) VALUES (4)")
            _ = try link.sql("INSERT INTO \(t) VALUES (5)", committing: true)
        }
        #expect(try rows(t) == [["1"], ["2"], ["3"], ["4"], ["5"]])
        // A failure of one is the failure of the statement it went with, which never ran.
        let divided = failure {
            try link.transaction { () throws(QueueError) in
                link.sqlLater("INSERT INTO \(t) VALUES (6)")
                link.sqlLater("SELECT 1 / 0 AS n")
                _ = try link.sql("INSERT INTO \(t) VALUES (7)")
            }
        }
        #expect(divided != nil && link.lastSQLState == "22012", "\(String(describing: divided))")
        // A body that throws before they are sent: they never are.
        _ = failure {
            try link.transaction { () throws(QueueError) in
                link.sqlLater("INSERT INTO \(t) VALUES (8)")
                throw QueueError.failure("stop")
            }
        }
        #expect(try rows(t) == [["1"], ["2"], ["3"], ["4"], ["5"]])
        try link.sql("INSERT INTO \(t) VALUES (9)")
        #expect(try rows(t).count == 6)
    }

    /// A body that throws after its COMMIT went: the error comes out, once, and what was committed stays.
    @Test func aBodyThatThrowsAfterItsCommitIsNotRunAgain() throws {
        let link = Link(conninfo: testServer!)
        let t = try table(link, "after")
        defer { _ = try? link.sql("DROP TABLE \(t)", prepare: false) }
        var runs = 0
        let thrown = failure {
            try link.transaction { () throws(QueueError) in
                runs += 1
                _ = try link.sql("INSERT INTO \(t) VALUES (\(runs))", committing: true)
                throw QueueError.failure("after the commit")
            }
        }
        #expect(thrown?.message == "after the commit" && runs == 1)
        #expect(try rows(t) == [["1"]])
        try link.transaction { () throws(QueueError) in _ = try link.sql("INSERT INTO \(t) VALUES (2)") }
        #expect(try rows(t) == [["1"], ["2"]])
    }

    /// A COMMIT that fails (a deferred constraint is checked only then) fails the transaction, which
    /// keeps nothing, however it was sent.
    @Test(arguments: [false, true]) func aCommitThatFailsKeepsNothing(committingAlong: Bool) throws {
        let link = Link(conninfo: testServer!)
        let parent = try table(link, "parent")
        let child = try table(link, "child", "n int REFERENCES \(parent) (n) DEFERRABLE INITIALLY DEFERRED")
        defer { _ = try? link.sql("DROP TABLE \(child), \(parent)", prepare: false) }
        let refused = failure {
            try link.transaction { () throws(QueueError) in
                _ = try link.sql("INSERT INTO \(child) VALUES (7)", committing: committingAlong)
            }
        }
        #expect(refused != nil && link.lastSQLState == "23503", "\(String(describing: refused))")
        #expect(try rows(child) == [])
        try link.transaction { () throws(QueueError) in
            try link.sql("INSERT INTO \(parent) VALUES (7)")
            try link.sql("INSERT INTO \(child) VALUES (7)", committing: committingAlong)
        }
        #expect(try rows(child) == [["7"]])
    }

    /// A failure the body let pass leaves the transaction failed: its COMMIT is a ROLLBACK, which
    /// the transaction says, sent alone or with the last statement.
    @Test(arguments: [false, true]) func aFailureTheBodyLetPassIsNotCommitted(committingAlong: Bool) throws {
        let link = Link(conninfo: testServer!)
        let t = try table(link, "swallowed")
        defer { _ = try? link.sql("DROP TABLE \(t)", prepare: false) }
        let swallowed = failure {
            try link.transaction { () throws(QueueError) in
                _ = try link.sql("INSERT INTO \(t) VALUES (1)")
                _ = try? link.sql("SELECT 1 / 0 AS n")
                if committingAlong { _ = try link.sql("SELECT 2 AS n", committing: true) }
            }
        }
        #expect(swallowed != nil && link.lastSQLState == "25P02", "\(String(describing: swallowed))")
        #expect(try rows(t) == [])
        try link.transaction { () throws(QueueError) in _ = try link.sql("INSERT INTO \(t) VALUES (2)") }
        #expect(try rows(t) == [["2"]])
    }

    /// A worker's statement that waits past the server's `statement_timeout` fails there, before the
    /// COMMIT sent with it, so a transaction reported failed never commits later, when the lock it
    /// waited for is free. The session is followed until its backend is gone.
    @Test(arguments: [false, true]) func aTransactionGivenUpOnNeverCommitsLater(committingAlong: Bool) throws {
        let link = Link(conninfo: testServer!)
        let t = try table(link, "late")
        let other = try PostgresConnection(testServer!)
        defer { _ = try? other.execute("DROP TABLE \(t)") }
        try other.execute("INSERT INTO \(t) VALUES (100)")
        link.timeoutMilliseconds = 400
        link.statementTimeoutMilliseconds = 300
        let backend = try #require(try link.sql("SELECT pg_backend_pid() AS pid")[0, "pid"])
        let holder = try PostgresConnection(testServer!)
        try holder.execute("BEGIN")
        _ = try holder.query("SELECT n FROM \(t) WHERE n = 100 FOR UPDATE")
        let gaveUp = failure {
            try link.transaction { () throws(QueueError) in
                _ = try link.sql("INSERT INTO \(t) VALUES (1)")
                _ = try link.sql("UPDATE \(t) SET n = 101 WHERE n = 100", committing: committingAlong)
            }
        }
        #expect(gaveUp != nil && link.lastSQLState == "57014", "the server gave the statement up: \(String(describing: gaveUp))")
        try holder.execute("COMMIT")
        link.statementTimeoutMilliseconds = nil  // the connection goes: its backend ends
        #expect(try poll { try other.query("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = $1 AND state <> 'idle'", [backend])[0, "n"] == "0" })
        #expect(try rows(t) == [["100"]], "reported failed, and nothing of it committed")
    }

    /// Nothing is sent for a transaction whose body runs no statement: not even a connection is made.
    @Test func aTransactionThatRunsNoStatementSendsNothing() throws {
        let link = Link(conninfo: "host=/nonexistent/queuectl-test dbname=nothing")
        #expect(try link.transaction { () throws(QueueError) -> Int in 7 } == 7)
        #expect(!link.isConnected)
        let refused = failure { try link.transaction { () throws(QueueError) in _ = try link.sql("SELECT 1 AS n") } }
        #expect(refused?.message.hasPrefix("cannot connect to the PostgreSQL store") == true, "\(String(describing: refused))")
    }
}
