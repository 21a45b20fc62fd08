import Foundation
import Testing
import TestSupport
@preconcurrency import Glibc

// The PostgreSQL server's disk full, for real, in a cluster of the test's own (TestCluster):
// - its queuectl tables in a tablespace on a small tmpfs, so that it is their files that cannot grow
//   (SQLSTATE 53100, an ordinary ERROR) while the WAL and the catalogs stay on the big disk and the
//   server stays up: enqueues, and a worker, on a full disk;
// - its WAL on a small tmpfs: the server cannot write its log, PANICs, and cannot start again until
//   there is room.
// Run, like the other PostgreSQL end-to-end tests, under Scripts/test.sh; under CI a missing server
// or a tmpfs that cannot be mounted (not root) fails rather than skips.

/// Whether this process may mount a tmpfs (root, as CI and Scripts/test.sh run): tried once, with a tiny one.
let tmpfsMounts: Bool = {
    let directory = makeTemporaryDirectory("queuectl-tmpfs-probe")
    defer { rmdir(directory) }
    let mounted = TestCluster.tool(["/usr/bin/env", "mount", "-t", "tmpfs", "-o", "size=64k", "queuectl-probe", directory],
                                   in: "/tmp", within: 20)
    guard mounted.status == 0 else { return false }
    return TestCluster.tool(["/usr/bin/env", "umount", directory], in: "/tmp", within: 20).status == 0
}()

/// What every command here is given and nothing may show: the server trusts local users and ignores it.
private let password = "hunter2"

/// A full disk, in words a user understands: the system's own for ENOSPC, or ones of the same sense.
/// (Not "could not extend file …: wrote only 4096 of 8192 bytes at block 5", which is all PostgreSQL's
/// primary message says when the last free block of the disk took half of one of its 8 KiB pages.)
func saysTheDiskIsFull(_ text: String) -> Bool {
    let lower = text.lowercased()
    return ["no space left on device", "disk is full", "disk full", "free disk space"].contains { lower.contains($0) }
}

/// A tmpfs of its own, owned by the postgres user, in a directory of its own; the janitor unmounts
/// it (lazily if it is still busy) and removes the directory.
final class Tmpfs: @unchecked Sendable {
    let path: String

    init(size: String, janitor: Janitor, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let directory = makeTemporaryDirectory("queuectl-fulldisk", mode: 0o755)
        let path = directory + "/disk"
        self.path = path
        mkdir(path, 0o700)
        janitor.add {
            if TestCluster.tool(["/usr/bin/env", "umount", path], in: "/tmp", within: 30).status != 0 {
                _ = TestCluster.tool(["/usr/bin/env", "umount", "-l", path], in: "/tmp", within: 30)
            }
            try? FileManager.default.removeItem(atPath: directory)
        }
        let owner = try #require(getpwnam("postgres"), "no postgres user to own the tmpfs", sourceLocation: sourceLocation).pointee
        let mounted = TestCluster.tool(["/usr/bin/env", "mount", "-t", "tmpfs", "-o", "size=\(size),mode=0700,uid=\(owner.pw_uid),gid=\(owner.pw_gid)",
                                        "queuectl-full", path], in: "/tmp", within: 30)
        try #require(mounted.status == 0, "cannot mount the tmpfs: \(mounted)", sourceLocation: sourceLocation)
    }

    /// Its free space in 4 KiB pages.
    func freePages() -> Int {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return -1 }
        return Int(s.f_bavail) * Int(s.f_bsize) / 4096
    }

    /// Room again: grown to `size` (`mount -o remount`), as an administrator adds disk.
    @discardableResult
    func grow(to size: String) -> Finished {
        TestCluster.tool(["/usr/bin/env", "mount", "-o", "remount,size=\(size)", path], in: "/tmp", within: 30)
    }
}

/// The server as the commands name it: its socket and database.
private func serverName(_ cluster: TestCluster) -> String {
    "PostgreSQL at \(cluster.clusterDirectory)/.s.PGSQL.5432 database queuectl_test"
}

/// A cluster of the test's own with a tablespace on a tmpfs of `size`: `store init` through
/// `initConninfo` puts every queuectl table, index and TOAST table there. Autovacuum is off, so that
/// no room comes back while a test looks: what a test frees, it frees itself.
final class TablespaceOnATmpfs: @unchecked Sendable {
    let disk: Tmpfs
    let cluster: TestCluster
    static let tablespace = "queuectl_full"
    /// For every command: the cluster's connection string with a password in it.
    let conninfo: String
    /// For `store init`: the same, with the tablespace as the default one.
    var initConninfo: String { conninfo + " options=-cdefault_tablespace=\(TablespaceOnATmpfs.tablespace)" }
    var server: String { serverName(cluster) }

