import JobManager
import QueueStorage
import QueueSystem

/// A worker on the PostgreSQL store. Its record in `queuectl_workers` carries a lease it renews;
/// claims take the best runnable rows with `FOR UPDATE SKIP LOCKED`, so workers on many hosts never
/// take one job twice; a second connection `LISTEN`s, so an enqueue anywhere wakes it. A run's output
/// is written to this host's queue folder as it comes, and goes into the database when the run is
/// recorded.
final class PostgresWorkerSession: WorkerSession {
    private let store: PostgresQueueStore
    private let key: WorkerKey
    private let record: WorkerRecord
    private let queues: [String]?
    private let listener: Listener
    private let logs: OpenDirectory?
    var lockWaiting = LockWaiting.forever
    /// How much of each running job's log on this host is in the database already, and which file
    /// that was (a log cut for its size is replaced by a new, shorter file).
    private var uploadedBytes: [String: (file: FileIdentity?, count: Int)] = [:]
    /// The jobs this worker said it runs at its last exchange; their output so far goes to the
    /// database with each renewal of the lease, for `logs -f` on other hosts.
    private var running: Set<String> = []
    private var maxLogBytes = QueueConfig().maxLogBytes

    init(store: PostgresQueueStore, home: OpenDirectory, record: WorkerRecord, queues: [String]?) throws(QueueError) {
        self.store = store
        self.record = record
        key = WorkerKey(record)
        self.queues = queues
        logs = try store.home.openLogs(create: true)
        listener = try Listener(conninfo: store.conninfo, timeoutMilliseconds: PostgresWorkerSession.callLimit(QueueConfig()))
        limitCalls(to: QueueConfig())
    }

    /// Every call to the server gives up after a fifth of the lease (a quarter of a second at least):
    /// with renewals every third of it and the fence at half of it, a server that stops answering
    /// is heard of, and the runs killed, well before the lease runs out.
    /// A lock is waited for half as long (see `Link.lockTimeoutMilliseconds`): a wait that would
    /// give the connection up is a transaction run again instead. A statement runs for three
    /// quarters of it at most (`Link.statementTimeoutMilliseconds`): one that waited for two locks,
    /// or on a server too slow, fails there, before its COMMIT, which may have gone with it.
    private func limitCalls(to config: QueueConfig) {
        let limit = PostgresWorkerSession.callLimit(config)
        store.link.timeoutMilliseconds = limit
        listener.link.timeoutMilliseconds = limit
        if store.link.lockTimeoutMilliseconds != limit / 2 { store.link.lockTimeoutMilliseconds = limit / 2 }
        if store.link.statementTimeoutMilliseconds != limit * 3 / 4 { store.link.statementTimeoutMilliseconds = limit * 3 / 4 }
    }

    static func callLimit(_ config: QueueConfig) -> Int64 { max(250, Int64(max(2, config.leaseSeconds) * 1000) / 5) }

    private var link: Link { store.link }

    /// Registers this worker unless it is registered, as a statement to run along with the settings'
    /// read (`PostgresQueueStore.meta(lock:along:)`), on the server's clock, with the lease of the
    /// config last read.
    private var registration: (cte: String, parameters: [String?]) {
        ("registered AS (INSERT INTO queuectl_workers (key, host, pid, start_time, pid_namespace, slots, started_at, renewed_at, lease_until) "
            + "VALUES ($1, $2, $3, $4, $5, $6, \(Schema.serverNow), \(Schema.serverNow), \(Schema.serverNow) + $7) ON CONFLICT (key) DO NOTHING)",
         [key.text, key.host, String(record.process.pid), String(record.process.startTime), key.namespace.map { String($0) },
          String(record.slots), String(leaseMilliseconds)])
    }

    /// The lease of the config last read.
    private var leaseMilliseconds = Int64(QueueConfig().leaseSeconds * 1000)
    /// When the next exchange looks for workers that are gone: once a second, as the data file's
    /// worker looks at each claim (a lease runs out over seconds; the look costs two round trips).
    private var recoveryDue: Int64 = 0
    static let recoveryInterval: Int64 = 1_000

