@preconcurrency import Glibc
import JobManager
import QueueStorage
import QueueSystem

/// What a worker reports as it goes; the CLI turns these into lines.
public enum WorkerEvent: Sendable {
    case started(WorkerRecord, home: String)
    case jobStarted(Job)
    case jobFinished(JobTransition, durationMilliseconds: Int64)
    /// A run ended but the job was no longer this worker's to record (recovered or removed meanwhile).
    case resultDiscarded(jobID: String)
    case jobReleased(Job)
    case jobTimedOut(Job, seconds: Double)
    case cancelling(Job)
    case recovered(JobTransition)
    case drained
    case stopRequested(running: Int)
    case terminating(running: Int)
    case stopped(forced: Bool)
    /// A transaction failed; what it carried is kept and tried again.
    case storageFailed(String)
}

/// One foreground worker process running up to `slots` jobs at once. Each job is `/bin/sh -c` in its
/// own process group. A claim and a result are short transactions; commands run outside the lock.
public final class Worker {
    /// Time between SIGTERM and SIGKILL, for a second Ctrl+C and for a timeout.
    public static let terminationGraceMilliseconds: Int64 = 5_000
    /// Longest sleep between looks at the queue when nothing wakes the worker sooner (another
    /// worker's orphans are recovered at this pace).
    static let idleCheckMilliseconds: Int64 = 1_000
    /// Longest a started child's pid waits to be recorded when no result or claim carries it sooner.
    /// (Recovery finds an unrecorded child by its environment marker meanwhile.)
    static let childRecordDelayMilliseconds: Int64 = 100
    /// How long a finished run's result waits for others still running to finish too, so that one
    /// transaction records several (each rewrites the whole data file).
    static let resultBatchMilliseconds: Int64 = 5

    struct Running {
        let job: Job
        let pid: Int32
        let startedAt: Timestamp
        let startedMonotonic: Int64
        let log: RunLog?
        /// Monotonic time at which the run is over its timeout, if it has one.
        let deadline: Int64?
        var timeout: Double?
        var timedOut = false
        /// When a terminated run gets SIGKILL.
        var killAt: Int64?
    }

    struct Ended {
        let job: Job
        let outcome: RunOutcome
        let startedAt: Timestamp
        let durationMilliseconds: Int64
        let interrupted: Bool
    }

    let store: Store
    let slots: Int
    let drain: Bool
    let emit: (WorkerEvent) -> Void
    let me = ProcessIdentity.current()

    private var running: [Running] = []
    private var ended: [Ended] = []
    private var unrecordedChildren: [(String, ProcessIdentity)] = []
    private var childrenRecordBy: Int64 = 0
    private var resultsRecordBy: Int64 = 0
    private var ageCheckDue: Int64 = 0
    private var forced = false
    private var terminationDeadline: Int64 = 0
    private var killed = false

    /// With `drain`, the worker exits once nothing is running and no job is runnable now.
    public init(store: Store, slots: Int, drain: Bool = false, emit: @escaping (WorkerEvent) -> Void) {
        self.store = store
        self.slots = slots
        self.drain = drain
        self.emit = emit
    }

