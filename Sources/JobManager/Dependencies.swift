import QueueStorage
import QueueSystem

/// Dependencies (`--after`), named queues, pause, and the limits on jobs running at once: the rules
/// that decide, beyond `run_at`, whether a runnable job may be claimed.
extension JobManager {
    /// Queue names follow the id alphabet (they are typed and shown as ids are).
    package static func validateQueueName(_ name: String, _ what: String) throws(QueueError) {
        do { try JobInput.validateID(name) } catch {
            throw .usage("\(what) '\(name)' is not a valid queue name: letters, digits, '.', '_' and '-', at most 128 characters")
        }
    }

    /// What a claim may take: the worker's queues (nil: every one), and the free room under the
    /// home's and each queue's limit of jobs running at once.
    struct ClaimRoom {
        let queues: Set<String>?
        private var home: Int
        private var perQueue: [String: Int]

        init(queues: [String]?, document: Document) {
            self.queues = queues.map(Set.init)
            let config = document.config
            var running = 0
            var runningIn: [String: Int] = [:]
            if config.maxRunning > 0 || !config.queueMaxRunning.isEmpty {
                for i in document.jobs.indices(whereSummary: { $0.state == .processing }) {
                    running += 1
                    runningIn[document.jobs.summary(at: i).queue, default: 0] += 1
                }
            }
            home = config.maxRunning > 0 ? max(0, config.maxRunning - running) : .max
            perQueue = config.queueMaxRunning.reduce(into: [:]) { room, entry in room[entry.key] = max(0, entry.value - (runningIn[entry.key] ?? 0)) }
        }

        /// True when the limits leave room for none at all.
        var isFull: Bool { home == 0 }
        /// True when some limit may turn a job down, so candidates must be taken one by one.
        var limits: Bool { home != .max || !perQueue.isEmpty }

        func admits(_ queue: String) -> Bool { home > 0 && (perQueue[queue] ?? 1) > 0 }

        mutating func take(_ queue: String) {
            home -= home == .max ? 0 : 1
            if let left = perQueue[queue] { perQueue[queue] = left - 1 }
        }
    }

    /// The states of the jobs the given summaries wait for (only those), by id.
    static func dependencyStates(of waiting: [JobSummary], in jobs: JobTable) -> [String: JobState] {
        var wanted = Set<String>()
        for s in waiting { wanted.formUnion(s.after) }
        var states: [String: JobState] = [:]
        guard !wanted.isEmpty else { return states }
        for i in jobs.indices {
            let s = jobs.summary(at: i)
            if wanted.contains(s.id) { states[s.id] = s.state }
        }
        return states
    }

    /// The first dependency of `job` that has not completed, and its state (nil: it is gone).
    package static func unmetDependency(of after: [String], states: (String) -> JobState?) -> (id: String, state: JobState?)? {
        for id in after {
            let state = states(id)
            if state != .completed { return (id, state) }
        }
        return nil
    }

    /// Makes dead every waiting job one of whose dependencies is dead or gone (cancelled or deleted:
    /// a completed dependency is never pruned while a job waits for it), and brings back to pending
    /// every job that died of a dependency that is no longer dead (it was retried). Returns the ids
    /// whose state changed.
    @discardableResult
    package static func settleDependencies(in snapshot: inout Snapshot) -> [String] {
        let jobs = snapshot.document.jobs
        let involved = jobs.indices(whereSummary: { $0.hasExtras && (!$0.after.isEmpty || $0.dependencyDied != nil) })
        guard !involved.isEmpty else { return [] }
        var states: [String: JobState] = [:]
        for i in jobs.indices { states[jobs.summary(at: i).id] = jobs.summary(at: i).state }
        var changed: [String] = []
        // A death or a return can enable another in a chain: passes until nothing changes (each pass
        // settles at least one job, so at most one pass per involved job).
        var again = true
        while again {
            again = false
            for i in involved {
                let summary = snapshot.document.jobs.summary(at: i)
                switch summary.state {
                case .pending, .failed:
                    guard let (id, state) = unmetDependency(of: summary.after, states: { states[$0] }), state == nil || state == .dead else { continue }
                    var job = snapshot.document.jobs[i]
                    job.state = .dead
                    job.runAt = nil
                    job.dependencyDied = id
                    job.lastError = state == nil ? "dependency '\(id)' was cancelled" : "dependency '\(id)' died"
                    job.updatedAt = snapshot.now
                    snapshot.document.jobs[i] = job
                    snapshot.document.counters.dlqMoves += 1
                case .dead:
                    guard let id = summary.dependencyDied, let state = states[id], state != .dead else { continue }
                    var job = snapshot.document.jobs[i]
                    job.state = .pending
                    job.dependencyDied = nil
                    job.lastError = nil
                    job.updatedAt = snapshot.now
                    snapshot.document.jobs[i] = job
                default: continue
                }
                states[summary.id] = snapshot.document.jobs.summary(at: i).state
                changed.append(summary.id)
                again = true
            }
        }
        return changed
    }

