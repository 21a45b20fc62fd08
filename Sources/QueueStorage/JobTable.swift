import QueueSystem

/// What the hot paths (counts, claims, recovery, duplicate ids) need of a job, without decoding it.
/// Only the data: which jobs are runnable and in what order they are claimed is JobManager's policy.
package struct JobSummary: Equatable, Sendable {
    // Laid out narrow (a table of 100,000 of these is a worker's largest allocation).
    package let id: String
    package let sequence: Int64
    /// `run_at` in milliseconds, or `Int64.min` when the job has none (no time can be that).
    private let runAtMilliseconds: Int64
    /// When the last run ended (epoch if it has not run): retention keeps the newest.
    package let finishedAt: Timestamp
    private let workerStartTime: UInt64
    private let workerPid: Int32
    private let priority32: Int32
    package let state: JobState
    package let cancelRequested: Bool
    package let killRequested: Bool
    /// Its queue and dependencies, for the few jobs that have them (one pointer for the rest).
    private let extras: Extras?

    final class Extras: Equatable, Sendable {
        let queue: String?
        let after: [String]
        let dependencyDied: String?

        init(queue: String?, after: [String], dependencyDied: String?) {
            self.queue = queue
            self.after = after
            self.dependencyDied = dependencyDied
        }

        static func == (a: Extras, b: Extras) -> Bool { a.queue == b.queue && a.after == b.after && a.dependencyDied == b.dependencyDied }
    }

    package init(_ job: Job) {
        let plain = job.queue == nil && job.after == nil && job.dependencyDied == nil
        self.init(id: job.id, sequence: job.sequence, runAt: job.runAt,
                  finishedAt: job.finishedAt ?? Timestamp(milliseconds: 0), worker: job.worker,
                  priority: Int32(clamping: job.priority), state: job.state, cancelRequested: job.cancelRequested,
                  killRequested: job.killRequested,
                  extras: plain ? nil : Extras(queue: job.queue, after: job.after ?? [], dependencyDied: job.dependencyDied))
    }

    init(id: String, sequence: Int64, runAt: Timestamp?, finishedAt: Timestamp, worker: ProcessIdentity?,
         priority: Int32, state: JobState, cancelRequested: Bool, killRequested: Bool = false, extras: Extras? = nil) {
        self.id = id
        self.sequence = sequence
        runAtMilliseconds = runAt?.milliseconds ?? .min
        self.finishedAt = finishedAt
        workerStartTime = worker?.startTime ?? 0
        workerPid = worker?.pid ?? 0
        priority32 = priority
        self.state = state
        self.cancelRequested = cancelRequested
        self.extras = extras
        self.killRequested = killRequested
    }

    package var priority: Int { Int(priority32) }
    package var queue: String { extras?.queue ?? Job.defaultQueue }
    /// The jobs it waits for.
    package var after: [String] { extras?.after ?? [] }
    package var dependencyDied: String? { extras?.dependencyDied }
    /// True when it has a queue other than the default or dependencies (or died of one).
    package var hasExtras: Bool { extras != nil }
    package var worker: ProcessIdentity? { workerPid > 0 ? ProcessIdentity(pid: workerPid, startTime: workerStartTime) : nil }
    /// Not claimed before this time, if set.
    package var runAt: Timestamp? { runAtMilliseconds == .min ? nil : Timestamp(milliseconds: runAtMilliseconds) }
}