    func begin() throws(QueueError) -> [JobTransition] {
        try link.transaction { () throws(QueueError) -> [JobTransition] in
            let meta = try store.meta(lock: false)
            leaseMilliseconds = Int64(max(2, meta.config.leaseSeconds) * 1000)
            let recovered = try store.recover(meta)
            _ = try store.meta(lock: false, along: registration)
            recoveryDue = monotonicMilliseconds() + PostgresWorkerSession.recoveryInterval
            return recovered
        }
    }

    func exchange<T>(running: Set<String>, starting: Set<String>, claimLimit: () -> Int, prune: Bool, checkAge: Bool,
                     _ body: (inout Snapshot) throws(QueueError) -> T) throws(QueueError) -> Exchanged<T> {
        let me = record.process
        self.running = running
        var uploaded: [String] = []
        // How much of each log this transaction put in the database, kept once it commits.
        var marks: [String: (file: FileIdentity?, count: Int)] = [:]
        let out = try link.transaction { () throws(QueueError) -> Exchanged<T> in
            // Judged gone and removed meanwhile (its jobs were recovered then): it registers again,
            // in the transaction of its claims, so that no claim of its is ever without its record;
            // after the recovery, which may remove it.
            var recovered: [JobTransition] = []
            if monotonicMilliseconds() >= recoveryDue {
                recovered = try store.recover(try store.meta(lock: false))
                recoveryDue = monotonicMilliseconds() + PostgresWorkerSession.recoveryInterval
            }
            // The settings and this worker's own jobs, in one round trip.
            let read = try store.metaAndJobs(along: registration, where: "j.worker = $1 AND j.state = 'processing'", [key.text],
                                             lock: "FOR UPDATE")
            let meta = read.meta
            var loaded = PostgresQueueStore.Loaded(meta: meta)
            loaded.add(read.jobs)
            var snapshot = Snapshot(document: loaded.document, now: meta.now, home: store.home)
            var out = Exchanged(body: try body(&snapshot))
            out.recovered = recovered
            // A claim this worker neither runs nor is starting, whose result the body did not just
            // record either: the COMMIT of the claim went through, its answer did not.
            for job in loaded.jobs where !running.contains(job.id) && !starting.contains(job.id) {
                guard let i = snapshot.document.index(of: job.id), snapshot.document.jobs.summary(at: i).state == .processing,
                      snapshot.document.jobs.summary(at: i).worker == me else { continue }
                if let t = JobManager.returnLostClaim(job.id, worker: me, in: &snapshot) { out.recovered.append(t) }
            }
            // The runs recorded now: their output goes into the database with their result.
            uploaded = loaded.jobs.map(\.id).filter { id in
                guard let i = snapshot.document.index(of: id) else { return true }
                let summary = snapshot.document.jobs.summary(at: i)
                return summary.state != .processing || summary.worker != me
            }
            marks = [:]
            try upload(uploaded + running.subtracting(uploaded).sorted(), maxBytes: meta.config.maxLogBytes, marks: &marks)
            // The results are written before the claim, whose query then sees them (a dependency
            // that just completed), and the jobs waiting for one that died (here or by recovery) are
            // settled first, as the data file's worker does. The counters and the announcement are
            // written with the last statement: the settings row the counters are in is then locked
            // only as this commits, not while the claim is made. The rows' writes go with the next
            // statement: the results with the claim's query, the claims with the last statement, so
            // that an exchange takes three round trips.
            var written = PostgresQueueStore.Written()
            if snapshot.changed {
                written = try store.write(loaded, snapshot.document, metaLocked: false, worker: key, countersLater: true, announceLater: true)
            }
            var counted = snapshot.document.counters.since(meta.counters)
            var counts = written.counts
            var announcement = written.announcement
            if written.mayUnsettle || !recovered.isEmpty { try store.settleDependencies(meta) }
            if prune, checkAge { try removeOlderThanRetention(meta) }
            // The claim sees this worker's own jobs as they are now (they count against the limits):
            // as just written, which is what its rows hold.
            var claiming = PostgresQueueStore.Loaded(meta: meta)
            claiming.add(snapshot.document.jobs.jobs { $0.state == .processing && $0.worker == me }.map { job in
                (job, PostgresQueueStore.Row(worker: key.text, body: DocumentCodec.encodeJob(job), state: job.state, queue: job.queueName))
            })
            var view = Snapshot(document: claiming.document, now: meta.now, home: store.home)
            let limit = claimLimit()
            if limit > 0, !meta.paused {
                try claim(limit, into: &view, loaded: &claiming, out: &out)
                if view.changed {
                    let claims = try store.write(claiming, view.document, metaLocked: false, worker: key, countersLater: true, announceLater: true)
                    counts.merge(claims.counts)
                    if let more = claims.announcement {
                        if announcement == nil { announcement = more } else { announcement?.merge(more) }
                    }
                }
                counted = counted + view.document.counters.since(meta.counters)
            }
            out.cancelled = view.document.jobs.indices(whereSummary: { $0.cancelRequested && $0.worker == me && running.contains($0.id) })
                .map { view.document.jobs.summary(at: $0).id }
            out.killed = view.document.jobs.indices(whereSummary: { $0.killRequested && $0.worker == me && running.contains($0.id) })
                .map { view.document.jobs.summary(at: $0).id }
            out.nextEligibleInMilliseconds = try finish(meta, counted: counted, counts: counts, announcement: announcement, prune: prune)
            out.config = meta.config
            return out
        }
        if let keep = pruneDue {
            pruneDue = nil
            // A transaction of its own, after the exchange's: should it fail, the next exchange that
            // counts prunes in its own transaction (the count it last saw is forgotten).
            do {
                try link.transaction { () throws(QueueError) in try pruneBeyond(keep, committing: true) }
            } catch {
                completedSeen = nil
            }
        }
        uploadedBytes.merge(marks) { $1 }
        // In the database now: this host's copies go.
        for id in uploaded {
            logs?.remove(QueueHome.logName(id))
            uploadedBytes[id] = nil
        }
        maxLogBytes = out.config.maxLogBytes
        leaseMilliseconds = Int64(max(2, out.config.leaseSeconds) * 1000)
        limitCalls(to: out.config)
        return out
    }