    init(size: String, janitor: Janitor) throws {
        disk = try Tmpfs(size: size, janitor: janitor)
        let cluster = try TestCluster()
        self.cluster = cluster
        // Stopped before the tmpfs goes (the janitor runs the last added first), and given room first
        // should a test end while the disk is full.
        janitor.add { cluster.destroy() }
        janitor.add { [disk] in disk.grow(to: "64m") }
        try psql(cluster.conninfo, "ALTER SYSTEM SET autovacuum = off")
        try psql(cluster.conninfo, "SELECT pg_reload_conf()")
        try psql(cluster.conninfo, "CREATE TABLESPACE \(TablespaceOnATmpfs.tablespace) LOCATION '\(disk.path)'")
        conninfo = cluster.conninfo + " password=\(password)"
    }

    /// PostgreSQL grows a table by 8 KiB pages, two of the tmpfs's: with an odd number of them free,
    /// the extension that fills the disk is a short write, as on any disk of 4 KiB blocks one time
    /// in two, and PostgreSQL reports it in other words than ENOSPC's (and every later extension
    /// of that file too). Made so every time, with a one-page file beside the tables when the count
    /// is even, so that the tests meet that case on every run rather than on one in two.
    func makeFreePagesOdd(sourceLocation: SourceLocation = #_sourceLocation) {
        if disk.freePages() % 2 == 0 {
            let filler = disk.path + "/one-page"
            #expect(FileManager.default.createFile(atPath: filler, contents: Data(repeating: 0x2A, count: 4096)), sourceLocation: sourceLocation)
        }
        #expect(disk.freePages() % 2 == 1, "\(disk.freePages()) pages free", sourceLocation: sourceLocation)
    }

    /// How many of the queuectl relations (with their TOAST tables) are on the tablespace, and how many elsewhere.
    func relations() throws -> (onTheTablespace: Int, elsewhere: Int) {
        let text = try psql(cluster.conninfo, """
            SELECT count(*) FILTER (WHERE t.spcname = '\(TablespaceOnATmpfs.tablespace)') || ' ' \
            || count(*) FILTER (WHERE t.spcname IS DISTINCT FROM '\(TablespaceOnATmpfs.tablespace)') \
            FROM pg_class c LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace \
            WHERE c.relname LIKE 'queuectl\\_%' OR c.oid IN (SELECT reltoastrelid FROM pg_class WHERE relname LIKE 'queuectl\\_%')
            """)
        let counts = text.split(separator: " ").compactMap { Int($0) }
        return counts.count == 2 ? (counts[0], counts[1]) : (-1, -1)
    }
}

/// The ids of the jobs in the database.
private func jobIDs(_ cluster: TestCluster) throws -> Set<String> {
    Set(try psql(cluster.conninfo, "SELECT id FROM queuectl_jobs").split(separator: "\n").map(String.init))
}

/// `count` random bytes as base64: a job's body that neither compresses nor fits in its row, so each
/// job takes room in the table's TOAST (and as much in the WAL).
private func incompressible(_ count: Int = 3000) -> String {
    Data((0..<count).map { _ in UInt8.random(in: .min ... .max) }).base64EncodedString()
}

/// A job that writes its id to `done` (outside the tmpfs) when it runs, its padding in its environment
/// (where the worker's lines do not show it).
private func paddedJob(_ id: String, done: String, padding: Int = 3000) -> String {
    jobJSON(["id": id, "command": "echo $QUEUECTL_JOB_ID >> \(done)", "env": ["PADDING": incompressible(padding)]])
}

/// The lines of a file, or none.
private func lines(of path: String) -> [String] {
    ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
}