    /// Runs until asked to stop; returns the process exit code (0 graceful, 130 after terminating jobs).
    public func run() throws(QueueError) -> Int32 {
        let signals: SignalWaker
        let watcher: DirectoryWatcher
        guard me.startTime != 0 else {
            throw .failure("cannot read /proc/self/stat: a worker needs /proc to tell live processes from dead ones")
        }
        Processes.closeInheritedDescriptorsOnExec()
        Processes.returnLargeAllocationsToTheSystem()
        do {
            signals = try SignalWaker()
            try Files.makeDirectories(store.home.directory)
            try Files.makeDirectories(store.home.logsDirectory)
            watcher = try DirectoryWatcher(directory: store.home.directory, fileName: "data.json")
        } catch {
            throw .failure("cannot start the worker: \(error)")
        }
        let record = WorkerRecord(process: me, slots: slots, startedAt: Timestamp.now())
        let recovered = try store.transaction { (s) throws(QueueError) in
            let recovered = JobManager.recoverOrphans(in: &s)
            JobManager.register(record, in: &s)
            return recovered
        }
        emit(.started(record, home: store.home.directory))
        recovered.forEach { emit(.recovered($0)) }

        var queueChanged = true
        var nextLook = monotonicMilliseconds()
        var announcedStop = false
        // After a failed transaction (a full disk, say), results wait in memory and are tried again.
        var storageRetryAt: Int64 = 0
        while true {
            reapChildren()
            let stopRequests = signals.stopRequestCount
            if stopRequests >= 1, !announcedStop {
                announcedStop = true
                emit(.stopRequested(running: running.count))
            }
            if stopRequests >= 2, !forced { beginTermination() }
            if forced, !killed, monotonicMilliseconds() >= terminationDeadline {
                killed = true
                for r in running { Processes.signalGroup(r.pid, SIGKILL) }
            }
            enforceTimeouts()

            let freeSlots = stopRequests == 0 ? slots - running.count : 0
            let wantsLook = freeSlots > 0 && (queueChanged || monotonicMilliseconds() >= nextLook)
            let storageReady = monotonicMilliseconds() >= storageRetryAt
            let childrenDue = !unrecordedChildren.isEmpty && monotonicMilliseconds() >= childrenRecordBy
            let resultsDue = !ended.isEmpty && (running.isEmpty || stopRequests > 0 || monotonicMilliseconds() >= resultsRecordBy)
            if storageReady, resultsDue || childrenDue || wantsLook {
                queueChanged = false
                let nextEligible: Timestamp?, claimedAny: Bool
                do {
                    (nextEligible, claimedAny) = try exchange(freeSlots: freeSlots, signals: signals)
                } catch {
                    emit(.storageFailed(error.message))
                    storageRetryAt = monotonicMilliseconds() + Worker.idleCheckMilliseconds
                    nextLook = storageRetryAt
                    continue
                }
                if drain, !claimedAny, running.isEmpty, ended.isEmpty, unrecordedChildren.isEmpty {
                    emit(.drained)
                    break
                }
                let now = Timestamp.now()
                var wait = Worker.idleCheckMilliseconds
                if let nextEligible { wait = min(wait, max(0, nextEligible.milliseconds - now.milliseconds)) }
                nextLook = monotonicMilliseconds() + wait
                if resultsDue, !ended.isEmpty { continue }
            }

            // Stop once nothing runs and every result is recorded; a second stop request does not
            // wait for a data file that cannot be written.
            let unrecorded = !ended.isEmpty || !unrecordedChildren.isEmpty
            if stopRequests >= 1, running.isEmpty, !unrecorded || stopRequests >= 2 { break }

            let clock = monotonicMilliseconds()
            var timeout = max(0, nextLook - clock)
            if freeSlots == 0 { timeout = Worker.idleCheckMilliseconds }
            if unrecorded { timeout = max(0, storageRetryAt - clock) }
            if !unrecordedChildren.isEmpty { timeout = min(timeout, max(0, childrenRecordBy - clock)) }
            if !ended.isEmpty { timeout = min(timeout, max(0, resultsRecordBy - clock)) }
            if forced, !killed { timeout = min(timeout, max(0, terminationDeadline - clock)) }
            for r in running {
                if let d = r.killAt ?? (r.timedOut ? nil : r.deadline) { timeout = min(timeout, max(0, d - clock)) }
            }
            let ready = waitForInput([signals.wakeFD, watcher.fd] + running.compactMap { $0.log?.pollFD },
                                     timeoutMilliseconds: Int(timeout))
            signals.drain()
            for r in running { r.log?.pump() }
            // This worker's own writes wake it too: only another process's write is news.
            if ready.contains(watcher.fd), watcher.drain(), store.changedSinceLastTransaction { queueChanged = true }
        }

        do {
            try store.transaction { (s) throws(QueueError) in JobManager.unregister(me, in: &s) }
        } catch {
            // The record is removed by the next command that finds this process gone.
            emit(.storageFailed(error.message))
        }
        emit(.stopped(forced: forced))
        return forced ? 130 : 0
    }

