import QueueStorage
import QueueSystem

/// What a worker's exchange with its store brings back besides what its body returned.
package struct Exchanged<T> {
    package var body: T
    /// Jobs of workers that are gone, recovered in this transaction.
    package var recovered: [JobTransition] = []
    /// The jobs claimed, as they are now, and each as it was just before its claim.
    package var claimed: [Job] = []
    package var beforeClaim: [String: Job] = [:]
    /// Some waiting job becomes claimable as soon as a running one ends.
    package var waitingOnRunning = false
    /// Of the jobs the worker said it runs, those `cancel` and those `kill` asked to end.
    package var cancelled: [String] = []
    package var killed: [String] = []
    /// How long until the next job waiting for its `run_at` is due, if one is.
    package var nextEligibleInMilliseconds: Int64?
    /// The settings as the transaction read them.
    package var config = QueueConfig()

    package init(body: T) { self.body = body }
}

/// A worker's connection to its store, from its start to its end. The worker's loop drives it; the
/// rules it applies are JobManager's.
package protocol WorkerSession: AnyObject {
    /// How the session's transactions wait for a lock another process holds.
    var lockWaiting: LockWaiting { get set }

    /// Recovers the jobs of workers that are gone, then registers this one with its lease.
    func begin() throws(QueueError) -> [JobTransition]

    /// One transaction: recover others' orphans, run `body` on a document holding at least this
    /// worker's own jobs (to record started children and ended runs), settle dependents, then claim
    /// up to `claimLimit()` jobs (asked right before the claim, so a stop that came meanwhile counts).
    /// `running`: the ids of the jobs the worker runs now; `starting`, those it claimed and is
    /// starting. `prune`: runs were recorded, so retention applies (by age too with `checkAge`).
    func exchange<T>(running: Set<String>, starting: Set<String>, claimLimit: () -> Int, prune: Bool, checkAge: Bool,
                     _ body: (inout Snapshot) throws(QueueError) -> T) throws(QueueError) -> Exchanged<T>

    /// Gives back claimed jobs that will not be started, exactly as `originals` has them.
    func giveBack(_ jobs: [Job], originals: [String: Job]) throws(QueueError)

    /// Renews the worker's heartbeat lease for `milliseconds` more.
    func renewLease(milliseconds: Int64) throws(QueueError)

    /// Removes the worker's record and lease.
    func end() throws(QueueError)

    /// A descriptor that becomes readable when another process may have changed the queue.
    var wakeDescriptor: Int32 { get }

    /// After `poll` found `wakeDescriptor` readable: whether another process did change the queue.
    func takeWake() -> Bool
}

