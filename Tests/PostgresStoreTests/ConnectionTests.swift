import Glibc
import Synchronization
import Testing
@testable import PostgresStore
import QueueSystem

/// The test server's libpq connection string, a keyword/value one (tests add `user=` to it):
/// Scripts/test.sh starts a throwaway cluster with Scripts/postgres.sh and sets it.
let testServer = Console.environment("QUEUECTL_TEST_POSTGRES")
let underCI = Console.environment("CI") == "true"

@Suite struct TestServerTests {
    @Test(.enabled(if: underCI, "only CI insists on a PostgreSQL server"))
    func aServerIsGivenUnderCI() {
        #expect(testServer != nil, "QUEUECTL_TEST_POSTGRES is not set: Scripts/test.sh starts a server with Scripts/postgres.sh")
    }
}

@Suite struct ConnectionStringTests {
    @Test func quotedValuesAreLeftOutOfLibpqsComplaintsButNamesStay() {
        #expect(LibPQ.withoutQuotedValues(#"invalid connection option "dbnmae""#) == #"invalid connection option "dbnmae""#)
        #expect(LibPQ.withoutQuotedValues(#"missing "=" after "hunter2" in connection info string"#) == #"missing "=" after "…" in connection info string"#)
        #expect(LibPQ.withoutQuotedValues(#"in URI: "postgresql://u:secret@[::1/d""#) == #"in URI: "…""#)
        #expect(LibPQ.withoutQuotedValues(#"unpaired: "hunter2"#) == #"unpaired: "…"#)
    }

    /// PostgreSQL's message for a full disk can name only a file and a block; its hint is not kept.
    @Test func aFullDiskOnTheServerIsSaidInWords() {
        let full = PostgresError(sqlState: "53100", message: #"could not extend file "base/1/2": wrote only 4096 of 8192 bytes at block 7"#,
                                 server: "db:5432 database q")
        #expect(full.description == #"PostgreSQL at db:5432 database q: the server's disk is full: could not extend file "base/1/2": wrote only 4096 of 8192 bytes at block 7"#)
        #expect(PostgresError(sqlState: "23505", message: "duplicate key", server: "").description == "PostgreSQL: duplicate key")
    }

    @Test func aMissingLibpqSaysHowToInstallIt() {
        #expect {
            _ = try LibPQ(libraryNamed: "libpq-queuectl-missing.so.5")
        } throws: { error in
            guard let error = error as? PostgresError else { return false }
            return error.sqlState == nil && error.server.isEmpty
                && error.message.hasPrefix("cannot load libpq-queuectl-missing.so.5 (libpq-queuectl-missing.so.5: cannot open")
                && error.message.hasSuffix("): install it with apt-get install libpq5")
                && error.description == "PostgreSQL: \(error.message)"
        }
    }
}

@Suite(.enabled(if: testServer != nil, "QUEUECTL_TEST_POSTGRES is not set: Scripts/test.sh starts a server with Scripts/postgres.sh"))
struct ConnectionTests {
    func connect(_ extra: String = "") throws(PostgresError) -> PostgresConnection {
        try PostgresConnection(testServer! + (extra.isEmpty ? "" : " " + extra))
    }