    /// One transaction: recover others' orphans, record started children and ended runs, then claim
    /// up to `freeSlots` jobs (checking for a stop request right before). Starts the claimed jobs.
    private func exchange(freeSlots: Int, signals: SignalWaker) throws(QueueError) -> (Timestamp?, Bool) {
        let children = unrecordedChildren
        let results = ended
        let me = self.me
        let runningIDs = Set(running.map(\.job.id))
        let (recovered, finished, claimed, nextEligible, cancelled, settings, before, pruned) = try store.transaction { (s) throws(QueueError) in
            let recovered = JobManager.recoverOrphans(in: &s)
            for (id, child) in children { JobManager.recordChild(child, jobID: id, worker: me, in: &s) }
            var finished: [WorkerEvent] = []
            for r in results {
                if r.interrupted, !r.outcome.succeeded {
                    if let job = JobManager.release(jobID: r.job.id, worker: me, in: &s) { finished.append(.jobReleased(job)) }
                } else if let t = JobManager.finish(jobID: r.job.id, worker: me, outcome: r.outcome, startedAt: r.startedAt,
                                                    durationMilliseconds: r.durationMilliseconds, in: &s) {
                    finished.append(.jobFinished(t, durationMilliseconds: r.durationMilliseconds))
                } else {
                    finished.append(.resultDiscarded(jobID: r.job.id))
                }
            }
            let claimable = signals.stopRequestCount == 0 ? freeSlots : 0
            let checkAge = monotonicMilliseconds() >= ageCheckDue
            let pruned = results.isEmpty ? [] : JobManager.pruneIfDue(in: &s, checkAge: checkAge)
            if checkAge, !results.isEmpty { ageCheckDue = monotonicMilliseconds() + 60_000 }
            var before: [String: Job] = [:]
            let claimed = JobManager.claim(limit: claimable, for: me, in: &s) { before[$0.id] = $0 }
            let settings = (s.document.config.jobTimeout, s.document.config.maxLogBytes)
            let cancelled = s.document.jobs.indices(whereSummary: { $0.cancelRequested && $0.worker == me && runningIDs.contains($0.id) })
                .map { s.document.jobs.summary(at: $0).id }
            return (recovered, finished, claimed, JobManager.nextEligibleTime(in: s.document, after: s.now), cancelled, settings, before,
                    pruned)
        }
        for id in pruned { Files.removeIfPresent(store.home.logPath(for: id)) }
        (jobTimeout, maxLogBytes) = settings
        unrecordedChildren.removeAll()
        ended.removeAll()
        recovered.forEach { emit(.recovered($0)) }
        for event in finished {
            if case .jobFinished(let t, _) = event, t.removed { Files.removeIfPresent(store.home.logPath(for: t.job.id)) }
            emit(event)
        }
        for t in recovered where t.removed { Files.removeIfPresent(store.home.logPath(for: t.job.id)) }
        for id in cancelled { terminate(id) }
        // A stop request that came after the claim: give the unstarted jobs back as they were.
        if !claimed.isEmpty, signals.stopRequestCount > 0 {
            try store.transaction { (s) throws(QueueError) in
                for job in claimed { JobManager.unclaim(job.id, restoring: before[job.id]!, worker: me, in: &s) }
            }
            return (nextEligible, false)
        }
        for job in claimed { start(job, defaultTimeout: jobTimeout, maxLogBytes: maxLogBytes) }
        return (nextEligible, !claimed.isEmpty)
    }

    /// Settings read in the last transaction; they apply to the runs started after it.
    private var jobTimeout: Double = 0
    private var maxLogBytes = 1 << 20

    /// A job cancelled while it runs: SIGTERM to its group now, SIGKILL after the grace period.
    private func terminate(_ id: String) {
        guard let i = running.firstIndex(where: { $0.job.id == id }), running[i].killAt == nil else { return }
        emit(.cancelling(running[i].job))
        Processes.signalGroup(running[i].pid, SIGTERM)
        running[i].killAt = monotonicMilliseconds() + Worker.terminationGraceMilliseconds
    }

