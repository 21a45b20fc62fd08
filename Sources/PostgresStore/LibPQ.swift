import QueueSystem

/// The functions of libpq, PostgreSQL's C client library, that this client calls. libpq is loaded
/// with `dlopen` on first use, not linked: a queue kept in the JSON file needs nothing installed,
/// and only a command that talks to PostgreSQL pays the few milliseconds loading it takes.
///
/// A struct of C function pointers is Sendable, so one loaded copy is kept in a global; the
/// library's handle is not, and libpq is never unloaded, so the pointers stay valid.
struct LibPQ: Sendable {
    /// libpq's opaque types: `PGconn *` and `PGresult *`.
    typealias PGconn = OpaquePointer
    typealias PGresult = OpaquePointer
    typealias NoticeProcessor = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Void

    let connectStartParams: @convention(c) (UnsafePointer<UnsafePointer<CChar>?>, UnsafePointer<UnsafePointer<CChar>?>, Int32) -> PGconn?
    let connectPoll: @convention(c) (PGconn) -> Int32
    let status: @convention(c) (PGconn) -> Int32
    let errorMessage: @convention(c) (PGconn) -> UnsafePointer<CChar>?
    let finish: @convention(c) (PGconn) -> Void
    let exec: @convention(c) (PGconn, UnsafePointer<CChar>) -> PGresult?
    let execParams: @convention(c) (
        PGconn, UnsafePointer<CChar>, Int32, UnsafePointer<UInt32>?, UnsafePointer<UnsafePointer<CChar>?>?,
        UnsafePointer<Int32>?, UnsafePointer<Int32>?, Int32
    ) -> PGresult?
    let sendQueryParams: @convention(c) (
        PGconn, UnsafePointer<CChar>, Int32, UnsafePointer<UInt32>?, UnsafePointer<UnsafePointer<CChar>?>?,
        UnsafePointer<Int32>?, UnsafePointer<Int32>?, Int32
    ) -> Int32
    let prepare: @convention(c) (PGconn, UnsafePointer<CChar>, UnsafePointer<CChar>, Int32, UnsafePointer<UInt32>?) -> PGresult?
    let sendPrepare: @convention(c) (PGconn, UnsafePointer<CChar>, UnsafePointer<CChar>, Int32, UnsafePointer<UInt32>?) -> Int32
    let execPrepared: @convention(c) (
        PGconn, UnsafePointer<CChar>, Int32, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?, Int32
    ) -> PGresult?
    let sendQueryPrepared: @convention(c) (
        PGconn, UnsafePointer<CChar>, Int32, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?, Int32
    ) -> Int32
    let isBusy: @convention(c) (PGconn) -> Int32
    let getResult: @convention(c) (PGconn) -> PGresult?
    let resultStatus: @convention(c) (PGresult) -> Int32
    let resultErrorField: @convention(c) (PGresult, Int32) -> UnsafePointer<CChar>?
    let ntuples: @convention(c) (PGresult) -> Int32
    let nfields: @convention(c) (PGresult) -> Int32
    let fname: @convention(c) (PGresult, Int32) -> UnsafePointer<CChar>?
    let getvalue: @convention(c) (PGresult, Int32, Int32) -> UnsafePointer<CChar>?
    let getisnull: @convention(c) (PGresult, Int32, Int32) -> Int32
    let getlength: @convention(c) (PGresult, Int32, Int32) -> Int32
    let cmdTuples: @convention(c) (PGresult) -> UnsafePointer<CChar>?
    let clear: @convention(c) (PGresult) -> Void
    let socket: @convention(c) (PGconn) -> Int32
    let consumeInput: @convention(c) (PGconn) -> Int32
    let notifies: @convention(c) (PGconn) -> UnsafeMutableRawPointer?
    let freemem: @convention(c) (UnsafeMutableRawPointer?) -> Void
    let setNoticeProcessor: @convention(c) (PGconn, NoticeProcessor?, UnsafeMutableRawPointer?) -> NoticeProcessor?
    let host: @convention(c) (PGconn) -> UnsafePointer<CChar>?
    let port: @convention(c) (PGconn) -> UnsafePointer<CChar>?
    let db: @convention(c) (PGconn) -> UnsafePointer<CChar>?
    let libVersion: @convention(c) () -> Int32
    let transactionStatus: @convention(c) (PGconn) -> Int32
    let conninfoParse: @convention(c) (UnsafePointer<CChar>, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> UnsafeMutableRawPointer?
    let conninfo: @convention(c) (PGconn) -> UnsafeMutableRawPointer?
    let conninfoFree: @convention(c) (UnsafeMutableRawPointer?) -> Void
    /// Pipeline mode, in libpq 14 and later: nil with an older one, whose statements then go one at
    /// a time (see `PostgresConnection.queries`).
    let pipeline: Pipeline?

    /// `PQenterPipelineMode`, `PQexitPipelineMode` and `PQpipelineSync`.
    struct Pipeline: Sendable {
        let enter: @convention(c) (PGconn) -> Int32
        let exit: @convention(c) (PGconn) -> Int32
        let sync: @convention(c) (PGconn) -> Int32
    }

    // libpq-fe.h's enumerations and postgres_ext.h's field codes, as the C compiler numbers them.
    static let connectionOK: Int32 = 0, connectionBad: Int32 = 1                       // ConnStatusType
    static let pollingReading: Int32 = 1, pollingWriting: Int32 = 2, pollingOK: Int32 = 3  // PostgresPollingStatusType
    static let emptyQuery: Int32 = 0, commandOK: Int32 = 1, tuplesOK: Int32 = 2         // ExecStatusType
    static let pipelineSync: Int32 = 10, pipelineAborted: Int32 = 11                    // ExecStatusType, libpq 14
    static let transactionInTransaction: Int32 = 2, transactionInError: Int32 = 3       // PGTransactionStatusType
    static let fieldSQLState = Int32(UInt8(ascii: "C")), fieldPrimaryMessage = Int32(UInt8(ascii: "M"))

    /// libpq, loaded on the first call; a failure is kept too, since a library that was missing
    /// once is not looked for again by this process.
    static func loaded() throws(PostgresError) -> LibPQ { try shared.get() }

    private static let shared = Result { () throws(PostgresError) in try LibPQ(libraryNamed: "libpq.so.5") }

    /// Loads `name` (libpq.so.5: the bare libpq.so is only in the -dev package) and looks up every
    /// function, so that a missing one fails here and not in the middle of some later command.
    init(libraryNamed name: String) throws(PostgresError) {
        let library: DynamicLibrary
        do {
            library = try DynamicLibrary(name)
        } catch {
            throw PostgresError(sqlState: nil, message: "\(error): install it with apt-get install libpq5", server: "")
        }
        func function<F>(_ symbol: String, _: F.Type = F.self) throws(PostgresError) -> F {
            guard let address = library.address(of: symbol) else {
                throw PostgresError(sqlState: nil, message: "\(name) has no \(symbol): this libpq is older than queuectl needs", server: "")
            }
            return unsafeBitCast(address, to: F.self)
        }
        connectStartParams = try function("PQconnectStartParams")
        connectPoll = try function("PQconnectPoll")
        status = try function("PQstatus")
        errorMessage = try function("PQerrorMessage")
        finish = try function("PQfinish")
        exec = try function("PQexec")
        execParams = try function("PQexecParams")
        sendQueryParams = try function("PQsendQueryParams")
        prepare = try function("PQprepare")
        sendPrepare = try function("PQsendPrepare")
        execPrepared = try function("PQexecPrepared")
        sendQueryPrepared = try function("PQsendQueryPrepared")
        isBusy = try function("PQisBusy")
        getResult = try function("PQgetResult")
        resultStatus = try function("PQresultStatus")
        resultErrorField = try function("PQresultErrorField")
        ntuples = try function("PQntuples")
        nfields = try function("PQnfields")
        fname = try function("PQfname")
        getvalue = try function("PQgetvalue")
        getisnull = try function("PQgetisnull")
        getlength = try function("PQgetlength")
        cmdTuples = try function("PQcmdTuples")
        clear = try function("PQclear")
        socket = try function("PQsocket")
        consumeInput = try function("PQconsumeInput")
        notifies = try function("PQnotifies")
        freemem = try function("PQfreemem")
        setNoticeProcessor = try function("PQsetNoticeProcessor")
        host = try function("PQhost")
        port = try function("PQport")
        db = try function("PQdb")
        libVersion = try function("PQlibVersion")
        transactionStatus = try function("PQtransactionStatus")
        conninfoParse = try function("PQconninfoParse")
        conninfo = try function("PQconninfo")
        conninfoFree = try function("PQconninfoFree")
        if let enter = library.address(of: "PQenterPipelineMode"), let exit = library.address(of: "PQexitPipelineMode"),
           let sync = library.address(of: "PQpipelineSync") {
            pipeline = Pipeline(enter: unsafeBitCast(enter, to: (@convention(c) (PGconn) -> Int32).self),
                                exit: unsafeBitCast(exit, to: (@convention(c) (PGconn) -> Int32).self),
                                sync: unsafeBitCast(sync, to: (@convention(c) (PGconn) -> Int32).self))
        } else {
            pipeline = nil
        }
    }
}

extension LibPQ {
    /// A C string libpq owns, copied out; nil for NULL.
    func string(_ text: UnsafePointer<CChar>?) -> String? {
        text.map { String(cString: $0) }
    }

