import ConfigManager
import DLQManager
import Dispatch
import Foundation
import JobManager
import PostgresStore
import QueueStorage
import QueueSystem
import Synchronization
import Testing
import TestSupport

// One contract, two stores: every test here runs against the data file (FileQueueStore in a fresh
// queue folder) and against PostgreSQL (PostgresQueueStore in a fresh schema), through the seam's
// protocols, QueueStore and WorkerSession, as the commands and the worker loop use them. What one
// store does and the other does not is a finding, never a reason to loosen a test.

/// The stores the contract is checked against.
enum StoreKind: String, Sendable, CustomTestStringConvertible {
    case file, postgres

    var testDescription: String { self == .file ? "data file" : "PostgreSQL" }

    /// PostgreSQL when a server is given, and under CI always: there a missing server fails the
    /// PostgreSQL case (see `Queue.init`) rather than leaving it out.
    static let all: [StoreKind] = testPostgres != nil || postgresRequired ? [.file, .postgres] : [.file]
}

struct ContractFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Where a test's queue is, enough to open another store on it (a PostgreSQL connection belongs to
/// one thread, so each thread opens its own).
struct StoreSpec: Sendable {
    let home: QueueHome
    let conninfo: String?

    func open() -> any QueueStore {
        if let conninfo { return PostgresQueueStore(conninfo: conninfo, home: home) }
        return FileQueueStore(home: home)
    }
}

/// One test's queue: a fresh temporary folder, and for PostgreSQL a fresh schema with the tables.
final class Queue {
    let kind: StoreKind
    let root: String
    let spec: StoreSpec
    let store: any QueueStore
    /// The PostgreSQL schema, for SQL of a test's own; nil on the data file.
    let sandbox: PostgresSandbox?