    /// The ids of jobs some job still waits for: retention keeps them, so that a dependency that
    /// is gone always means one that was cancelled or deleted.
    static func awaitedIDs(in jobs: JobTable) -> Set<String> {
        var ids = Set<String>()
        for i in jobs.indices(whereSummary: { $0.hasExtras && !$0.after.isEmpty && $0.state != .completed && $0.state != .dead }) {
            ids.formUnion(jobs.summary(at: i).after)
        }
        return ids
    }

    /// Refuses dependencies on ids that are neither queued nor in `batch`, a job waiting for itself,
    /// and a cycle among the batch's jobs (jobs already queued cannot wait for new ones).
    static func checkDependencies(_ batch: [Job], existing: (String) -> Bool) throws(QueueError) {
        let inBatch = Dictionary(batch.map { ($0.id, $0.after ?? []) }, uniquingKeysWith: { a, _ in a })
        for job in batch {
            for id in job.after ?? [] {
                if id == job.id { throw .usage("job '\(job.id)' cannot wait for itself (--after \(id))") }
                if inBatch[id] == nil, !existing(id) { throw .usage("--after \(id): no job with id '\(id)'") }
            }
        }
        // Depth-first over the batch alone; 0 unvisited, 1 on the path, 2 done.
        var mark: [String: Int] = [:]
        func visit(_ id: String, _ path: [String]) throws(QueueError) {
            if mark[id] == 2 { return }
            if mark[id] == 1 {
                let cycle = path.drop(while: { $0 != id }) + [id]
                throw .usage("the jobs' --after dependencies form a cycle: \(cycle.joined(separator: " -> "))")
            }
            mark[id] = 1
            for next in inBatch[id] ?? [] where inBatch[next] != nil { try visit(next, path + [id]) }
            mark[id] = 2
        }
        for job in batch { try visit(job.id, []) }
    }
}

extension JobManager {
    /// `pause`: with a queue, that queue; without, the whole home. Returns false if it already was.
    @discardableResult
    package static func pause(queue: String?, in snapshot: inout Snapshot) -> Bool {
        guard let queue else {
            defer { snapshot.document.paused = true }
            return !snapshot.document.paused
        }
        guard !snapshot.document.pausedQueues.contains(queue) else { return false }
        snapshot.document.pausedQueues.append(queue)
        return true
    }

    /// `resume`: with a queue, that queue; without, everything that was paused. Returns false if
    /// nothing was.
    @discardableResult
    package static func resume(queue: String?, in snapshot: inout Snapshot) -> Bool {
        guard let queue else {
            defer {
                snapshot.document.paused = false
                snapshot.document.pausedQueues = []
            }
            return snapshot.document.paused || !snapshot.document.pausedQueues.isEmpty
        }
        guard let i = snapshot.document.pausedQueues.firstIndex(of: queue) else { return false }
        snapshot.document.pausedQueues.remove(at: i)
        return true
    }

    /// Why the job is or is not running now, with what the queue adds: a pause, or a dependency it
    /// waits for.
    package static func explain(_ job: Job, now: Timestamp, in document: Document) -> String {
        let plain = explain(job, now: now, workers: document.workers)
        guard job.state == .pending || job.state == .failed else { return plain }
        if let after = job.after {
            let states = dependencyStates(of: [JobSummary(job)], in: document.jobs)
            if let (id, state) = unmetDependency(of: after, states: { states[$0] }) {
                let doing = state.map { "it is \($0.rawValue)" } ?? "it is gone"
                return "waiting for job '\(id)' to complete (\(doing))" + (job.state == .failed ? "; " + plain : "")
            }
        }
        if document.paused { return "the queue is paused ('queuectl resume' lets workers claim again); " + plain }
        if document.pausedQueues.contains(job.queueName) {
            return "queue '\(job.queueName)' is paused ('queuectl resume --queue \(job.queueName)'); " + plain
        }
        return plain
    }
}

extension JobManager {
    /// True when some waiting job becomes claimable as soon as a running job ends: one whose unmet
    /// dependency is running, or (with a limit on jobs running at once) a runnable one the limit
    /// holds back. A worker records such an end at once instead of waiting to batch it.
    package static func jobsWaitForRunningOnes(in document: Document) -> Bool {
        let jobs = document.jobs
        let limited = document.config.maxRunning > 0 || !document.config.queueMaxRunning.isEmpty
        let waiting = jobs.indices(whereSummary: { ($0.state == .pending || $0.state == .failed) && ($0.hasExtras || limited) })
        guard !waiting.isEmpty else { return false }
        if limited, jobs.indices.contains(where: { jobs.summary(at: $0).state == .processing }) { return true }
        let dependent = waiting.map { jobs.summary(at: $0) }.filter { !$0.after.isEmpty }
        let states = dependencyStates(of: dependent, in: jobs)
        return dependent.contains { s in s.after.contains { states[$0] == .processing } }
    }
}