/// Enqueues batches of `size` padded jobs (`enqueue -`) until one fails. Returns the ids of the
/// batches that exited 0, the failure, and the ids of the batch that failed.
private func enqueueUntilFull(_ pg: PostgresQueue, _ prefix: String, size: Int, done: String, padding: Int = 3000,
                              sourceLocation: SourceLocation = #_sourceLocation) -> (acknowledged: [String], failure: Finished?, refused: [String]) {
    var acknowledged: [String] = []
    for n in 1...400 {
        let ids = (1...size).map { "\(prefix)\(n)-\($0)" }
        let r = pg.run(["enqueue", "-"], within: 30, stdin: ids.map { paddedJob($0, done: done, padding: padding) }.joined(separator: "\n") + "\n",
                       sourceLocation: sourceLocation)
        guard r.status == 0 else { return (acknowledged, r, ids) }
        acknowledged += ids
    }
    Issue.record("the disk never filled: \(acknowledged.count) jobs enqueued", sourceLocation: sourceLocation)
    return (acknowledged, nil, [])
}

/// Runs each check of a failure that the full disk caused: exit 1, nothing on stdout, an error that
/// names the server and says the disk is full, no password.
private func expectFullDiskFailure(_ r: Finished, _ disk: TablespaceOnATmpfs, _ what: String,
                                   sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.status == 1, "\(what): \(r)", sourceLocation: sourceLocation)
    #expect(r.stdout.isEmpty, "\(what): an id printed for a job that was not added: \(r)", sourceLocation: sourceLocation)
    #expect(r.stderr.hasPrefix("Error: \(disk.server): "), "\(what): the server is not named: \(r)", sourceLocation: sourceLocation)
    #expect(saysTheDiskIsFull(r.stderr), "\(what): nothing says the disk is full: \(r.stderr)", sourceLocation: sourceLocation)
    #expect(!r.stderr.contains(password), "\(what): the password is shown: \(r.stderr)", sourceLocation: sourceLocation)
}

/// Moves the WAL of a fresh cluster onto `disk`, in segments of 1 MiB (`pg_resetwal --wal-segsize`
/// on the cleanly stopped cluster, which holds nothing yet) so that a few megabytes fill it, and
/// starts it again.
private func moveWAL(of cluster: TestCluster, to disk: Tmpfs) throws {
    let bin = try #require(TestCluster.binaries, "no PostgreSQL server programs")
    func asPostgres(_ argv: [String]) -> Finished {
        TestCluster.tool(["/usr/sbin/runuser", "-u", "postgres", "--"] + argv, in: cluster.directory, within: 60)
    }
    let stopped = asPostgres([bin + "/pg_ctl", "-D", cluster.dataDirectory, "-m", "fast", "-w", "stop"])
    try #require(stopped.status == 0, "\(stopped)")
    let reset = asPostgres([bin + "/pg_resetwal", "--wal-segsize=1", "-D", cluster.dataDirectory])
    try #require(reset.status == 0, "\(reset)")
    let wal = cluster.dataDirectory + "/pg_wal"
    let copied = TestCluster.tool(["/bin/cp", "-a", wal + "/.", disk.path + "/"], in: cluster.directory, within: 60)
    try #require(copied.status == 0, "\(copied)")
    try FileManager.default.removeItem(atPath: wal)
    try FileManager.default.createSymbolicLink(atPath: wal, withDestinationPath: disk.path)
    let started = cluster.start()
    try #require(started.status == 0, "\(started)")
}

@Suite(.serialized, .enabled(if: postgresEndToEnd && (tmpfsMounts || postgresRequired),
                             "needs QUEUECTL_TEST_POSTGRES (Scripts/test.sh starts a server) and root, to mount a tmpfs"))
struct PostgresFullDiskTests {
    /// What every test here needs first: the test server, and a tmpfs it may mount; the janitor it
    /// returns is the test's to run at its end.
    private func fullDiskTest() throws -> Janitor {
        _ = try requireTestServer()
        try #require(tmpfsMounts, "cannot mount a tmpfs (tests run as root under CI)")
        return Janitor()
    }