    init(_ kind: StoreKind) throws {
        self.kind = kind
        var template = Array("/tmp/queuectl-contract-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ContractFailure("mkdtemp failed") }
        root = String(cString: made)
        let home = QueueHome(directory: root + "/home")
        switch kind {
        case .file:
            sandbox = nil
            spec = StoreSpec(home: home, conninfo: nil)
        case .postgres:
            guard testPostgres != nil else {
                try? FileManager.default.removeItem(atPath: root)
                throw ContractFailure("CI=true and QUEUECTL_TEST_POSTGRES is not set: the PostgreSQL half of the contract "
                    + "cannot run; Scripts/test.sh starts a server with Scripts/postgres.sh")
            }
            let db = PostgresSandbox()
            sandbox = db
            spec = StoreSpec(home: home, conninfo: db.conninfo)
        }
        store = spec.open()
        if let postgres = store as? PostgresQueueStore { _ = try postgres.initialize() }
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    // MARK: commands, as the CLI makes them

    /// `enqueue`: all of `inputs` or none, in the scope the CLI gives.
    @discardableResult
    func enqueue(_ inputs: [JobInput]) throws(QueueError) -> [Job] {
        let scope = JobScope.newJobs(count: inputs.count, ids: inputs.compactMap(\.id) + inputs.flatMap { $0.after ?? [] })
        return try store.transaction(scope) { (s) throws(QueueError) in try JobManager.enqueue(inputs, in: &s) }
    }

    /// Jobs with these ids and everything else at its default.
    @discardableResult
    func enqueue(_ ids: String..., maxRetries: Int? = nil) throws(QueueError) -> [Job] {
        try enqueue(ids.map { JobInput(id: $0, command: "true", maxRetries: maxRetries) })
    }

    /// `config set KEY VALUE`, `queue.NAME.max-running` included.
    func set(_ key: String, _ value: String) throws(QueueError) {
        if let name = ConfigManager.queueLimitName(key) {
            try store.transaction(.none) { (s) throws(QueueError) in try ConfigManager.setQueueLimit(name, to: value, in: &s.document.config) }
        } else {
            let key = try ConfigManager.key(key)
            try store.transaction(.none) { (s) throws(QueueError) in try ConfigManager.set(key, to: value, in: &s.document.config) }
        }
    }

    func pause(queue: String? = nil) throws(QueueError) {
        _ = try store.transaction(.none) { (s) throws(QueueError) in JobManager.pause(queue: queue, in: &s) }
    }

    func resume(queue: String? = nil) throws(QueueError) {
        _ = try store.transaction(.none) { (s) throws(QueueError) in JobManager.resume(queue: queue, in: &s) }
    }

    /// `dlq retry IDS`.
    @discardableResult
    func dlqRetry(_ ids: [String]) throws(QueueError) -> [Job] {
        try store.transaction(.ids(ids), onExistingJobs: true) { (s) throws(QueueError) in try DLQManager.retry(ids, in: &s) }
    }

    /// `cancel IDS`.
    @discardableResult
    func cancel(_ ids: [String]) throws(QueueError) -> [CancelResult] {
        try store.transaction(.ids(ids), onExistingJobs: true) { (s) throws(QueueError) in try JobManager.cancel(ids, in: &s) }
    }

    /// Any command's transaction: it recovers the jobs of workers that are gone, and changes nothing else.
    func touch() throws(QueueError) {
        try store.transaction(.none) { (_: inout Snapshot) throws(QueueError) in }
    }

    // MARK: reading

    /// The jobs with these ids, by id (an unknown id is absent). (The data file's read hands over
    /// every job, whatever the scope: only those asked for are kept.)
    func jobs(_ ids: [String]) throws(QueueError) -> [String: Job] {
        var out: [String: Job] = [:]
        for job in try store.read(.ids(ids)).jobs where ids.contains(job.id) { out[job.id] = job }
        return out
    }

    func job(_ id: String) throws -> Job {
        guard let job = try jobs([id])[id] else { throw ContractFailure("no job '\(id)' in the \(kind.testDescription)") }
        return job
    }

    var counters: Counters { get throws { try store.read(.none).counters } }

    /// The live processes standing for this queue's workers, alive as long as the queue.
    private var standIns: [StandIn] = []

    /// A worker session, begun: for `worker`, or for a new live process standing for a worker here.
    func session(_ worker: ProcessIdentity? = nil, namespace: UInt64? = Processes.pidNamespace, queues: [String]? = nil) throws -> Session {
        var identity = worker
        if identity == nil {
            let standIn = try StandIn()
            standIns.append(standIn)
            identity = standIn.identity
        }
        return try Session(store, worker: identity!, namespace: namespace, queues: queues)
    }
}

/// A worker's session driven as the worker loop drives it: exchanges that record started children
/// and ended runs with JobManager, then claim.
final class Session {
    let session: any WorkerSession
    let worker: ProcessIdentity
    /// Each job claimed, as it was just before its claim (for `giveBack`).
    private(set) var beforeClaim: [String: Job] = [:]

    init(_ store: any QueueStore, worker: ProcessIdentity, namespace: UInt64?, queues: [String]?) throws {
        self.worker = worker
        let record = WorkerRecord(process: worker, slots: 4, startedAt: Timestamp.now(), pidNamespace: namespace)
        session = try store.workerSession(home: try store.home.openCreating(), record: record, queues: queues)
        _ = try session.begin()
    }

    /// One exchange: records `started` children and `results`, then claims up to `claim` jobs.
    /// Throws if a result was not this worker's to record.
    @discardableResult
    func exchange(claim limit: Int = 0, started: [String: ProcessIdentity] = [:],
                  results: [String: RunOutcome] = [:], prune: Bool = false) throws -> Exchanged<[JobTransition]> {
        let me = worker
        // Every job it claimed is one it holds (running, or about to be): none is a lost claim.
        let out = try session.exchange(running: Set(started.keys), starting: Set(beforeClaim.keys), claimLimit: { limit },
                                       prune: prune, checkAge: false) {
            (s) throws(QueueError) -> [JobTransition] in
            for (id, child) in started { JobManager.recordChild(child, jobID: id, worker: me, in: &s) }
            var done: [JobTransition] = []
            for (id, outcome) in results.sorted(by: { $0.key < $1.key }) {
                if let t = JobManager.finish(jobID: id, worker: me, outcome: outcome, startedAt: s.now, durationMilliseconds: 1, in: &s) {
                    done.append(t)
                }
            }
            return done
        }
        guard out.body.count == results.count else {
            throw ContractFailure("of the results \(results.keys.sorted()), only \(out.body.map(\.job.id)) were recorded")
        }
        out.beforeClaim.forEach { beforeClaim[$0.key] = $0.value }
        return out
    }

    /// The ids claimed by one exchange of up to `limit`, in the order given.
    func claim(_ limit: Int) throws -> [String] { try exchange(claim: limit).claimed.map(\.id) }

    /// Records each run's end: exit 0 completes it, anything else fails it.
    @discardableResult
    func finish(_ results: [String: Int32]) throws -> [JobTransition] {
        try exchange(results: results.mapValues { .exited(.exited($0)) }).body
    }

    func giveBack(_ ids: [String], of claimed: [Job]) throws {
        try session.giveBack(claimed.filter { ids.contains($0.id) }, originals: beforeClaim)
    }
}

/// A live process standing for a worker or a job's child on this host, in this PID namespace: judged
/// alive by its pid, as a real one is, until it is killed.
final class StandIn: @unchecked Sendable {
    let pid: Int32
    let identity: ProcessIdentity

    init() throws {
        pid = try Processes.spawnShell("exec sleep 600", directory: nil, environment: [:], output: nil)
        guard let start = Processes.startTime(of: pid) else { throw ContractFailure("the stand-in process \(pid) is gone already") }
        identity = ProcessIdentity(pid: pid, startTime: start)
    }

    var isRunning: Bool { processIsRunning(pid) }

    /// SIGKILL, and reaped: its pid is then dead.
    func kill() {
        Processes.signalGroup(pid, .kill)
        _ = waitForExit(pid)
    }

    deinit { kill() }
}

/// The message of the QueueError `body` throws, or nil if it throws none.
func failure(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let error as QueueError {
        return error.message
    } catch {
        return "not a QueueError: \(error)"
    }
}

/// `condition` polled until it holds or `seconds` pass; whether it held. A store error ends the wait.
func poll(within seconds: Double = 20, _ condition: () throws -> Bool) throws -> Bool {
    let deadline = monotonicMilliseconds() + Int64(seconds * 1000)
    while monotonicMilliseconds() < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}

func counters(runs: Int, failedRuns: Int, retries: Int, dlqMoves: Int) -> Counters {
    var c = Counters()
    (c.runs, c.failedRuns, c.retries, c.dlqMoves) = (runs, failedRuns, retries, dlqMoves)
    return c
}

@Suite struct ContractTests {
    // MARK: 1. claim order

    @Test(arguments: StoreKind.all)
    func claimsGoByPriorityThenEnqueueOrder(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        for (id, priority) in [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", -1)] {
            try q.enqueue([JobInput(id: id, command: "true", priority: priority)])
        }
        let w = try q.session()
        var order: [String] = []
        for _ in 0..<5 { order += try w.claim(1) }
        #expect(order == ["b", "d", "a", "c", "e"])
        #expect(try w.claim(1).isEmpty)
    }

    @Test(arguments: StoreKind.all)
    func oneClaimOfSeveralTakesTheBestInClaimOrder(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        for (id, priority) in [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", -1), ("f", 9)] {
            try q.enqueue([JobInput(id: id, command: "true", priority: priority)])
        }
        let w = try q.session()
        #expect(try w.claim(4) == ["f", "b", "d", "a"])
        #expect(try w.claim(4) == ["c", "e"])
    }

    @Test(arguments: StoreKind.all)
    func fifoSchedulingIsEnqueueOrderAlone(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.set("scheduling-mode", "fifo")
        for (id, priority) in [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", -1)] {
            try q.enqueue([JobInput(id: id, command: "true", priority: priority)])
        }
        let w = try q.session()
        #expect(try w.claim(2) == ["a", "b"])
        var order: [String] = []
        for _ in 0..<3 { order += try w.claim(1) }
        #expect(order == ["c", "d", "e"])
    }

    @Test(arguments: StoreKind.all)
    func aJobWhoseRunAtIsInTheFutureIsNotClaimed(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        var later = JobInput(id: "later", command: "true", priority: 10)
        later.runAt = Timestamp.now().adding(seconds: 3600)
        var due = JobInput(id: "due", command: "true")
        due.runAt = Timestamp.now().adding(seconds: -60)
        try q.enqueue([later, due, JobInput(id: "plain", command: "true")])
        let w = try q.session()
        #expect(try w.claim(10) == ["due", "plain"])
        #expect(try w.claim(10).isEmpty)
        #expect(try q.job("later").state == .pending)
    }

    @Test(arguments: StoreKind.all)
    func aSessionClaimsAtMostItsClaimLimit(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.enqueue((1...5).map { _ in JobInput(command: "true") })
        let w = try q.session()
        #expect(try w.claim(0).isEmpty)
        #expect(try w.claim(2) == ["1", "2"])
        #expect(try w.claim(10) == ["3", "4", "5"])
    }

    // MARK: 2. results

    @Test(arguments: StoreKind.all)
    func failedRunsRetryWithBackoffUntilDeadAndASuccessCompletes(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.set("backoff-base", "1.5")
        try q.enqueue("f", "ok", maxRetries: 3)
        let w = try q.session()
        #expect(try w.claim(2) == ["f", "ok"])
        try w.finish(["f": 1, "ok": 0])

        let ok = try q.job("ok")
        #expect(ok.state == .completed && ok.attempts == 0 && ok.runAt == nil && ok.exitCode == 0)
        #expect(try q.counters == counters(runs: 2, failedRuns: 1, retries: 1, dlqMoves: 0))

        // Each failed run n waits base^n: 1.5 s, then 2.25 s; the third is the last of its 3 runs.
        for (run, delay) in [(1, Int64(1500)), (2, Int64(2250))] {
            let failed = try q.job("f")
            #expect(failed.state == .failed && failed.attempts == run && failed.exitCode == 1 && failed.lastError == "exit 1")
            let runAt = try #require(failed.runAt)
            let finishedAt = try #require(failed.finishedAt)
            #expect(runAt.milliseconds - finishedAt.milliseconds == delay, "run \(run)")
            // Claimed again only once due: any claim that takes it does so at or after its run_at.
            var claimed: Job?
            #expect(try poll {
                claimed = try w.exchange(claim: 1).claimed.first
                return claimed != nil
            })
            #expect(claimed?.id == "f")
            if let startedAt = claimed?.startedAt { #expect(startedAt >= runAt, "claimed \(runAt.milliseconds - startedAt.milliseconds) ms early") }
            try w.finish(["f": 1])
        }
        let dead = try q.job("f")
        #expect(dead.state == .dead && dead.attempts == 3 && dead.runAt == nil && dead.lastError == "exit 1")
        #expect(try q.counters == counters(runs: 4, failedRuns: 3, retries: 2, dlqMoves: 1))
        #expect(try w.claim(5).isEmpty)
    }

    @Test(arguments: StoreKind.all)
    func aFailedJobIsNotClaimedBeforeItsRetryIsDue(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.set("backoff-base", "60")
        try q.enqueue("f", maxRetries: 2)
        let w = try q.session()
        #expect(try w.claim(1) == ["f"])
        try w.finish(["f": 3])
        let failed = try q.job("f")
        #expect(failed.state == .failed && failed.attempts == 1)
        #expect(try #require(failed.runAt).milliseconds - (try #require(failed.finishedAt)).milliseconds == 60_000)
        #expect(try w.claim(1).isEmpty)
        #expect(try q.job("f").state == .failed)
    }

    // MARK: 3. two workers at once

    /// What the threads claimed, and what went wrong in them.
    final class Claims: Sendable {
        private let state = Mutex<(ids: [String], errors: [String], by: [Int32: Int])>(([], [], [:]))
        func add(_ ids: [String], by worker: ProcessIdentity? = nil) {
            state.withLock {
                $0.ids += ids
                if let worker { $0.by[worker.pid, default: 0] += ids.count }
            }
        }
        /// How many each worker claimed, by pid.
        var byWorker: [Int32: Int] { state.withLock { $0.by } }
        func fail(_ error: String) { state.withLock { $0.errors.append(error) } }
        var count: Int { state.withLock { $0.ids.count } }
        var ids: [String] { state.withLock { $0.ids } }
        var errors: [String] { state.withLock { $0.errors } }
    }

    /// A worker on its own thread, connection and session: claims a few at a time and records the
    /// runs of the previous claim in the same exchange, until 200 claims were made between the workers.
    static func work(_ spec: StoreSpec, as worker: ProcessIdentity, total: Int, into claims: Claims) throws {
        let w = try Session(spec.open(), worker: worker, namespace: Processes.pidNamespace, queues: nil)
        var held: [String] = []
        let deadline = monotonicMilliseconds() + 90_000
        while monotonicMilliseconds() < deadline {
            let out = try w.exchange(claim: Int.random(in: 1...4), results: Dictionary(uniqueKeysWithValues: held.map { ($0, RunOutcome.exited(.exited(0))) }))
            held = out.claimed.map(\.id)
            claims.add(held, by: worker)
            if held.isEmpty, claims.count >= total { break }
        }
        try w.session.end()
    }

    @Test(arguments: StoreKind.all)
    func twoWorkersClaimingAtOnceNeverTakeOneJobTwice(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        let total = 200
        try q.enqueue((1...total).map { JobInput(command: "echo \($0)") })
        let claims = Claims()
        let workers = [try StandIn(), try StandIn()]
        let done = DispatchGroup()
        for worker in workers {
            let (spec, identity) = (q.spec, worker.identity)
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                do { try ContractTests.work(spec, as: identity, total: total, into: claims) } catch { claims.fail("\(error)") }
            }
        }
        #expect(done.wait(timeout: .now() + 120) == .success)
        #expect(claims.errors.isEmpty)
        let ids = claims.ids
        #expect(ids.count == total, "claims made")
        let twice = Dictionary(grouping: ids, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
        #expect(twice.isEmpty, "claimed more than once")
        #expect(Set(ids) == Set((1...total).map(String.init)))
        #expect(claims.byWorker.count == 2 && claims.byWorker.values.allSatisfy { $0 > 0 },
                "both workers claimed (else nothing was claimed at once): \(claims.byWorker)")
        #expect(try q.store.read(.state(.completed)).jobs.count == total)
        #expect(try q.counters.runs == total)
    }