    /// Claims up to `limit` of the best runnable jobs. The rows are taken with `SKIP LOCKED` and then
    /// chosen by JobManager's own claim, so limits and order are the same rules as the data file's.
    /// With limits on jobs running at once, claims take turns (an advisory lock) and see every running job.
    private func claim<T>(_ limit: Int, into snapshot: inout Snapshot, loaded: inout PostgresQueueStore.Loaded,
                          out: inout Exchanged<T>) throws(QueueError) {
        let config = loaded.meta.config
        let limited = config.maxRunning > 0 || !config.queueMaxRunning.isEmpty
        var extra: [(Job, PostgresQueueStore.Row)] = []
        if limited {
            try link.sql("SELECT pg_advisory_xact_lock(hashtext('queuectl_claim'))")
            extra += try store.jobs(where: "j.state = 'processing' AND j.worker IS DISTINCT FROM $1", [key.text])
        }
        var condition = "j.state IN ('pending', 'failed') AND (j.run_at IS NULL OR j.run_at <= $1) AND NOT (j.queue = ANY($2)) "
            + "AND " + Schema.dependenciesMet
        var parameters: [String?] = [String(loaded.meta.now.milliseconds), SQLText.array(loaded.meta.pausedQueues)]
        if let queues {
            parameters.append(SQLText.array(queues))
            condition += " AND j.queue = ANY($3)"
        }
        let order = config.schedulingMode == .fifo ? "j.seq" : "j.priority DESC, j.seq"
        let lock = "FOR UPDATE OF j SKIP LOCKED"
        var candidates: [(Job, PostgresQueueStore.Row)] = []
        if config.queueMaxRunning.isEmpty {
            // The home's limit only caps how many are taken, in claim order: the best `limit` will do.
            candidates = try store.jobs(where: condition, parameters, order: order, lock: lock, limit: limit)
        } else {
            // A queue at its limit may have any number of runnable jobs ahead of another queue's, so no
            // window of the best candidates is enough: the queues without a limit give their best
            // `limit`, and each limited queue its best up to the room it has left.
            var running: [String: Int] = [:]
            for i in snapshot.document.jobs.indices(whereSummary: { $0.state == .processing }) {
                running[snapshot.document.jobs.summary(at: i).queue, default: 0] += 1
            }
            for (job, _) in extra where job.state == .processing { running[job.queueName, default: 0] += 1 }
            let named = config.queueMaxRunning.keys.sorted()
            let next = "$\(parameters.count + 1)"
            candidates = try store.jobs(where: condition + " AND NOT (j.queue = ANY(\(next)))", parameters + [SQLText.array(named)],
                                        order: order, lock: lock, limit: limit)
            for name in named where queues?.contains(name) ?? true {
                let room = min(limit, config.queueMaxRunning[name]! - (running[name] ?? 0))
                guard room > 0 else { continue }
                candidates += try store.jobs(where: condition + " AND j.queue = \(next)", parameters + [name], order: order, lock: lock,
                                             limit: room)
            }
        }
        // A job read above as another worker's may be a candidate now (given back, or recovered,
        // meanwhile): the candidate is the row as it is, and locked.
        let candidateIDs = Set(candidates.map(\.0.id))
        extra = extra.filter { !candidateIDs.contains($0.0.id) } + candidates
        // Their dependencies, all completed: JobManager's claim looks them up. Completed, they cannot
        // be claimed themselves, so they need no lock.
        let dependencies = Set(candidates.flatMap { $0.0.after ?? [] }).subtracting(loaded.rows.keys)
        if !dependencies.isEmpty {
            extra += try store.jobs(where: "j.id = ANY($1) AND j.state = 'completed'", [SQLText.array(dependencies.sorted())])
        }
        let fresh = extra.filter { loaded.rows[$0.0.id] == nil }
        loaded.add(fresh)
        snapshot.document.jobs.append(contentsOf: fresh.map(\.0))
        out.claimed = JobManager.claim(limit: limit, for: record.process, queues: queues, in: &snapshot) { out.beforeClaim[$0.id] = $0 }
        if out.claimed.count < limit { out.waitingOnRunning = JobManager.jobsWaitForRunningOnes(in: snapshot.document) }
    }

