import QueueStorage
import QueueSystem
import RetryPolicy

/// How one run of a job ended.
package enum RunOutcome: Equatable, Sendable {
    case exited(ExitStatus)
    /// `/bin/sh` could not be started at all.
    case couldNotStart(String)
    /// Terminated after running longer than its timeout (seconds).
    case timedOut(Double)
    /// Ended by its worker because `kill` asked for it: dead, whatever the shell's exit.
    case killed

    package var succeeded: Bool { self == .exited(.exited(0)) }

    /// The words recorded as `last_error`, or nil for success.
    package var errorText: String? {
        switch self {
        case .exited(.exited(0)): return nil
        case .exited(.exited(127)): return "exit 127: command not found"
        case .exited(.exited(126)): return "exit 126: command not executable"
        case .exited(.exited(let code)): return "exit \(code)"
        case .exited(.signaled(let signal)): return "killed by signal \(signal)\(ProcessSignal(rawValue: signal).name.map { " (\($0))" } ?? "")"
        case .couldNotStart(let reason): return "could not start: \(reason)"
        case .timedOut(let seconds): return "timed out after \(formatSeconds(seconds))s"
        case .killed: return JobManager.killedError
        }
    }

    package var exitCode: Int? {
        if case .exited(.exited(let code)) = self { return Int(code) }
        return nil
    }
}

/// `5`, `0.5`: seconds without a needless fraction.
package func formatSeconds(_ seconds: Double) -> String {
    var w = JSONWriter()
    w.double(seconds)
    return String(decoding: w.bytes, as: UTF8.self)
}

/// A job's state change that a worker reports to its user.
package struct JobTransition: Equatable, Sendable {
    package let job: Job
    /// For a retry, how long until the job may run again.
    package var retryInSeconds: Double? = nil
    /// The job was cancelled while it ran and is now removed.
    package var removed = false
    /// `kill` ended the job: it is dead.
    package var killed = false
}