    // MARK: 4. queues and limits

    @Test(arguments: StoreKind.all)
    func aSessionOfNamedQueuesClaimsOnlyTheirJobs(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        for (id, queue) in [("d1", nil), ("m1", "mail"), ("o1", "other"), ("m2", "mail"), ("d2", "default")] as [(String, String?)] {
            var input = JobInput(id: id, command: "true")
            input.queue = queue
            try q.enqueue([input])
        }
        let mail = try q.session(queues: ["mail"])
        #expect(try mail.claim(10) == ["m1", "m2"])
        #expect(try mail.claim(10).isEmpty)
        let defaults = try q.session(queues: ["default"])
        #expect(try defaults.claim(10) == ["d1", "d2"])
        let any = try q.session()
        #expect(try any.claim(10) == ["o1"])
    }

    @Test(arguments: StoreKind.all)
    func maxRunningHoldsAcrossSessions(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.set("max-running", "1")
        try q.enqueue("j1", "j2", "j3")
        let a = try q.session()
        let b = try q.session()
        #expect(try a.claim(3) == ["j1"])
        #expect(try b.claim(3).isEmpty)
        #expect(try a.claim(3).isEmpty)
        try a.finish(["j1": 0])
        #expect(try b.claim(3) == ["j2"])
        #expect(try a.claim(3).isEmpty)
    }