    /// The exchange's last statement, mostly sent with its COMMIT: the counters and the counts it
    /// added, the announcement of its change, when the next job held back by its `run_at` is due
    /// (returned, from now) and, when asked to prune, how many jobs are completed. Over the config's
    /// `keep-completed` by 10%, the oldest completed jobs go, as the data file's worker removes them
    /// while recording runs (completed rows only; `updated_at` of a completed job is when it finished).
    private func finish(_ meta: PostgresQueueStore.Meta, counted: Counters, counts: PostgresQueueStore.CountChanges,
                        announcement: PostgresQueueStore.Announcement?, prune: Bool) throws(QueueError) -> Int64? {
        var values: [String?] = [String(meta.now.milliseconds)]
        let counters = PostgresQueueStore.counterSets(counted, after: values.count)
        let settings = counters.sets.isEmpty ? nil : ("UPDATE queuectl_meta SET " + counters.sets.joined(separator: ", "), counters.values)
        let clauses = PostgresQueueStore.settingsAndCounts(settings, counts, after: values.count)
        let ctes = clauses.ctes
        values += clauses.values
        var columns = ["(SELECT min(run_at) FROM queuectl_jobs WHERE state IN ('pending', 'failed') AND run_at > $1) AS next"]
        let retention = Retention(meta.config)
        let counting = prune && retention.keep > 0
        // The counts as they were, before this statement adds to them, and what it adds.
        if counting {
            values.append(String(counts.completed))
            columns.append("(SELECT coalesce(sum(n), 0) FROM queuectl_counts WHERE state = 'completed') + $\(values.count)::bigint AS completed")
        }
        if let announcement {
            let notify = announcement.sql(worker: key, after: values.count)
            columns.append(notify.expression + " AS notified")
            values += notify.values
        }
        // The COMMIT goes with it unless a prune may have to follow: unless this worker's last count
        // of the completed jobs and those it completed now are over the bound. Should the count
        // (other workers' completions in it) be over after all, the prune follows the COMMIT.
        let bound = retention.keep + max(1, retention.keep / 10)
        let mayPrune = counting && (completedSeen.map { $0 + counts.completed > bound } ?? true)
        let rows = try link.sql((ctes.isEmpty ? "" : "WITH " + ctes.joined(separator: ", ") + " ") + "SELECT " + columns.joined(separator: ", "), values,
                                committing: !mayPrune)
        if counting, let completed = Int(rows[0, "completed"] ?? "") {
            completedSeen = completed
            if completed > bound {
                if mayPrune { try pruneBeyond(retention.keep, committing: true) } else { pruneDue = retention.keep }
            }
        }
        return rows[0, "next"].flatMap { Int64($0) }.map { $0 - meta.now.milliseconds }
    }

