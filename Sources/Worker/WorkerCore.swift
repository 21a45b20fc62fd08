import JobManager
import QueueStorage
import QueueSystem

/// The worker's decisions, and nothing else: no system call, no clock of its own. It takes one
/// input at a time (a stop signal, a child's exit, a transaction's reply, the time passing) with the
/// monotonic time it happened at, and returns the actions to take: spawn, signal a group, run a
/// transaction, report, finish. `deadline` says when it next wants to be asked, whatever happens
/// meanwhile: the earliest of its timers. The loop in `Worker` does the system's part.
struct WorkerCore {
    struct Settings: Sendable {
        var slots: Int
        var drain = false
        /// Time between SIGTERM and SIGKILL, for a second stop request, a timeout and a cancel.
        var graceMilliseconds: Int64 = 5_000
        /// Longest time between looks at the queue while a slot is free (another worker's orphans
        /// are recovered at this pace).
        var idleCheckMilliseconds: Int64 = 1_000
        /// Longest a started child's pid waits to be recorded when no other transaction carries it
        /// sooner. (Recovery finds an unrecorded child by its environment marker meanwhile.)
        var childRecordDelayMilliseconds: Int64 = 100
        /// How long a result waits for others still running to end too, so that one transaction
        /// records several (each rewrites the whole data file).
        var resultBatchMilliseconds: Int64 = 5
        /// Time before a failed transaction (a full disk, say) is tried again.
        var storageRetryMilliseconds: Int64 = 1_000
        /// Time before a transaction that gave up waiting for the queue lock is tried again. (The
        /// loop waits for the lock only briefly each time, so that while another process holds it
        /// the worker still renews its lease, enforces timeouts and hears Ctrl+C.)
        var lockRetryMilliseconds: Int64 = 50
        /// How often a group whose shell has exited is looked at, besides each SIGCHLD.
        var groupCheckMilliseconds: Int64 = 1_000
        /// How often the worker renews its lease, until a transaction reads the config's.
        var leaseRenewalMilliseconds: Int64 = 10_000
        /// Once a transaction has claimed all that was runnable, how long after it the next one waits
        /// to look at another process's change or to record a result: a shell loop's one-job
        /// enqueues are then claimed and recorded several to a transaction, each of which rewrites
        /// the data file. A queue quiet for longer is looked at the moment it changes.
        var coalesceMilliseconds: Int64 = 20
    }

    /// A run to record.
    struct Result: Equatable, Sendable {
        let job: Job
        let outcome: RunOutcome
        let startedAt: Timestamp
        let durationMilliseconds: Int64
        /// Ended by the worker's shutdown: put back without using an attempt unless it succeeded.
        let interrupted: Bool
        /// Said of the run besides its outcome (its output could not be logged).
        let note: String?
    }

    /// What one transaction records and asks for.
    struct Request: Equatable, Sendable {
        var children: [StartedChild]
        var results: [Result]
        /// Jobs to claim; the loop checks for a stop request once more under the lock.
        var claim: Int
        /// The jobs this worker runs, whose cancellation or kill it wants to hear of.
        var running: [String]
        /// The jobs it claimed and is starting now (claimed by the transaction before, not spawned yet).
        var starting: [String] = []
    }

    struct StartedChild: Equatable, Sendable {
        let jobID: String
        let process: ProcessIdentity
    }

    /// What a transaction found.
    struct Reply: Equatable, Sendable {
        var claimed: [Job] = []
        /// Running jobs of this worker that `cancel` has marked.
        var cancelled: [String] = []
        /// Running jobs of this worker that `kill` has marked.
        var killed: [String] = []
        /// How long until the next waiting job becomes runnable, if one waits.
        var nextEligibleInMilliseconds: Int64?
        /// Some job waits only for a running one to end (its dependency, or room under a limit):
        /// the result that frees it is recorded at once, not coalesced with later ones.
        var waitingOnRunning = false
        /// The config's `job-timeout` (0: none), for the runs started now.
        var jobTimeout: Double = 0
        /// How often to renew the lease, from the config's `lease-seconds`.
        var leaseRenewalMilliseconds: Int64?
    }

