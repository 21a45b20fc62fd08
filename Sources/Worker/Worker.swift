import JobManager
import QueueStorage
import QueueSystem

/// What a worker reports as it goes; the CLI turns these into lines.
package enum WorkerEvent: Equatable, Sendable {
    case started(WorkerRecord, home: String)
    case jobStarted(Job)
    case jobFinished(JobTransition, durationMilliseconds: Int64)
    /// A run ended but the job was no longer this worker's to record (recovered or removed meanwhile).
    case resultDiscarded(jobID: String)
    case jobReleased(Job)
    case jobTimedOut(Job, seconds: Double)
    case cancelling(Job)
    /// `kill` asked for the job's end: its run is being terminated.
    case killing(Job)
    /// The worker stops (a second stop request) with this many finished runs it could not record.
    case resultsNotRecorded(Int)
    /// Another process holds the queue lock (the message says who); the worker keeps trying, and
    /// meanwhile runs its jobs, renews its lease and answers Ctrl+C.
    case waitingForLock(String)
    /// A job's shell has exited, but other processes of its group still run: the run goes on.
    case waitingForGroup(Job)
    /// A run's output goes nowhere: its log could not be opened (the reason).
    case outputNotLogged(Job, reason: String)
    case recovered(JobTransition)
    case drained
    case stopRequested(running: Int)
    case terminating(running: Int)
    case stopped(forced: Bool)
    /// A transaction failed; what it carried is kept and tried again.
    case storageFailed(String)
    /// The lease could not be renewed (why): every run is being killed before the lease runs out,
    /// since others may then take the jobs, and the worker stops.
    case fencing(String, running: Int)
}