    /// Enqueues, batches and single ones, until the disk is full: the one that fails says so and
    /// names the server, and adds nothing; every one that exited 0 is there; reads still work; and
    /// once there is room again, the same enqueue goes in.
    @Test func anEnqueueOnAFullDiskFailsClearlyAddsNothingAndLosesNoAcknowledgedJob() throws {
        let janitor = try fullDiskTest()
        defer { janitor.run() }
        let disk = try TablespaceOnATmpfs(size: "2m", janitor: janitor)
        let pg = PostgresQueue(conninfo: disk.conninfo)
        let created = pg.run(["store", "init", "--store", disk.initConninfo])
        #expect(created.status == 0 && created.stdout.contains("created the queuectl tables"), "\(created)")
        let placed = try disk.relations()
        #expect(placed.onTheTablespace >= 10 && placed.elsewhere == 0, "the queuectl relations are not all on the tmpfs: \(placed)")
        disk.makeFreePagesOdd()
        let done = pg.sandbox.root + "/done"
        var said = created.stdout + created.stderr

        // Batches of 20 until one fails: a batch is one transaction, all or none.
        let fill = enqueueUntilFull(pg, "b", size: 20, done: done)
        var acknowledged = fill.acknowledged
        let refusedBatch = fill.refused
        let batchFailure = try #require(fill.failure)
        said += batchFailure.stdout + batchFailure.stderr
        expectFullDiskFailure(batchFailure, disk, "the batch that filled the disk")
        #expect(disk.disk.freePages() == 0, "\(disk.disk.freePages()) pages still free")
        print("full disk: \(acknowledged.count) jobs in, then: \(batchFailure.stderr)", terminator: "")

        // Single jobs until one fails too: a few still fit in pages the tables have room in.
        var refusedSingle: String?
        var singleFailure: Finished?
        for i in 1...200 {
            let id = "s\(i)"
            let r = pg.run(["enqueue", paddedJob(id, done: done)], within: 30)
            said += r.stdout + r.stderr
            if r.status == 0 {
                #expect(r.stdout == "\(id)\n", "\(r)")
                acknowledged.append(id)
            } else {
                (refusedSingle, singleFailure) = (id, r)
                break
            }
        }
        let single = try #require(singleFailure, "every single enqueue went in on a full disk")
        expectFullDiskFailure(single, disk, "a single enqueue on the full disk")
        print("full disk: a single enqueue then: \(single.stderr)", terminator: "")

        // Nothing acknowledged is lost, nothing refused was added.
        let stored = try jobIDs(disk.cluster)
        let lost = Set(acknowledged).subtracting(stored).sorted(), addedThoughRefused = stored.subtracting(acknowledged).sorted()
        #expect(lost.isEmpty && addedThoughRefused.isEmpty, "lost: \(lost), added though refused: \(addedThoughRefused)")
        #expect(stored.isDisjoint(with: refusedBatch), "the refused batch left jobs behind")
        // A full disk stops writes, not reads: the queue can still be looked at.
        let status = pg.run(["status"], within: 20)
        said += status.stdout + status.stderr
        #expect(status.status == 0 && status.stdout.contains("Pending: \(acknowledged.count)\n"), "\(status)")
        let listed = pg.run(["list", "--json"], within: 20)
        #expect(listed.status == 0, "\(listed)")

        // Room again: the very enqueues that were refused go in, whole.
        let grown = disk.disk.grow(to: "64m")
        #expect(grown.status == 0, "cannot grow the tmpfs: \(grown)")
        let again = pg.run(["enqueue", "-"], within: 30, stdin: refusedBatch.map { paddedJob($0, done: done) }.joined(separator: "\n") + "\n")
        said += again.stdout + again.stderr
        #expect(again.status == 0 && again.stdout == refusedBatch.map { $0 + "\n" }.joined(), "\(again)")
        if let refusedSingle { pg.ok("enqueue", paddedJob(refusedSingle, done: done)) }
        let all = try jobIDs(disk.cluster), expected = Set(acknowledged + refusedBatch + [refusedSingle].compactMap { $0 })
        #expect(all == expected, "lost: \(expected.subtracting(all).sorted()), unexpected: \(all.subtracting(expected).sorted())")
        #expect(!said.contains(password), "the password was shown: \(said)")
    }

