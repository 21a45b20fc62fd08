import QueueStorage
import QueueSystem

/// Which jobs a command's document must hold. The data file's store always hands over every job (it
/// reads the whole file anyway); a database store loads only these, each with the jobs it names in
/// `after` or `dependency_died`, so a rule that looks a dependency up finds it. The config, the
/// counters, the pause flags and the workers are always there.
package enum JobScope: Equatable, Sendable {
    /// No jobs: settings only.
    case none
    /// These jobs (an id that does not exist is simply absent).
    case ids([String])
    /// Every job in this state.
    case state(JobState)
    /// An enqueue of `count` jobs with these ids given: they, and the ids the enqueue numbers would
    /// generate, so that a taken id is seen as taken.
    case newJobs(count: Int, ids: [String])
    /// Every completed job, and every job that waits for another: what retention looks at (a
    /// completed job that one still waits for is kept).
    case pruning
    /// The first `count` jobs in enqueue order, of `state` when one is given, and the jobs they
    /// wait for: what `list --limit` shows. (A view only: nothing else may be judged from it.)
    case first(Int, state: JobState?)
    /// Every job: only the data file can, and a database store refuses the command.
    case all
}

/// The storage a command works on: the data file (`FileQueueStore`) or a database. A store does only
/// storage; every rule about jobs is JobManager's, applied to the document a transaction hands over:
/// the store loads what the scope names, locks it, runs the body, and writes back what it changed.
package protocol QueueStore: AnyObject {
    /// Where the queue is, for `status` and errors: the data file's path, or the server. Never a password.
    var location: String { get }
    /// The queue as the live views, the dashboard and a worker's first line name it: the data
    /// file's folder, or the server.
    var place: String { get }
    /// The queue folder on this machine: the data file's, or where a database store keeps its local
    /// files (the logs being written, the worker leases of this host).
    var home: QueueHome { get }
    /// How long a transaction waits for a lock another process holds, and what it says meanwhile.
    var lockWaiting: LockWaiting { get set }

    /// A view without the lock: one consistent version of the jobs `scope` names. Creates nothing.
    func read(_ scope: JobScope) throws(QueueError) -> Document

    /// Runs `body` with the jobs `scope` names locked, after recovering the jobs of workers that are
    /// gone, and writes back what it changed (nothing if it throws); then settles the jobs waiting for
    /// one that died or came back. With `onExistingJobs`, a queue that does not exist yet is not
    /// created by a body that finds nothing to change.
    func transaction<T>(_ scope: JobScope, onExistingJobs: Bool,
                        _ body: (inout Snapshot) throws(QueueError) -> T) throws(QueueError) -> T

    /// What `status` shows, without the lock.
    func status(listingUpTo limit: Int) throws(QueueError) -> QueueStatus

    /// What the live view (`top`) shows at `now`, without the lock.
    func liveView(now: Timestamp) throws(QueueError) -> LiveView

    /// Runs finished per minute in the hour up to `now` (the dashboard's chart), without the lock.
    func throughput(now: Timestamp) throws(QueueError) -> Throughput

    /// A job's output log as stored, or nil if it has none.
    func log(_ id: String) throws(QueueError) -> [UInt8]?

    /// At most the last `maxBytes` of a job's log, and the size of all of it, or nil if it has none.
    func logTail(_ id: String, maxBytes: Int) throws(QueueError) -> (bytes: [UInt8], size: Int)?

    /// A worker's session, for the worker `record` on this machine claiming from `queues` (nil: all).
    /// `home`: the queue folder on this machine, opened and checked once.
    func workerSession(home: OpenDirectory, record: WorkerRecord, queues: [String]?) throws(QueueError) -> any WorkerSession

    /// Something for `poll` that becomes readable when the queue may have changed, for the commands
    /// that wait (`wait`). The data file's is inotify on the queue folder, which must exist.
    func changeNotifier() throws(QueueError) -> any ChangeNotifier

    /// True when the data file or database changed since `document` was read from it; a view that
    /// refreshes often reads again only then.
    func changed(since document: Document) -> Bool
}