    /// The PostgresError `body` throws; a test failure, and nil, if it throws none or another error.
    func failure(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> PostgresError? {
        do {
            try body()
        } catch let error as PostgresError {
            return error
        } catch {
            Issue.record("not a PostgresError: \(error)", sourceLocation: sourceLocation)
            return nil
        }
        Issue.record("no error was thrown", sourceLocation: sourceLocation)
        return nil
    }

    func count(_ table: String, _ db: borrowing PostgresConnection) throws -> Int? {
        try db.query("SELECT count(*) AS n FROM \(table)")[0, "n"].flatMap { Int($0) }
    }

    @Test func libpqIsLoadedAndSaysItsVersion() throws {
        #expect(try PostgresConnection.libraryVersion() >= 100_000)
    }

    @Test func aStatementWithADeadlineGivesUpOnAServerThatDoesNotAnswerInTime() throws {
        let db = try connect()
        #expect(try db.query("SELECT $1::int + 1 AS n", ["1"], within: 5_000)[0, "n"] == "2", "an answer in time is the answer")
        let started = monotonicMilliseconds()
        let late = try #require(failure { _ = try db.query("SELECT pg_sleep(5)", [], within: 300) })
        let waited = monotonicMilliseconds() - started
        #expect(waited >= 300 && waited < 2_000, "gave up after \(waited) ms")
        #expect(late.isConnectionLost, "the connection is of no further use: \(late)")
        #expect(late.message.contains("no answer within 300ms"), "\(late)")
    }

    @Test func parametersAndResultsRoundTripNullsQuotesAndUnicode() throws {
        let db = try connect()
        let quoted = #"it's "quoted"; \ back\slash, $1 and -- not a comment"#
        let unicode = "héllo ✓ 日本語 🐘 \u{301}"
        let rows = try db.query("SELECT $1::text AS a, $2::text AS b, $3::text AS c, $4::int + 1 AS d, $1 IS NULL AS e",
                                [nil, quoted, unicode, "41"])
        #expect(rows.columns == ["a", "b", "c", "d", "e"])
        #expect(rows.count == 1)
        #expect(rows.values[0] == [nil, quoted, unicode, "42", "t"])
        #expect(rows[0, "c"] == unicode)
        #expect(rows.affected == 1)
        #expect(try db.query("SELECT '' AS empty")[0, "empty"] == "")

        let nul = failure { _ = try db.query("SELECT $1::text", ["cut\u{0}here"]) }
        #expect(nul?.sqlState == "22021")
    }

    /// How many times the session has `sql` prepared.
    func prepared(_ sql: String, _ db: borrowing PostgresConnection) throws -> Int {
        try db.query("SELECT statement FROM pg_prepared_statements").values.filter { $0[0] == sql }.count
    }

    @Test func aStatementRunAgainIsPreparedOnceAndRunsAsBefore() throws {
        let db = try connect()
        let sql = "SELECT $1::int * 2 AS twice, $2::text IS NULL AS missing"
        #expect(try db.query(sql, ["1", "a"]).values == [["2", "f"]])
        #expect(try prepared(sql, db) == 0)
        #expect(try db.query(sql, ["2", nil]).values == [["4", "t"]])
        #expect(try db.query(sql, ["3", "b"]).values == [["6", "f"]])
        #expect(try prepared(sql, db) == 1)
        // The same with a time limit, which sends and waits on the socket.
        #expect(try db.query(sql, ["4", nil], within: 5_000).values == [["8", "t"]])
        let timed = "SELECT $1::text || '?' AS asked"
        for word in ["a", "b", "c"] { #expect(try db.query(timed, [word], within: 5_000).values == [["\(word)?"]]) }
        #expect(try prepared(sql, db) == 1 && prepared(timed, db) == 1)
        // Unless told not to.
        for _ in 0..<3 { _ = try db.query("SELECT 'as text' AS kept", prepare: false) }
        #expect(try prepared("SELECT 'as text' AS kept", db) == 0)
        // Prepared in a transaction that is rolled back, it stays prepared: the session keeps it.
        let other = "SELECT $1::text || '!' AS said"
        let stop = PostgresError(sqlState: nil, message: "stop", server: "")
        _ = failure {
            try db.transaction { t throws(PostgresError) in
                _ = try t.query(other, ["a"])
                _ = try t.query(other, ["b"])
                throw stop
            }
        }
        #expect(try db.query(other, ["c"]).values == [["c!"]])
        #expect(try prepared(other, db) == 1)
        // One that fails to prepare is not kept: it fails the same each time.
        for _ in 0..<3 { #expect(failure { _ = try db.query("SELEC $1", ["x"]) }?.sqlState == "42601") }
    }

    @Test func aSyntaxErrorHasItsCodeAndSaysWhichServer() throws {
        let db = try connect()
        let database = try #require(try db.query("SELECT current_database() AS d")[0, "d"])
        #expect(db.server.hasSuffix(" database \(database)"), "\(db.server)")
        #expect(db.server.hasPrefix("/") ? db.server.contains("/.s.PGSQL.") : db.server.contains(":"), "\(db.server)")

        let error = try #require(failure { _ = try db.query("SELEC 1") })
        #expect(error.sqlState == "42601")
        #expect(error.message == #"syntax error at or near "SELEC""#)
        #expect(error.server == db.server)
        #expect(error.description == "PostgreSQL at \(db.server): \(error.message)")
        #expect(!error.isConnectionLost)
        let stillOK = db.isOK
        #expect(stillOK)
        #expect(try db.query("SELECT 1 AS one")[0, "one"] == "1")
    }

    @Test func aUniqueViolationHasItsCode() throws {
        let db = try connect()
        try db.execute("CREATE TEMP TABLE u (id text PRIMARY KEY)")
        #expect(try db.query("INSERT INTO u VALUES ($1)", ["a"]).affected == 1)
        let error = failure { _ = try db.query("INSERT INTO u VALUES ($1)", ["a"]) }
        #expect(error?.sqlState == "23505")
        #expect(error?.isConnectionLost == false)
        #expect(try db.query("UPDATE u SET id = id || 'x'").affected == 1)
    }

    @Test func aTransactionCommitsWhatItsBodyDid() throws {
        let db = try connect()
        try db.execute("CREATE TEMP TABLE t (n int)")
        let value = try db.transaction { t throws(PostgresError) -> Int in
            _ = try t.query("INSERT INTO t VALUES (1), (2)")
            return try t.query("SELECT count(*) AS n FROM t")[0, "n"].flatMap { Int($0) } ?? -1
        }
        #expect(value == 2)
        #expect(try count("t", db) == 2)
        // Committed, not merely visible to this session: another one sees the rows.
        let table = "queuectl_committed_\(getpid())_\(monotonicMilliseconds())"
        try db.execute("CREATE TABLE \(table) (token text)")
        defer { try? db.execute("DROP TABLE \(table)") }
        try db.transaction { t throws(PostgresError) in
            _ = try t.query("INSERT INTO \(table) VALUES ($1)", ["kept"])
        }
        let other = try connect()
        #expect(try other.query("SELECT token FROM \(table)").values == [["kept"]])
    }

    @Test func aTransactionRollsBackWhenItsBodyThrows() throws {
        let db = try connect()
        try db.execute("CREATE TEMP TABLE t (n int PRIMARY KEY)")
        let stop = PostgresError(sqlState: nil, message: "stop", server: "")
        let thrown = failure {
            try db.transaction { t throws(PostgresError) in
                _ = try t.query("INSERT INTO t VALUES (1)")
                throw stop
            }
        }
        #expect(thrown == stop)
        #expect(try count("t", db) == 0)

        // A failing statement: its error comes out, and nothing the body did stays.
        let duplicate = failure {
            try db.transaction { t throws(PostgresError) in
                _ = try t.query("INSERT INTO t VALUES (2)")
                _ = try t.query("INSERT INTO t VALUES (2)")
            }
        }
        #expect(duplicate?.sqlState == "23505")
        #expect(try count("t", db) == 0)

        // A failure the body swallowed: COMMIT would quietly roll back, so the transaction says so.
        let swallowed = failure {
            try db.transaction { t throws(PostgresError) in
                _ = try t.query("INSERT INTO t VALUES (3)")
                _ = try? t.query("INSERT INTO t VALUES (3)")
            }
        }
        #expect(swallowed?.sqlState == "25P02")
        #expect(try count("t", db) == 0)
        // And the connection is out of the transaction, ready for the next.
        try db.transaction { t throws(PostgresError) in _ = try t.query("INSERT INTO t VALUES (4)") }
        #expect(try count("t", db) == 1)
    }

    @Test func executeRunsSeveralStatementsAsOne() throws {
        let db = try connect()
        try db.execute("CREATE TEMP TABLE s (n int); INSERT INTO s VALUES (1); INSERT INTO s VALUES (2);")
        #expect(try count("s", db) == 2)
        let error = failure { try db.execute("INSERT INTO s VALUES (3); SELEC; INSERT INTO s VALUES (4)") }
        #expect(error?.sqlState == "42601")
        #expect(try count("s", db) == 2)
        let late = failure { try db.execute("INSERT INTO s VALUES (5); SELECT 1 / 0") }
        #expect(late?.sqlState == "22012")
        #expect(try count("s", db) == 2)
    }

    @Test func aNotifyWakesTheListenersSocket() throws {
        let listener = try connect(), sender = try connect()
        let channel = "queuectl_test_\(getpid())_\(monotonicMilliseconds())"
        try listener.execute("LISTEN \(channel)")
        #expect(try listener.notifications() == [])

        try sender.execute("NOTIFY \(channel), 'p'")
        let deadline = monotonicMilliseconds() + 10_000
        var received: [PostgresNotification] = []
        var readable = false
        while received.isEmpty, monotonicMilliseconds() < deadline {
            let ready = poll([(listener.socket, .readable)], timeoutMilliseconds: Int(deadline - monotonicMilliseconds()))
            readable = readable || ready[0].contains(.readable)
            received += try listener.notifications()
        }
        #expect(readable)
        #expect(received == [PostgresNotification(channel: channel, payload: "p")])
        #expect(try listener.notifications() == [])
    }

    @Test func noticesAndWarningsAreNeverWrittenToStderr() throws {
        let db = try connect()
        let marker = "queuectl-notice-\(getpid())-\(monotonicMilliseconds())"
        let written = try standardError {
            try db.execute("DO $$ BEGIN RAISE NOTICE '\(marker)'; RAISE WARNING '\(marker)'; END $$")
            _ = try db.query("DO $$ BEGIN RAISE WARNING '\(marker)'; END $$")
        }
        #expect(!written.contains(marker), "\(written)")
    }

    /// Text goes both ways as UTF-8, whatever the connection string asks for.
    @Test func theSessionIsUTF8EvenWhenTheStringAsksForAnotherEncoding() throws {
        for extra in ["", "client_encoding=LATIN1"] {
            let db = try connect(extra)
            let rows = try db.query("SELECT current_setting('client_encoding') AS e, $1::text AS t, length($1::text) AS n", ["naïve ✓ 工作"])
            #expect(rows[0, "e"] == "UTF8", "\(extra)")
            #expect(rows[0, "t"] == "naïve ✓ 工作", "\(extra)")
            #expect(rows[0, "n"] == "10", "\(extra)")
        }
    }

    @Test func aWarningWhileTheSessionStartsIsNotWrittenToStderrEither() throws {
        let admin = try connect()
        let role = "queuectl_test_\(getpid())_\(monotonicMilliseconds())"
        let missing = "queuectl_missing_\(monotonicMilliseconds())"
        // The server warns of a bad per-role setting as the role logs in, before the session is up.
        try admin.execute("CREATE ROLE \(role) LOGIN; ALTER ROLE \(role) SET default_text_search_config = '\(missing)'")
        defer { try? admin.execute("DROP ROLE \(role)") }
        let written = try standardError {
            let db = try connect("user=\(role)")
            #expect(try db.query("SELECT current_user AS u")[0, "u"] == role)
        }
        #expect(!written.contains(missing), "\(written)")
    }

    @Test func aConnectionStringsPasswordIsNeverShown() throws {
        let refused = try #require(failure { _ = try PostgresConnection("host=/nonexistent/queuectl dbname=q user=u password=hunter2") })
        #expect(refused.server == "/nonexistent/queuectl/.s.PGSQL.5432 database q")
        #expect(refused.message.contains("No such file or directory"), "\(refused)")
        #expect(refused.sqlState == nil)
        #expect(refused.isConnectionLost)

        let typo = try #require(failure { _ = try PostgresConnection("host=/tmp dbnmae=q password=hunter2") })
        #expect(typo.message == #"invalid connection option "dbnmae""#)
        let uri = try #require(failure { _ = try PostgresConnection("postgresql://postgres:hunter2@[::1/queue") })
        #expect(uri.message.contains("IPv6"), "\(uri)")
        for error in [refused, typo, uri] {
            #expect(!error.description.contains("hunter2"), "\(error)")
        }
        // A double quote in the password would throw off the quotes libpq puts around the URI.
        let quoted = try #require(failure { _ = try PostgresConnection(#"postgresql://postgres:hun"ter2@[::1/queue"#) })
        #expect(!quoted.description.contains("ter2"), "\(quoted)")
        #expect(quoted.message.hasPrefix("the connection string is not valid"))
    }

    @Test func connectTimeoutIsHonoured() throws {
        // A listener that never answers: the kernel completes the handshake, nobody speaks.
        let silent = try Sockets.listen(on: .loopback(.ipv4, port: 0))
        let started = monotonicMilliseconds()
        let error = failure { _ = try PostgresConnection("host=127.0.0.1 port=\(silent.address.port) connect_timeout=2 dbname=q user=u") }
        let waited = monotonicMilliseconds() - started
        #expect(error?.message == "timeout expired")
        #expect(error?.server == "127.0.0.1:\(silent.address.port) database q")
        #expect(waited >= 1_900 && waited < 10_000, "\(waited) ms")

        let bad = failure { _ = try connect("connect_timeout=soon") }
        #expect(bad?.message == #"invalid integer value "soon" for connection option "connect_timeout""#)
    }

    typealias Statement = PostgresConnection.Statement

    /// A batch is answered statement by statement, in order, prepared on its second run as `query`
    /// does; and sent as one pipeline: the server runs a pipeline outside a transaction as one implicit
    /// transaction, so a failure late in it takes back what came before it, which the same statements
    /// one by one do not.
    @Test(arguments: [true, false]) func statementsSentTogetherAreAnsweredInOrder(pipelining: Bool) throws {
        let db = try PostgresConnection(testServer!, pipelining: pipelining)
        try db.execute("CREATE TEMP TABLE b (n int)")
        let sql = "SELECT $1::int * 3 AS thrice"
        for run in 1...3 {
            let rows = try db.queries([Statement("BEGIN", prepare: false), Statement("INSERT INTO b VALUES ($1)", [String(run)]),
                                       Statement(sql, [String(run)]), Statement("SELECT count(*) AS n FROM b"), Statement("COMMIT", prepare: false)],
                                      within: run == 3 ? 5_000 : nil)
            #expect(rows.count == 5)
            #expect(rows[1].affected == 1 && rows[2].values == [[String(run * 3)]] && rows[3].values == [[String(run)]])
        }
        #expect(try prepared(sql, db) == 1 && prepared("INSERT INTO b VALUES ($1)", db) == 1)
        #expect(try prepared("BEGIN", db) == 0 && prepared("COMMIT", db) == 0)

        let late = failure { _ = try db.queries([Statement("INSERT INTO b VALUES (10)"), Statement("SELECT 1 / 0 AS n"), Statement("INSERT INTO b VALUES (11)")]) }
        #expect(late?.sqlState == "22012")
        #expect(late?.isConnectionLost == false)
        #expect(try db.query("SELECT n FROM b WHERE n >= 10 ORDER BY n").values == (pipelining ? [] : [["10"]]),
                "the statement after the failure never ran; the one before it is taken back by a pipeline only")
        // And the connection takes statements as before, alone or together.
        #expect(try db.query("SELECT count(*) AS n FROM b WHERE n < 10").values == [["3"]])
        #expect(try db.queries([Statement("SELECT 1 AS a"), Statement("SELECT 2 AS b")]).map(\.values) == [[["1"]], [["2"]]])
    }

    /// A statement twice in one batch is prepared once, and no other statement is given its name.
    @Test func aStatementTwiceInABatchIsPreparedOnceUnderOneName() throws {
        let db = try connect()
        let x = "SELECT $1::int AS x"
        _ = try db.query(x, ["1"])
        let rows = try db.queries([Statement(x, ["2"]), Statement(x, ["3"])])
        #expect(rows.map(\.values) == [[["2"]], [["3"]]])
        #expect(try prepared(x, db) == 1)
        let y = "SELECT $1::int AS y"
        for n in 4...6 { #expect(try db.query(y, [String(n)]).values == [[String(n)]]) }
        #expect(try prepared(y, db) == 1)
    }

    @Test func aBatchInATransactionStopsAtItsFirstFailureAndTheTransactionCanBeRolledBack() throws {
        let db = try connect()
        try db.execute("CREATE TEMP TABLE f (n int PRIMARY KEY)")
        let duplicate = failure {
            _ = try db.queries([Statement("BEGIN", prepare: false), Statement("INSERT INTO f VALUES (1)"), Statement("INSERT INTO f VALUES (1)"),
                                Statement("INSERT INTO f VALUES (2)"), Statement("COMMIT", prepare: false)])
        }
        #expect(duplicate?.sqlState == "23505")
        // The COMMIT after the failure did not run: the transaction is still there, failed.
        #expect(failure { _ = try db.query("SELECT count(*) AS n FROM f") }?.sqlState == "25P02")
        try db.execute("ROLLBACK")
        #expect(try count("f", db) == 0)
    }

    @Test func aBatchWithADeadlineGivesUpOnAServerThatDoesNotAnswerInTime() throws {
        let db = try connect()
        let started = monotonicMilliseconds()
        let late = try #require(failure { _ = try db.queries([Statement("SELECT 1 AS n"), Statement("SELECT pg_sleep(5)")], within: 300) })
        let waited = monotonicMilliseconds() - started
        #expect(waited >= 290 && waited < 2_000, "gave up after \(waited) ms")
        #expect(late.isConnectionLost, "the connection is of no further use: \(late)")
        #expect(late.message.contains("no answer within"), "\(late)")
    }

    @Test func aBatchTheServerEndsIsLost() throws {
        let db = try connect()
        let ended = try #require(failure { _ = try db.queries([Statement("SELECT pg_terminate_backend(pg_backend_pid())"), Statement("SELECT 1 AS n")]) })
        #expect(ended.isConnectionLost, "\(ended)")
        #expect(ended.message.contains("terminating connection due to administrator command"), "\(ended)")
        #expect(failure { _ = try db.queries([Statement("SELECT 1 AS n"), Statement("SELECT 2 AS n")]) }?.isConnectionLost == true)
    }

    @Test func aConnectionTheServerEndsIsLost() throws {
        let db = try connect()
        let ended = try #require(failure { _ = try db.query("SELECT pg_terminate_backend(pg_backend_pid())") })
        #expect(ended.isConnectionLost, "\(ended)")
        // libpq reports the server's FATAL and the closed socket together, as its own error without a code.
        #expect(ended.message.contains("terminating connection due to administrator command"), "\(ended)")
        let stillOK = db.isOK
        #expect(!stillOK)
        let after = try #require(failure { _ = try db.query("SELECT 1") })
        #expect(after.isConnectionLost, "\(after)")
        let transaction = failure { try db.transaction { _ throws(PostgresError) in } }
        #expect(transaction?.isConnectionLost == true)
    }
}

/// One capture of fd 2 at a time: a second would save and later restore the first one's pipe.
private let standardErrorCapture = Mutex(())

/// What was written to fd 2 while `body` ran, fd 2 being a pipe meanwhile. Anything written there
/// (by other tests running at the same time too) is passed on to the real stderr afterwards.
func standardError(during body: () throws -> Void) throws -> String {
    try standardErrorCapture.withLock { _ in
        let pipe = try Files.makePipe()
        let saved = dup(2)
        dup2(pipe.write, 2)
        close(pipe.write)
        let outcome = Result { try body() }
        dup2(saved, 2)
        close(saved)
        var captured: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 65_536)
        while let n = Files.readAvailable(pipe.read, into: &buffer), n > 0 { captured += buffer[..<n] }
        close(pipe.read)
        try Files.writeAll(2, captured)
        try outcome.get()
        return String(decoding: captured, as: UTF8.self)
    }
}