    enum Input: Equatable, Sendable {
        case stopSignal
        /// Another process changed the queue.
        case queueChanged
        /// A job's shell ended; `groupAlive` tells whether other members of its group still run.
        case childExited(pid: Int32, status: ExitStatus, groupAlive: Bool)
        /// The group of a job whose shell had already exited is now empty.
        case groupEmptied(pid: Int32)
        case exchanged(Reply)
        case exchangeFailed(String)
        /// The transaction gave up waiting for the queue lock (what holds it).
        case lockBusy(String)
        case spawned(Job, pid: Int32, startTime: UInt64?, startedAt: Timestamp, note: String?)
        case spawnFailed(Job, reason: String, startedAt: Timestamp, note: String?)
        /// A running job's log could not be created when its first output came (the reason).
        case outputLost(jobID: String, reason: String)
        /// The worker could not renew its lease for long enough that others may soon take its jobs
        /// (the reason): every run is killed now, before the lease runs out, and the worker stops.
        case leaseLost(String)
        /// Only the time has passed.
        case tick
    }

    enum Action: Equatable, Sendable {
        case exchange(Request)
        case spawn(Job)
        case signal(jobID: String, pid: Int32, ProcessSignal)
        /// Claimed jobs that will not be started (a stop request came during the claim).
        case giveBack([Job])
        /// The run is over: its whole group is gone. `tornDown`: the worker ended it.
        case runEnded(Result, pid: Int32, tornDown: Bool)
        /// Renew the heartbeat lease that keeps this worker alive for processes of other PID namespaces.
        case renewLease
        case emit(WorkerEvent)
        case finish(exitCode: Int32)
    }

    struct Run: Equatable, Sendable {
        let job: Job
        let pid: Int32
        let startedAt: Timestamp
        let startedMonotonic: Int64
        let timeoutSeconds: Double?
        let timeoutAt: Int64?
        var note: String?
        /// How the shell ended, once it has; the run goes on while its group lives.
        var exit: ExitStatus?
        var teardown: Teardown?
    }

    let settings: Settings
    private(set) var runs: [Run] = []
    private(set) var children: [StartedChild] = []
    private(set) var results: [Result] = []
    private(set) var stopRequests = 0
    private(set) var forced = false
    /// Its lease was lost: teardowns kill at once, without a grace period.
    private(set) var fenced = false
    private(set) var finished = false
    /// Jobs handed to the loop to spawn, not yet reported started.
    /// The jobs claimed and not spawned yet.
    private var startingIDs: [String] = []
    private var starting: Int { startingIDs.count }
    /// While a transaction runs: how many of `children` and `results` it records, and how many jobs
    /// it asks for.
    private var inFlight: (children: Int, results: Int, claim: Int)?
    /// When the last transaction ended, and whether it claimed all there was to claim.
    private var lastExchangeAt: Int64 = .min
    private var caughtUp = false
    /// The last transactions gave up on the lock: said once until one gets through.
    private var waitingForLock = false
    private var exchanging: Bool { inFlight != nil }
    private var queueChanged = true
    private var nextLook: Int64
    private var childrenRecordBy: Int64 = 0
    private var resultsRecordBy: Int64 = 0
    private var storageRetryAt: Int64 = .min
    private var groupCheckAt: Int64 = 0
    private var jobTimeout: Double = 0
    private var leaseRenewal: Int64
    private var leaseRenewAt: Int64

    /// Starts at `now`, its lease just renewed.
    init(_ settings: Settings, at now: Int64) {
        self.settings = settings
        nextLook = now
        leaseRenewal = settings.leaseRenewalMilliseconds
        leaseRenewAt = now + leaseRenewal
    }

    /// The pids (process groups) of runs whose shell has exited while their group lives on.
    var lingeringGroups: [Int32] { runs.filter { $0.exit != nil }.map(\.pid) }