    /// The completed jobs as this worker's last exchange that counted them saw them, with its own
    /// completions then; nil before the first.
    private var completedSeen: Int?
    /// The `keep-completed` of a prune found due after the exchange's COMMIT had gone.
    private var pruneDue: Int?

    /// Removes the completed jobs beyond the newest `keep` (by when they finished), but none that
    /// another still waits for. The state is checked again on the row deleted: a row changed since
    /// the statement began (a job restarted meanwhile) is checked again against this condition, not
    /// against the subquery.
    private func pruneBeyond(_ keep: Int, committing: Bool) throws(QueueError) {
        try link.sql("WITH pruned AS (DELETE FROM queuectl_jobs WHERE id IN (SELECT j.id FROM queuectl_jobs j WHERE j.state = 'completed' "
            + "AND \(PostgresWorkerSession.awaited) ORDER BY j.updated_at DESC, j.seq DESC OFFSET $1) AND state = 'completed' "
            + "RETURNING id, queue) "
            + PostgresWorkerSession.uncountingPruned, [String(keep)], committing: committing)
    }

    /// A completed job that another still waits for stays until that one has run (on `j`).
    static let awaited = "NOT EXISTS (SELECT 1 FROM queuectl_jobs w WHERE cardinality(w.after) > 0 "
        + "AND w.state IN ('pending', 'failed', 'processing') AND j.id = ANY(w.after))"

    /// The config's retention by age, when the worker asks (once a minute).
    private func removeOlderThanRetention(_ meta: PostgresQueueStore.Meta) throws(QueueError) {
        guard let age = Retention(meta.config).maximumAge else { return }
        let cutoff = meta.now.milliseconds - Int64(age * 1000)
        try link.sql("WITH pruned AS (DELETE FROM queuectl_jobs j WHERE j.state = 'completed' AND j.updated_at <= $1 AND \(PostgresWorkerSession.awaited) "
            + "RETURNING j.id, j.queue) " + PostgresWorkerSession.uncountingPruned, [String(cutoff)])
    }

    /// After `WITH pruned AS (DELETE … RETURNING id, queue)` of completed jobs: their logs go, and
    /// their counts.
    static let uncountingPruned = ", logs AS (DELETE FROM queuectl_logs WHERE id IN (SELECT id FROM pruned)) "
        + "INSERT INTO queuectl_counts (queue, state, stripe, n) SELECT queue, 'completed', \(Schema.stripe), -count(*) FROM pruned "
        + "GROUP BY queue ORDER BY queue \(Schema.addToCount)"