/// A worker on the data file: one `flock`ed transaction per exchange, a lease file in the queue's
/// `leases` folder, and inotify on the queue folder to hear of other processes' writes.
package final class FileWorkerSession: WorkerSession {
    private var store: Store
    private let record: WorkerRecord
    private let queues: [String]?
    private let watcher: DirectoryWatcher
    private var lease: FileDescriptor?

    /// `home`: the queue folder, opened and checked once; the watch goes through it, not the path.
    package init(store: Store, home: OpenDirectory, record: WorkerRecord, queues: [String]?) throws(QueueError) {
        // A worker's transactions follow each other: the document it wrote is used again while the
        // data file is still that file.
        self.store = Store(home: store.home, keepsLastDocument: true)
        self.store.lockWaiting = store.lockWaiting
        self.record = record
        self.queues = queues
        do {
            watcher = try DirectoryWatcher(directory: home.procPath, fileName: QueueHome.dataName)
        } catch {
            throw .failure("cannot start the worker: cannot watch \(store.home.directory): \(error)")
        }
    }

    package var lockWaiting: LockWaiting {
        get { store.lockWaiting }
        set { store.lockWaiting = newValue }
    }

    package func begin() throws(QueueError) -> [JobTransition] {
        // The lease exists before the record that points at it.
        do {
            let lease = try store.home.createLease(for: record)
            try lease.overwrite(Lease.contents(at: bootClockMilliseconds(), leaseMilliseconds: Int64(QueueConfig().leaseSeconds * 1000)))
            self.lease = consume lease
        } catch let error as QueueError {
            throw .failure("cannot start the worker: \(error.message)")
        } catch {
            store.home.removeLease(for: record)
            throw .failure("cannot start the worker: cannot write its lease \(store.home.leasePath(for: record)): \(error)")
        }
        let record = self.record
        do {
            return try store.transaction { (s) throws(QueueError) in
                let recovered = JobManager.recoverOrphans(in: &s)
                try JobManager.register(record, in: &s)
                return recovered
            }
        } catch {
            store.home.removeLease(for: record)
            throw error
        }
    }

    package func exchange<T>(running: Set<String>, starting _: Set<String>, claimLimit: () -> Int, prune: Bool, checkAge: Bool,
                             _ body: (inout Snapshot) throws(QueueError) -> T) throws(QueueError) -> Exchanged<T> {
        let (record, queues) = (self.record, self.queues)
        let me = record.process
        return try store.transaction { (s) throws(QueueError) in
            let recovered = JobManager.recoverOrphans(in: &s)
            // Another process judged this worker gone and removed its record (its jobs were recovered
            // then): it registers again rather than claim unregistered.
            if !s.document.workers.contains(where: { $0.process == record.process && $0.pidNamespace == record.pidNamespace }) {
                try JobManager.register(record, in: &s)
            }
            var out = Exchanged(body: try body(&s))
            out.recovered = recovered
            // The store removes the logs of the jobs pruned (and of cancelled runs that ended).
            if prune { _ = JobManager.pruneIfDue(in: &s, checkAge: checkAge) }
            // A job that died (here or by recovery) takes the jobs waiting for it along before the claim.
            JobManager.settleDependencies(in: &s)
            let limit = claimLimit()
            out.claimed = JobManager.claim(limit: limit, for: me, queues: queues, in: &s) { out.beforeClaim[$0.id] = $0 }
            if out.claimed.count < limit { out.waitingOnRunning = JobManager.jobsWaitForRunningOnes(in: s.document) }
            out.cancelled = s.document.jobs.indices(whereSummary: { $0.cancelRequested && $0.worker == me && running.contains($0.id) })
                .map { s.document.jobs.summary(at: $0).id }
            out.killed = s.document.jobs.indices(whereSummary: { $0.killRequested && $0.worker == me && running.contains($0.id) })
                .map { s.document.jobs.summary(at: $0).id }
            out.nextEligibleInMilliseconds = JobManager.nextEligibleTime(in: s.document, after: s.now)
                .map { $0.milliseconds - s.now.milliseconds }
            out.config = s.document.config
            return out
        }
    }

    package func giveBack(_ jobs: [Job], originals: [String: Job]) throws(QueueError) {
        let me = record.process
        try store.transaction { (s) throws(QueueError) in
            for job in jobs { if let original = originals[job.id] { JobManager.unclaim(job.id, restoring: original, worker: me, in: &s) } }
        }
    }

    package func renewLease(milliseconds: Int64) throws(QueueError) {
        do {
            try lease?.overwrite(Lease.contents(at: bootClockMilliseconds(), leaseMilliseconds: milliseconds))
        } catch {
            throw .failure("cannot renew the worker's lease: \(error)")
        }
    }

    package func end() throws(QueueError) {
        let record = self.record
        defer { store.home.removeLease(for: record) }
        try store.transaction { (s) throws(QueueError) in JobManager.unregister(record, in: &s) }
    }

    package var wakeDescriptor: Int32 { watcher.fd }

    // This worker's own writes wake it too: only another process's write is news.
    package func takeWake() -> Bool { watcher.drain() && store.changedSinceLastTransaction }
}