extension QueueStore {
    package func transaction<T>(_ scope: JobScope, _ body: (inout Snapshot) throws(QueueError) -> T) throws(QueueError) -> T {
        try transaction(scope, onExistingJobs: false, body)
    }
}

/// A descriptor to `poll`, readable when the queue may have changed; `drain` after each wake-up.
package protocol ChangeNotifier: AnyObject {
    var descriptor: Int32 { get }
    /// Takes what woke it; true if that was a change of the queue.
    @discardableResult func drain() -> Bool
}

/// Writes to the data file, by inotify on the queue folder (the folder read, whatever is at its path now).
final class DataFileNotifier: ChangeNotifier {
    private let watcher: DirectoryWatcher
    init(_ home: QueueHome) throws(QueueError) {
        let directory = (try? home.open(create: false))??.procPath ?? home.directory
        do { watcher = try DirectoryWatcher(directory: directory, fileName: QueueHome.dataName) } catch {
            throw .failure("cannot watch \(home.directory): \(error)")
        }
    }
    var descriptor: Int32 { watcher.fd }
    func drain() -> Bool { watcher.drain() }
}

/// `status` of a whole queue: counts, the live workers, the pause, the per-queue counts, and the jobs
/// themselves when there are few.
package struct QueueStatus: Sendable {
    package let report: StatusReport
    package let paused: Bool
    package let queues: [QueueCounts]
    /// Every job in enqueue order, when there are at most the limit asked for; else nil.
    package let jobs: [Job]?

    package init(report: StatusReport, paused: Bool, queues: [QueueCounts], jobs: [Job]?) {
        self.report = report
        self.paused = paused
        self.queues = queues
        self.jobs = jobs
    }
}

/// The default store: one JSON file, `data.json`, in the queue folder, under `flock` (see `Store`).
package final class FileQueueStore: QueueStore {
    package private(set) var store: Store
    package var home: QueueHome { store.home }
    package var location: String { "data file " + store.home.dataPath }
    package var place: String { store.home.directory }
    package var lockWaiting: LockWaiting {
        get { store.lockWaiting }
        set { store.lockWaiting = newValue }
    }

    package init(_ store: Store) { self.store = store }

    package convenience init(home: QueueHome) { self.init(Store(home: home)) }

    package func read(_ scope: JobScope) throws(QueueError) -> Document { try store.read() }

    package func transaction<T>(_ scope: JobScope, onExistingJobs: Bool,
                                _ body: (inout Snapshot) throws(QueueError) -> T) throws(QueueError) -> T {
        // The logs of the jobs removed (here, or by recovery) are removed by the store.
        let recovering = { (s: inout Snapshot) throws(QueueError) -> T in
            JobManager.recoverOrphans(in: &s)
            let result = try body(&s)
            JobManager.settleDependencies(in: &s)
            return result
        }
        return onExistingJobs ? try store.transactionOnExisting(recovering) : try store.transaction(recovering)
    }

    package func status(listingUpTo limit: Int) throws(QueueError) -> QueueStatus {
        let document = try store.read()
        return QueueStatus(report: StatusReport(document, home: store.home), paused: document.paused, queues: QueueCounts.of(document),
                           jobs: document.jobs.count <= limit ? Array(document.jobs) : nil)
    }

    package func log(_ id: String) throws(QueueError) -> [UInt8]? { try store.home.readLog(id) }

    package func logTail(_ id: String, maxBytes: Int) throws(QueueError) -> (bytes: [UInt8], size: Int)? {
        try store.home.readLogTail(id, maxBytes: maxBytes)
    }

    package func throughput(now: Timestamp) throws(QueueError) -> Throughput { Throughput(try store.read(), now: now) }

    package func liveView(now: Timestamp) throws(QueueError) -> LiveView { LiveView(try store.read(), now: now) }

    package func changed(since document: Document) -> Bool { !store.isCurrent(document) }

    package func changeNotifier() throws(QueueError) -> any ChangeNotifier { try DataFileNotifier(store.home) }

    package func workerSession(home: OpenDirectory, record: WorkerRecord, queues: [String]?) throws(QueueError) -> any WorkerSession {
        try FileWorkerSession(store: store, home: home, record: record, queues: queues)
    }
}