    /// Adds what this host's log of each job gained since the last upload to its log in the
    /// database, bounded to `maxBytes` by the same cut as a log file (its middle goes, a marker says
    /// how much, the header of the run the end belongs to stays), and counts every byte it was given
    /// (`total`), so that a follower can tell what is new even after a cut. When the host's log was
    /// cut for its size since, the part of it uploaded before is replaced by the whole cut file.
    /// Only the job's worker writes its log, so the read and the write need no lock between them.
    /// How much of each file is in the database goes into `marks` as each statement succeeds; in a
    /// transaction the caller keeps them only once it commits.
    private func upload(_ ids: [String], maxBytes: Int, marks: inout [String: (file: FileIdentity?, count: Int)]) throws(QueueError) {
        struct Gain {
            let id: String
            let added: ArraySlice<UInt8>
            let file: FileIdentity?
            let size: Int
            /// The database's log ends with what was uploaded of this file before: the gain follows it.
            let follows: Bool
            let uploadedBefore: Int
        }
        var gains: [Gain] = []
        for id in ids {
            let name = QueueHome.logName(id)
            guard let logs, let bytes = (try? logs.readFile(name)) ?? nil else { continue }
            let file = logs.identity(of: name)
            let before = uploadedBytes[id]
            let sameFile = before.map { $0.file == file && $0.count <= bytes.count } ?? true
            let done = sameFile ? before?.count ?? 0 : 0
            guard bytes.count > done || !sameFile else { continue }
            gains.append(Gain(id: id, added: bytes[done...], file: file, size: bytes.count, follows: sameFile, uploadedBefore: before?.count ?? 0))
        }
        // Most gains are appended whole, all in one statement, where the log stays within the bound;
        // the others are cut here (or replaced), one by one.
        let appendable = gains.filter { $0.follows && $0.added.count <= maxBytes }
        var appended: Set<String> = []
        if !appendable.isEmpty {
            let rows = try link.sql("INSERT INTO queuectl_logs AS l (id, bytes, total) SELECT u.id, u.bytes, length(u.bytes) "
                + "FROM unnest($1::text[], $2::bytea[]) AS u(id, bytes) ON CONFLICT (id) DO UPDATE SET bytes = l.bytes || EXCLUDED.bytes, "
                + "total = l.total + EXCLUDED.total WHERE length(l.bytes) + length(EXCLUDED.bytes) <= $3 RETURNING l.id",
                [SQLText.array(appendable.map(\.id)), SQLText.array(appendable.map { SQLText.bytea(Array($0.added)) }), String(maxBytes)])
            appended = Set((0..<rows.count).compactMap { rows[$0, "id"] })
            for gain in appendable where appended.contains(gain.id) { marks[gain.id] = (gain.file, gain.size) }
        }
        for gain in gains where !appended.contains(gain.id) {
            var stored = try store.storedLog(gain.id)?.bytes ?? []
                // Of what the database has, the part that came from this run's earlier file goes.
            if !gain.follows { stored.removeLast(min(stored.count, gain.uploadedBefore)) }
            stored += gain.added
            if stored.count > maxBytes {
                let cut = LogFormat.cut(stored, keeping: max(1, maxBytes) / 2)
                stored = Array(stored[..<cut.range.lowerBound]) + cut.insert + Array(stored[cut.range.upperBound...])
            }
            try link.sql("INSERT INTO queuectl_logs AS l (id, bytes, total) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET "
                + "bytes = EXCLUDED.bytes, total = l.total + EXCLUDED.total", [gain.id, SQLText.bytea(stored), String(gain.added.count)])
            marks[gain.id] = (gain.file, gain.size)
        }
    }

    func giveBack(_ jobs: [Job], originals: [String: Job]) throws(QueueError) {
        let me = record.process
        try link.transaction { () throws(QueueError) in
            let meta = try store.meta(lock: false)
            var loaded = PostgresQueueStore.Loaded(meta: meta)
            loaded.add(try store.jobs(where: "j.worker = $1 AND j.id = ANY($2)", [key.text, SQLText.array(jobs.map(\.id))], lock: "FOR UPDATE"))
            var snapshot = Snapshot(document: loaded.document, now: meta.now, home: store.home)
            for job in jobs { if let original = originals[job.id] { JobManager.unclaim(job.id, restoring: original, worker: me, in: &snapshot) } }
            if snapshot.changed { try store.write(loaded, snapshot.document, metaLocked: false, worker: key) }
        }
    }

    func renewLease(milliseconds: Int64) throws(QueueError) {
        let rows = try link.sql("UPDATE queuectl_workers SET renewed_at = \(Schema.serverNow), lease_until = \(Schema.serverNow) + $2 "
            + "WHERE key = $1", [key.text, String(max(2000, milliseconds))])
        if rows.affected == 0 {
            throw .leaseLost("the worker's lease in \(store.location) had run out and its jobs were recovered by another process")
        }
        // The output of the runs going on, so far, for `logs -f` on any host. The lease is renewed by
        // now, whatever becomes of that: an error the server answers (its disk full, say) leaves the
        // output on this host, for the next renewal or the run's result, and costs the lease nothing.
        // A lost connection still fails the renewal, as before: the upload may have waited out its
        // time limit on a server that stopped answering, and the fence must not count from after that.
        var marks: [String: (file: FileIdentity?, count: Int)] = [:]
        defer { uploadedBytes.merge(marks) { $1 } }
        do {
            try upload(running.sorted(), maxBytes: maxLogBytes, marks: &marks)
        } catch where link.isConnected {}
    }

    func end() throws(QueueError) {
        try link.sql("DELETE FROM queuectl_workers WHERE key = $1", [key.text])
    }

    var wakeDescriptor: Int32 { listener.descriptor }

    func takeWake() -> Bool {
        guard let notes = try? listener.link.notifications() else { return true }
        // Its own changes, and other workers' that free nothing, are no news to a worker.
        return notes.contains { $0.payload != key.text && !$0.payload.hasPrefix(Schema.quietPrefix) }
    }
}