/// Jobs: enqueue, claim, finish, list and recovery. Every function works on a transaction's snapshot,
/// so the caller decides what happens under one lock.
package enum JobManager {
    /// Adds all `inputs` or none: a duplicate id (with the queue or within `inputs`) fails the lot.
    package static func enqueue(_ inputs: [JobInput], in snapshot: inout Snapshot) throws(QueueError) -> [Job] {
        let added = try newJobs(inputs, in: snapshot)
        snapshot.document.nextSequence += Int64(added.count)
        snapshot.document.jobs.append(contentsOf: added)
        // A job that waits for a dead job is dead from the start.
        if added.contains(where: { $0.after != nil }) { settleDependencies(in: &snapshot) }
        return added
    }

    /// The jobs `inputs` describe, checked against the queue; the snapshot is only read, so no copy of
    /// its job table is held when the caller then changes it.
    private static func newJobs(_ inputs: [JobInput], in snapshot: Snapshot) throws(QueueError) -> [Job] {
        // One or a few jobs: a pass over the summaries per id beats hashing every id in the queue.
        let jobs = snapshot.document.jobs
        var taken: Set<String> = inputs.count > 8 ? Set(jobs.indices.map { jobs.summary(at: $0).id }) : []
        func exists(_ id: String) -> Bool { taken.contains(id) || (inputs.count <= 8 && jobs.index(of: id) != nil) }
        var added: [Job] = []
        for input in inputs {
            try input.validate()
            if let cwd = input.cwd { try JobInput.checkDirectory(cwd, "field 'cwd'") }
            let id: String
            if let given = input.id {
                guard !exists(given) else { throw .failure("a job with id '\(given)' already exists") }
                id = given
            } else {
                id = newID(sequence: snapshot.document.nextSequence + Int64(added.count), avoiding: exists)
            }
            taken.insert(id)
            var job = Job(id: id, command: input.command, maxRetries: input.maxRetries ?? snapshot.document.config.maxRetries,
                          priority: input.priority ?? 0, sequence: snapshot.document.nextSequence + Int64(added.count),
                          now: snapshot.now)
            job.runAt = input.runAt
            job.timeout = input.timeout
            job.cwd = input.cwd
            job.arguments = input.arguments
            job.backoffBase = input.backoffBase
            job.maxBackoff = input.maxBackoff
            job.queue = input.queue == Job.defaultQueue ? nil : input.queue
            job.after = input.after.flatMap { $0.isEmpty ? nil : $0 }
            job.environment = input.environment
            added.append(job)
        }
        try checkDependencies(added, existing: { jobs.index(of: $0) != nil })
        return added
    }

    /// A job given no id is named by its enqueue number (`1`, `2`, ...), short to type as pueue's and
    /// task-spooler's are; numbers are never reused, as `next_seq` only grows. If a job was given
    /// that number as its id, `job-<n>`, else a random one.
    static func newID(sequence: Int64, avoiding exists: (String) -> Bool) -> String {
        for candidate in [String(sequence), "job-\(sequence)"] where !exists(candidate) { return candidate }
        var generator = SystemRandomNumberGenerator()
        while true {
            let id = "job-" + String(generator.next() as UInt32, radix: 16).leftPadded(to: 8)
            if !exists(id) { return id }
        }
    }

    package static func job(_ id: String, in document: Document) throws(QueueError) -> Job {
        guard let index = document.index(of: id) else { throw .failure("no job with id '\(id)'") }
        return document.jobs[index]
    }

    /// Jobs in claim order within each state group, oldest first otherwise: by enqueue order.
    /// The jobs in `state` (all if nil) in enqueue order, at most `limit`: chosen and ordered by
    /// their summaries, so only the jobs listed are decoded.
    package static func list(_ document: Document, state: JobState?, limit: Int = .max) -> [Job] {
        let table = document.jobs
        var chosen = table.indices(whereSummary: { state == nil || $0.state == state })
        let sequence = chosen.map { table.summary(at: $0).sequence }
        // Jobs are appended in enqueue order, so the table is usually in it already.
        if zip(sequence, sequence.dropFirst()).contains(where: { $0 > $1 }) {
            chosen = zip(chosen, sequence).sorted { $0.1 < $1.1 }.map(\.0)
        }
        return chosen.prefix(limit).map { table[$0] }
    }

    package static func counts(_ document: Document) -> [JobState: Int] {
        // Tallied in an array (a dictionary update per job hashes every time), then named.
        let states = JobState.allCases
        var tally = [Int](repeating: 0, count: states.count)
        for i in document.jobs.indices { tally[states.firstIndex(of: document.jobs.summary(at: i).state)!] += 1 }
        return Dictionary(uniqueKeysWithValues: zip(states, tally))
    }

    // MARK: workers

    /// Adds `worker`'s record. Jobs name their worker by pid and start time alone, so a worker in
    /// another PID namespace with the same two (two containers started in the same clock tick, each
    /// worker its namespace's pid 1) could not be told from this one: refused.
    package static func register(_ worker: WorkerRecord, in snapshot: inout Snapshot) throws(QueueError) {
        if snapshot.document.workers.contains(where: { $0.process == worker.process && $0.pidNamespace != worker.pidNamespace }) {
            throw .failure("a worker in another PID namespace has this worker's pid (\(worker.process.pid)) and start time, "
                + "so their jobs could not be told apart; start this one again a moment later")
        }
        snapshot.document.bootID = Processes.bootID
        // A record with this pid in this namespace is of an earlier process that had it.
        snapshot.document.workers.removeAll { $0.process.pid == worker.process.pid && $0.pidNamespace == worker.pidNamespace }
        snapshot.document.workers.append(worker)
    }

    package static func unregister(_ worker: WorkerRecord, in snapshot: inout Snapshot) {
        snapshot.document.workers.removeAll { $0.process == worker.process && $0.pidNamespace == worker.pidNamespace }
    }

    /// Marks up to `limit` runnable jobs as processing by `worker`, best first, and returns them.
    /// Only jobs of `queues` (nil: every queue) that are not paused, whose dependencies have all
    /// completed, and that the home's and their queue's limits of jobs running at once leave room for.
    /// `original` sees each job as it was just before it is claimed.
    package static func claim(limit: Int, for worker: ProcessIdentity, queues: [String]? = nil, in snapshot: inout Snapshot,
                             original: (Job) -> Void = { _ in }) -> [Job] {
        guard limit > 0, !snapshot.document.paused else { return [] }
        let now = snapshot.now
        var claimed: [Job] = []
        for i in best(limit, runnableAt: now, in: snapshot.document, queues: queues) {
            var job = snapshot.document.jobs[i]
            original(job)
            job.state = .processing
            job.worker = worker
            job.child = nil
            job.startedAt = now
            job.finishedAt = nil
            job.durationMilliseconds = nil
            job.updatedAt = now
            snapshot.document.jobs[i] = job
            claimed.append(job)
        }
        return claimed
    }

    /// Whether a job in `state` with this `run_at` may be claimed at `now`. Only `run_at` gates a
    /// claim: a job without one is runnable at once, whatever the clock says of its `created_at`
    /// (after the clock steps back, every job just enqueued was "created in the future").
    package static func isRunnable(state: JobState, runAt: Timestamp?, at now: Timestamp) -> Bool {
        guard state == .pending || state == .failed else { return false }
        guard let runAt else { return true }
        return runAt <= now
    }

    /// Claim order among runnable jobs: higher priority first, then enqueue order (`seq`). A wall-clock
    /// time never orders claims: `created_at` moves with the clock, and ordering by `run_at` would let
    /// a stream of new plain jobs starve a retry or a scheduled job whose time has long come.
    /// In `fifo` mode, enqueue order alone.
    package static func claimsBefore(_ a: JobSummary, _ b: JobSummary, by mode: SchedulingMode = .priority) -> Bool {
        if mode == .priority, a.priority != b.priority { return a.priority > b.priority }
        return a.sequence < b.sequence
    }

    /// The indices of the best `limit` jobs that may be claimed at `now`, in claim order. Without
    /// limits on jobs running at once, the best are kept sorted as the summaries go by rather than
    /// sorting them all; with limits, every candidate is ordered and taken while its queue has room.
    /// (The document is borrowed, so no copy of its table outlives this call to make the caller's
    /// change to it copy the whole table.)
    static func best(_ limit: Int, runnableAt now: Timestamp, in document: Document, queues: [String]?) -> [Int] {
        let jobs = document.jobs
        let mode = document.config.schedulingMode
        var room = ClaimRoom(queues: queues, document: document)
        if room.isFull { return [] }
        let filtered = room.queues != nil || !document.pausedQueues.isEmpty
        var waiting: [Int] = []
        func eligible(_ s: JobSummary) -> Bool {
            guard s.isRunnable(at: now) else { return false }
            if filtered || s.hasExtras {
                let queue = s.queue
                if let allowed = room.queues, !allowed.contains(queue) { return false }
                if document.pausedQueues.contains(queue) { return false }
            }
            return true
        }
        // Without limits, the best are kept as candidates go by; with them, all are kept to be ordered.
        var best: [Int] = []
        var candidates: [Int] = []
        func consider(_ i: Int) {
            if room.limits { return candidates.append(i) }
            let summary = jobs.summary(at: i)
            if best.count == limit, !claimsBefore(summary, jobs.summary(at: best[limit - 1]), by: mode) { return }
            let position = best.firstIndex { claimsBefore(summary, jobs.summary(at: $0), by: mode) } ?? best.count
            best.insert(i, at: position)
            if best.count > limit { best.removeLast() }
        }
        for i in jobs.indices where eligible(jobs.summary(at: i)) {
            if jobs.summary(at: i).hasExtras, !jobs.summary(at: i).after.isEmpty { waiting.append(i) } else { consider(i) }
        }
        if !waiting.isEmpty {
            let states = dependencyStates(of: waiting.map { jobs.summary(at: $0) }, in: jobs)
            // A dependency that is gone was cancelled or deleted (retention keeps awaited jobs): not met.
            for i in waiting where unmetDependency(of: jobs.summary(at: i).after, states: { states[$0] }) == nil { consider(i) }
        }
        guard room.limits else { return best }
        candidates.sort { claimsBefore(jobs.summary(at: $0), jobs.summary(at: $1), by: mode) }
        var chosen: [Int] = []
        for i in candidates where chosen.count < limit {
            let queue = jobs.summary(at: i).queue
            guard room.admits(queue) else { continue }
            room.take(queue)
            chosen.append(i)
        }
        return chosen
    }

    /// The earliest time a waiting job becomes runnable, if any is waiting: the earliest future
    /// `run_at` (a job without one is runnable already).
    package static func nextEligibleTime(in document: Document, after now: Timestamp) -> Timestamp? {
        var next: Timestamp?
        for i in document.jobs.indices {
            let job = document.jobs.summary(at: i)
            guard job.state == .pending || job.state == .failed, let runAt = job.runAt, runAt > now else { continue }
            if next == nil || runAt < next! { next = runAt }
        }
        return next
    }

    /// The index of `jobID` if it is processing and owned by `worker`: read from its summary, so
    /// the job is not decoded to find out.
    static func runningIndex(_ jobID: String, of worker: ProcessIdentity, in document: Document) -> Int? {
        guard let i = document.index(of: jobID) else { return nil }
        let summary = document.jobs.summary(at: i)
        return summary.state == .processing && summary.worker == worker ? i : nil
    }

    /// Records the child process that runs a claimed job, so it can be found if its worker dies.
    package static func recordChild(_ child: ProcessIdentity, jobID: String, worker: ProcessIdentity, in snapshot: inout Snapshot) {
        guard let i = runningIndex(jobID, of: worker, in: snapshot.document) else { return }
        snapshot.document.jobs[i].child = child
    }

    /// Records the end of a run by `worker`, applying the retry policy. Returns nil if the job is no
    /// longer this worker's (it was recovered or removed meanwhile).
    /// `note` is said of the run besides its outcome, in `last_error` (its output could not be logged).
    package static func finish(jobID: String, worker: ProcessIdentity, outcome: RunOutcome, startedAt: Timestamp,
                              durationMilliseconds: Int64, note: String? = nil, in snapshot: inout Snapshot) -> JobTransition? {
        guard let i = runningIndex(jobID, of: worker, in: snapshot.document) else { return nil }
        var job = snapshot.document.jobs[i]
        if job.cancelRequested {
            snapshot.document.jobs.remove(at: i)
            return JobTransition(job: job, removed: true)
        }
        job.startedAt = startedAt
        job.durationMilliseconds = durationMilliseconds
        job.exitCode = outcome.exitCode
        if let error = outcome.errorText { job.lastError = error }
        if let note { job.lastError = outcome.errorText.map { "\($0); \(note)" } ?? note }
        // A run its worker ended for `kill` is dead; so is one that failed by itself once a kill was asked
        // (it is not retried against the request). One that completed first simply completed.
        let transition: JobTransition
        if outcome == .killed || (job.killRequested && !outcome.succeeded) {
            transition = recordKilled(&job, ran: true, note: note, now: snapshot.now, document: &snapshot.document)
        } else {
            transition = conclude(&job, succeeded: outcome.succeeded, now: snapshot.now, document: &snapshot.document)
        }
        snapshot.document.jobs[i] = job
        return transition
    }

    /// The `last_error` of a job that `kill` ended.
    package static let killedError = "killed"

    /// Records the end of a job that `kill` asked to end: dead, with "killed". `ran`: a run took
    /// place (it counts as a failed one); a job claimed and given back unstarted ran none.
    static func recordKilled(_ job: inout Job, ran: Bool, note: String? = nil, now: Timestamp, document: inout Document) -> JobTransition {
        if ran {
            job.attempts += 1
            document.counters.runs += 1
            document.counters.failedRuns += 1
            job.finishedAt = now
        }
        document.counters.dlqMoves += 1
        job.state = .dead
        job.lastError = note.map { "\(killedError); \($0)" } ?? killedError
        job.killRequested = false
        job.worker = nil
        job.child = nil
        job.runAt = nil
        job.updatedAt = now
        return JobTransition(job: job, killed: true)
    }

    /// Puts a job this worker interrupted back to pending, without counting the run as an attempt.
    /// A job cancelled meanwhile is removed instead, as its run's end would remove it.
    package static func release(jobID: String, worker: ProcessIdentity, in snapshot: inout Snapshot) -> JobTransition? {
        putBack(jobID, of: worker, ran: true, because: "interrupted by worker shutdown; will run again", in: &snapshot)
    }

    /// Puts back a job that `worker` holds as claimed but neither runs nor is starting: the answer to
    /// its claim never reached the worker (a database connection lost at the COMMIT). No run of it
    /// happened, so no attempt is used; one cancelled or killed meanwhile goes as they asked.
    package static func returnLostClaim(_ jobID: String, worker: ProcessIdentity, in snapshot: inout Snapshot) -> JobTransition? {
        putBack(jobID, of: worker, ran: false,
                because: "claimed, but the claim's answer never reached its worker; runs again without using an attempt", in: &snapshot)
    }

    /// A job of `worker`'s back to pending without an attempt, or, when `cancel` or `kill` asked for
    /// its end meanwhile, removed or dead as they asked (`ran`: a run of it took place).
    private static func putBack(_ jobID: String, of worker: ProcessIdentity, ran: Bool, because reason: String,
                                in snapshot: inout Snapshot) -> JobTransition? {
        guard let i = runningIndex(jobID, of: worker, in: snapshot.document) else { return nil }
        var job = snapshot.document.jobs[i]
        if job.cancelRequested {
            snapshot.document.jobs.remove(at: i)
            return JobTransition(job: job, removed: true)
        }
        if job.killRequested {
            let transition = recordKilled(&job, ran: ran, now: snapshot.now, document: &snapshot.document)
            snapshot.document.jobs[i] = job
            return transition
        }
        putBack(&job, because: reason, now: snapshot.now)
        if !ran { job.startedAt = nil }
        snapshot.document.jobs[i] = job
        return JobTransition(job: job)
    }

    /// Makes a job runnable now again, as if its run had not happened: no attempt is used.
    private static func putBack(_ job: inout Job, because reason: String, now: Timestamp) {
        job.state = .pending
        job.worker = nil
        job.child = nil
        job.runAt = nil
        job.lastError = reason
        job.updatedAt = now
    }

    /// Gives back a job this worker claimed but never started, exactly as it was before the claim.
    /// One cancelled since the claim is removed; one killed is dead, without a run.
    package static func unclaim(_ jobID: String, restoring original: Job, worker: ProcessIdentity, in snapshot: inout Snapshot) {
        guard let i = runningIndex(jobID, of: worker, in: snapshot.document), snapshot.document.jobs[i].child == nil else { return }
        if snapshot.document.jobs.summary(at: i).cancelRequested {
            snapshot.document.jobs.remove(at: i)
        } else if snapshot.document.jobs.summary(at: i).killRequested {
            var job = original
            _ = recordKilled(&job, ran: false, now: snapshot.now, document: &snapshot.document)
            snapshot.document.jobs[i] = job
        } else {
            snapshot.document.jobs[i] = original
        }
    }

    /// Applies the retry policy to a job whose run just ended.
    private static func conclude(_ job: inout Job, succeeded: Bool, now: Timestamp, document: inout Document) -> JobTransition {
        let config = document.config
        document.counters.runs += 1
        if !succeeded {
            job.attempts += 1
            document.counters.failedRuns += 1
        }
        job.worker = nil
        job.child = nil
        job.killRequested = false
        job.finishedAt = now
        job.updatedAt = now
        var retryIn: Double?
        // The job's own max_retries decides (set from the config when it was enqueued), and its own
        // backoff settings where it has them.
        let policy = RetryPolicy(maxRuns: job.maxRetries, backoffBase: job.backoffBase ?? config.backoffBase,
                                 maxBackoff: job.maxBackoff ?? config.maxBackoff)
        switch policy.decide(succeeded: succeeded, failedRuns: job.attempts) {
        case .complete:
            job.state = .completed
            job.runAt = nil
        case .retry(let seconds):
            job.state = .failed
            job.runAt = now.adding(seconds: seconds)
            retryIn = seconds
            document.counters.retries += 1
        case .dead:
            job.state = .dead
            job.runAt = nil
            document.counters.dlqMoves += 1
        }
        return JobTransition(job: job, retryInSeconds: retryIn)
    }

    // MARK: recovery

    /// Recovers jobs whose worker is gone (its pid is dead or reused). Every process of the run is
    /// killed first: the child's process group, and every process carrying the run's marker, recorded
    /// child or not (a `setsid` child leaves the group but keeps the marker). A job is recovered only
    /// once all of them are gone: one that is still dying stays processing for the next command that
    /// takes the lock. A run that started counts as a failed attempt ("worker lost"); a claim whose
    /// child never started (no child was recorded, and nothing carries the marker) goes back to
    /// pending without one. Removes the records of dead workers. Every command that takes the lock
    /// calls this.
    @discardableResult
    package static func recoverOrphans(in snapshot: inout Snapshot) -> [JobTransition] {
        // After a reboot every recorded process is gone, and its pid may belong to anything now:
        // recover everything and signal nothing.
        let rebooted = snapshot.document.bootID != nil && Processes.bootID != nil && snapshot.document.bootID != Processes.bootID
        if rebooted { snapshot.document.bootID = Processes.bootID }
        // A worker in another PID namespace is judged by its lease, never by its pid, and nothing is
        // signalled by a pid it recorded. (A job whose worker left no record is judged by pid, as
        // files written before namespaces were recorded are.)
        let records = Dictionary(snapshot.document.workers.map { ($0.process, $0) }, uniquingKeysWith: { first, _ in first })
        let config = snapshot.document.config, home = snapshot.home
        var liveness: [ProcessIdentity: Bool] = [:]
        func alive(_ p: ProcessIdentity) -> Bool {
            if rebooted { return false }
            if let known = liveness[p] { return known }
            let value = records[p].map { JobManager.liveness(of: $0, home: home, config: config).isAlive } ?? p.isAlive
            liveness[p] = value
            return value
        }
        func inThisNamespace(_ p: ProcessIdentity?) -> Bool { p.flatMap { records[$0]?.isInThisNamespace } ?? true }
        var recovered: [JobTransition] = []
        var cancelled: [Int] = []
        // One wait for killed processes to go, shared by every run recovered in this pass.
        let waitUntil = monotonicMilliseconds() + killedProcessesWaitMilliseconds
        for i in snapshot.document.jobs.indices(whereSummary: { $0.state == .processing }) {
            let owner = snapshot.document.jobs.summary(at: i).worker
            if let owner, alive(owner) { continue }
            var job = snapshot.document.jobs[i]
            var started = job.child != nil
            if !rebooted {
                let end = endRun(child: inThisNamespace(owner) ? job.child : nil,
                                 marker: owner.map { runMarkerEntry(worker: $0, jobID: job.id) }, waitingUntil: waitUntil)
                if end.stillDying { continue }
                started = started || end.foundMarked
            }
            if job.cancelRequested {
                cancelled.append(i)
                recovered.append(JobTransition(job: job, removed: true))
                continue
            }
            if job.killRequested {
                // Its processes are gone, as `kill` asked: recorded dead, as its worker would have.
                if started, let startedAt = job.startedAt { job.durationMilliseconds = snapshot.now.milliseconds - startedAt.milliseconds }
                recovered.append(recordKilled(&job, ran: started, now: snapshot.now, document: &snapshot.document))
                snapshot.document.jobs[i] = job
                continue
            }
            if !started {
                putBack(&job, because: "worker lost before its run started; runs again without using an attempt", now: snapshot.now)
                job.startedAt = nil
                snapshot.document.jobs[i] = job
                recovered.append(JobTransition(job: job))
                continue
            }
            job.exitCode = nil
            job.lastError = "worker lost"
            if let started = job.startedAt { job.durationMilliseconds = snapshot.now.milliseconds - started.milliseconds }
            recovered.append(conclude(&job, succeeded: false, now: snapshot.now, document: &snapshot.document))
            snapshot.document.jobs[i] = job
        }
        for i in cancelled.reversed() { snapshot.document.jobs.remove(at: i) }
        // A dead worker's record goes once none of its jobs is left processing (one still dying keeps
        // it, and with it the namespace its pids belong to).
        if snapshot.document.workers.contains(where: { !alive($0.process) }) {
            let owners = Set(snapshot.document.jobs.indices(whereSummary: { $0.state == .processing })
                .compactMap { snapshot.document.jobs.summary(at: $0).worker })
            let gone = snapshot.document.workers.filter { !alive($0.process) && !owners.contains($0.process) }
            snapshot.document.workers.removeAll { gone.contains($0) }
            // A worker killed with -9 left its lease behind.
            if let home { for worker in gone { home.removeLease(for: worker) } }
        }
        return recovered
    }

    /// How long one recovery waits, in all, for the killed processes of the runs it recovers to be
    /// gone before it leaves a job to a later command (under the lock, so not per job). SIGKILL takes
    /// effect within microseconds unless a process is stuck in the kernel (an unresponsive disk or
    /// NFS server).
    static let killedProcessesWaitMilliseconds: Int64 = 200

    /// SIGKILL to an orphaned run's process group (while the group is still its own) and to every
    /// process carrying its marker, then a wait, until `deadline` at the latest, for them to be gone.
    static func endRun(child: ProcessIdentity?, marker entry: String?,
                       waitingUntil deadline: Int64) -> (stillDying: Bool, foundMarked: Bool) {
        let group = child.flatMap { $0.groupIsStillItsOwn ? $0.pid : nil }
        var foundMarked = false
        while true {
            if let group { Processes.signalGroup(group, .kill) }
            let marked = entry.map { Processes.signalMarked($0, .kill) } ?? 0
            foundMarked = foundMarked || marked > 0
            let groupAlive = group.map(Processes.groupIsAlive) ?? false
            if !groupAlive && marked == 0 { return (false, foundMarked) }
            if monotonicMilliseconds() >= deadline { return (true, foundMarked) }
            sleepMilliseconds(2)
        }
    }

    package static let runMarkerName = "QUEUECTL_RUN"

    /// The environment entry a worker gives each job's child, so the child can be found even if the
    /// worker dies before recording its pid.
    package static func runMarker(worker: ProcessIdentity, jobID: String) -> (name: String, value: String) {
        (runMarkerName, "\(worker.pid):\(worker.startTime):\(jobID)")
    }

    /// The marker as the whole environment entry (`NAME=value`) that finds the run's processes.
    package static func runMarkerEntry(worker: ProcessIdentity, jobID: String) -> String {
        let marker = runMarker(worker: worker, jobID: jobID)
        return "\(marker.name)=\(marker.value)"
    }
}

extension JobSummary {
    /// Whether the job may be claimed at `now` (JobManager's rule: only `run_at` gates a claim).
    package func isRunnable(at now: Timestamp) -> Bool { JobManager.isRunnable(state: state, runAt: runAt, at: now) }
}

extension Job {
    /// Whether the job may be claimed at `now` (JobManager's rule: only `run_at` gates a claim).
    package func isRunnable(at now: Timestamp) -> Bool { JobManager.isRunnable(state: state, runAt: runAt, at: now) }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