    func isRunning(pid: Int32) -> Bool { runs.contains { $0.pid == pid } }

    private var freeSlots: Int { stopRequests == 0 ? settings.slots - runs.count - starting : 0 }

    /// Until when changes and results wait to be taken together (see `coalesceMilliseconds`).
    private var coalescedUntil: Int64 {
        caughtUp && stopRequests == 0 ? lastExchangeAt + settings.coalesceMilliseconds : .min
    }

    /// A change by another process may be a job to claim, or a `cancel` of one this worker runs.
    private var changeToLookAt: Bool { queueChanged && (freeSlots > 0 || !runs.isEmpty) }

    /// The earliest time at which the core has something to do without any other input; nil when it
    /// waits for inputs only.
    var deadline: Int64? {
        guard !finished else { return nil }
        var times: [Int64] = [leaseRenewAt]
        if freeSlots > 0 { times.append(max(nextLook, storageRetryAt)) }
        if changeToLookAt { times.append(max(coalescedUntil, storageRetryAt)) }
        if !children.isEmpty { times.append(max(childrenRecordBy, storageRetryAt)) }
        if !results.isEmpty {
            let batchEnds = stopRequests > 0 ? Int64.min : max(coalescedUntil, runs.isEmpty ? .min : resultsRecordBy)
            times.append(max(batchEnds, storageRetryAt))
        }
        for run in runs {
            if let teardown = run.teardown {
                times.append(teardown.killAt)
            } else if let timeoutAt = run.timeoutAt {
                times.append(timeoutAt)
            }
        }
        if !lingeringGroups.isEmpty { times.append(groupCheckAt) }
        return times.min()
    }

    /// Takes one input at `now` and returns what to do, in order.
    mutating func handle(_ input: Input, at now: Int64) -> [Action] {
        guard !finished else { return [] }
        var actions: [Action] = []
        switch input {
        case .stopSignal:
            stopRequests += 1
            if stopRequests == 1 { actions.append(.emit(.stopRequested(running: runs.count))) }
        case .leaseLost(let reason):
            guard !fenced else { break }
            fenced = true
            forced = true
            stopRequests = max(stopRequests, 2)
            actions.append(.emit(.fencing(reason, running: runs.count)))
            for i in runs.indices { runs[i].teardown = Teardown(runs[i].teardown?.reason ?? .shutdown, at: now, grace: 0) }
        case .queueChanged:
            queueChanged = true
        case .childExited(let pid, let status, let groupAlive):
            guard let i = runs.firstIndex(where: { $0.pid == pid }) else { break }
            runs[i].exit = status
            if groupAlive {
                groupCheckAt = now + settings.groupCheckMilliseconds
                actions.append(.emit(.waitingForGroup(runs[i].job)))
            } else {
                actions.append(end(i, at: now))
            }
        case .groupEmptied(let pid):
            if let i = runs.firstIndex(where: { $0.pid == pid && $0.exit != nil }) { actions.append(end(i, at: now)) }
        case .exchanged(let reply):
            actions += received(reply, at: now)
        case .exchangeFailed(let message):
            inFlight = nil
            // What the transaction was to look for is looked for again with the retry.
            queueChanged = true
            storageRetryAt = now + settings.storageRetryMilliseconds
            actions.append(.emit(.storageFailed(message)))
        case .lockBusy(let message):
            inFlight = nil
            queueChanged = true
            storageRetryAt = now + settings.lockRetryMilliseconds
            if !waitingForLock { actions.append(.emit(.waitingForLock(message))) }
            waitingForLock = true
        case .spawned(let job, let pid, let startTime, let startedAt, let note):
            startingIDs.removeAll { $0 == job.id }
            let timeout = job.timeout ?? (jobTimeout > 0 ? jobTimeout : nil)
            runs.append(Run(job: job, pid: pid, startedAt: startedAt, startedMonotonic: now, timeoutSeconds: timeout,
                            timeoutAt: timeout.map { now + Int64(($0 * 1000).rounded(.up)) }, note: note))
            if let note { actions.append(.emit(.outputNotLogged(job, reason: note))) }
            if let startTime {
                if children.isEmpty { childrenRecordBy = now + settings.childRecordDelayMilliseconds }
                children.append(StartedChild(jobID: job.id, process: ProcessIdentity(pid: pid, startTime: startTime)))
            }
            if forced { actions += beginTeardown(runs.count - 1, .shutdown, at: now) }
        case .spawnFailed(let job, let reason, let startedAt, let note):
            startingIDs.removeAll { $0 == job.id }
            if let note { actions.append(.emit(.outputNotLogged(job, reason: note))) }
            let result = Result(job: job, outcome: .couldNotStart(reason), startedAt: startedAt, durationMilliseconds: 0,
                                interrupted: false, note: note)
            add(result, at: now)
            actions.append(.runEnded(result, pid: 0, tornDown: false))
        case .outputLost(let jobID, let reason):
            if let i = runs.firstIndex(where: { $0.job.id == jobID }), runs[i].note == nil {
                runs[i].note = reason
                actions.append(.emit(.outputNotLogged(runs[i].job, reason: reason)))
            }
        case .tick:
            break
        }
        actions += step(at: now)
        return actions
    }

