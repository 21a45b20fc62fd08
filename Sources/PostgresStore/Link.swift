import QueueStorage
import QueueSystem

/// One connection to the server, made when first needed and made again after it was lost, and the
/// transactions run on it. Errors become `QueueError`s naming the server, never the credentials.
final class Link {
    private final class Held {
        let connection: PostgresConnection
        init(_ connection: consuming PostgresConnection) { self.connection = connection }
    }

    private let conninfo: String
    private var held: Held?
    /// The failure behind the last error thrown, for telling what may be tried again.
    private var lastFailure: PostgresError?
    private(set) var server = "the PostgreSQL server"
    /// Run on each new connection (a listener's `LISTEN`).
    private let onConnect: String?

    init(conninfo: String, onConnect: String? = nil) {
        self.conninfo = conninfo
        self.onConnect = onConnect
    }

    /// With a value, every call (and a connection being made) gives up after that many
    /// milliseconds: a worker must hear of a server that stopped answering in time to fence.
    var timeoutMilliseconds: Int64?

    /// With a value, the session's `statement_timeout`, set on each connection: a worker sets it
    /// below its call timeout, so that a statement that waits too long (for locks, say) fails on
    /// the server, and the rest of its round trip (a COMMIT sent with it) does not run, rather than
    /// the server committing after the call was given up and reported failed.
    var statementTimeoutMilliseconds: Int64? {
        // A connection already made is given it now; one made later, as it is made.
        didSet { if held != nil { held = nil } }
    }

    /// With a value, the session's `lock_timeout`, set on each connection: a statement that waits
    /// longer for a lock fails (55P03), and its transaction is run again. A worker sets it to half
    /// its call timeout: a wait that long would otherwise give the connection up, and a deadlock
    /// with a command (one that locked the settings row waits for a count row the worker's writes
    /// hold, while the worker waits for the settings row) is found by the server only after its
    /// `deadlock_timeout`, a second, which a worker with a short lease cannot wait for.
    var lockTimeoutMilliseconds: Int64? {
        // A connection already made is given it now; one made later, as it is made.
        didSet { if held != nil { held = nil } }
    }

    /// The SQLSTATE of the last failure, if the server gave one.
    var lastSQLState: String? { lastFailure?.sqlState }

    /// A connection is up: none was lost since the last one was made (a failure the server answered
    /// leaves it up).
    var isConnected: Bool { held != nil }

    private func connected() throws(QueueError) -> Held {
        if let held { return held }
        // queuectl's release build is fully static; libpq, loaded into it, works on the main thread
        // only (see `DynamicLibrary.onMainThread`), and every PostgreSQL call is made there. A
        // dynamically linked process (the debug build, the tests) may call it from any thread.
        precondition(DynamicLibrary.callableOnThisThread, "libpq called off the main thread of a static executable")
        do {
            let held = Held(try PostgresConnection(conninfo, connectTimeout: timeoutMilliseconds))
            server = held.connection.server
            if let onConnect { try held.connection.execute(onConnect) }
            if lockTimeoutMilliseconds != nil || statementTimeoutMilliseconds != nil {
                _ = try held.connection.query("SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)",
                                              [String(lockTimeoutMilliseconds ?? 0), String(statementTimeoutMilliseconds ?? 0)],
                                              within: timeoutMilliseconds, prepare: false)
            }
            self.held = held
            return held
        } catch {
            lastFailure = error
            throw .failure("cannot connect to the PostgreSQL store: \(error)")
        }
    }

    /// The socket of the connection, made now if there is none, for `poll`.
    func socket() throws(QueueError) -> Int32 { try connected().connection.socket }

    /// The BEGIN of the transaction going on, when no statement of it has been sent yet: it goes
    /// with the first, in one round trip (see `PostgresConnection.queries`).
    private var beginning: String?
    /// The transaction's COMMIT went with its last statement (`sql(_:_:prepare:committing:)`).
    private var committed = false
    /// Statements of the transaction whose rows nobody reads, not sent yet (`sqlLater`).
    private var later: [PostgresConnection.Statement] = []

    /// A statement of the transaction going on whose rows nobody reads (an `UPDATE` that returns
    /// none): it goes ahead of the next statement sent, in its round trip, or with the COMMIT, and a
    /// failure of it is that statement's failure. Prepared when run again, as `sql` does.
    func sqlLater(_ statement: String, _ parameters: [String?] = []) {
        precondition(inTransaction && !committed, "a statement sent later outside a transaction")
        later.append(PostgresConnection.Statement(statement, parameters))
    }

    /// One statement with text parameters; prepared when run again (see `PostgresConnection.query`).
    /// In a transaction, the first statement takes its BEGIN along; `committing`: this is the
    /// transaction's last statement, and its COMMIT goes with it, one round trip for both (a
    /// failure of either is the statement's, and the transaction is rolled back).
    @discardableResult
    func sql(_ statement: String, _ parameters: [String?] = [], prepare: Bool = true, committing: Bool = false) throws(QueueError) -> PostgresRows {
        try sql([PostgresConnection.Statement(statement, parameters, prepare: prepare)], committing: committing)[0]
    }

