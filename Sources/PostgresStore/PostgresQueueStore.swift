import JobManager
import QueueStorage
import QueueSystem

/// The queue in a PostgreSQL database, for workers on many hosts. A transaction loads the jobs its
/// scope names with `SELECT … FOR UPDATE`, hands them to JobManager's rules as a document, and
/// writes back what changed; claims take rows with `FOR UPDATE SKIP LOCKED`; workers are judged by a
/// lease in the database, by the server's clock.
package final class PostgresQueueStore: QueueStore {
    let link: Link
    let conninfo: String
    package let home: QueueHome
    /// Rows are waited for by the server; the queue folder's lock is not used.
    package var lockWaiting = LockWaiting.forever
    package var location: String { "PostgreSQL at \(link.server)" }
    package var place: String { location }

    /// `home`: the queue folder on this host, where the logs of the runs going on here are written
    /// before they are stored in the database.
    package init(conninfo: String, home: QueueHome) {
        link = Link(conninfo: conninfo)
        self.conninfo = conninfo
        self.home = home
    }

    // MARK: schema

    /// Creates the tables, or brings them to this version; says which it did.
    package func initialize() throws(QueueError) -> String {
        try link.transaction { () throws(QueueError) -> String in
            // Two `store init`s at once: the second waits, then finds the tables made.
            try link.sql("SELECT pg_advisory_xact_lock(hashtext('queuectl_schema'))")
            let exists = try link.sql("SELECT to_regclass('queuectl_meta') IS NOT NULL AS present")[0, "present"] == "t"
            if !exists {
                try link.script(Schema.create)
                try link.sql("INSERT INTO queuectl_meta (schema_version, config) VALUES ($1, $2)",
                             [String(Schema.version), String(decoding: DocumentCodec.encodeConfig(QueueConfig()), as: UTF8.self)])
                return "created the queuectl tables (schema \(Schema.version)) in \(location)"
            }
            let version = Int(try link.sql("SELECT schema_version FROM queuectl_meta")[0, "schema_version"] ?? "") ?? 0
            if version == 1 {
                try link.script(Schema.upgradeTo2)
                return "brought the queuectl tables in \(location) from schema 1 up to \(Schema.version)"
            }
            try check(version)
            // Counts left off by a row changed by hand are taken again, with no job changing meanwhile.
            try link.sql("LOCK TABLE queuectl_jobs IN SHARE MODE")
            if try link.sql(Schema.countsAreOff)[0, "off"] == "t" {
                try link.script(Schema.recount)
                return "the queuectl tables in \(location) are at schema \(version) already; their counts of jobs per queue "
                    + "and state were off (a row changed by hand?) and have been taken again from the jobs"
            }
            return "the queuectl tables in \(location) are at schema \(version) already; nothing to do"
        }
    }

    private func check(_ version: Int) throws(QueueError) {
        if version > Schema.version {
            throw .failure("the queuectl tables in \(location) are at schema \(version), newer than this queuectl knows "
                + "(\(Schema.version)); it has been left as it is: use a newer queuectl")
        }
        if version < Schema.version {
            throw .failure("the queuectl tables in \(location) are at schema \(version), older than this queuectl's "
                + "(\(Schema.version)); they have been left as they are: bring them up to date with 'queuectl store init'")
        }
    }

    // MARK: what every transaction reads

    struct Meta {
        var nextSequence: Int64
        var config: QueueConfig
        var paused: Bool
        var pausedQueues: [String]
        var counters: Counters
        /// The server's clock.
        var now: Timestamp
    }

    /// The settings row. `along`: a data-modifying statement run in the same round trip, before it
    /// (`WITH name AS (…)`), with its parameters.
    func meta(lock: Bool, along: (cte: String, parameters: [String?])? = nil) throws(QueueError) -> Meta {
        try meta(lock: lock, along: along, then: nil).meta
    }

    /// The settings row as `meta(lock:along:)` reads it, and the jobs matching `condition` as
    /// `jobs(where:…)` reads them, in the same round trip.
    func metaAndJobs(along: (cte: String, parameters: [String?])?, where condition: String, _ parameters: [String?],
                     lock: String?) throws(QueueError) -> (meta: Meta, jobs: [(Job, Row)]) {
        let read = try meta(lock: false, along: along, then: jobsStatement(where: condition, parameters, lock: lock))
        return (read.meta, try read.then.map { rows throws(QueueError) in try decode(rows) } ?? [])
    }

    private func meta(lock: Bool, along: (cte: String, parameters: [String?])?,
                      then next: PostgresConnection.Statement?) throws(QueueError) -> (meta: Meta, then: PostgresRows?) {
        let read = PostgresConnection.Statement((along.map { "WITH \($0.cte) " } ?? "")
            + "SELECT schema_version, next_seq, config, paused, paused_queues, runs, failed_runs, retries, dlq_moves, "
            + "\(Schema.serverNow) AS now FROM queuectl_meta" + (lock ? " FOR UPDATE" : ""), along?.parameters ?? [])
        let answers: [PostgresRows]
        do {
            answers = try link.sql([read] + (next.map { [$0] } ?? []))
        } catch {
            if link.lastSQLState == "42P01" {
                throw .failure("\(location) has no queuectl tables yet: create them with 'queuectl store init'")
            }
            throw error
        }
        let rows = answers[0]
        guard rows.count == 1 else { throw .failure("\(location): the table queuectl_meta must hold one row; it holds \(rows.count)") }
        try check(Int(rows[0, "schema_version"] ?? "") ?? 0)
        let config: QueueConfig
        do {
            config = try DocumentCodec.decodeConfig(Array((rows[0, "config"] ?? "").utf8))
        } catch {
            throw .failure("the config in \(location) is not valid: \(error); it has been left as it is")
        }
        var counters = Counters()
        counters.runs = Int(rows[0, "runs"] ?? "") ?? 0
        counters.failedRuns = Int(rows[0, "failed_runs"] ?? "") ?? 0
        counters.retries = Int(rows[0, "retries"] ?? "") ?? 0
        counters.dlqMoves = Int(rows[0, "dlq_moves"] ?? "") ?? 0
        return (Meta(nextSequence: Int64(rows[0, "next_seq"] ?? "") ?? 1, config: config, paused: rows[0, "paused"] == "t",
                    pausedQueues: SQLText.parseArray(rows[0, "paused_queues"] ?? "{}"), counters: counters,
                    now: Timestamp(milliseconds: Int64(rows[0, "now"] ?? "") ?? Timestamp.now().milliseconds)),
                answers.count > 1 ? answers[1] : nil)
    }

    /// A job row as read: the owner's key, and the body's bytes, to tell later what changed.
    struct Row {
        var worker: String?
        var body: [UInt8]
        var state: JobState
        var queue: String
    }

    /// What a transaction loaded, as it was.
    struct Loaded {
        var meta: Meta
        var rows: [String: Row] = [:]
        var jobs: [Job] = []

        mutating func add(_ more: [(Job, Row)]) {
            for (job, row) in more where rows[job.id] == nil {
                rows[job.id] = row
                jobs.append(job)
            }
        }

        var document: Document {
            var d = Document()
            d.nextSequence = meta.nextSequence
            d.config = meta.config
            d.counters = meta.counters
            d.paused = meta.paused
            d.pausedQueues = meta.pausedQueues
            d.jobs = JobTable(jobs.sorted { $0.sequence < $1.sequence })
            return d
        }
    }

    /// Jobs matching `condition` (SQL on `queuectl_jobs j`), in enqueue order.
    func jobs(where condition: String, _ parameters: [String?], order: String = "j.seq", lock: String? = nil,
              limit: Int? = nil) throws(QueueError) -> [(Job, Row)] {
        let statement = jobsStatement(where: condition, parameters, order: order, lock: lock, limit: limit)
        return try decode(try link.sql(statement.sql, statement.parameters))
    }

    private func jobsStatement(where condition: String, _ parameters: [String?], order: String = "j.seq", lock: String? = nil,
                               limit: Int? = nil) -> PostgresConnection.Statement {
        var statement = "SELECT j.id, j.worker, j.body FROM queuectl_jobs j WHERE \(condition) ORDER BY \(order)"
        var parameters = parameters
        // A parameter, so that one prepared statement serves every limit.
        if let limit {
            parameters.append(String(limit))
            statement += " LIMIT $\(parameters.count)"
        }
        if let lock { statement += " " + lock }
        return PostgresConnection.Statement(statement, parameters)
    }

    func decode(_ rows: PostgresRows) throws(QueueError) -> [(Job, Row)] {
        var out: [(Job, Row)] = []
        out.reserveCapacity(rows.count)
        for i in 0..<rows.count {
            let body = Array((rows[i, "body"] ?? "").utf8)
            do {
                let job = try DocumentCodec.decodeJob(body)
                out.append((job, Row(worker: rows[i, "worker"], body: body, state: job.state, queue: job.queueName)))
            } catch {
                throw .failure("job '\(rows[i, "id"] ?? "?")' in \(location) is not valid: \(error); it has been left as it is")
            }
        }
        return out
    }

    /// The jobs of `scope`, then every job they name that is not loaded yet.
    func load(_ scope: JobScope, into loaded: inout Loaded, lock: Bool) throws(QueueError) {
        let lockClause = lock ? "FOR UPDATE" : nil
        switch scope {
        case .none:
            return
        case .ids(let ids):
            loaded.add(try jobs(where: "j.id = ANY($1)", [SQLText.array(ids)], lock: lockClause))
        case .state(let state):
            loaded.add(try jobs(where: "j.state = $1", [state.rawValue], lock: lockClause))
        case .first(let count, let state):
            loaded.add(try jobs(where: state == nil ? "true" : "j.state = $1", state.map { [$0.rawValue] } ?? [], lock: lockClause,
                                limit: max(0, count)))
        case .pruning:
            loaded.add(try jobs(where: "j.state = 'completed' OR (cardinality(j.after) > 0 AND j.state IN ('pending', 'failed', 'processing'))",
                                [], lock: lockClause))
        case .newJobs(let count, let ids):
            // The ids an enqueue would give: its numbers, or `job-<n>` where a number is taken.
            let numbers = (0..<Int64(count)).map { loaded.meta.nextSequence + $0 }
            let candidates = ids + numbers.map { String($0) } + numbers.map { "job-\($0)" }
            loaded.add(try jobs(where: "j.id = ANY($1)", [SQLText.array(candidates)], lock: lockClause))
        case .all:
            // A view of every job (`list`, `stats`) reads them all; a change to every job at once would
            // lock the whole table, and is refused.
            guard !lock else {
                throw .failure("this command changes the whole queue at once, which the PostgreSQL store does not do; "
                    + "it works with the data file only")
            }
            loaded.add(try jobs(where: "true", []))
        }
        // And the jobs those name, and so on: every job in the document then has its dependencies
        // there, so a rule that settles one never takes a dependency left out for one that was cancelled.
        var looked = Set(loaded.rows.keys)
        var next = loaded.jobs
        while true {
            let named = Set(next.flatMap { ($0.after ?? []) + ($0.dependencyDied.map { [$0] } ?? []) }).subtracting(looked)
            guard !named.isEmpty else { return }
            looked.formUnion(named)
            let found = try jobs(where: "j.id = ANY($1)", [SQLText.array(named.sorted())], lock: lockClause)
            loaded.add(found)
            next = found.map(\.0)
        }
    }

    // MARK: writing back

    /// What a write changed of the jobs.
    struct Written {
        /// What to announce on the channel; nil when no job changed.
        var announcement: Announcement?
        /// A change after which jobs elsewhere may wait for a dependency that died or is gone, or
        /// have died with one that came back (`settleDependencies`): a job died, came back from the
        /// dead, went or is new, or one that waits for others was written.
        var mayUnsettle = false
        /// What it changed of the counts; written already unless `countersLater`.
        var counts = CountChanges()
    }

    /// The settings' `UPDATE` and the counts' `INSERT`, each if any, as `WITH` queries; `settings` is
    /// numbered from `count` + 1 already, the counts' parameters come after its. The settings row is
    /// written first (see `CountChanges.sql`).
    static func settingsAndCounts(_ settings: (statement: String, values: [String?])?, _ counts: CountChanges?,
                                  after count: Int) -> (ctes: [String], values: [String?]) {
        var ctes: [String] = [], values: [String?] = []
        if let settings {
            ctes.append("settings AS (\(settings.statement) RETURNING 1)")
            values = settings.values
        }
        if let counts, let added = counts.sql(after: count + values.count, following: settings == nil ? nil : "settings") {
            ctes.append("counted AS (\(added.statement))")
            values += added.values
        }
        return (ctes, values)
    }

    /// Whether a dead job died with one of the ids in the parameter numbered `parameter` (a new job
    /// may be the one a dead job died with, under an id enqueued again), as an SQL condition. Asked
    /// in a statement after the INSERT, which sees a death committed while that INSERT waited for
    /// the id's old row to go (a `cancel` of it).
    static func diedWith(parameter: Int) -> String {
        "EXISTS (SELECT 1 FROM queuectl_jobs d WHERE d.state = 'dead' AND d.dependency_died = ANY($\(parameter)::text[]))"
    }

    /// What a write changed of the jobs per queue and state, as `queuectl_counts` keeps them.
    struct CountChanges {
        private var changes: [Key: Int] = [:]
        private struct Key: Hashable {
            let queue: String
            let state: JobState
        }

        mutating func add(_ n: Int, queue: String, state: JobState) {
            changes[Key(queue: queue, state: state), default: 0] += n
        }

        mutating func merge(_ other: CountChanges) {
            changes.merge(other.changes, uniquingKeysWith: +)
        }

        /// How many jobs this adds to the completed ones.
        var completed: Int { changes.reduce(0) { $0 + ($1.key.state == .completed ? $1.value : 0) } }

        /// The `INSERT` into this connection's stripe of the counts that adds these, its parameters
        /// numbered after `count` others; nil when nothing changed. In one order, so that two
        /// transactions adding to the same rows lock them in the same order. `following`: the name of
        /// a data-modifying `WITH` query of the settings row (`RETURNING` a row) that this reads, so
        /// that it runs first: a transaction holding a row of the counts never waits for the
        /// settings row, which an enqueue holds from its start and adds to its counts at its end.
        func sql(after count: Int, following: String? = nil) -> (statement: String, values: [String?])? {
            let rows = changes.filter { $0.value != 0 }.sorted { ($0.key.queue, $0.key.state.rawValue) < ($1.key.queue, $1.key.state.rawValue) }
            guard !rows.isEmpty else { return nil }
            return ("INSERT INTO queuectl_counts (queue, state, stripe, n) SELECT c.queue, c.state, \(Schema.stripe), c.n "
                + "FROM unnest($\(count + 1)::text[], $\(count + 2)::text[], $\(count + 3)::bigint[]) AS c(queue, state, n) "
                + (following.map { "WHERE EXISTS (SELECT 1 FROM \($0)) " } ?? "") + Schema.addToCount,
                [SQLText.array(rows.map(\.key.queue)), SQLText.array(rows.map(\.key.state.rawValue)), SQLText.array(rows.map { String($0.value) })])
        }
    }

    /// A change of the jobs as the channel announces it when it commits (see `Schema.quietPrefix`).
    struct Announcement {
        /// Jobs may have become claimable.
        var mayFreeAJob = false
        /// Jobs that completed: they free the jobs that wait for them, if any do.
        var completed: [String] = []

        mutating func merge(_ other: Announcement) {
            mayFreeAJob = mayFreeAJob || other.mayFreeAJob
            completed += other.completed
        }

        /// Its `pg_notify` call as an SQL expression, its parameters numbered after `count` others:
        /// quiet unless a job may be free, which the server tells for the jobs that completed.
        func sql(worker: WorkerKey?, after count: Int) -> (expression: String, values: [String?]) {
            guard !mayFreeAJob else { return ("pg_notify(\(Schema.channel), $\(count + 1))", [worker?.text ?? ""]) }
            // The waiting index keeps this small.
            return ("pg_notify(\(Schema.channel), CASE WHEN EXISTS (SELECT 1 FROM queuectl_jobs w WHERE cardinality(w.after) > 0 "
                + "AND w.state IN ('pending', 'failed', 'processing') AND w.after && $\(count + 1)::text[]) THEN '' "
                + "ELSE '\(Schema.quietPrefix)' END || $\(count + 2))", [SQLText.array(completed), worker?.text ?? ""])
        }
    }

    /// Writes what `document` changed of `loaded`: new jobs, changed jobs, removed jobs (with their
    /// logs), the settings and, unless `countersLater`, the counters and the counts; then announces
    /// the change, unless `announceLater`. Both are for a worker, which adds them up and writes them
    /// with its last statement, so that the settings row and its stripe of the counts are locked only
    /// as it commits, and one announcement goes out. `worker`: the worker whose transaction this is,
    /// whose key marks the jobs it claims.
    /// The rows' statements go with the next statement the transaction sends (see `Link.sqlLater`),
    /// which sees their changes as if they had gone alone: this one's own last statement, when it has
    /// one, else the caller's next, or the COMMIT.
    @discardableResult
    func write(_ loaded: Loaded, _ document: Document, metaLocked: Bool, worker: WorkerKey? = nil,
               countersLater: Bool = false, announceLater: Bool = false) throws(QueueError) -> Written {
        var written = Written()
        var inserted: [[String?]] = [], updated: [[String?]] = []
        var present: Set<String> = []
        // Whether a worker's write can make a job claimable: see `Schema.quietPrefix`.
        var mayFreeAJob = worker == nil || document.config.maxRunning > 0 || !document.config.queueMaxRunning.isEmpty
        var completed: [String] = []
        for job in document.jobs {
            present.insert(job.id)
            let body = DocumentCodec.encodeJob(job)
            let row = loaded.rows[job.id]
            if let row, row.body == body { continue }
            switch job.state {
            case .processing, .dead: break
            case .completed: completed.append(job.id)
            case .pending, .failed: mayFreeAJob = true
            }
            var owner: String?
            if job.state == .processing, let process = job.worker {
                owner = worker.flatMap { $0.process == process ? $0.text : nil } ?? row?.worker
            }
            let values: [String?] = [
                job.id, String(job.sequence), job.state.rawValue, String(job.priority), job.runAt.map { String($0.milliseconds) },
                job.queueName, SQLText.array(job.after ?? []), job.dependencyDied, owner, String(Schema.updatedAt(of: job).milliseconds),
                String(decoding: body, as: UTF8.self),
            ]
            if let row {
                updated.append(values)
                if row.state != job.state || row.queue != job.queueName {
                    written.counts.add(-1, queue: row.queue, state: row.state)
                    written.counts.add(1, queue: job.queueName, state: job.state)
                }
            } else {
                inserted.append(values)
                written.counts.add(1, queue: job.queueName, state: job.state)
            }
            if job.state == .dead || row?.state == .dead || !(job.after ?? []).isEmpty { written.mayUnsettle = true }
        }
        let removed = loaded.rows.keys.filter { !present.contains($0) }.sorted()
        for id in removed { if let row = loaded.rows[id] { written.counts.add(-1, queue: row.queue, state: row.state) } }
        let columns = "u.id, u.seq, u.state, u.priority, u.run_at, u.queue, u.after::text[], u.dependency_died, u.worker, u.updated_at, u.body"
        let unnest = "unnest($1::text[], $2::bigint[], $3::text[], $4::integer[], $5::bigint[], $6::text[], $7::text[], $8::text[], "
            + "$9::text[], $10::bigint[], $11::text[]) AS u(id, seq, state, priority, run_at, queue, after, dependency_died, worker, updated_at, body)"
        func columnsOf(_ rows: [[String?]]) -> [String?] { (0..<11).map { c in SQLText.array(rows.map { $0[c] }) } }
        if !inserted.isEmpty {
            link.sqlLater("INSERT INTO queuectl_jobs (id, seq, state, priority, run_at, queue, after, dependency_died, worker, updated_at, body) "
                + "SELECT \(columns) FROM \(unnest)", columnsOf(inserted))
        }
        if !updated.isEmpty {
            link.sqlLater("UPDATE queuectl_jobs j SET seq = u.seq, state = u.state, priority = u.priority, run_at = u.run_at, "
                + "queue = u.queue, after = u.after::text[], dependency_died = u.dependency_died, worker = u.worker, "
                + "updated_at = u.updated_at, body = u.body FROM \(unnest) WHERE j.id = u.id", columnsOf(updated))
        }
        if !removed.isEmpty {
            link.sqlLater("DELETE FROM queuectl_jobs WHERE id = ANY($1)", [SQLText.array(removed)])
            link.sqlLater("DELETE FROM queuectl_logs WHERE id = ANY($1)", [SQLText.array(removed)])
        }
        let settings = try settingsUpdate(loaded.meta, document, locked: metaLocked, counters: !countersLater)
        if !removed.isEmpty {
            mayFreeAJob = true
            written.mayUnsettle = true
        }
        if !inserted.isEmpty || !updated.isEmpty || !removed.isEmpty {
            written.announcement = Announcement(mayFreeAJob: mayFreeAJob, completed: completed)
        }
        // The settings, the counts, the announcement and whether the new jobs bring a dead one back,
        // in one round trip.
        let clauses = PostgresQueueStore.settingsAndCounts(settings, countersLater ? nil : written.counts, after: 0)
        let ctes = clauses.ctes
        var values = clauses.values
        var results: [String] = []
        // Without a statement after the INSERT to ask in, a new job counts as one that may bring one back.
        let asksRevival = !inserted.isEmpty && written.announcement != nil && !announceLater
        if !inserted.isEmpty, !asksRevival { written.mayUnsettle = true }
        if let announcement = written.announcement, !announceLater {
            let sql = announcement.sql(worker: worker, after: values.count)
            results.append(sql.expression + " AS notified")
            values += sql.values
        }
        if asksRevival {
            values.append(SQLText.array(inserted.map { $0[0] }))
            results.append(PostgresQueueStore.diedWith(parameter: values.count) + " AS revives")
        }
        if !ctes.isEmpty || !results.isEmpty {
            let rows = try link.sql((ctes.isEmpty ? "" : "WITH " + ctes.joined(separator: ", ") + " ") + "SELECT "
                + (results.isEmpty ? "true" : results.joined(separator: ", ")), values)
            if asksRevival, rows[0, "revives"] == "t" { written.mayUnsettle = true }
        }
        return written
    }

    /// Settles, with JobManager's rule, the jobs waiting for a dependency that died or is gone and
    /// those that died with one that came back; a death can take a chain along, so until none is left.
    func settleDependencies(_ meta: Meta) throws(QueueError) {
        for _ in 0..<1_000 {
            let ids = try jobs(where: Schema.unsettled, []).map(\.0.id)
            guard !ids.isEmpty else { return }
            var loaded = Loaded(meta: meta)
            try load(.ids(ids), into: &loaded, lock: true)
            var snapshot = Snapshot(document: loaded.document, now: meta.now, home: home)
            guard !JobManager.settleDependencies(in: &snapshot).isEmpty else { return }
            try write(loaded, snapshot.document, metaLocked: false)
        }
    }

    /// The `UPDATE` of the settings row that writes what `document` changed of it, if anything: the
    /// counters as increments (no lock needed); the settings only from a transaction that locked them.
    private func settingsUpdate(_ before: Meta, _ document: Document, locked: Bool,
                                counters: Bool) throws(QueueError) -> (statement: String, values: [String?])? {
        var sets: [String] = [], values: [String?] = []
        func set(_ column: String, _ value: String) {
            values.append(value)
            sets.append("\(column) = $\(values.count)")
        }
        if PostgresQueueStore.settingsDiffer(before, document) {
            guard locked else { throw .failure("internal error: settings changed by a transaction that did not lock them") }
            set("next_seq", String(document.nextSequence))
            set("config", String(decoding: DocumentCodec.encodeConfig(document.config), as: UTF8.self))
            set("paused", document.paused ? "true" : "false")
            set("paused_queues", SQLText.array(document.pausedQueues))
        }
        if counters {
            let added = PostgresQueueStore.counterSets(document.counters.since(before.counters), after: values.count)
            sets += added.sets
            values += added.values
        }
        return sets.isEmpty ? nil : ("UPDATE queuectl_meta SET " + sets.joined(separator: ", "), values)
    }

    /// The `SET` items that add `delta` to the counters, their parameters numbered after `count` others.
    static func counterSets(_ delta: Counters, after count: Int) -> (sets: [String], values: [String?]) {
        var sets: [String] = [], values: [String?] = []
        for (column, n) in [("runs", delta.runs), ("failed_runs", delta.failedRuns), ("retries", delta.retries), ("dlq_moves", delta.dlqMoves)]
        where n != 0 {
            values.append(String(n))
            sets.append("\(column) = \(column) + $\(count + values.count)")
        }
        return (sets, values)
    }

    // MARK: recovery

    /// Recovers the jobs of workers whose lease ran out (or, on this host and in this PID namespace,
    /// whose process is gone), with JobManager's rule: every process of the run that this host can
    /// reach is killed first, a run that started counts as a failed attempt, one that never started
    /// goes back without one. Jobs another transaction holds are left to it (`SKIP LOCKED`). The
    /// records of workers recovered and left with no job are removed.
    func recover(_ meta: Meta) throws(QueueError) -> [JobTransition] {
        let rows = try link.sql("SELECT key, lease_until, renewed_at FROM queuectl_workers")
        var expired: [String] = []
        // Of the workers whose lease ran out, how long ago each renewed it.
        var leaseRanOut: [String: Int64] = [:]
        for i in 0..<rows.count {
            let key = rows[i, "key"] ?? ""
            let leaseUntil = Int64(rows[i, "lease_until"] ?? "") ?? 0
            if leaseUntil < meta.now.milliseconds {
                expired.append(key)
                leaseRanOut[key] = max(0, meta.now.milliseconds - (Int64(rows[i, "renewed_at"] ?? "") ?? 0))
                continue
            }
            if let parsed = WorkerKey(key), parsed.isLocal, !parsed.process.isAlive { expired.append(key) }
        }
        // Jobs whose worker left no record at all are orphans too.
        let orphans = try jobs(where: "j.state = 'processing' AND (j.worker = ANY($1) OR NOT EXISTS "
            + "(SELECT 1 FROM queuectl_workers w WHERE w.key = j.worker))", [SQLText.array(expired)], lock: "FOR UPDATE SKIP LOCKED")
        guard !orphans.isEmpty || !expired.isEmpty else { return [] }
        var loaded = Loaded(meta: meta)
        loaded.add(orphans)
        var document = loaded.document
        // Each owner as JobManager judges it: gone. One of another host is, to this one, a worker of
        // another PID namespace: nothing is signalled by its pids, only its run's marker is looked for.
        var owners: [String: WorkerRecord] = [:]
        for (_, row) in orphans {
            guard let text = row.worker, owners[text] == nil, let key = WorkerKey(text) else { continue }
            var record = key.record(slots: 0, startedAt: meta.now)
            // Recovery is by lease: a worker of this host whose lease ran out is gone too, though its
            // pid lives (frozen with Ctrl+Z, say), and its run's processes here are killed with it.
            if let ago = leaseRanOut[text] { record.databaseLease = DatabaseLease(renewedMillisecondsAgo: ago, expired: true) }
            owners[text] = record
        }
        document.workers = Array(owners.values)
        var snapshot = Snapshot(document: document, now: meta.now, home: home)
        let recovered = JobManager.recoverOrphans(in: &snapshot)
        try write(loaded, snapshot.document, metaLocked: false)
        if !expired.isEmpty {
            try link.sql("DELETE FROM queuectl_workers w WHERE w.key = ANY($1) AND NOT EXISTS "
                + "(SELECT 1 FROM queuectl_jobs j WHERE j.worker = w.key AND j.state = 'processing')", [SQLText.array(expired)])
        }
        return recovered
    }

    // MARK: QueueStore

    package func read(_ scope: JobScope) throws(QueueError) -> Document {
        try link.transaction(readOnly: true) { () throws(QueueError) -> Document in
            var loaded = Loaded(meta: try meta(lock: false))
            try load(scope, into: &loaded, lock: false)
            var document = loaded.document
            document.workers = try liveWorkers(now: loaded.meta.now).map(\.record)
            return document
        }
    }

    package func transaction<T>(_ scope: JobScope, onExistingJobs: Bool,
                                _ body: (inout Snapshot) throws(QueueError) -> T) throws(QueueError) -> T {
        // Settings change in a transaction without jobs (`config set`, `pause`) or one that numbers
        // new jobs: those lock them. Another that turns out to change them (`restart` numbers its jobs
        // anew) is rolled back and run again, locking them.
        var locksSettings: Bool
        switch scope {
        case .none, .newJobs: locksSettings = true
        default: locksSettings = false
        }
        while true {
            var needsSettings = false
            do {
                return try link.transaction { () throws(QueueError) -> T in
                    let meta = try meta(lock: locksSettings)
                    // An enqueue touches no job that is there already: recovery is left to the
                    // workers, which look once a second, and to the commands that change jobs.
                    var recovered: [JobTransition] = []
                    if case .newJobs = scope {} else { recovered = try recover(meta) }
                    var loaded = Loaded(meta: meta)
                    try load(scope, into: &loaded, lock: true)
                    var snapshot = Snapshot(document: loaded.document, now: meta.now, home: home)
                    let result = try body(&snapshot)
                    if !locksSettings, PostgresQueueStore.settingsDiffer(meta, snapshot.document) {
                        needsSettings = true
                        throw .failure("internal error: settings changed by a transaction that did not lock them")
                    }
                    var written = Written()
                    if snapshot.changed { written = try write(loaded, snapshot.document, metaLocked: locksSettings) }
                    if written.mayUnsettle || !recovered.isEmpty { try settleDependencies(meta) }
                    return result
                }
            } catch {
                guard needsSettings, !locksSettings else { throw error }
                locksSettings = true
            }
        }
    }

    /// Whether `document` changes what only a transaction that locked the settings row may change.
    static func settingsDiffer(_ before: Meta, _ document: Document) -> Bool {
        document.nextSequence != before.nextSequence || document.config != before.config
            || document.paused != before.paused || document.pausedQueues != before.pausedQueues
    }

    /// The workers whose lease holds, as records, with what `status` says of each.
    func liveWorkers(now: Timestamp) throws(QueueError) -> [(record: WorkerRecord, key: String, liveness: WorkerLiveness)] {
        let rows = try link.sql("SELECT key, slots, started_at, renewed_at FROM queuectl_workers WHERE lease_until >= $1 ORDER BY started_at",
                                [String(now.milliseconds)])
        var out: [(WorkerRecord, String, WorkerLiveness)] = []
        for i in 0..<rows.count {
            guard let text = rows[i, "key"], let key = WorkerKey(text) else { continue }
            var record = key.record(slots: Int(rows[i, "slots"] ?? "") ?? 0,
                                    startedAt: Timestamp(milliseconds: Int64(rows[i, "started_at"] ?? "") ?? 0))
            let ago = max(0, now.milliseconds - (Int64(rows[i, "renewed_at"] ?? "") ?? 0))
            if key.isLocal {
                if key.process.isAlive { out.append((record, text, .alive)) }
            } else {
                record.databaseLease = DatabaseLease(renewedMillisecondsAgo: ago, expired: false)
                out.append((record, text, .remote(renewedMillisecondsAgo: ago)))
            }
        }
        return out
    }

    package func status(listingUpTo limit: Int) throws(QueueError) -> QueueStatus {
        try link.transaction(readOnly: true) { () throws(QueueError) -> QueueStatus in try status(listingUpTo: limit, meta: try meta(lock: false)) }
    }

    /// `status`, in the transaction under way.
    private func status(listingUpTo limit: Int, meta: Meta) throws(QueueError) -> QueueStatus {
        let rows = try link.sql("SELECT queue, state, sum(n) AS n FROM queuectl_counts GROUP BY queue, state HAVING sum(n) <> 0")
        var counts: [JobState: Int] = [:]
        var byQueue: [String: [JobState: Int]] = [:]
        var total = 0
        for i in 0..<rows.count {
            guard let state = JobState(rawValue: rows[i, "state"] ?? ""), let n = Int(rows[i, "n"] ?? "") else { continue }
            counts[state, default: 0] += n
            byQueue[rows[i, "queue"] ?? Job.defaultQueue, default: [:]][state, default: 0] += n
            total += n
        }
        var running: [String: [String]] = [:]
        let processing = try link.sql("SELECT worker, id FROM queuectl_jobs WHERE state = 'processing' ORDER BY seq")
        for i in 0..<processing.count { running[processing[i, "worker"] ?? "", default: []].append(processing[i, "id"] ?? "") }
        let workers = try liveWorkers(now: meta.now).map {
            StatusReport.Worker(record: $0.record, liveness: $0.liveness, jobs: running[$0.key] ?? [])
        }
        var queues: [QueueCounts] = []
        if byQueue.keys.contains(where: { $0 != Job.defaultQueue }) || !meta.pausedQueues.isEmpty {
            for name in meta.pausedQueues where byQueue[name] == nil { byQueue[name] = [:] }
            queues = byQueue.keys.sorted().map {
                QueueCounts(name: $0, counts: byQueue[$0]!, paused: meta.paused || meta.pausedQueues.contains($0))
            }
        }
        let listed = total <= limit ? try jobs(where: "true", []).map(\.0) : nil
        return QueueStatus(report: StatusReport(counts: counts, total: total, workers: workers), paused: meta.paused,
                           queues: queues, jobs: listed)
    }

    package func liveView(now _: Timestamp) throws(QueueError) -> LiveView {
        try link.transaction(readOnly: true) { () throws(QueueError) -> LiveView in
            let meta = try meta(lock: false)
            let now = meta.now
            let status = try status(listingUpTo: 0, meta: meta)
            let running = try jobs(where: "j.state = 'processing'", [])
            var byWorker: [String: [Job]] = [:]
            for (job, row) in running { byWorker[row.worker ?? "", default: []].append(job) }
            let workers = try liveWorkers(now: now).map { QueueOverview.Worker(record: $0.record, running: byWorker[$0.key] ?? []) }
            // Held back by their run_at, soonest first; the last finished, newest first (a finished
            // job's updated_at is when it finished).
            let upcoming = try jobs(where: "j.state IN ('pending', 'failed') AND j.run_at > $1", [String(now.milliseconds)],
                                    order: "j.run_at, j.seq", limit: 5).map(\.0)
            let recent = try jobs(where: "j.state IN ('completed', 'failed', 'dead')", [], order: "j.updated_at DESC, j.seq DESC", limit: 32)
                .map(\.0).filter { $0.finishedAt != nil }.prefix(8)
            let overview = QueueOverview(counts: status.report.counts, total: status.report.total, workers: workers,
                                         upcoming: upcoming, recent: Array(recent))
            return LiveView(overview: overview, paused: status.paused, queues: status.queues)
        }
    }

    package func log(_ id: String) throws(QueueError) -> [UInt8]? { try storedLog(id)?.bytes }

    /// A job's log as the database keeps it (its last `max-log-bytes`), and how many bytes it was
    /// ever given: a follower takes the difference from what it has printed.
    package func storedLog(_ id: String) throws(QueueError) -> (bytes: [UInt8], total: Int)? {
        let rows = try link.sql("SELECT bytes, total FROM queuectl_logs WHERE id = $1", [id])
        guard rows.count > 0 else { return nil }
        return (SQLText.parseBytea(rows[0, "bytes"] ?? ""), Int(rows[0, "total"] ?? "") ?? 0)
    }

    package func logTail(_ id: String, maxBytes: Int) throws(QueueError) -> (bytes: [UInt8], size: Int)? {
        let rows = try link.sql("SELECT substring(bytes FROM greatest(1, length(bytes) - $2::integer + 1)) AS bytes, length(bytes) AS size "
            + "FROM queuectl_logs WHERE id = $1", [id, String(max(0, maxBytes))])
        guard rows.count > 0 else { return nil }
        return (SQLText.parseBytea(rows[0, "bytes"] ?? ""), Int(rows[0, "size"] ?? "") ?? 0)
    }

    package func throughput(now: Timestamp) throws(QueueError) -> Throughput {
        var throughput = Throughput(now: now)
        let start = String(throughput.start.milliseconds)
        // A finished job's updated_at is when its last run ended; one that never ran (it died with
        // a dependency) has no finished_at in its body, and is not a run. A job retried since keeps
        // its last run's end only in its body, where updated_at is when it was retried (later).
        let rows = try link.sql("SELECT state = 'completed' AS ok, updated_at / 60000 AS minute, count(*) AS runs FROM queuectl_jobs "
            + "WHERE state IN ('completed', 'failed', 'dead') AND updated_at >= $1 AND position('\"finished_at\"' IN body) > 0 "
            + "GROUP BY 1, 2", [start])
        for i in 0..<rows.count {
            guard let minute = Int64(rows[i, "minute"] ?? ""), let runs = Int(rows[i, "runs"] ?? "") else { continue }
            throughput.count(finishedAt: Timestamp(milliseconds: minute * 60_000), completed: rows[i, "ok"] == "t", runs: runs)
        }
        for (job, _) in try jobs(where: "j.state = 'pending' AND j.updated_at >= $1 AND position('\"finished_at\"' IN j.body) > 0", [start]) {
            if let at = job.finishedAt { throughput.count(finishedAt: at, completed: false) }
        }
        return throughput
    }

    /// A database has no file identity to compare: a view reads again each time.
    package func changed(since document: Document) -> Bool { true }

    package func changeNotifier() throws(QueueError) -> any ChangeNotifier {
        try Listener(conninfo: conninfo)
    }

    package func workerSession(home directory: OpenDirectory, record: WorkerRecord, queues: [String]?) throws(QueueError) -> any WorkerSession {
        try PostgresWorkerSession(store: self, home: directory, record: record, queues: queues)
    }
}