/// One foreground worker process running up to `slots` jobs at once. Each job is `/bin/sh -c` in its
/// own process group. A claim and a result are short transactions; commands run outside the lock.
/// The decisions are `WorkerCore`'s; this loop waits, reaps, spawns, signals and calls the store.
package final class Worker {
    let store: any QueueStore
    let settings: WorkerCore.Settings
    let emit: (WorkerEvent) -> Void
    let me = ProcessIdentity.current()
    private lazy var record = WorkerRecord(process: me, slots: settings.slots, startedAt: Timestamp.now(),
                                           pidNamespace: Processes.pidNamespace)

    /// The worker's connection to the store, from its start to its end.
    private var session: (any WorkerSession)?
    /// The heartbeat lease it promises (see `Lease`), from the config as last read.
    private var leaseMilliseconds = Int64(QueueConfig().leaseSeconds * 1000)
    /// When the lease was last renewed (monotonic milliseconds).
    private var renewedAt: Int64 = 0
    /// Each running job's output on its way to its log file, by job id.
    private var logs: [String: RunLog] = [:]
    /// The queue's `logs` directory, opened once when the worker starts.
    private var logsDirectory: OpenDirectory?
    /// Settings read in the last transaction; they apply to the runs started after it.
    private var maxLogBytes = 1 << 20
    private var ageCheckDue: Int64 = 0

    /// The queues it claims from; nil: every queue.
    private let queues: [String]?

    /// With `drain`, the worker exits once nothing is running and no job is runnable now.
    package init(store: any QueueStore, slots: Int, drain: Bool = false, queues: [String]? = nil, emit: @escaping (WorkerEvent) -> Void) {
        self.store = store
        self.queues = queues
        settings = WorkerCore.Settings(slots: slots, drain: drain)
        self.emit = emit
    }

    package convenience init(store: Store, slots: Int, drain: Bool = false, queues: [String]? = nil, emit: @escaping (WorkerEvent) -> Void) {
        self.init(store: FileQueueStore(store), slots: slots, drain: drain, queues: queues, emit: emit)
    }

    /// Runs until asked to stop; returns the process exit code (0 graceful, 130 after terminating jobs).
    package func run() throws(QueueError) -> Int32 {
        let signals: SignalWaker
        guard me.startTime != 0 else {
            throw .failure("cannot read /proc/self/stat: a worker needs /proc to tell live processes from dead ones")
        }
        Processes.closeInheritedDescriptorsOnExec()
        Processes.returnLargeAllocationsToTheSystem()
        Processes.becomeChildSubreaper()
        // The queue directory and its logs, opened and checked once: the worker goes on with these very
        // directories whatever is done to their paths meanwhile.
        let home: OpenDirectory
        do {
            home = try store.home.openCreating()
            logsDirectory = try store.home.openLogs(create: true)
        } catch {
            throw .failure("cannot start the worker: \(error.message)")
        }
        do {
            signals = try SignalWaker()
        } catch {
            throw .failure("cannot start the worker: \(error)")
        }
        let record = self.record
        let session = try store.workerSession(home: home, record: record, queues: queues)
        self.session = session
        let recovered = try session.begin()
        renewedAt = monotonicMilliseconds()
        emit(.started(record, home: store.place))
        report(recovered)

        var core = WorkerCore(settings, at: monotonicMilliseconds())
        var inputs: [WorkerCore.Input] = [.tick]
        var exitCode: Int32?
        while exitCode == nil {
            // What happened since the last look, then the time.
            inputs += newStopSignals(signals)
            // A member of a job's group that outlives its shell is reparented to this worker (a
            // subreaper), which reaps it; a group whose members left are all zombies is over too.
            for (pid, status) in Processes.reapExitedChildren() where core.isRunning(pid: pid) {
                logs.values.forEach { $0.pump() }
                inputs += lostOutput()
                inputs.append(.childExited(pid: pid, status: status, groupAlive: Processes.groupIsAlive(pid)))
            }
            for pid in core.lingeringGroups where !Processes.groupIsAlive(pid) { inputs.append(.groupEmptied(pid: pid)) }
            inputs.append(.tick)
            while !inputs.isEmpty, exitCode == nil {
                let input = inputs.removeFirst()
                for action in core.handle(input, at: monotonicMilliseconds()) {
                    switch perform(action, signals: signals) {
                    case .inputs(let next): inputs += next
                    case .exit(let code): exitCode = code
                    case nil: break
                    }
                }
            }
            guard exitCode == nil else { break }
            let timeout = core.deadline.map { max(0, $0 - monotonicMilliseconds()) } ?? -1
            let ready = waitForInput([signals.wakeFD, session.wakeDescriptor] + logs.values.flatMap(\.pollFDs),
                                     timeoutMilliseconds: Int(clamping: timeout))
            signals.drain()
            logs.values.forEach { $0.pump() }
            inputs += lostOutput()
            if ready.contains(session.wakeDescriptor), session.takeWake() { inputs.append(.queueChanged) }
        }

        do {
            // Not waiting long for a lock another process holds: the record goes anyway, with the next
            // command that finds this process gone.
            session.lockWaiting = LockWaiting(timeout: 1)
            try session.end()
        } catch {
            // The record is removed by the next command that finds this process gone.
            emit(.storageFailed(error.message))
        }
        return exitCode ?? 0
    }

    /// Runs whose log could not be created when their first output came.
    private func lostOutput() -> [WorkerCore.Input] {
        logs.compactMap { id, log in log.newlyLost().map { .outputLost(jobID: id, reason: $0) } }
    }

    /// How the loop's transactions wait for a lock another process holds.
    static let loopLockWaiting = LockWaiting(timeout: 0.2)

    /// Stop signals (INT, TERM, HUP) counted since the last look.
    private var stopsSeen = 0

    private func newStopSignals(_ signals: SignalWaker) -> [WorkerCore.Input] {
        let count = signals.stopRequestCount
        defer { stopsSeen = max(stopsSeen, count) }
        return Array(repeating: .stopSignal, count: max(0, count - stopsSeen))
    }

    private enum Performed {
        case inputs([WorkerCore.Input])
        case exit(Int32)
    }

    /// Carries out one of the core's actions; some produce the input that reports how it went.
    private func perform(_ action: WorkerCore.Action, signals: SignalWaker) -> Performed? {
        switch action {
        case .exchange(let request):
            let reply: WorkerCore.Input
            do {
                reply = .exchanged(try exchange(request, signals: signals))
            } catch {
                reply = error.kind == .lockTimedOut ? .lockBusy(error.message) : .exchangeFailed(error.message)
            }
            // A stop that came while the transaction ran is heard before its claims are started.
            return .inputs(newStopSignals(signals) + [reply])
        case .spawn(let job):
            return .inputs([start(job)])
        case .signal(let jobID, let pid, let signal):
            Processes.signalGroup(pid, signal)
            // A process that left the group (`setsid cmd &`) still carries the run's marker.
            Processes.signalMarked(JobManager.runMarkerEntry(worker: me, jobID: jobID), signal)
        case .giveBack(let jobs):
            giveBack(jobs)
        case .runEnded(let result, _, let tornDown):
            if tornDown {
                // Ended by the worker: nothing of it may outlive the run, in its group or out of it.
                Processes.signalMarked(JobManager.runMarkerEntry(worker: me, jobID: result.job.id), .kill)
            }
            if let log = logs.removeValue(forKey: result.job.id) {
                log.finish(footer: "=== queuectl: \(Worker.footer(result)) ===\n")
                // Output that came after the run's last look: said here, too late for its last_error.
                if let reason = log.newlyLost() { emit(.outputNotLogged(result.job, reason: reason)) }
            }
        case .renewLease:
            do {
                try session?.renewLease(milliseconds: leaseMilliseconds)
                renewedAt = monotonicMilliseconds()
            } catch {
                // Half the lease without a renewal (the renewals come every third of it), or the lease
                // already gone: the runs end now, while this worker is still the only one to run them.
                if error.kind == .leaseLost || monotonicMilliseconds() - renewedAt >= leaseMilliseconds / 2 {
                    return .inputs([.leaseLost(error.message)])
                }
                emit(.storageFailed(error.message))
            }
        case .emit(let event):
            emit(event)
        case .finish(let code):
            return .exit(code)
        }
        return nil
    }

    static func footer(_ result: WorkerCore.Result) -> String {
        switch result.outcome {
        case .timedOut, .couldNotStart: return result.outcome.errorText!
        case .exited, .killed: return "\(result.outcome.errorText ?? "exit 0") after \(Double(result.durationMilliseconds) / 1000)s"
        }
    }

    /// The jobs claimed before each was changed, for giving back unstarted ones exactly as they were.
    private var beforeClaim: [String: Job] = [:]

    /// One transaction: recover others' orphans, record started children and ended runs, then claim
    /// up to `request.claim` jobs (checking for a stop request right before).
    private func exchange(_ request: WorkerCore.Request, signals: SignalWaker) throws(QueueError) -> WorkerCore.Reply {
        guard let session else { throw .failure("the worker has not started") }
        let me = self.me
        let ageDue = monotonicMilliseconds() >= ageCheckDue
        // The lock is waited for briefly, then the loop gets control back (see `lockRetryMilliseconds`).
        let waiting = session.lockWaiting
        session.lockWaiting = Worker.loopLockWaiting
        defer { session.lockWaiting = waiting }
        let out = try session.exchange(running: Set(request.running), starting: Set(request.starting), claimLimit: { signals.stopRequestCount == 0 ? request.claim : 0 },
                                       prune: !request.results.isEmpty, checkAge: ageDue) { (s) throws(QueueError) -> [WorkerEvent] in
            var events: [WorkerEvent] = []
            for child in request.children { JobManager.recordChild(child.process, jobID: child.jobID, worker: me, in: &s) }
            for r in request.results {
                if r.interrupted, !r.outcome.succeeded {
                    if let t = JobManager.release(jobID: r.job.id, worker: me, in: &s) {
                        events.append(t.removed || t.killed ? .jobFinished(t, durationMilliseconds: r.durationMilliseconds) : .jobReleased(t.job))
                    }
                } else if let t = JobManager.finish(jobID: r.job.id, worker: me, outcome: r.outcome, startedAt: r.startedAt,
                                                    durationMilliseconds: r.durationMilliseconds, note: r.note, in: &s) {
                    events.append(.jobFinished(t, durationMilliseconds: r.durationMilliseconds))
                } else {
                    events.append(.resultDiscarded(jobID: r.job.id))
                }
            }
            return events
        }
        if ageDue, !request.results.isEmpty { ageCheckDue = monotonicMilliseconds() + 60_000 }
        (maxLogBytes, leaseMilliseconds) = (out.config.maxLogBytes, Int64(out.config.leaseSeconds * 1000))
        beforeClaim = out.beforeClaim
        report(out.recovered)
        for event in out.body { emit(event) }
        var reply = WorkerCore.Reply()
        reply.claimed = out.claimed
        reply.waitingOnRunning = out.waitingOnRunning
        reply.cancelled = out.cancelled
        reply.killed = out.killed
        reply.nextEligibleInMilliseconds = out.nextEligibleInMilliseconds
        reply.jobTimeout = out.config.jobTimeout
        reply.leaseRenewalMilliseconds = Lease.renewalMilliseconds(out.config)
        return reply
    }

    private func report(_ recovered: [JobTransition]) {
        for t in recovered { emit(.recovered(t)) }
    }

    /// Claimed jobs that will not be started go back as they were, without an attempt. Should the
    /// write fail, they stay claimed by this worker, with no child: once it has exited, the next
    /// command that takes the lock puts them back just the same.
    private func giveBack(_ jobs: [Job]) {
        do {
            try session?.giveBack(jobs, originals: beforeClaim)
        } catch {
            emit(.storageFailed(error.message))
        }
    }

    /// Opens the job's log and spawns its shell.
    private func start(_ job: Job) -> WorkerCore.Input {
        let startedAt = Timestamp.now()
        let run = job.attempts + 1
        // After a restart the runs are counted afresh; the header says which restart they belong to.
        let restart = job.restarts > 0 ? "restart \(job.restarts), " : ""
        let header = "=== queuectl: \(restart)run \(run) of \(job.maxRuns), started \(startedAt.iso8601) ===\n"
        let path = store.home.logPath(for: job.id)
        var note: String?
        do {
            guard let logsDirectory else { throw Errno.noSuchFileOrDirectory }
            logs[job.id] = try RunLog(in: logsDirectory, name: QueueHome.logName(job.id), header: header, maxBytes: maxLogBytes)
        } catch {
            note = "output not logged: cannot open \(path): \(error)"
        }
        let log = logs[job.id]
        defer { log?.closeWriteEnds() }
        if let cwd = job.cwd, (try? Files.status(cwd))?.isDirectory != true {
            return .spawnFailed(job, reason: "directory \(cwd) does not exist", startedAt: startedAt, note: note)
        }
        do {
            let marker = JobManager.runMarker(worker: me, jobID: job.id)
            // The job's own variables, then the run's, which nothing may replace.
            var environment = job.environment?.variables ?? [:]
            environment["QUEUECTL_JOB_ID"] = job.id
            environment["QUEUECTL_ATTEMPT"] = String(run)
            environment[marker.name] = marker.value
            let pid = try Processes.spawnShell(job.command, arguments: job.arguments, directory: job.cwd, environment: environment,
                                               inheriting: job.environment?.captured != true, output: log?.writeFDs)
            return .spawned(job, pid: pid, startTime: Processes.startTime(of: pid), startedAt: startedAt, note: note)
        } catch {
            return .spawnFailed(job, reason: error.description, startedAt: startedAt, note: note)
        }
    }
}