    /// libpq's message for the connection's last failure, on one line: it ends lines with a newline,
    /// starts continuations with a tab and pads after `FATAL:`, none of which suits an `Error:` line.
    func lastError(of connection: PGconn) -> String {
        let words = (string(errorMessage(connection)) ?? "").split(whereSeparator: \.isWhitespace)
        return words.isEmpty ? "libpq gave no reason" : words.joined(separator: " ")
    }

    /// The rows of `result`, copied out before it is freed, or the error it reports.
    func rows(of result: PGresult?, on connection: PGconn, server: String) throws(PostgresError) -> PostgresRows {
        guard let result else { throw failure(of: connection, server: server) }  // out of memory, or the statement could not be sent
        defer { clear(result) }
        switch resultStatus(result) {
        case LibPQ.commandOK, LibPQ.tuplesOK, LibPQ.emptyQuery: break
        default:
            let message = string(resultErrorField(result, LibPQ.fieldPrimaryMessage))?.trimmingSpaces()
            throw PostgresError(sqlState: string(resultErrorField(result, LibPQ.fieldSQLState)),
                                message: message ?? lastError(of: connection), server: server,
                                connectionLost: status(connection) != LibPQ.connectionOK)
        }
        let rowCount = ntuples(result), columnCount = nfields(result)
        let columns = (0..<columnCount).map { string(fname(result, $0)) ?? "" }
        let values = (0..<rowCount).map { row in
            (0..<columnCount).map { column -> String? in
                guard getisnull(result, row, column) == 0 else { return nil }
                let bytes = UnsafeRawBufferPointer(start: getvalue(result, row, column), count: Int(getlength(result, row, column)))
                return String(decoding: bytes, as: UTF8.self)
            }
        }
        return PostgresRows(columns: columns, values: values, affected: string(cmdTuples(result)).flatMap { Int($0) } ?? 0)
    }