    /// Statements sent together and answered together, in one round trip (see
    /// `PostgresConnection.queries`), with the BEGIN and the COMMIT as `sql(_:_:prepare:committing:)` has them.
    func sql(_ statements: [PostgresConnection.Statement], committing: Bool = false) throws(QueueError) -> [PostgresRows] {
        precondition(!committed, "a statement after its transaction's COMMIT")
        let held = try connected()
        var batch: [PostgresConnection.Statement] = []
        if let beginning { batch.append(.init(beginning, prepare: false)) }
        batch += later
        let first = batch.count
        batch += statements
        if committing {
            precondition(inTransaction, "a COMMIT outside a transaction")
            batch.append(.init("COMMIT", prepare: false))
        }
        beginning = nil
        later = []
        // A failure the body let pass: the server would take the COMMIT as a ROLLBACK, and say so
        // only in a tag, so the transaction is not taken for committed.
        if committing, held.connection.inFailedTransaction {
            throw failed(PostgresError(sqlState: "25P02", message: "a statement in the transaction failed, so it was rolled back",
                                       server: held.connection.server))
        }
        do {
            let rows = batch.count == 1
                ? [try held.connection.query(batch[0].sql, batch[0].parameters, within: timeoutMilliseconds, prepare: batch[0].prepare)]
                : try held.connection.queries(batch, within: timeoutMilliseconds)
            committed = committing
            return Array(rows[first..<(first + statements.count)])
        } catch {
            throw failed(error)
        }
    }

    /// Inside `transaction`'s body.
    private var inTransaction = false

    /// Statements without parameters, several at once (the schema).
    func script(_ statements: String) throws(QueueError) {
        precondition(later.isEmpty, "a script after statements sent later")
        let held = try connected()
        // A transaction's BEGIN not sent yet goes first, in the same round trip.
        let text = beginning.map { $0 + "; " + statements } ?? statements
        beginning = nil
        do {
            try held.connection.execute(text)
        } catch {
            throw failed(error)
        }
    }

    /// Notifications that came since the last look.
    func notifications() throws(QueueError) -> [PostgresNotification] {
        let held = try connected()
        do {
            return try held.connection.notifications()
        } catch {
            throw failed(error)
        }
    }

    private func failed(_ error: PostgresError) -> QueueError {
        lastFailure = error
        if error.isConnectionLost { held = nil }
        return .failure(error.description)
    }

    /// SQLSTATEs after which the whole transaction is simply run again: a serialization failure, a
    /// deadlock, a lock not had within `lockTimeoutMilliseconds`, and a unique violation (two
    /// enqueues of one id at once: the second, run again, sees the first's job and says so in
    /// JobManager's words).
    private static let transient: Set<String> = ["40001", "40P01", "55P03", "23505"]

    /// `body` between BEGIN and COMMIT; ROLLBACK if it throws. Run again, up to five times, after a
    /// transient failure. The three have nothing to plan, and are sent as their text, never prepared;
    /// the BEGIN goes with the body's first statement, and is not sent at all when it runs none; the
    /// COMMIT goes with the statements sent later, if any are left.
    func transaction<T>(readOnly: Bool = false, _ body: () throws(QueueError) -> T) throws(QueueError) -> T {
        precondition(!inTransaction, "a transaction inside a transaction")
        var attempt = 0
        while true {
            attempt += 1
            lastFailure = nil
            beginning = readOnly ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN"
            committed = false
            inTransaction = true
            do {
                let result = try body()
                // The COMMIT, with what is still to be sent; nothing at all if nothing was to be.
                if beginning == nil || !later.isEmpty, !committed { _ = try sql([], committing: true) }
                inTransaction = false
                beginning = nil
                committed = false
                return result
            } catch {
                inTransaction = false
                // Committed already, with the body's last statement: nothing to roll back or run again.
                if committed {
                    committed = false
                    throw error
                }
                let begun = beginning == nil
                beginning = nil
                later = []
                let failure = lastFailure
                if begun, held != nil, (try? sql("ROLLBACK", prepare: false)) == nil { held = nil }
                if attempt < 5, let state = failure?.sqlState, Link.transient.contains(state) { continue }
                throw error
            }
        }
    }
}

/// Values as PostgreSQL's text format has them.
enum SQLText {
    /// An array literal (`{"a","b"}`), every element quoted; nil elements are NULL.
    static func array(_ values: [String?]) -> String {
        var out = "{"
        for (i, value) in values.enumerated() {
            if i > 0 { out += "," }
            guard let value else {
                out += "NULL"
                continue
            }
            out += "\""
            for c in value.unicodeScalars {
                if c == "\"" || c == "\\" { out += "\\" }
                out.unicodeScalars.append(c)
            }
            out += "\""
        }
        return out + "}"
    }

    static func array(_ values: [String]) -> String { array(values.map { Optional($0) }) }

    /// A text array as the server returns it.
    static func parseArray(_ text: String) -> [String] {
        var values: [String] = []
        var current = ""
        var quoted = false, escaped = false, inQuotes = false
        for c in text.unicodeScalars.dropFirst().dropLast() {
            if escaped {
                current.unicodeScalars.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "\"" {
                inQuotes.toggle()
                quoted = true
            } else if c == ",", !inQuotes {
                values.append(current)
                current = ""
                quoted = false
            } else {
                current.unicodeScalars.append(c)
            }
        }
        if !current.isEmpty || quoted || !values.isEmpty { values.append(current) }
        return values
    }

    /// Bytes as a `bytea` parameter (`\x` and hex).
    static func bytea(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = [0x5C, 0x78]
        out.reserveCapacity(2 + bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A `bytea` value as the server returns it (hex output).
    static func parseBytea(_ text: String) -> [UInt8] {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == 0x5C, utf8[1] == 0x78 else { return utf8 }
        func nibble(_ c: UInt8) -> UInt8 {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: return 0
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity((utf8.count - 2) / 2)
        var i = 2
        while i + 1 < utf8.count {
            out.append(nibble(utf8[i]) << 4 | nibble(utf8[i + 1]))
            i += 2
        }
        return out
    }
}