    /// How many jobs the threads hold between a claim's commit and the start of the exchange that
    /// records their end: less than each run's time in the store, so more than the limit here is
    /// more than the limit there.
    final class Running: Sendable {
        private let state = Mutex<(now: Int, most: Int, runs: Int)>((0, 0, 0))
        func started(_ n: Int) { state.withLock { $0.now += n; $0.most = max($0.most, $0.now); $0.runs += n } }
        func ending(_ n: Int) { state.withLock { $0.now -= n } }
        var most: Int { state.withLock { $0.most } }
        var runs: Int { state.withLock { $0.runs } }
    }

    @Test(arguments: StoreKind.all)
    func maxRunningHoldsForWorkersClaimingAtOnce(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.set("max-running", "1")
        let total = 30
        try q.enqueue((1...total).map { JobInput(command: "echo \($0)") })
        let running = Running(), claims = Claims()
        let workers = [try StandIn(), try StandIn()]
        let done = DispatchGroup()
        for worker in workers {
            let (spec, identity) = (q.spec, worker.identity)
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                do {
                    let w = try Session(spec.open(), worker: identity, namespace: Processes.pidNamespace, queues: nil)
                    var held: [String] = []
                    let deadline = monotonicMilliseconds() + 90_000
                    while monotonicMilliseconds() < deadline {
                        running.ending(held.count)
                        let results = Dictionary(uniqueKeysWithValues: held.map { ($0, RunOutcome.exited(.exited(0))) })
                        held = try w.exchange(claim: 2, results: results).claimed.map(\.id)
                        running.started(held.count)
                        claims.add(held)
                        if held.isEmpty, claims.count >= total { break }
                        if !held.isEmpty { usleep(2_000) }
                    }
                    try w.session.end()
                } catch {
                    claims.fail("\(error)")
                }
            }
        }
        #expect(done.wait(timeout: .now() + 120) == .success)
        #expect(claims.errors.isEmpty)
        #expect(running.runs == total)
        #expect(running.most == 1, "jobs running at once with max-running 1")
        #expect(try q.counters.runs == total)
    }

    @Test(arguments: StoreKind.all)
    func aQueuesMaxRunningHoldsAcrossSessionsAndOnlyForIt(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.set("queue.mail.max-running", "1")
        for (id, queue) in [("m1", "mail"), ("m2", "mail"), ("d1", nil), ("d2", nil)] as [(String, String?)] {
            var input = JobInput(id: id, command: "true")
            input.queue = queue
            try q.enqueue([input])
        }
        let a = try q.session()
        let b = try q.session()
        #expect(try a.claim(2) == ["m1", "d1"])
        #expect(try b.claim(3) == ["d2"])
        #expect(try b.claim(3).isEmpty)
        try a.finish(["m1": 0])
        #expect(try b.claim(3) == ["m2"])
    }

    @Test(arguments: StoreKind.all)
    func aFullQueuesWaitingJobsDoNotHideAnotherQueuesJob(_ kind: StoreKind) throws {
        // Many jobs of a queue at its limit, enqueued before one job of a queue without a limit.
        let q = try Queue(kind)
        try q.set("queue.mail.max-running", "1")
        try q.enqueue((1...40).map { n in
            var input = JobInput(id: "m\(n)", command: "true")
            input.queue = "mail"
            return input
        } + [JobInput(id: "d1", command: "true")])
        let a = try q.session()
        let b = try q.session()
        #expect(try a.claim(1) == ["m1"])
        // PostgreSQL once looked at only `limit * 4 + 16` candidates in claim order: all of mail.
        #expect(try b.claim(1) == ["d1"], "the default queue's job is runnable: mail is full, not the home")
        #expect(try b.claim(1).isEmpty)
        #expect(try a.claim(2).isEmpty, "mail is still full")
    }

    @Test(arguments: StoreKind.all)
    func oneClaimTakesALimitedQueuesRoomAndTheRestFromOtherQueues(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.set("queue.mail.max-running", "2")
        try q.enqueue((1...40).map { n in
            var input = JobInput(id: "m\(n)", command: "true", priority: 5)
            input.queue = "mail"
            return input
        } + (1...3).map { JobInput(id: "d\($0)", command: "true") })
        let w = try q.session()
        #expect(try w.claim(4) == ["m1", "m2", "d1", "d2"])
        #expect(try w.claim(4) == ["d3"])
    }

    @Test(arguments: StoreKind.all)
    func pauseStopsClaimsAndResumeLetsThemGoOn(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.enqueue("j1", "j2")
        let w = try q.session()
        try q.pause()
        #expect(try q.store.read(.none).paused)
        #expect(try w.claim(2).isEmpty)
        try q.resume()
        #expect(try w.claim(2) == ["j1", "j2"])
    }

    @Test(arguments: StoreKind.all)
    func aPausedQueueStopsOnlyItsJobs(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        for (id, queue) in [("m1", "mail"), ("d1", nil), ("m2", "mail"), ("d2", nil)] as [(String, String?)] {
            var input = JobInput(id: id, command: "true")
            input.queue = queue
            try q.enqueue([input])
        }
        let w = try q.session()
        try q.pause(queue: "mail")
        #expect(try q.store.read(.none).pausedQueues == ["mail"])
        #expect(try w.claim(10) == ["d1", "d2"])
        #expect(try w.claim(10).isEmpty)
        try q.resume(queue: "mail")
        #expect(try w.claim(10) == ["m1", "m2"])
    }

    // MARK: 5. the DLQ

    @Test(arguments: StoreKind.all)
    func dlqRetryOfADeadJobResetsItsAttemptsAndMakesItClaimable(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.enqueue("x", maxRetries: 1)
        let w = try q.session()
        #expect(try w.claim(1) == ["x"])
        try w.finish(["x": 2])
        #expect(try q.job("x").state == .dead)
        #expect(try q.job("x").attempts == 1)
        #expect(try q.dlqRetry(["x"]).map(\.id) == ["x"])
        let back = try q.job("x")
        #expect(back.state == .pending && back.attempts == 0 && back.runAt == nil)
        #expect(try w.claim(1) == ["x"])
        try w.finish(["x": 0])
        #expect(try q.job("x").state == .completed)
        #expect(try q.counters == counters(runs: 2, failedRuns: 1, retries: 0, dlqMoves: 1))
    }

    @Test(arguments: StoreKind.all)
    func dlqRetryOfAnUnknownOrLiveJobFailsAlikeAndChangesNothing(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.enqueue("x", maxRetries: 1)
        try q.enqueue("p")
        let w = try q.session()
        #expect(try w.claim(1) == ["x"])
        try w.finish(["x": 2])
        let before = try q.jobs(["x", "p"])
        let countersBefore = try q.counters
        #expect(failure { try q.dlqRetry(["nope"]) } == "no job with id 'nope'")
        #expect(failure { try q.dlqRetry(["p"]) } == "job 'p' is not in the DLQ (it is pending)")
        #expect(failure { try q.dlqRetry(["x", "p"]) } == "job 'p' is not in the DLQ (it is pending)")
        #expect(failure { try q.dlqRetry(["x", "nope"]) } == "no job with id 'nope'")
        #expect(try q.jobs(["x", "p"]) == before)
        #expect(try q.counters == countersBefore)
    }

    // MARK: 6. enqueue

    @Test(arguments: StoreKind.all)
    func generatedIdsAreEnqueueNumbers(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        #expect(try q.enqueue((1...3).map { _ in JobInput(command: "true") }).map(\.id) == ["1", "2", "3"])
        #expect(try q.enqueue([JobInput(command: "true")]).map(\.id) == ["4"])
        // A number someone took as an id: the job given that number is `job-<n>`.
        #expect(try q.enqueue([JobInput(id: "6", command: "true")]).map(\.id) == ["6"])
        #expect(try q.enqueue([JobInput(command: "true"), JobInput(command: "true")]).map(\.id) == ["job-6", "7"])
        #expect(try q.store.read(.none).nextSequence == 8)
    }

    @Test(arguments: StoreKind.all)
    func aDuplicateIdRefusesTheWholeBatchAlike(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.enqueue([JobInput(command: "true"), JobInput(id: "taken", command: "true")])
        let before = try q.store.read(.none)
        #expect(failure { try q.enqueue([JobInput(id: "a", command: "true"), JobInput(id: "taken", command: "true")]) }
            == "a job with id 'taken' already exists")
        #expect(failure { try q.enqueue([JobInput(command: "true"), JobInput(id: "1", command: "true")]) }
            == "a job with id '1' already exists")
        #expect(failure { try q.enqueue([JobInput(id: "z", command: "true"), JobInput(id: "z", command: "true")]) }
            == "a job with id 'z' already exists")
        // More than 8 at once are checked another way (a set of every id the document holds).
        #expect(failure { try q.enqueue((1...9).map { _ in JobInput(command: "true") } + [JobInput(id: "taken", command: "true")]) }
            == "a job with id 'taken' already exists")
        #expect(failure { try q.enqueue((1...9).map { JobInput(id: "y\($0)", command: "true") } + [JobInput(id: "y4", command: "true")]) }
            == "a job with id 'y4' already exists")
        #expect(try q.jobs(["a", "z", "y1", "y9", "2", "3", "4", "5"]).isEmpty, "nothing of a refused batch is written")
        #expect(try q.store.read(.none).nextSequence == before.nextSequence)
        #expect(try q.enqueue([JobInput(command: "true")]).map(\.id) == ["3"])
    }

    // MARK: list --limit

    /// `list --limit N` (and the dashboard's job list) in enqueue order reads the first N jobs; a
    /// database reads no more than those (and the jobs they wait for, which come before them).
    @Test(arguments: StoreKind.all)
    func aLimitedListIsTheFirstJobsInEnqueueOrder(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.enqueue("a", "b")
        var waiting = JobInput(id: "c", command: "true")
        waiting.after = ["e"]
        try q.enqueue("d", "e")
        try q.enqueue([waiting])
        let w = try q.session()
        #expect(try w.claim(1) == ["a"])
        func listed(_ limit: Int, _ state: JobState?) throws -> [String] {
            JobManager.list(try q.store.read(.first(limit, state: state)), state: state, limit: limit).map(\.id)
        }
        #expect(try listed(2, nil) == ["a", "b"])
        #expect(try listed(2, .pending) == ["b", "d"])
        #expect(try listed(10, nil) == ["a", "b", "d", "e", "c"])
        #expect(try listed(0, nil) == [])
        if kind == .postgres {
            #expect(try q.store.read(.first(2, state: nil)).jobs.count == 2, "only the first two read")
            #expect(try q.store.read(.first(1, state: .pending)).jobs.map(\.id) == ["b"])
        }
    }

    // MARK: the dashboard's chart

    /// Runs finished per minute: a completed job as finished, a failed one, a dead one and one retried
    /// since as failed; a job that died with its dependency never ran, and is not counted.
    @Test(arguments: StoreKind.all)
    func throughputCountsTheLastRunsAsTheJobsRecordThem(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.enqueue("a")
        try q.enqueue("x", maxRetries: 1)
        try q.enqueue("f", maxRetries: 3)
        var y = JobInput(id: "y", command: "true")
        y.after = ["x"]
        try q.enqueue([y])
        let w = try q.session()
        #expect(try w.claim(4) == ["a", "x", "f"])
        try w.finish(["a": 0, "x": 1, "f": 1])
        #expect(try q.job("y").state == .dead && q.job("f").state == .failed)
        let now = Timestamp.now()
        var counted = try q.store.throughput(now: now)
        #expect(counted.finished.reduce(0, +) == 1 && counted.failed.reduce(0, +) == 2)
        #expect(counted == Throughput(try q.store.read(.all), now: now), "as the jobs themselves say")
        try q.dlqRetry(["x"])
        #expect(try q.job("x").state == .pending && q.job("y").state == .pending)
        counted = try q.store.throughput(now: now)
        #expect(counted.finished.reduce(0, +) == 1 && counted.failed.reduce(0, +) == 2, "x's last run still failed")
        #expect(counted == Throughput(try q.store.read(.all), now: now))
        #expect(try q.store.throughput(now: Timestamp(milliseconds: now.milliseconds + 3_600_000)) == Throughput(now: Timestamp(milliseconds: now.milliseconds + 3_600_000)),
                "an hour later, none")
    }

    // MARK: dependencies, where the store has them

    /// A job that died with its dependency comes back to wait when a job of that id is enqueued
    /// again, after the dead one was deleted.
    @Test(arguments: StoreKind.all)
    func aJobThatDiedWithADeletedDependencyComesBackWhenItsIdIsEnqueuedAgain(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.enqueue("x", maxRetries: 1)
        var y = JobInput(id: "y", command: "true")
        y.after = ["x"]
        try q.enqueue([y])
        let w = try q.session()
        #expect(try w.claim(4) == ["x"])
        try w.finish(["x": 1])
        #expect(try q.job("y").state == .dead && q.job("y").dependencyDied == "x")
        _ = try q.store.transaction(.ids(["x"]), onExistingJobs: true) { (s) throws(QueueError) in try DLQManager.delete(["x"], in: &s) }
        #expect(try q.job("y").state == .dead, "with x gone, y stays dead")
        try q.enqueue("x")
        let back = try q.job("y")
        #expect(back.state == .pending && back.dependencyDied == nil, "x is there again: y waits for it")
        #expect(try w.claim(4) == ["x"])
        try w.finish(["x": 0])
        #expect(try w.claim(4) == ["y"])
    }

    @Test(arguments: StoreKind.all)
    func aJobWaitsForItsDependenciesAndDiesAndComesBackWithThem(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.enqueue("a")
        try q.enqueue("x", maxRetries: 1)
        var b = JobInput(id: "b", command: "true", priority: 9)
        b.after = ["a"]
        var y = JobInput(id: "y", command: "true", priority: 9)
        y.after = ["x"]
        try q.enqueue([b, y])
        var lost = JobInput(id: "lost", command: "true")
        lost.after = ["nope"]
        #expect(failure { try q.enqueue([lost]) } == "--after nope: no job with id 'nope'")
        let w = try q.session()
        #expect(try w.claim(4) == ["a", "x"], "b and y wait, whatever their priority")
        #expect(try w.claim(4).isEmpty)
        try w.finish(["a": 0, "x": 1])
        let died = try q.job("y")
        #expect(died.state == .dead && died.dependencyDied == "x" && died.lastError == "dependency 'x' died")
        #expect(try q.counters == counters(runs: 2, failedRuns: 1, retries: 0, dlqMoves: 2))
        #expect(try w.claim(4) == ["b"])
        #expect(failure { try q.dlqRetry(["y"]) }
            == "job 'y' died with its dependency 'x', which is still dead; retry 'x' and 'y' comes back with it")
        #expect(try q.job("y").state == .dead)
        // Retried, the dependency brings back the job that died with it, to wait for it again.
        try q.dlqRetry(["x"])
        let back = try q.job("y")
        #expect(back.state == .pending && back.dependencyDied == nil)
        #expect(try w.claim(4) == ["x"])
        try w.finish(["x": 0])
        #expect(try w.claim(4) == ["y"])
    }

    // MARK: retention

    @Test(arguments: StoreKind.all)
    func retentionKeepsTheNewestCompletedJobsByWhenTheyFinished(_ kind: StoreKind) throws {
        // keep-completed 2: pruned once more than 2 + 1 are completed, as workers record runs.
        let q = try Queue(kind)
        try q.set("keep-completed", "2")
        try q.enqueue("c1", "c2", "c3")
        try q.enqueue("d", maxRetries: 1)
        try q.enqueue("c4")
        let w = try q.session()
        for id in ["c1", "c2", "c3", "d"] {
            #expect(try w.claim(1) == [id])
            try w.exchange(results: [id: .exited(.exited(id == "d" ? 1 : 0))], prune: true)
        }
        #expect(try q.jobs(["c1", "c2", "c3", "d"]).count == 4, "3 completed: not over 2 + 1 yet")
        // Edited once finished: its history stays, and so does when it finished.
        let finished = try #require(try q.job("c3").finishedAt)
        #expect(try poll { Timestamp.now().milliseconds > finished.milliseconds + 5 })
        let edited = try q.store.transaction(.ids(["c1"]), onExistingJobs: true) { (s) throws(QueueError) in
            try JobManager.edit("c1", JobEdit(priority: 7), in: &s)
        }
        #expect(edited.finishedAt == (try q.job("c1").finishedAt) && edited.updatedAt > finished)
        #expect(try w.claim(1) == ["c4"])
        try w.exchange(results: ["c4": .exited(.exited(0))], prune: true)
        #expect(try q.jobs(["c1", "c2", "c3", "c4", "d"]).keys.sorted() == ["c3", "c4", "d"],
                "the two that finished last stay, and the dead job, which waits in the DLQ")
    }

    /// A worker that completes one job when another's completions have taken the count over the
    /// bound prunes all the same (on PostgreSQL, after its exchange's COMMIT went with its last
    /// statement: its own last count said no prune could follow).
    @Test(arguments: StoreKind.all)
    func completionsOfAnotherWorkerOverTheBoundArePrunedByTheNextExchangeThatCounts(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.set("keep-completed", "2")
        try q.enqueue("a", "b", "c", "d", "e")
        let w1 = try q.session(), w2 = try q.session()
        #expect(try w1.claim(1) == ["a"])
        try w1.exchange(results: ["a": .exited(.exited(0))], prune: true)
        #expect(try w2.claim(3) == ["b", "c", "d"])
        try w2.exchange(results: ["b": .exited(.exited(0)), "c": .exited(.exited(0)), "d": .exited(.exited(0))])
        #expect(try q.jobs(["a", "b", "c", "d"]).count == 4, "recorded without a prune: 4 completed, over 2 + 1")
        #expect(try w1.claim(1) == ["e"])
        try w1.exchange(results: ["e": .exited(.exited(0))], prune: true)
        let kept = try q.jobs(["a", "b", "c", "d", "e"])
        #expect(kept.count == 2 && kept["e"] != nil, "the newest two stay: \(kept.keys.sorted())")
        #expect(try q.store.status(listingUpTo: 0).report.counts[.completed] == 2, "and the counts say so")
    }

    // MARK: 7. cancel and give back

    @Test(arguments: StoreKind.all)
    func cancelOfAPendingJobRemovesIt(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.enqueue("p", "q")
        let results = try q.cancel(["p"])
        #expect(results.count == 1)
        if case .removed(let job)? = results.first { #expect(job.id == "p") } else { Issue.record("not removed: \(results)") }
        #expect(try q.jobs(["p", "q"]).keys.sorted() == ["q"])
        #expect(failure { try q.cancel(["p"]) } == "no job with id 'p'")
        let w = try q.session()
        #expect(try w.claim(5) == ["q"])
    }

    @Test(arguments: StoreKind.all)
    func giveBackRestoresClaimedButUnstartedJobsExactly(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        var a = JobInput(id: "a", command: "true", maxRetries: 2, priority: 3)
        a.runAt = Timestamp.now().adding(seconds: -30)
        try q.enqueue([a, JobInput(id: "b", command: "echo b"), JobInput(id: "c", command: "true")])
        let before = try q.jobs(["a", "b", "c"])
        let w = try q.session()
        let claimed = try w.exchange(claim: 2).claimed
        #expect(claimed.map(\.id) == ["a", "b"])
        #expect(claimed.allSatisfy { $0.state == .processing && $0.worker == w.worker })
        try w.giveBack(["a", "b"], of: claimed)
        #expect(try q.jobs(["a", "b", "c"]) == before, "given back exactly as they were")
        #expect(try q.counters == Counters())
        let other = try q.session()
        #expect(try other.claim(3) == ["a", "b", "c"])
    }

    @Test(arguments: StoreKind.all)
    func cancelOfARunningJobIsAskedOfItsWorkerAndItsEndRemovesIt(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.enqueue("r", "s")
        let w = try q.session()
        #expect(try w.claim(2) == ["r", "s"])
        let results = try q.cancel(["r"])
        if case .terminating(let job)? = results.first { #expect(job.id == "r" && job.cancelRequested) } else { Issue.record("\(results)") }
        #expect(try q.job("r").state == .processing)
        let asked = try w.session.exchange(running: ["r", "s"], starting: [], claimLimit: { 0 }, prune: false, checkAge: false) {
            (_: inout Snapshot) throws(QueueError) in
        }
        #expect(asked.cancelled == ["r"])
        let ended = try w.exchange(results: ["r": .exited(.signaled(15)), "s": .exited(.exited(0))]).body
        #expect(ended.first { $0.job.id == "r" }?.removed == true)
        #expect(try q.jobs(["r", "s"]).keys.sorted() == ["s"])
        #expect(try q.job("s").state == .completed)
    }

    // MARK: restart, which numbers jobs anew

    @Test(arguments: StoreKind.all)
    func restartOfFinishedJobsRunsThemAgainAfterTheJobsEnqueuedBefore(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        try q.enqueue("done")
        try q.enqueue("dead", maxRetries: 1)
        let w = try q.session()
        #expect(try w.claim(2) == ["done", "dead"])
        try w.finish(["done": 0, "dead": 1])
        #expect(try q.job("done").state == .completed)
        #expect(try q.job("dead").state == .dead)
        try q.enqueue("waiting", "later")
        // Restart numbers the jobs anew (next_seq) in a transaction of scope .ids, which PostgreSQL
        // once refused: "internal error: settings changed by a transaction that did not lock them".
        let restarted = try q.store.transaction(.ids(["done", "dead"]), onExistingJobs: true) { (s) throws(QueueError) in
            try JobManager.restart(["done", "dead"], in: &s)
        }
        #expect(restarted.map(\.id) == ["done", "dead"])
        for id in ["done", "dead"] {
            let job = try q.job(id)
            #expect(job.state == .pending && job.attempts == 0 && job.restarts == 1, "\(id)")
        }
        #expect(try q.store.read(.none).nextSequence == 7)
        #expect(try w.claim(5) == ["waiting", "later", "done", "dead"])
        #expect(failure {
            _ = try q.store.transaction(.ids(["waiting"]), onExistingJobs: true) { (s) throws(QueueError) in
                try JobManager.restart(["waiting"], in: &s)
            }
        } == "job 'waiting' is running; it can be restarted once it has finished")
        #expect(try q.store.read(.none).nextSequence == 7)
    }

    // MARK: 8. recovery of a worker that is gone

    /// A worker gone with one started run and one claim it never started: the run counts as a failed
    /// attempt, "worker lost"; the claim goes back without one. `gone` makes it gone.
    func checkRecovery(_ q: Queue, _ w: Session, child: ProcessIdentity, gone: () throws -> Void) throws {
        try q.set("backoff-base", "60")
        try q.enqueue("started", "unstarted", maxRetries: 3)
        #expect(try w.claim(2) == ["started", "unstarted"])
        try w.exchange(started: ["started": child])
        #expect(try q.job("started").child == child)
        try gone()

        let started = try q.job("started")
        #expect(started.state == .failed)
        #expect(started.attempts == 1)
        #expect(started.lastError == "worker lost")
        #expect(started.exitCode == nil && started.worker == nil && started.child == nil)
        if let runAt = started.runAt, let finishedAt = started.finishedAt {
            #expect(runAt.milliseconds - finishedAt.milliseconds == 60_000)
        } else {
            Issue.record("no run_at or finished_at: \(started)")
        }
        let unstarted = try q.job("unstarted")
        #expect(unstarted.state == .pending)
        #expect(unstarted.attempts == 0)
        #expect(unstarted.worker == nil && unstarted.startedAt == nil && unstarted.runAt == nil)
        #expect(unstarted.lastError == "worker lost before its run started; runs again without using an attempt")
        #expect(try q.counters == counters(runs: 1, failedRuns: 1, retries: 1, dlqMoves: 0))
        #expect(try !q.store.read(.none).workers.contains { $0.process == w.worker }, "the gone worker's record is removed")
        let next = try q.session()
        #expect(try next.claim(5) == ["unstarted"])
    }

    @Test(arguments: StoreKind.all)
    func aWorkerWhoseProcessIsDeadHasItsJobsRecovered(_ kind: StoreKind) throws {
        let q = try Queue(kind)
        let worker = try StandIn(), child = try StandIn()
        let w = try q.session(worker.identity)
        try checkRecovery(q, w, child: child.identity) {
            // Alive, nothing is recovered; dead, the next command's transaction recovers its jobs.
            try q.touch()
            #expect(try q.job("started").state == .processing)
            worker.kill()
            try q.touch()
        }
        // The orphaned run's process group was killed with it.
        #expect(try poll { !child.isRunning })
    }

    /// A PID namespace that is not this process's (a container's; on PostgreSQL, as another host's).
    static let foreignNamespace: UInt64 = Processes.pidNamespace == 1 ? 2 : 1

    @Test(arguments: StoreKind.all)
    func liveWorkersAreJudgedAliveFromWhatTheStoreHandsOver(_ kind: StoreKind) throws {
        // `show`, `wait` and `worker stop` judge the workers of `read`'s document with JobManager.liveness;
        // `status` asks the store. Both must find a live worker alive, here or elsewhere.
        let q = try Queue(kind)
        try q.enqueue("here", "there")
        let local = try q.session()
        let foreign = try q.session(ProcessIdentity(pid: 4242, startTime: 777_777), namespace: ContractTests.foreignNamespace)
        #expect(try local.claim(1) == ["here"])
        #expect(try foreign.claim(1) == ["there"])
        let status = try q.store.status(listingUpTo: 10).report.workers
        #expect(Set(status.map(\.record.process)) == [local.worker, foreign.worker], "status")
        #expect(status.allSatisfy { $0.liveness.isAlive })
        let document = try q.store.read(.ids(["here", "there"]))
        #expect(Set(document.workers.map(\.process)) == [local.worker, foreign.worker], "read")
        let here = try q.job("here"), there = try q.job("there")
        #expect(JobManager.ownerLiveness(of: here, in: document, home: q.spec.home) == .alive)
        // PostgreSQL's record of it carries its lease in the database (it once had none, and was judged
        // by a lease file in this host's folder: gone).
        let judged = JobManager.ownerLiveness(of: there, in: document, home: q.spec.home)
        #expect(judged?.isAlive == true, "\(judged.map { "\($0)" } ?? "no judgment")")
    }

    @Test(arguments: StoreKind.all)
    func aLiveWorkerHereWhoseLeaseRanOutIsJudgedAsItsStoreSays(_ kind: StoreKind) throws {
        // Where the stores differ by design. The data file judges a worker of this host and PID
        // namespace by its pid alone (DESIGN.md), so a worker frozen with Ctrl+Z keeps its jobs;
        // PostgreSQL judges every worker by its lease in the database (README: "Recovery is by
        // lease"), so the same worker loses them once its lease has run out, and hears so when it
        // renews (it then kills its runs and stops). Here it is alive and renews nothing.
        let q = try Queue(kind)
        try q.set("lease-seconds", "2")
        let w = try q.session()
        let child = try StandIn()
        let begun = monotonicMilliseconds()
        switch kind {
        case .file:
            try q.enqueue("started", "unstarted")
            #expect(try w.claim(2) == ["started", "unstarted"])
            try w.exchange(started: ["started": child.identity])
            #expect(try poll { monotonicMilliseconds() - begun > 2500 }, "past its lease")
            try q.touch()
            for id in ["started", "unstarted"] { #expect(try q.job(id).state == .processing && q.job(id).worker == w.worker, "\(id)") }
            #expect(try q.store.status(listingUpTo: 10).report.workers.map(\.record.process) == [w.worker])
            try w.session.renewLease(milliseconds: 2000)
            #expect(child.isRunning)
        case .postgres:
            try checkRecovery(q, w, child: child.identity) { () throws in
                #expect(try poll {
                    try q.touch()
                    return try q.job("started").state != .processing
                })
                #expect(monotonicMilliseconds() - begun >= 2000, "recovered before its lease ran out")
            }
            #expect(try !q.store.status(listingUpTo: 10).report.workers.contains { $0.record.process == w.worker })
            do {
                try w.session.renewLease(milliseconds: 2000)
                Issue.record("the lease was renewed after its jobs were recovered")
            } catch {
                #expect(error.kind == .leaseLost)
            }
            // Its run's processes are on this host: killed with it.
            #expect(try poll { !child.isRunning })
        }
    }

    @Test(arguments: StoreKind.all)
    func aWorkerWhoseLeaseRanOutHasItsJobsRecovered(_ kind: StoreKind) throws {
        // A worker in another PID namespace (a container; on PostgreSQL, as another host is) is judged
        // by its lease alone: 2 s, renewed once, then never again.
        let q = try Queue(kind)
        try q.set("lease-seconds", "2")
        let w = try q.session(ProcessIdentity(pid: 4242, startTime: 777_777), namespace: ContractTests.foreignNamespace)
        let child = try StandIn()
        try checkRecovery(q, w, child: child.identity) {
            let renewed = monotonicMilliseconds()
            try w.session.renewLease(milliseconds: 2000)
            try q.touch()
            if monotonicMilliseconds() - renewed < 1500 { #expect(try q.job("started").state == .processing, "recovered within its lease") }
            #expect(try poll(within: 20) {
                try q.touch()
                return try q.job("started").state != .processing
            })
            #expect(monotonicMilliseconds() - renewed >= 2000, "recovered before its lease ran out")
        }
        // Its pids mean nothing here: the child recorded by pid is not signalled.
        #expect(child.isRunning)
    }
}