    /// A worker runs while the disk fills and stays full: a job that prints as it runs, jobs whose
    /// claims fail, a finished run whose result cannot be written. It keeps its results and its
    /// lease, kills nothing and gives up nothing; once there is room, it records what it held and
    /// drains the queue, and every acknowledged job ran exactly once.
    @Test func aWorkerOnAFullDiskKeepsItsResultsAndGoesOnOnceThereIsRoom() throws {
        let janitor = try fullDiskTest()
        defer { janitor.run() }
        let disk = try TablespaceOnATmpfs(size: "2m", janitor: janitor)
        let pg = PostgresQueue(conninfo: disk.conninfo)
        pg.ok("store", "init", "--store", disk.initConninfo)
        // A short lease, so that a worker that wrongly takes the full disk for a lost lease shows it
        // within a second (it fences at half the lease without a renewal).
        pg.ok("config", "set", "lease-seconds", "2")
        disk.makeFreePagesOdd()
        let done = pg.sandbox.root + "/done"
        let gate = pg.sandbox.root + "/gate"
        var acknowledged = (1...3).map { "early\($0)" }
        for id in acknowledged { pg.ok("enqueue", paddedJob(id, done: done)) }
        // It prints incompressible output until the gate opens: its log grows in the database with
        // each lease renewal, which the full disk refuses.
        let long = "long"
        let printing = "echo $QUEUECTL_JOB_ID >> \(done); "
            + "while [ ! -e \(gate) ]; do head -c 3000 /dev/urandom | base64 -w 0; echo; sleep 0.1; done; echo gate-opened"
        pg.ok("enqueue", jobJSON(["id": long, "command": printing, "env": ["PADDING": incompressible()]]))
        acknowledged.append(long)
        janitor.add { killJobProcesses(long) }

        let worker = pg.start(["worker", "start", "--count", "2", "--drain"], home: pg.home("worker-host"))
        janitor.add { worker.signal(SIGKILL); worker.wait() }
        // The worker's last lines, for messages (it prints two for each job).
        func said() -> String { worker.stdout().split(separator: "\n").suffix(12).joined(separator: "\n") + "\n" + worker.stderr() }
        func failuresReported() -> Int { worker.stdout().components(separatedBy: "could not update the queue").count - 1 }
        // The run's shell, as recorded (the loop's own children come and go).
        var shell: SeenProcess?
        #expect(eventually {
            guard let pid = (try? pg.jobs()[long]?["child_pid"]) as? Int, let start = processStartTime(Int32(pid)) else { return false }
            shell = SeenProcess(pid: Int32(pid), startTime: start)
            return lines(of: done).count == 4
        }, "\(said())")
        let key = try #require(try pg.row(long)?.worker, "the long job has no worker")

        // The disk fills while the worker's other slot takes the jobs as they come.
        let (filled, failure, refused) = enqueueUntilFull(pg, "f", size: 10, done: done)
        acknowledged += filled
        if let failure { expectFullDiskFailure(failure, disk, "the batch that filled the disk") }
        #expect(disk.disk.freePages() == 0, "\(disk.disk.freePages()) pages still free")
        let failuresWhenFull = failuresReported()

        // Full: the worker's transactions fail (its claims, its log uploads). For more than a lease it
        // goes on: its lease is renewed, its run is not killed, and it does not exit.
        #expect(eventually { failuresReported() > failuresWhenFull }, "the worker never met the full disk: \(said())")
        let leaseBefore = try #require(try pg.leaseUntil(key))
        let exited = worker.wait(seconds: 2.5)
        #expect(exited == nil, "the worker stopped on a full disk: \(said())")
        let stillRunning = shell?.isRunning == true
        #expect(stillRunning, "the run was killed: \(said())")
        let leaseAfter = try pg.leaseUntil(key) ?? 0
        #expect(leaseAfter > leaseBefore, "the lease was not renewed while the disk was full")

        // The run ends: its result cannot be written, and is kept. The job stays this worker's.
        let failuresBeforeTheEnd = failuresReported()
        #expect(FileManager.default.createFile(atPath: gate, contents: nil))
        #expect(eventually { shell?.isRunning != true && jobProcesses(long).isEmpty }, "the run did not end: \(said())")
        #expect(eventually { failuresReported() > failuresBeforeTheEnd }, "its result went in on a full disk: \(said())")
        let held = try pg.row(long)
        #expect(held?.state == "processing" && held?.worker == key, "\(String(describing: held))")
        let exitedHolding = worker.wait(seconds: 2.5)
        #expect(exitedHolding == nil, "the worker stopped holding a result: \(said())")
        #expect(lines(of: done).filter { $0 == long }.count == 1)

        // Room again: the worker records what it held, drains the queue, and exits 0.
        let grown = disk.disk.grow(to: "64m")
        #expect(grown.status == 0, "cannot grow the tmpfs: \(grown)")
        let code = worker.wait(seconds: 90)
        #expect(code == 0, "exit \(String(describing: code)): \(said())")
        let out = worker.stdout(), err = worker.stderr()
        let recorded = out.contains("\(long) completed in ")
        #expect(recorded, "\(said())")
        let failures = out.split(separator: "\n").filter { $0.contains("could not update the queue") }
        let unnamed = failures.filter { !$0.contains("(\(disk.server): ") }
        #expect(unnamed.isEmpty, "\(unnamed.count) of \(failures.count) failures do not name the server, as: \(unnamed.first ?? "")")
        let unclear = failures.filter { !saysTheDiskIsFull(String($0)) }
        #expect(unclear.isEmpty, "\(unclear.count) of \(failures.count) failures do not say the disk is full, as: \(unclear.first ?? "")")
        for words in ["before its lease runs out", "recovered from a lost worker", "could not be recorded", "no longer this worker's job"] {
            let found = out.split(separator: "\n").filter { $0.contains(words) }
            #expect(found.isEmpty, "\(found)")
        }
        let showsThePassword = (out + err).contains(password)
        #expect(!showsThePassword, "the password was shown")

        // Every acknowledged job ran once and is completed; the refused batch neither is there nor ran.
        let ran = lines(of: done)
        var runs: [String: Int] = [:]
        for id in ran { runs[id, default: 0] += 1 }
        let twice = runs.filter { $0.value > 1 }.keys.sorted()
        #expect(twice.isEmpty, "run more than once")
        let neverRan = Set(acknowledged).subtracting(ran).sorted(), ranThoughRefused = Set(ran).subtracting(acknowledged).sorted()
        #expect(neverRan.isEmpty && ranThoughRefused.isEmpty, "never ran: \(neverRan); ran though refused: \(ranThoughRefused)")
        let jobs = try pg.jobs()
        let lost = Set(acknowledged).subtracting(jobs.keys).sorted(), unexpected = Set(jobs.keys).subtracting(acknowledged).sorted()
        #expect(lost.isEmpty && unexpected.isEmpty && Set(jobs.keys).isDisjoint(with: refused))
        let unfinished = jobs.filter { $0.value["state"] as? String != "completed" || $0.value["attempts"] as? Int != 0 }
            .mapValues { "\($0["state"] ?? "?"), attempts \($0["attempts"] ?? "?")" }
        #expect(unfinished.isEmpty)
        // The long run's output, kept on the worker's host while the disk was full, is in the database.
        let log = pg.ok("logs", long)
        let logIsWhole = log.hasPrefix("=== queuectl: run 1 of 3, started ") && log.hasSuffix(" ===\n")
            && log.contains("\ngate-opened\n=== queuectl: exit 0 after ")
        #expect(logIsWhole, "\(log.prefix(200))…\(log.suffix(200))")
        print("full disk, worker: \(acknowledged.count) jobs, \(failuresReported()) failed transactions reported")
    }

    /// The disk of the server's WAL fills: the server cannot write its log, PANICs and stops, and
    /// cannot start again until there is room (its startup writes WAL too). The enqueue that meets
    /// the crash fails naming the server, and went in whole or not at all; nothing acknowledged is
    /// lost; the worker, up all along, goes on once the server is back, and runs every job once.
    @Test func aServerWhoseWALDiskFillsStopsAndComesBackWithEveryAcknowledgedJob() throws {
        let janitor = try fullDiskTest()
        defer { janitor.run() }
        let wal = try Tmpfs(size: "4m", janitor: janitor)
        let cluster = try TestCluster()
        // Stopped before the tmpfs goes (the janitor runs the last added first), at once: a server
        // asked to stop in the middle of its recovery from a full WAL disk may never do it (PostgreSQL
        // 15's `pg_ctl stop -m fast` then gives up after a minute).
        janitor.add { cluster.destroy() }
        janitor.add { wal.grow(to: "64m"); cluster.stopImmediately() }
        try moveWAL(of: cluster, to: wal)
        let server = serverName(cluster)
        let pg = PostgresQueue(conninfo: cluster.conninfo + " password=\(password)")
        pg.ok("store", "init")
        let done = pg.sandbox.root + "/done"
        // Not --drain: between two enqueues it may find nothing to do, and it must not stop then.
        let worker = pg.start(["worker", "start", "--count", "2"], home: pg.home("worker-host"))
        janitor.add { worker.signal(SIGKILL); worker.wait() }
        func said() -> String { worker.stdout().split(separator: "\n").suffix(12).joined(separator: "\n") + "\n" + worker.stderr() }
        #expect(eventually { (try? pg.workerCount()) == 1 }, "\(said())")

        // Batches until one fails, the worker running what comes: each job's body is written to the
        // WAL three times (enqueued, claimed, finished).
        let (acknowledged, failure, refused) = enqueueUntilFull(pg, "w", size: 10, done: done, padding: 12_000)
        let crash = try #require(failure)
        var shown = crash.stdout + crash.stderr
        #expect(crash.status == 1, "\(crash)")
        #expect(crash.stdout.isEmpty, "an id printed for a job that may not be there: \(crash)")
        // The server's own PANIC reaches the command whose backend met it; another, it disconnected
        // without a word, or it no longer answered. Either way the server is named.
        #expect(crash.stderr.hasPrefix("Error: ") && crash.stderr.contains(server), "the server is not named: \(crash)")
        print("full WAL disk: \(acknowledged.count) jobs in, then: \(crash.stderr)", terminator: "")

        // Down, as long as there is no room: a command says which server it cannot reach.
        if eventually(within: 10, { cluster.postmaster == nil }) {
            let status = pg.run(["status"], within: 20)
            shown += status.stdout + status.stderr
            #expect(status.status == 1 && status.stdout.isEmpty
                    && status.stderr.hasPrefix("Error: cannot connect to the PostgreSQL store: PostgreSQL at \(cluster.clusterDirectory)/.s.PGSQL.5432"),
                    "\(status)")
        } else {
            print("full WAL disk: the server came back by itself")
        }
        #expect(worker.wait(seconds: 0.1) == nil, "the worker gave up while the server was down: \(said())")

        // Room again, and the server started as an administrator would: it recovers from its WAL.
        let grown = wal.grow(to: "64m")
        #expect(grown.status == 0, "cannot grow the tmpfs: \(grown)")
        if cluster.postmaster == nil { #expect(cluster.start().status == 0) }
        #expect(eventually { (try? psql(cluster.conninfo, "SELECT 1")) == "1" }, "the server does not answer")
        let stored = try jobIDs(cluster)
        let lost = Set(acknowledged).subtracting(stored).sorted()
        #expect(lost.isEmpty, "acknowledged and lost")
        // The enqueue that failed at its COMMIT may have gone in or not (README), but never in part.
        let ofTheFailedBatch = stored.intersection(refused)
        #expect(ofTheFailedBatch.isEmpty || ofTheFailedBatch.count == refused.count, "part of a batch: \(ofTheFailedBatch.sorted())")
        #expect(stored.subtracting(acknowledged).subtracting(refused).isEmpty)

        // The worker goes on: every job runs, once, and it stops cleanly when asked.
        let drained = eventually(within: 60) { (try? psql(cluster.conninfo, "SELECT count(*) FROM queuectl_jobs WHERE state <> 'completed'")) == "0" }
        #expect(drained, "\(said())")
        worker.signal(SIGTERM)
        let code = worker.wait(seconds: 20)
        #expect(code == 0, "exit \(String(describing: code)): \(said())")
        let out = worker.stdout()
        shown += out + worker.stderr()
        for words in ["before its lease runs out", "recovered from a lost worker", "could not be recorded"] {
            let found = out.split(separator: "\n").filter { $0.contains(words) }
            #expect(found.isEmpty, "\(found)")
        }
        let ran = lines(of: done)
        var runs: [String: Int] = [:]
        for id in ran { runs[id, default: 0] += 1 }
        let twice = runs.filter { $0.value > 1 }.keys.sorted()
        #expect(twice.isEmpty, "run more than once")
        let neverRan = stored.subtracting(ran).sorted(), ranButAbsent = Set(ran).subtracting(stored).sorted()
        #expect(neverRan.isEmpty && ranButAbsent.isEmpty, "never ran: \(neverRan); ran but not in the database: \(ranButAbsent)")
        let jobs = try pg.jobs()
        let unfinished = jobs.filter { $0.value["state"] as? String != "completed" || $0.value["attempts"] as? Int != 0 }
            .mapValues { "\($0["state"] ?? "?"), attempts \($0["attempts"] ?? "?")" }
        #expect(unfinished.isEmpty)
        let showsThePassword = shown.contains(password)
        #expect(!showsThePassword, "the password was shown")
        let failures = out.split(separator: "\n").filter { $0.contains("could not update the queue") }
        print("full WAL disk: \(stored.count) jobs ran once each; the worker reported \(failures.count) failed transactions, "
            + "the first: \(failures.first ?? "none")")
    }
}