/// The jobs of a document. Each is kept as its summary plus either the bytes it was read from or,
/// once changed or added, the job itself; a job is decoded only when it is read whole, and a job that
/// did not change is written back as the very bytes it was read from. Reading a whole job cannot
/// fail: the bytes were checked in full when the file was read.
package struct JobTable: RandomAccessCollection, MutableCollection, ExpressibleByArrayLiteral, Equatable, Sendable {
    final class Box: Sendable {
        let job: Job
        init(_ job: Job) { self.job = job }
    }

    struct Entry: Sendable {
        var summary: JobSummary
        /// Where the job's JSON object is in `source` (a data file is far below 4 GiB).
        private var start: UInt32
        private var length: UInt32
        /// The job itself once it is new or changed; its bytes in `source` are then stale.
        var box: Box?

        init(summary: JobSummary, range: Range<Int>?, box: Box?) {
            self.summary = summary
            start = UInt32(truncatingIfNeeded: range?.lowerBound ?? 0)
            length = UInt32(truncatingIfNeeded: range?.count ?? 0)
            self.box = box
        }

        var range: Range<Int>? { box == nil ? Int(start)..<Int(start) + Int(length) : nil }

        /// The job is now at `range` of a new source, as written there.
        mutating func move(to range: Range<Int>) {
            start = UInt32(truncatingIfNeeded: range.lowerBound)
            length = UInt32(truncatingIfNeeded: range.count)
            if box != nil { box = nil }
        }
    }

    var source: FileBytes?
    var entries: [Entry] = []
    /// The ids of the jobs removed since the table was read: the store removes their logs once the
    /// file without them is in place, so no caller deletes a log itself.
    private(set) var removedIDs: [String] = []

    package init() {}

    package init(arrayLiteral jobs: Job...) { self.init(jobs) }

    package init(_ jobs: [Job]) {
        entries = jobs.map { Entry(summary: JobSummary($0), range: nil, box: Box($0)) }
    }

    package var startIndex: Int { 0 }
    package var endIndex: Int { entries.count }

    package subscript(i: Int) -> Job {
        get {
            if let box = entries[i].box { return box.job }
            let range = entries[i].range!
            do {
                return try DocumentCodec.decodeJob(UnsafeBufferPointer(rebasing: source!.bytes[range]), index: i)
            } catch {
                // Bytes that decoded when read and no longer do: the mapped file was changed in place (truncated:
                // its lost pages read as zeros). A stand-in, which readers discard: they check `changedUnderMapping`.
                if source!.isMapped {
                    source!.noticeChangeUnderMapping()
                    var job = Job(id: entries[i].summary.id, command: "", maxRetries: 0, sequence: entries[i].summary.sequence,
                                  now: entries[i].summary.finishedAt)
                    job.state = entries[i].summary.state
                    return job
                }
                preconditionFailure("job \(entries[i].summary.id) was checked when read but does not decode: \(error)")
            }
        }
        set { entries[i] = Entry(summary: JobSummary(newValue), range: nil, box: Box(newValue)) }
    }

    package func summary(at i: Int) -> JobSummary { entries[i].summary }

    /// The indices of the jobs whose summary matches, without decoding any.
    package func indices(whereSummary matches: (JobSummary) -> Bool) -> [Int] {
        entries.indices.filter { matches(entries[$0].summary) }
    }

    /// The jobs whose summary matches, decoded.
    package func jobs(_ matches: (JobSummary) -> Bool) -> [Job] {
        indices(whereSummary: matches).map { self[$0] }
    }

    /// The index of the job with this id. A linear pass over summaries: cheaper than building an
    /// index for the few look-ups a transaction makes.
    package func index(of id: String) -> Int? { entries.firstIndex { $0.summary.id == id } }

    package mutating func append(_ job: Job) { entries.append(Entry(summary: JobSummary(job), range: nil, box: Box(job))) }

    package mutating func append(contentsOf jobs: [Job]) { for job in jobs { append(job) } }

    package mutating func remove(at i: Int) { removedIDs.append(entries.remove(at: i).summary.id) }

    package mutating func removeAll() {
        removedIDs += entries.map(\.summary.id)
        entries.removeAll()
    }

    /// Removes the jobs whose summary matches, without decoding any.
    package mutating func removeAll(where matches: (JobSummary) -> Bool) {
        var removed: [String] = []
        entries.removeAll { entry in
            guard matches(entry.summary) else { return false }
            removed.append(entry.summary.id)
            return true
        }
        removedIDs += removed
    }

    /// The ids removed so far, forgotten as they are handed over.
    mutating func takeRemovedIDs() -> [String] {
        defer { removedIDs = [] }
        return removedIDs
    }

    package static func == (a: JobTable, b: JobTable) -> Bool { a.elementsEqual(b) }

    /// Reads the same jobs from `source` from now on, where `ranges` says each one is (as just
    /// written). In place: the table is not copied.
    mutating func rebase(on source: FileBytes, ranges: [Range<Int>]) {
        self.source = source
        entries.withUnsafeMutableBufferPointer { entries in
            for i in entries.indices { entries[i].move(to: ranges[i]) }
        }
    }
}