    /// What the timers and the state call for at `now`.
    private mutating func step(at now: Int64) -> [Action] {
        var actions: [Action] = []
        if stopRequests >= 2, !forced {
            forced = true
            actions.append(.emit(.terminating(running: runs.count)))
            for i in runs.indices where runs[i].teardown == nil { actions += beginTeardown(i, .shutdown, at: now) }
        }
        for i in runs.indices {
            if runs[i].teardown == nil, let timeoutAt = runs[i].timeoutAt, now >= timeoutAt {
                actions.append(.emit(.jobTimedOut(runs[i].job, seconds: runs[i].timeoutSeconds ?? 0)))
                actions += beginTeardown(i, .timedOut(runs[i].timeoutSeconds ?? 0), at: now)
            } else if let signal = runs[i].teardown?.signalDue(at: now) {
                actions.append(.signal(jobID: runs[i].job.id, pid: runs[i].pid, signal))
            }
        }
        if !lingeringGroups.isEmpty, now >= groupCheckAt { groupCheckAt = now + settings.groupCheckMilliseconds }
        if now >= leaseRenewAt {
            leaseRenewAt = now + leaseRenewal
            actions.append(.renewLease)
        }

        if !exchanging, now >= storageRetryAt {
            let free = freeSlots
            let settled = now >= coalescedUntil
            let wantsLook = (changeToLookAt && settled) || (free > 0 && now >= nextLook)
            let childrenDue = !children.isEmpty && now >= childrenRecordBy
            let resultsDue = !results.isEmpty && (stopRequests > 0 || (settled && (runs.isEmpty || now >= resultsRecordBy)))
            if wantsLook || childrenDue || resultsDue {
                inFlight = (children.count, results.count, free)
                queueChanged = false
                actions.append(.exchange(Request(children: children, results: results, claim: free,
                                                 running: runs.map(\.job.id), starting: startingIDs)))
                return actions
            }
        }
        if !exchanging, starting == 0, stopRequests >= 1, runs.isEmpty,
           (children.isEmpty && results.isEmpty) || stopRequests >= 2 {
            actions += finish()
        }
        return actions
    }