/// A worker as the database knows it: its host (the boot id), its PID namespace, its pid and the
/// pid's start time, as one text, `boot/namespace/pid/start`. Unique across hosts and namespaces.
struct WorkerKey: Equatable {
    let host: String
    let namespace: UInt64?
    let process: ProcessIdentity

    init(_ record: WorkerRecord) {
        host = Processes.bootID ?? "unknown-boot"
        namespace = record.pidNamespace
        process = record.process
    }

    init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4, let pid = Int32(parts[2]), let start = UInt64(parts[3]) else { return nil }
        host = String(parts[0])
        namespace = UInt64(parts[1])
        process = ProcessIdentity(pid: pid, startTime: start)
    }

    var text: String { "\(host)/\(namespace.map(String.init) ?? "")/\(process.pid)/\(process.startTime)" }

    /// On this host, in this PID namespace: its pid can be judged and signalled here.
    var isLocal: Bool { host == (Processes.bootID ?? "unknown-boot") && namespace == Processes.pidNamespace }

    /// As JobManager sees it. A worker of another host counts as one of another PID namespace (the
    /// largest number, which is none of this host's), so its pids are never taken for this host's.
    func record(slots: Int, startedAt: Timestamp) -> WorkerRecord {
        WorkerRecord(process: process, slots: slots, startedAt: startedAt, pidNamespace: isLocal ? namespace : UInt64.max)
    }
}


