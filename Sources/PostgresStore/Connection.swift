import QueueSystem

/// A failure reported by PostgreSQL or by libpq, with where it happened. Neither the message nor
/// the server description ever holds the connection string or a password.
package struct PostgresError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The SQLSTATE code (`23505` for a unique violation), or nil when there is none: the connection
    /// could not be made, was lost on the client's side, or libpq is missing.
    package let sqlState: String?
    /// The primary message, on one line.
    package let message: String
    /// Where: the socket (`/run/pg/.s.PGSQL.5432 database queue`) or `host:port database queue`;
    /// empty when no server was reached or named (libpq missing, a connection string it cannot read).
    package let server: String
    /// libpq found the connection broken after the call.
    private let brokenConnection: Bool

    package init(sqlState: String?, message: String, server: String, connectionLost: Bool = false) {
        self.sqlState = sqlState
        self.message = message
        self.server = server
        self.brokenConnection = connectionLost
    }

    package var description: String {
        // A full disk's message names a file and a block ("could not extend file …: wrote only 4096
        // of 8192 bytes"), and its hint, which says what it is, is not kept: it is said here.
        let said = sqlState == "53100" ? "the server's disk is full: \(message)" : message
        return server.isEmpty ? "PostgreSQL: \(said)" : "PostgreSQL at \(server): \(said)"
    }

    /// The connection is gone, so the statement's outcome may be unknown and the connection is of no
    /// further use: libpq found it broken, or the server said so (class 08, connection exception;
    /// 57P01–57P03, the server shutting down or not yet accepting connections).
    package var isConnectionLost: Bool {
        if brokenConnection { return true }
        guard let sqlState else { return false }
        return sqlState.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(sqlState)
    }
}

/// What a statement returned, copied out of libpq's result: text, as PostgreSQL prints each type.
package struct PostgresRows: Sendable {
    package let columns: [String]
    /// One array per row, in `columns` order; nil is SQL NULL.
    package let values: [[String?]]
    /// How many rows the command inserted, updated, deleted, selected… (libpq's `PQcmdTuples`); 0 when it does not say.
    package let affected: Int

    package var count: Int { values.count }

    /// The value in `column` of row `row`. The column must be one the statement returns.
    package subscript(row: Int, column: String) -> String? {
        guard let index = columns.firstIndex(of: column) else { preconditionFailure("no column \(column) among \(columns)") }
        return values[row][index]
    }
}

/// A `NOTIFY` received on a channel this connection listens to.
package struct PostgresNotification: Equatable, Sendable {
    package let channel: String
    package let payload: String
}

/// The statements a connection has run, by text, and the names of those it has prepared. Their
/// texts hold no values (those are parameters), so there are a few dozen at most.
private final class PreparedStatements {
    var seen: Set<String> = []
    var names: [String: String] = [:]
    /// The number of names given out, prepared or not: a name is never given twice.
    private var given = 0

    func newName() -> String {
        given += 1
        return "queuectl_\(given)"
    }
}

/// What libpq would print about a notice or warning from the server: nothing, since stderr is for
/// queuectl's own errors. Set before the connection reads its first message, so that a warning the
/// server sends while the session starts (a collation version mismatch, a bad per-role setting)
/// is dropped too.
private let dropNotice: LibPQ.NoticeProcessor = { _, _ in }