    private mutating func received(_ reply: Reply, at now: Int64) -> [Action] {
        // What was sent is recorded; what came in meanwhile goes with the next transaction.
        let askedForJobs = (inFlight?.claim ?? 0) > 0
        if let sent = inFlight {
            children.removeFirst(sent.children)
            results.removeFirst(sent.results)
            caughtUp = sent.claim > 0 && reply.claimed.count < sent.claim && !reply.waitingOnRunning
        }
        inFlight = nil
        waitingForLock = false
        lastExchangeAt = now
        storageRetryAt = .min
        jobTimeout = reply.jobTimeout
        if let renewal = reply.leaseRenewalMilliseconds, renewal != leaseRenewal {
            leaseRenewAt = min(leaseRenewAt, now + renewal)
            leaseRenewal = renewal
        }
        nextLook = now + min(settings.idleCheckMilliseconds, max(0, reply.nextEligibleInMilliseconds ?? .max))
        var actions: [Action] = []
        for id in reply.cancelled {
            guard let i = runs.firstIndex(where: { $0.job.id == id }), runs[i].teardown == nil else { continue }
            actions.append(.emit(.cancelling(runs[i].job)))
            actions += beginTeardown(i, .cancelled, at: now)
        }
        for id in reply.killed {
            guard let i = runs.firstIndex(where: { $0.job.id == id }) else { continue }
            switch runs[i].teardown?.reason {
            case nil:
                actions.append(.emit(.killing(runs[i].job)))
                actions += beginTeardown(i, .killed, at: now)
            case .timedOut?:
                // Already being ended: it ends as killed, on the timeout's timers.
                runs[i].teardown?.reason = .killed
            case .cancelled?, .killed?, .shutdown?:
                // A cancel removes it anyway; a shutdown's release records the kill.
                break
            }
        }
        if !reply.claimed.isEmpty {
            if stopRequests > 0 {
                actions.append(.giveBack(reply.claimed))
            } else {
                startingIDs += reply.claimed.map(\.id)
                for job in reply.claimed { actions += [.emit(.jobStarted(job)), .spawn(job)] }
            }
        } else if settings.drain, askedForJobs, runs.isEmpty, starting == 0, stopRequests == 0, results.isEmpty, children.isEmpty {
            // Only a claim that found nothing says nothing is runnable; runs that ended while a
            // transaction without one was on its way are recorded first.
            actions.append(.emit(.drained))
            actions += finish()
        }
        return actions
    }

    private mutating func beginTeardown(_ i: Int, _ reason: Teardown.Reason, at now: Int64) -> [Action] {
        runs[i].teardown = Teardown(reason, at: now, grace: fenced ? 0 : settings.graceMilliseconds)
        return [.signal(jobID: runs[i].job.id, pid: runs[i].pid, .terminate)]
    }

    /// The run at `i` is over: its shell has exited and its group is empty.
    private mutating func end(_ i: Int, at now: Int64) -> Action {
        let run = runs.remove(at: i)
        let outcome: RunOutcome
        if case .timedOut(let seconds) = run.teardown?.reason {
            outcome = .timedOut(seconds)
        } else if run.teardown?.reason == .killed {
            outcome = .killed
        } else {
            outcome = .exited(run.exit ?? .signaled(ProcessSignal.kill.rawValue))
        }
        // A job runs in a process group of its own, so the terminal's Ctrl+C reaches it only if it
        // comes in the moment between its spawn and its move to that group: a run that died of
        // SIGINT while the worker is asked to stop was cut short by the Ctrl+C, not failed.
        let caughtTheCtrlC = stopRequests > 0 && run.exit == .signaled(ProcessSignal.interrupt.rawValue)
        let result = Result(job: run.job, outcome: outcome, startedAt: run.startedAt,
                            durationMilliseconds: now - run.startedMonotonic,
                            interrupted: forced || run.teardown?.reason == .shutdown || caughtTheCtrlC, note: run.note)
        add(result, at: now)
        return .runEnded(result, pid: run.pid, tornDown: run.teardown != nil)
    }

    private mutating func add(_ result: Result, at now: Int64) {
        if results.isEmpty { resultsRecordBy = now + settings.resultBatchMilliseconds }
        results.append(result)
    }

    private mutating func finish() -> [Action] {
        finished = true
        // Only a second stop finishes with results the store would not take (a full disk, a held lock).
        let unrecorded: [Action] = results.isEmpty ? [] : [.emit(.resultsNotRecorded(results.count))]
        return unrecorded + [.emit(.stopped(forced: forced)), .finish(exitCode: forced ? 130 : 0)]
    }
}