    /// Runs over their timeout get SIGTERM, and SIGKILL once the grace period has passed too.
    private func enforceTimeouts() {
        let now = monotonicMilliseconds()
        for i in running.indices {
            if let killAt = running[i].killAt, now >= killAt {
                Processes.signalGroup(running[i].pid, SIGKILL)
                running[i].killAt = .max
            } else if let deadline = running[i].deadline, !running[i].timedOut, now >= deadline {
                running[i].timedOut = true
                emit(.jobTimedOut(running[i].job, seconds: running[i].timeout ?? 0))
                Processes.signalGroup(running[i].pid, SIGTERM)
                running[i].killAt = now + Worker.terminationGraceMilliseconds
            }
        }
    }

    private func start(_ job: Job, defaultTimeout: Double, maxLogBytes: Int) {
        let startedAt = Timestamp.now()
        let startedMonotonic = monotonicMilliseconds()
        emit(.jobStarted(job))
        let run = job.attempts + 1
        let header = "=== queuectl: run \(run) of \(job.maxRetries + 1), started \(startedAt.iso8601) ===\n"
        let log = try? RunLog(path: store.home.logPath(for: job.id), header: header, maxBytes: maxLogBytes)
        defer { log?.closeWriteEnd() }
        func failToStart(_ reason: String) {
            log?.finish(footer: "=== queuectl: could not start: \(reason) ===\n")
            ended.append(Ended(job: job, outcome: .couldNotStart(reason), startedAt: startedAt,
                               durationMilliseconds: 0, interrupted: false))
        }
        if let cwd = job.cwd, (try? Files.status(cwd))?.isDirectory != true {
            return failToStart("directory \(cwd) does not exist")
        }
        do {
            let marker = JobManager.runMarker(worker: me, jobID: job.id)
            let pid = try Processes.spawnShell(job.command, directory: job.cwd, environment: [
                "QUEUECTL_JOB_ID": job.id,
                "QUEUECTL_ATTEMPT": String(run),
                marker.name: marker.value,
            ], outputFD: log?.writeFD)
            let timeout = job.timeout ?? (defaultTimeout > 0 ? defaultTimeout : nil)
            running.append(Running(job: job, pid: pid, startedAt: startedAt, startedMonotonic: startedMonotonic, log: log,
                                   deadline: timeout.map { startedMonotonic + Int64(($0 * 1000).rounded(.up)) },
                                   timeout: timeout))
            if let start = Processes.startTime(of: pid) {
                if unrecordedChildren.isEmpty { childrenRecordBy = startedMonotonic + Worker.childRecordDelayMilliseconds }
                unrecordedChildren.append((job.id, ProcessIdentity(pid: pid, startTime: start)))
            }
        } catch {
            failToStart(error.description)
        }
    }

    private func reapChildren() {
        running.removeAll { r in
            guard let status = Processes.reapIfExited(r.pid) else { return false }
            let duration = monotonicMilliseconds() - r.startedMonotonic
            if ended.isEmpty { resultsRecordBy = monotonicMilliseconds() + Worker.resultBatchMilliseconds }
            let outcome: RunOutcome = r.timedOut ? .timedOut(r.timeout ?? 0) : .exited(status)
            let ending = r.timedOut ? outcome.errorText! : "\(outcome.errorText ?? "exit 0") after \(Double(duration) / 1000)s"
            r.log?.finish(footer: "=== queuectl: \(ending) ===\n")
            ended.append(Ended(job: r.job, outcome: outcome, startedAt: r.startedAt, durationMilliseconds: duration,
                               interrupted: forced))
            return true
        }
    }

    /// The second stop request: SIGTERM to every job's process group now, SIGKILL after the grace period.
    private func beginTermination() {
        forced = true
        emit(.terminating(running: running.count))
        terminationDeadline = monotonicMilliseconds() + Worker.terminationGraceMilliseconds
        for r in running { Processes.signalGroup(r.pid, SIGTERM) }
    }
}
