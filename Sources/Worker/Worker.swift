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
    case recovered(JobTransition)
    case stopRequested(running: Int)
    case terminating(running: Int)
    case stopped(forced: Bool)
}

/// One foreground worker process running up to `slots` jobs at once. Each job is `/bin/sh -c` in its
/// own process group. A claim and a result are short transactions; commands run outside the lock.
public final class Worker {
    public static let terminationGraceMilliseconds: Int64 = 5_000
    /// Longest sleep between looks at the queue when nothing wakes the worker sooner (another
    /// worker's orphans are recovered at this pace).
    static let idleCheckMilliseconds: Int64 = 1_000

    struct Running {
        let job: Job
        let pid: Int32
        let startedAt: Timestamp
        let startedMonotonic: Int64
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
    let emit: (WorkerEvent) -> Void
    let me = ProcessIdentity.current()

    private var running: [Running] = []
    private var ended: [Ended] = []
    private var unrecordedChildren: [(String, ProcessIdentity)] = []
    private var forced = false
    private var terminationDeadline: Int64 = 0
    private var killed = false

    public init(store: Store, slots: Int, emit: @escaping (WorkerEvent) -> Void) {
        self.store = store
        self.slots = slots
        self.emit = emit
    }

    /// Runs until asked to stop; returns the process exit code (0 graceful, 130 after terminating jobs).
    public func run() throws(QueueError) -> Int32 {
        let signals: SignalWaker
        let watcher: DirectoryWatcher
        do {
            signals = try SignalWaker()
            try Files.makeDirectories(store.home.directory)
            watcher = try DirectoryWatcher(directory: store.home.directory)
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

            let freeSlots = stopRequests == 0 ? slots - running.count : 0
            let wantsLook = freeSlots > 0 && (queueChanged || monotonicMilliseconds() >= nextLook)
            if !ended.isEmpty || !unrecordedChildren.isEmpty || wantsLook {
                queueChanged = false
                let nextEligible = try exchange(freeSlots: freeSlots, signals: signals)
                let now = Timestamp.now()
                var wait = Worker.idleCheckMilliseconds
                if let nextEligible { wait = min(wait, max(0, nextEligible.milliseconds - now.milliseconds)) }
                nextLook = monotonicMilliseconds() + wait
                if !unrecordedChildren.isEmpty || !ended.isEmpty { continue }
            }

            if stopRequests >= 1, running.isEmpty { break }

            var timeout = max(0, nextLook - monotonicMilliseconds())
            if freeSlots == 0 { timeout = Worker.idleCheckMilliseconds }
            if forced, !killed { timeout = min(timeout, max(0, terminationDeadline - monotonicMilliseconds())) }
            waitForInput([signals.wakeFD, watcher.fd], timeoutMilliseconds: Int(timeout))
            signals.drain()
            var probe = pollfd(fd: watcher.fd, events: Int16(POLLIN), revents: 0)
            if poll(&probe, 1, 0) > 0 {
                watcher.drain()
                queueChanged = true
            }
        }

        try store.transaction { (s) throws(QueueError) in JobManager.unregister(me, in: &s) }
        emit(.stopped(forced: forced))
        return forced ? 130 : 0
    }

    /// One transaction: recover others' orphans, record started children and ended runs, then claim
    /// up to `freeSlots` jobs (checking for a stop request right before). Starts the claimed jobs.
    private func exchange(freeSlots: Int, signals: SignalWaker) throws(QueueError) -> Timestamp? {
        let children = unrecordedChildren
        let results = ended
        let me = self.me
        let (recovered, finished, claimed, nextEligible) = try store.transaction { (s) throws(QueueError) in
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
            let claimed = JobManager.claim(limit: claimable, for: me, in: &s)
            return (recovered, finished, claimed, JobManager.nextEligibleTime(in: s.document, after: s.now))
        }
        unrecordedChildren.removeAll()
        ended.removeAll()
        recovered.forEach { emit(.recovered($0)) }
        finished.forEach { emit($0) }
        for job in claimed { start(job) }
        return nextEligible
    }

    private func start(_ job: Job) {
        let startedAt = Timestamp.now()
        let startedMonotonic = monotonicMilliseconds()
        emit(.jobStarted(job))
        do {
            let marker = JobManager.runMarker(worker: me, jobID: job.id)
            let pid = try Processes.spawnShell(job.command, directory: nil, environment: [
                "QUEUECTL_JOB_ID": job.id,
                "QUEUECTL_ATTEMPT": String(job.attempts + 1),
                marker.name: marker.value,
            ], outputFD: nil)
            running.append(Running(job: job, pid: pid, startedAt: startedAt, startedMonotonic: startedMonotonic))
            if let start = Processes.startTime(of: pid) {
                unrecordedChildren.append((job.id, ProcessIdentity(pid: pid, startTime: start)))
            }
        } catch {
            ended.append(Ended(job: job, outcome: .couldNotStart(error.description), startedAt: startedAt,
                               durationMilliseconds: 0, interrupted: false))
        }
    }

    private func reapChildren() {
        running.removeAll { r in
            guard let status = Processes.reapIfExited(r.pid) else { return false }
            ended.append(Ended(job: r.job, outcome: .exited(status), startedAt: r.startedAt,
                               durationMilliseconds: monotonicMilliseconds() - r.startedMonotonic, interrupted: forced))
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