    /// libpq's own failure on `connection`, when no result came back from the server to say more.
    func failure(of connection: PGconn, server: String) -> PostgresError {
        PostgresError(sqlState: nil, message: lastError(of: connection), server: server, connectionLost: status(connection) != LibPQ.connectionOK)
    }

    /// Where the connection goes, for messages: its socket (`/run/pg/.s.PGSQL.5432`, as the server
    /// names it) or `host:port`, and the database. No credential: libpq keeps them elsewhere.
    /// Empty when libpq knows no host, which happens only when it could not read the connection string.
    func serverDescription(_ connection: PGconn) -> String {
        let host = string(self.host(connection)) ?? "", port = string(self.port(connection)) ?? ""
        let database = string(db(connection)) ?? ""
        guard !host.isEmpty else { return "" }
        let place: String
        if host.hasPrefix("/") || host.hasPrefix("@") {  // a socket directory, or Linux's abstract namespace
            place = port.isEmpty ? host : "\(host)/.s.PGSQL.\(port)"
        } else {
            let name = host.contains(":") ? "[\(host)]" : host  // an IPv6 address
            place = port.isEmpty ? name : "\(name):\(port)"
        }
        return database.isEmpty ? place : "\(place) database \(database)"
    }

    /// Throws when libpq cannot read `conninfo`. Its messages for such a string quote the part it
    /// stopped at — in a URI, the whole URI, password and all — so only an option's name and a single
    /// separator character are kept of what it quotes: they name the mistake. When the string itself
    /// holds a double quote, libpq's quoting cannot be told from the string's, and nothing is kept.
    func checkConnectionString(_ conninfo: String) throws(PostgresError) {
        var message: UnsafeMutablePointer<CChar>?
        let options = conninfoParse(conninfo, &message)
        defer { freemem(message) }
        guard options == nil else { return conninfoFree(options) }
        let text = message.map { String(cString: $0).trimmingSpaces() } ?? "out of memory"
        let shown = conninfo.contains("\"")
            ? "the connection string is not valid (libpq's message is left out: it may quote a password)"
            : Self.withoutQuotedValues(text)
        throw PostgresError(sqlState: nil, message: shown, server: "")
    }