/// One connection to a PostgreSQL server through libpq: statements run one at a time, and the
/// calls block. It cannot be copied or shared between threads (libpq allows one thread at a time on
/// a connection); the connection is closed when its owner lets go of it.
package struct PostgresConnection: ~Copyable {
    private let pq: LibPQ
    private let connection: LibPQ.PGconn
    private let statements = PreparedStatements()
    /// Where this connection goes, as `PostgresError.server` says it.
    package let server: String
    /// `queries` sends its statements together (libpq's pipeline mode, when this libpq has it).
    private let pipelining: Bool

    /// Connects with a libpq connection string (`host=/run/pg dbname=queue`, or a
    /// `postgresql://` URI), honouring its `connect_timeout`, for UTF-8 text whatever the string
    /// says (asked for as the session starts, so it costs no round trip). Notices and warnings the
    /// server sends are dropped: libpq must never write to stderr.
    /// `connectTimeout`: milliseconds to give up connecting after, when the string sets no `connect_timeout`.
    /// `pipelining: false`: `queries` sends its statements one by one, as with a libpq older than 14.
    package init(_ conninfo: String, connectTimeout: Int64? = nil, pipelining: Bool = true) throws(PostgresError) {
        let pq = try LibPQ.loaded()
        try pq.checkConnectionString(conninfo)
        // The string is expanded where `dbname` stands; a keyword after it overrides the string's.
        let started = conninfo.withCString { string in
            "dbname".withCString { dbname in
                "client_encoding".withCString { encoding in
                    "UTF8".withCString { utf8 in
                        pq.connectStartParams([dbname, encoding, nil], [string, utf8, nil], 1)
                    }
                }
            }
        }
        guard let connection = started else {
            throw PostgresError(sqlState: nil, message: "out of memory", server: "")
        }
        // Not PQconnectdb: its notice processor is the one that prints, until the session is up.
        _ = pq.setNoticeProcessor(connection, dropNotice, nil)
        do {
            // Before self is whole: an initializer of a noncopyable type cannot throw after that.
            try Self.finishConnecting(connection, pq, orAfter: connectTimeout)
        } catch {
            pq.finish(connection)
            throw error
        }
        self.pq = pq
        self.connection = connection
        self.pipelining = pipelining
        server = pq.serverDescription(connection)
    }

    /// Drives libpq's connection state machine until it connects or fails, waiting on its socket in
    /// between, as `PQconnectdb` would (libpq-connect's `PQconnectPoll` protocol).
    private static func finishConnecting(_ connection: LibPQ.PGconn, _ pq: LibPQ, orAfter fallback: Int64?) throws(PostgresError) {
        func failure() -> PostgresError {
            PostgresError(sqlState: nil, message: pq.lastError(of: connection), server: pq.serverDescription(connection), connectionLost: true)
        }
        guard pq.status(connection) != LibPQ.connectionBad else { throw failure() }
        let deadline = try (pq.connectTimeoutMilliseconds(connection) ?? fallback).map { monotonicMilliseconds() + $0 }
        var waitFor = PollEvents.writable  // what libpq asks for before the first PQconnectPoll
        while true {
            let timeout = deadline.map { Int(max(0, $0 - monotonicMilliseconds())) } ?? -1
            if poll([(pq.socket(connection), waitFor)], timeoutMilliseconds: timeout)[0].isEmpty {  // a timeout, or a signal
                if let deadline, monotonicMilliseconds() >= deadline {
                    throw PostgresError(sqlState: nil, message: "timeout expired", server: pq.serverDescription(connection), connectionLost: true)
                }
                continue
            }
            switch pq.connectPoll(connection) {
            case LibPQ.pollingOK: return
            case LibPQ.pollingReading: waitFor = .readable
            case LibPQ.pollingWriting: waitFor = .writable
            default: throw failure()
            }
        }
    }

    /// Runs one statement with `parameters` as `$1`, `$2`… (text; nil is NULL; the server infers
    /// their types) and returns its rows. Wraps `PQexecParams`; with `within`, `PQsendQueryParams`
    /// and a wait on the socket that gives up after that many milliseconds: a server that stops
    /// answering (frozen, or cut off while its kernel still acknowledges) is then a lost connection,
    /// not a call that never returns. The connection is of no further use after that.
    ///
    /// A statement run a second time is prepared then (`PQprepare`), and run prepared from then on
    /// (`PQexecPrepared`), so the server parses and plans it no more: a worker runs the same
    /// statements in every transaction, and parsing and planning them took longer than running
    /// them. A command that runs each statement once prepares none, and pays no round trip for it.
    /// `prepare: false` keeps a statement as text every time.
    package func query(_ sql: String, _ parameters: [String?] = [], within timeout: Int64? = nil,
                       prepare: Bool = true) throws(PostgresError) -> PostgresRows {
        try refuseNulBytes(in: [sql] + parameters)
        let deadline = timeout.map { monotonicMilliseconds() + $0 }
        let count = Int32(parameters.count)
        var name = statements.names[sql]
        if name == nil, prepare, !statements.seen.insert(sql).inserted {
            let next = statements.newName()
            _ = try call(until: deadline, blocking: { pq.prepare(connection, next, sql, count, nil) },
                         sending: { pq.sendPrepare(connection, next, sql, count, nil) }).get()
            statements.names[sql] = next
            name = next
        }
        return try withParameters(parameters) { values in
            if let name {
                return call(until: deadline, blocking: { pq.execPrepared(connection, name, count, values, nil, nil, 0) },
                            sending: { pq.sendQueryPrepared(connection, name, count, values, nil, nil, 0) })
            }
            return call(until: deadline, blocking: { pq.execParams(connection, sql, count, nil, values, nil, nil, 0) },
                        sending: { pq.sendQueryParams(connection, sql, count, nil, values, nil, nil, 0) })
        }.get()
    }

    /// The rows of one call: made `blocking`, or, with a deadline, `sending` and then waiting on the
    /// socket until the deadline at most.
    private func call(until deadline: Int64?, blocking: () -> LibPQ.PGresult?, sending: () -> Int32) -> Result<PostgresRows, PostgresError> {
        Result { () throws(PostgresError) -> PostgresRows in
            guard let deadline else { return try pq.rows(of: blocking(), on: connection, server: server) }
            let timeout = deadline - monotonicMilliseconds()
            guard sending() == 1 else { throw pq.failure(of: connection, server: server) }
            // One statement: its result, then NULL.
            return try pq.rows(of: try answer(until: deadline, of: timeout), on: connection, server: server)
        }
    }

    /// The result of one statement: libpq gives its results, then NULL. Should more come than one
    /// (the server's FATAL, then libpq's own word on the socket it closed), the first failure.
    private func answer(until deadline: Int64?, of timeout: Int64) throws(PostgresError) -> LibPQ.PGresult? {
        var kept: LibPQ.PGresult?
        do {
            while let result = try nextResult(until: deadline, of: timeout) {
                if let failed = kept, ![LibPQ.commandOK, LibPQ.tuplesOK, LibPQ.emptyQuery].contains(pq.resultStatus(failed)) {
                    pq.clear(result)
                } else {
                    if let previous = kept { pq.clear(previous) }
                    kept = result
                }
            }
        } catch {
            if let kept { pq.clear(kept) }
            throw error
        }
        return kept
    }

    /// libpq's next result, once it has come: the socket is waited on until `deadline` at most (none:
    /// for as long as it takes), after which the connection is given up (`timeout`: the limit, as said).
    private func nextResult(until deadline: Int64?, of timeout: Int64) throws(PostgresError) -> LibPQ.PGresult? {
        while pq.isBusy(connection) == 1 {
            let left = deadline.map { $0 - monotonicMilliseconds() }
            let ready = (left ?? 1) > 0 && !poll([(pq.socket(connection), .readable)], timeoutMilliseconds: left.map { Int($0) } ?? -1)[0].isEmpty
            if !ready, let deadline, monotonicMilliseconds() >= deadline {
                throw PostgresError(sqlState: nil, message: "no answer within \(formatMilliseconds(timeout)); the connection is given up",
                                    server: server, connectionLost: true)
            }
            // A broken connection: libpq's results say how, what the server said before it went first.
            guard pq.consumeInput(connection) == 1 else { break }
        }
        return pq.getResult(connection)
    }

    /// A statement of `queries`: its text, its parameters, and whether it is prepared when run again.
    package struct Statement {
        package let sql: String
        package let parameters: [String?]
        package let prepare: Bool

        package init(_ sql: String, _ parameters: [String?] = [], prepare: Bool = true) {
            self.sql = sql
            self.parameters = parameters
            self.prepare = prepare
        }
    }

    /// Runs `statements` in order and returns their rows, as `query` would one by one, but sent
    /// together and answered together: one round trip for all, in libpq's pipeline mode (libpq 14 and
    /// later; with an older one, or `pipelining` off, they go one by one). Once one fails, those after
    /// it are not run, and its failure is thrown. Between the BEGIN and the COMMIT of a transaction
    /// (or being them), as here, the two ways are the same; outside one, the server would run the
    /// statements of one pipeline as one transaction.
    package func queries(_ batch: [Statement], within timeout: Int64? = nil) throws(PostgresError) -> [PostgresRows] {
        guard batch.count > 1, pipelining, let pipeline = pq.pipeline else {
            var rows: [PostgresRows] = []
            for statement in batch { rows.append(try query(statement.sql, statement.parameters, within: timeout, prepare: statement.prepare)) }
            return rows
        }
        try refuseNulBytes(in: batch.flatMap { [$0.sql] + $0.parameters })
        let deadline = timeout.map { monotonicMilliseconds() + $0 }
        // Should libpq fail to send or to take the answers, or the pipeline not end as it should,
        // the connection is in no state to go on: the failure is one that loses it (`failure`, a
        // statement's failure that came first, if there was one).
        func lost(_ failure: PostgresError? = nil) -> PostgresError {
            let said = failure ?? pq.failure(of: connection, server: server)
            return PostgresError(sqlState: said.sqlState, message: said.message, server: server, connectionLost: true)
        }
        guard pipeline.enter(connection) == 1 else { throw lost() }
        // The answers to come, in order: a statement prepared now is a `PQprepare` and then its run.
        enum Expected { case prepared(sql: String, name: String), ran }
        var answers: [Expected] = []
        // Prepared earlier in this batch: run by that name (the server has it by then).
        var preparing: [String: String] = [:]
        for statement in batch {
            let count = Int32(statement.parameters.count)
            var name = statements.names[statement.sql] ?? preparing[statement.sql]
            if name == nil, statement.prepare, !statements.seen.insert(statement.sql).inserted {
                let next = statements.newName()
                guard pq.sendPrepare(connection, next, statement.sql, count, nil) == 1 else { throw lost() }
                answers.append(.prepared(sql: statement.sql, name: next))
                preparing[statement.sql] = next
                name = next
            }
            let sent = withParameters(statement.parameters) { values in
                if let name { return pq.sendQueryPrepared(connection, name, count, values, nil, nil, 0) }
                return pq.sendQueryParams(connection, statement.sql, count, nil, values, nil, nil, 0)
            }
            guard sent == 1 else { throw lost() }
            answers.append(.ran)
        }
        guard pipeline.sync(connection) == 1 else { throw lost() }
        var rows: [PostgresRows] = []
        var failure: PostgresError?
        for expected in answers {
            // One not run after a failure says so.
            let last = try answer(until: deadline, of: timeout ?? 0)
            guard pq.status(connection) == LibPQ.connectionOK else {
                // The server ended the session, or it broke: what the server said, if anything.
                var said: PostgresError?
                do { _ = try pq.rows(of: last, on: connection, server: server) } catch { said = error }
                throw lost(failure ?? said)
            }
            if let result = last, pq.resultStatus(result) == LibPQ.pipelineAborted {
                pq.clear(result)
                continue
            }
            do {
                let answered = try pq.rows(of: last, on: connection, server: server)
                switch expected {
                case .prepared(let sql, let name): statements.names[sql] = name
                case .ran: rows.append(answered)
                }
            } catch {
                if failure == nil { failure = error }
            }
        }
        // The end of the pipeline, after which the connection takes statements one at a time again.
        guard let end = try nextResult(until: deadline, of: timeout ?? 0) else { throw lost(failure) }
        let synced = pq.resultStatus(end) == LibPQ.pipelineSync
        pq.clear(end)
        guard synced, pipeline.exit(connection) == 1 else { throw lost(failure) }
        if let failure { throw failure }
        return rows
    }

    private func formatMilliseconds(_ ms: Int64) -> String { ms % 1000 == 0 ? "\(ms / 1000)s" : "\(ms)ms" }

    /// The parameters as C strings, in one buffer, each ending in NUL, so that one pointer array can reach them.
    private func withParameters<R>(_ parameters: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
        var buffer: [CChar] = []
        var offsets: [Int?] = []
        for parameter in parameters {
            guard let parameter else { offsets.append(nil); continue }
            offsets.append(buffer.count)
            buffer.append(contentsOf: parameter.utf8.map { CChar(bitPattern: $0) })
            buffer.append(0)
        }
        return buffer.withUnsafeBufferPointer { bytes in
            let pointers = offsets.map { offset in offset.map { UnsafePointer(bytes.baseAddress! + $0) } }
            return pointers.withUnsafeBufferPointer { values in body(values.baseAddress) }
        }
    }

    /// Runs `sql`, which may hold several statements separated by semicolons (a schema script): as
    /// one transaction unless it says otherwise. The server stops at the first statement that fails
    /// and libpq then returns that failure last, so checking the last result checks them all.
    /// Wraps `PQexec`.
    package func execute(_ sql: String) throws(PostgresError) {
        try refuseNulBytes(in: [sql])
        _ = try pq.rows(of: pq.exec(connection, sql), on: connection, server: server)
    }

    /// Runs `body` in a transaction: `BEGIN`, then `COMMIT` when it returns, or `ROLLBACK` when it
    /// throws (and the error is rethrown). When a statement failed inside and `body` went on
    /// regardless, the server has already given the transaction up, and this throws `25P02` rather
    /// than report a commit that did not happen. Transactions do not nest.
    package func transaction<T>(_ body: (borrowing PostgresConnection) throws(PostgresError) -> T) throws(PostgresError) -> T {
        let state = pq.transactionStatus(connection)
        precondition(state != LibPQ.transactionInTransaction && state != LibPQ.transactionInError, "a transaction inside a transaction")
        try execute("BEGIN")
        let value: T
        do {
            value = try body(self)
        } catch {
            try rollBack()
            throw error
        }
        if pq.transactionStatus(connection) == LibPQ.transactionInError {
            try rollBack()
            throw PostgresError(sqlState: "25P02", message: "a statement in the transaction failed, so it was rolled back", server: server)
        }
        try execute("COMMIT")
        return value
    }

    /// `ROLLBACK`; over a lost connection there is nothing to roll back (the server ends the
    /// transaction itself), so that failure is not one.
    private func rollBack() throws(PostgresError) {
        do {
            try execute("ROLLBACK")
        } catch where error.isConnectionLost {}
    }

    /// The connection's socket, to `poll` for readability while waiting for notifications. Wraps `PQsocket`.
    package var socket: Int32 { pq.socket(connection) }

    /// The notifications that have arrived: it reads what the socket holds without waiting, then
    /// takes every notification libpq has, including those that came in during earlier statements.
    /// Wraps `PQconsumeInput` and `PQnotifies`.
    package func notifications() throws(PostgresError) -> [PostgresNotification] {
        guard pq.consumeInput(connection) == 1 else { throw pq.failure(of: connection, server: server) }
        var received: [PostgresNotification] = []
        while let notify = pq.notifies(connection) {
            received.append(pq.notification(notify))
            pq.freemem(notify)
        }
        return received
    }

    /// The version of the libpq in use, as a number (150018 for 15.18), loading it if need be.
    /// Wraps `PQlibVersion`.
    package static func libraryVersion() throws(PostgresError) -> Int { Int(try LibPQ.loaded().libVersion()) }

    /// A statement of the transaction going on failed: the server takes no more of it, and would
    /// answer its COMMIT with a ROLLBACK. Wraps `PQtransactionStatus`.
    package var inFailedTransaction: Bool { pq.transactionStatus(connection) == LibPQ.transactionInError }

    /// The connection is up: not lost, not failed. Wraps `PQstatus`.
    package var isOK: Bool { pq.status(connection) == LibPQ.connectionOK }

    deinit { pq.finish(connection) }

    /// A text with a NUL byte would be cut short at it by libpq, silently; PostgreSQL's text cannot
    /// hold one anyway, so it is refused with the code the server gives for one.
    private func refuseNulBytes(in texts: [String?]) throws(PostgresError) {
        guard texts.contains(where: { $0?.utf8.contains(0) == true }) else { return }
        throw PostgresError(sqlState: "22021", message: "a text holds a NUL byte, which PostgreSQL cannot store", server: server)
    }
}