/// A connection that `LISTEN`s for changes to the jobs, connected now (or the error). Lost, it
/// connects again at the next look; meanwhile its descriptor is -1 and the waiting command's
/// periodic look goes on.
final class Listener: ChangeNotifier {
    let link: Link
    /// While the server cannot be reached, when connecting is tried again.
    private var retryAt: Int64?

    /// `timeoutMilliseconds`: as `Link.timeoutMilliseconds`, from the first connection on.
    init(conninfo: String, timeoutMilliseconds: Int64? = nil) throws(QueueError) {
        link = Link(conninfo: conninfo, onConnect: Schema.listen)
        link.timeoutMilliseconds = timeoutMilliseconds
        _ = try link.socket()
    }

    /// The socket, connected again (and listening again) after it was lost; -1 while the server
    /// cannot be reached, when `poll` skips it. Connecting again is tried once a second, not at every
    /// turn of a loop, since each try may wait out the connect timeout.
    var descriptor: Int32 {
        if let retryAt, monotonicMilliseconds() < retryAt { return -1 }
        guard let socket = try? link.socket() else {
            retryAt = monotonicMilliseconds() + 1_000
            return -1
        }
        retryAt = nil
        return socket
    }

    func drain() -> Bool { (try? link.notifications())?.isEmpty == false }
}

extension Counters {
    /// What was added to `before` to make these.
    func since(_ before: Counters) -> Counters {
        var delta = Counters()
        delta.runs = runs - before.runs
        delta.failedRuns = failedRuns - before.failedRuns
        delta.retries = retries - before.retries
        delta.dlqMoves = dlqMoves - before.dlqMoves
        return delta
    }

    static func + (a: Counters, b: Counters) -> Counters {
        var sum = Counters()
        sum.runs = a.runs + b.runs
        sum.failedRuns = a.failedRuns + b.failedRuns
        sum.retries = a.retries + b.retries
        sum.dlqMoves = a.dlqMoves + b.dlqMoves
        return sum
    }
}