    /// `text` with each double-quoted part replaced by `"…"`, unless it is an option's name (lower-case
    /// letters and underscores: a password written where a name goes, after an unquoted space, would
    /// pass as one) or one punctuation character (`"="`).
    static func withoutQuotedValues(_ text: String) -> String {
        text.split(separator: "\"", omittingEmptySubsequences: false).enumerated().map { index, part in
            guard index % 2 == 1 else { return String(part) }
            let isName = !part.isEmpty && part.allSatisfy { $0 == "_" || ("a"..."z").contains($0) }
            let isSeparator = part.count == 1 && part.allSatisfy { $0.isPunctuation || $0.isSymbol }
            return isName || isSeparator ? String(part) : "…"
        }.joined(separator: "\"")
    }

    /// The connection's `connect_timeout` (from its string or PGCONNECT_TIMEOUT) in milliseconds, as
    /// libpq reads it: none when absent or not positive, and at least 2 seconds. libpq applies it only
    /// when it waits itself; a connection driven by `PQconnectPoll`, as ours is, must apply it here.
    func connectTimeoutMilliseconds(_ connection: PGconn) throws(PostgresError) -> Int64? {
        guard let options = conninfo(connection) else { return nil }
        defer { conninfoFree(options) }
        // The array of PQconninfoOption that libpq-fe.h declares: six pointers (keyword first, the
        // value fourth) and an int, padded to seven pointers' size; a NULL keyword ends it.
        let pointer = MemoryLayout<UnsafePointer<CChar>?>.stride
        var entry = UnsafeRawPointer(options)
        while let keyword = entry.load(as: UnsafePointer<CChar>?.self) {
            if String(cString: keyword) == "connect_timeout", let value = entry.load(fromByteOffset: 3 * pointer, as: UnsafePointer<CChar>?.self) {
                let text = String(cString: value)
                guard let seconds = Int64(text.trimmingSpaces()) else {
                    throw PostgresError(sqlState: nil, message: "invalid integer value \"\(text)\" for connection option \"connect_timeout\"",
                                        server: serverDescription(connection))
                }
                return seconds > 0 ? max(seconds, 2) * 1000 : nil
            }
            entry += 7 * pointer
        }
        return nil
    }

    /// The channel and payload of a `PGnotify`, which libpq-fe.h declares as `relname`, `be_pid`
    /// (an int, padded to a pointer's alignment) and `extra`.
    func notification(_ notify: UnsafeMutableRawPointer) -> PostgresNotification {
        let pointer = MemoryLayout<UnsafePointer<CChar>?>.stride
        let channel = UnsafeRawPointer(notify).load(as: UnsafePointer<CChar>?.self)
        let payload = UnsafeRawPointer(notify).load(fromByteOffset: 2 * pointer, as: UnsafePointer<CChar>?.self)
        return PostgresNotification(channel: string(channel) ?? "", payload: string(payload) ?? "")
    }
}

extension StringProtocol {
    /// Without spaces, tabs and line ends at either end.
    func trimmingSpaces() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
