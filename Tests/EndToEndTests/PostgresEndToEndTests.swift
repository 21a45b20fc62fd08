import Foundation
import Testing
import TestSupport
@preconcurrency import Glibc

// The PostgreSQL store through the built binary: QUEUECTL_STORE set to a schema of its own on the
// test server (or to a cluster a test starts for itself, when it must stop or freeze the server),
// and a temporary QUEUECTL_HOME per host. Skipped without QUEUECTL_TEST_POSTGRES, except under CI,
// where a missing server fails.

/// With a server, and under CI (where a missing one must fail rather than skip).
let postgresEndToEnd = testPostgres != nil || postgresRequired

/// The test server's connection string; a failure (under CI) when there is none.
func requireTestServer(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    try #require(testPostgres, "QUEUECTL_TEST_POSTGRES is not set: Scripts/test.sh starts a server with Scripts/postgres.sh",
                 sourceLocation: sourceLocation)
}

// MARK: - helpers

/// Runs SQL with `psql` on `conninfo` (unaligned, tuples only) and returns what it printed, without
/// the last newline.
@discardableResult
func psql(_ conninfo: String, _ statement: String) throws -> String {
    var text = try runPSQL(conninfo, statement)
    if text.hasSuffix("\n") { text.removeLast() }
    return text
}

/// How a command run with a deadline ended (-1: killed at the deadline).
struct Finished: CustomStringConvertible {
    let status: Int32
    let stdout: String
    let stderr: String
    var description: String { "exit \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)" }
}

/// Things to undo when a test ends, pass or fail, last added first.
final class Janitor: @unchecked Sendable {
    private var actions: [() -> Void] = []
    func add(_ action: @escaping () -> Void) { actions.append(action) }
    func run() { while let action = actions.popLast() { action() } }
}

/// A whole file of /proc, read to its end (its size says 0).
func procFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        bytes += buffer[0..<n]
    }
    return bytes
}

/// A process as seen from here, its pid and start time (so a reused pid is not taken for it).
struct SeenProcess: Hashable, CustomStringConvertible {
    let pid: Int32
    let startTime: UInt64
    /// Still there, and not a zombie.
    var isRunning: Bool { processStartTime(pid) == startTime && processIsRunning(pid) }
    var description: String { "pid \(pid)" }
}

/// The running processes whose environment holds `entry` (`NAME=value`), as this PID namespace sees them.
func processes(withEnvironment entry: String) -> [SeenProcess] {
    let wanted = Array(entry.utf8)
    var found: [SeenProcess] = []
    for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = Int32(name), let environ = procFile("/proc/\(name)/environ") else { continue }
        guard environ.split(separator: 0).contains(where: { $0.elementsEqual(wanted) }),
              let start = processStartTime(pid), processIsRunning(pid) else { continue }
        found.append(SeenProcess(pid: pid, startTime: start))
    }
    return found
}

/// The processes of a job's runs: they all carry `QUEUECTL_JOB_ID`.
func jobProcesses(_ id: String) -> [SeenProcess] { processes(withEnvironment: "QUEUECTL_JOB_ID=\(id)") }

/// SIGKILL to every process of the job's runs that this namespace can see.
func killJobProcesses(_ id: String) {
    for p in jobProcesses(id) { kill(p.pid, SIGKILL) }
}

/// The children of `pid`.
func children(of pid: Int32) -> [Int32] {
    guard let bytes = procFile("/proc/\(pid)/task/\(pid)/children") else { return [] }
    return String(decoding: bytes, as: UTF8.self).split(separator: " ").compactMap { Int32($0) }
}

/// Milliseconds since the epoch by this machine's clock (the server's too: it runs here).
func epochMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

/// Arguments that run a worker as pid 1 of a PID namespace of its own (a container), with `unshare`;
/// --kill-child ends the worker, and so the namespace, when unshare is killed.
func inNewPIDNamespace(_ arguments: [String]) -> [String] {
    ["--pid", "--fork", "--mount-proc", "--kill-child", queuectlBinary] + arguments
}

/// Arguments for `unshare` that run a worker in a PID namespace of its own, but not as its pid 1:
/// the namespace's init is a `sleep`, so the job processes of a worker killed with -9 live on,
/// orphaned, as they would on a host.
func inNewPIDNamespaceUnderAnInit(_ arguments: [String]) -> [String] {
    let quoted = arguments.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
    return ["--pid", "--fork", "--mount-proc", "--kill-child", "/bin/sh", "-c", "\"$0\" \(quoted) & exec sleep 600", queuectlBinary]
}

/// A queue in PostgreSQL as the commands see it: `QUEUECTL_STORE` set to `conninfo`, and a temporary
/// queue home (`QUEUECTL_HOME`) per host, made in the sandbox's directory.
final class PostgresQueue: @unchecked Sendable {
    let sandbox = QueueSandbox()
    let conninfo: String
    /// The schema on the test server, kept as long as the queue (dropped with it).
    private let schema: PostgresSandbox?

    /// In a schema of its own on the test server.
    init() {
        let schema = PostgresSandbox()
        self.schema = schema
        conninfo = schema.conninfo
    }

    /// In the database of a connection string (a test's own cluster).
    init(conninfo: String) {
        schema = nil
        self.conninfo = conninfo
    }

    var schemaName: String? { schema?.schema }

    /// The queue home of another host; the default one is the sandbox's (`sandbox.home`).
    func home(_ host: String) -> String { sandbox.root + "/" + host + "/home" }

    func environment(home: String?) -> [String: String] {
        var env = ["QUEUECTL_STORE": conninfo]
        if let home { env["QUEUECTL_HOME"] = home }
        return env
    }

    @discardableResult
    func run(_ args: [String], home: String? = nil, stdin: String? = nil) -> RunResult {
        sandbox.run(args, stdin: stdin, env: environment(home: home))
    }

    /// Runs a command that must succeed; returns its stdout.
    @discardableResult
    func ok(_ args: String..., stdin: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        let r = run(args, stdin: stdin)
        #expect(r.status == 0, "queuectl \(args): \(r)", sourceLocation: sourceLocation)
        return r.stdout
    }

    /// Runs a command, killing it if it has not ended within `seconds`.
    func run(_ args: [String], within seconds: Double, home: String? = nil, stdin: String? = nil,
             sourceLocation: SourceLocation = #_sourceLocation) -> Finished {
        let child = start(args, home: home, stdin: stdin)
        guard let status = child.wait(seconds: seconds) else {
            child.signal(SIGKILL)
            child.wait()
            Issue.record("queuectl \(args) did not end within \(seconds)s: \(child.stdout()) \(child.stderr())", sourceLocation: sourceLocation)
            return Finished(status: -1, stdout: child.stdout(), stderr: child.stderr())
        }
        return Finished(status: status, stdout: child.stdout(), stderr: child.stderr())
    }

    func start(_ args: [String], home: String? = nil, stdin: String? = nil, program: String? = nil) -> Child {
        sandbox.start(args, stdin: stdin, env: environment(home: home), program: program)
    }

    @discardableResult
    func sql(_ statement: String) throws -> String { try psql(conninfo, statement) }

    /// Every job, from `list --json` (a read: it recovers nothing).
    func jobs(sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: [String: Any]] {
        let out = ok("list", "--json", sourceLocation: sourceLocation)
        let list = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]], sourceLocation: sourceLocation)
        return Dictionary(uniqueKeysWithValues: list.map { ($0["id"] as! String, $0) })
    }

    /// What the queue holds, to tell that a command changed nothing: every job, the settings and
    /// counters, the logs, the workers.
    func fingerprint() throws -> String {
        try sql("""
            SELECT (SELECT md5(coalesce(string_agg(id || ' ' || state || ' ' || body, '|' ORDER BY id), '')) FROM queuectl_jobs)
              || ' ' || (SELECT md5(m::text) FROM queuectl_meta m)
              || ' ' || (SELECT md5(coalesce(string_agg(id || encode(bytes, 'hex'), '|' ORDER BY id), '')) FROM queuectl_logs)
              || ' ' || (SELECT count(*) FROM queuectl_workers)
            """)
    }

    /// The job's state, its worker's key ('' for none) and `updated_at`, with the server's clock.
    func row(_ id: String) throws -> (state: String, worker: String, updatedAt: Int64, now: Int64)? {
        let text = try sql("SELECT state || '|' || coalesce(worker, '') || '|' || updated_at || '|' || "
            + "(extract(epoch from clock_timestamp()) * 1000)::bigint FROM queuectl_jobs WHERE id = '\(id)'")
        let fields = text.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 4, let updated = Int64(fields[2]), let now = Int64(fields[3]) else { return nil }
        return (fields[0], fields[1], updated, now)
    }

    /// The lease of the worker with this key runs out at this server time (milliseconds since the epoch).
    func leaseUntil(_ key: String) throws -> Int64? {
        Int64(try sql("SELECT lease_until FROM queuectl_workers WHERE key = '\(key)'"))
    }

    func workerCount() throws -> Int { Int(try sql("SELECT count(*) FROM queuectl_workers")) ?? -1 }
}

/// A job as a JSON object, however its command is quoted.
func jobJSON(_ fields: [String: Any]) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
}

/// A PostgreSQL cluster of the test's own, made with Scripts/postgres.sh in a temporary directory
/// (whose parents the postgres user can search), for a test that stops, restarts or freezes the
/// server. `destroy()` stops and removes it whatever state it was left in.
final class TestCluster: @unchecked Sendable {
    let directory: String
    let conninfo: String
    var clusterDirectory: String { directory + "/c" }
    var dataDirectory: String { clusterDirectory + "/data" }

    static let script: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Scripts/postgres.sh").path

    /// The server's programs, chosen as postgres.sh chooses them: pg_config's bindir when it has
    /// initdb, else the newest of /usr/lib/postgresql/*/bin.
    static let binaries: String? = {
        let fm = FileManager.default
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["pg_config", "--bindir"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        if (try? p.run()) != nil {
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            p.waitUntilExit()
            if p.terminationStatus == 0, fm.isExecutableFile(atPath: text + "/initdb") { return text }
        }
        let versions = ((try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).compactMap { Int($0) }.sorted(by: >)
        for v in versions where fm.isExecutableFile(atPath: "/usr/lib/postgresql/\(v)/bin/initdb") { return "/usr/lib/postgresql/\(v)/bin" }
        return nil
    }()

    init() throws {
        directory = makeTemporaryDirectory("queuectl-pgcluster", mode: 0o755)
        let r = TestCluster.tool(["/bin/bash", TestCluster.script, "start", directory + "/c"], in: directory, within: 120)
        guard r.status == 0 else {
            try? FileManager.default.removeItem(atPath: directory)
            throw NSError(domain: "postgres.sh", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: "\(r)"])
        }
        conninfo = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs a program to its end (killing it after `within` seconds).
    static func tool(_ argv: [String], in directory: String, within seconds: Double) -> Finished {
        let child = Child(argv: argv, env: ProcessInfo.processInfo.environment, stdin: nil, directory: directory)
        guard let status = child.wait(seconds: seconds) else {
            child.signal(SIGKILL)
            child.wait()
            return Finished(status: -1, stdout: child.stdout(), stderr: child.stderr() + "\n(killed after \(seconds)s)")
        }
        return Finished(status: status, stdout: child.stdout(), stderr: child.stderr())
    }

    /// `pg_ctl` as the cluster's owner (postgres, when we are root).
    private func pgctl(_ arguments: [String]) -> Finished {
        guard let bin = TestCluster.binaries else { return Finished(status: -1, stdout: "", stderr: "no PostgreSQL server programs") }
        let argv = [bin + "/pg_ctl", "-D", dataDirectory] + arguments
        return TestCluster.tool(geteuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + argv : argv, in: directory, within: 120)
    }

    /// `pg_ctl stop -m immediate`: the server goes at once, as in a crash.
    @discardableResult
    func stopImmediately() -> Finished { pgctl(["-m", "immediate", "-w", "stop"]) }

    /// Starts the stopped server again and waits until it takes connections.
    @discardableResult
    func start() -> Finished { pgctl(["-l", clusterDirectory + "/server.log", "-w", "start"]) }

    /// Restarts the server listening on 127.0.0.1 too, on a port that was free a moment before; its port.
    func listenOnLoopback() -> Int? {
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard probe >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, length) == 0 && getsockname(probe, $0, &length) == 0 }
        }
        guard bound else {
            close(probe)
            return nil
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        close(probe)
        let r = pgctl(["-l", clusterDirectory + "/server.log", "-w", "restart", "-o", "-c listen_addresses=127.0.0.1 -p \(port)"])
        return r.status == 0 ? port : nil
    }

    /// The postmaster's pid while it runs.
    var postmaster: Int32? {
        guard let bytes = procFile(dataDirectory + "/postmaster.pid") else { return nil }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").first.flatMap { Int32($0) }
    }

    /// Stops the server (resuming any process of it that a test stopped) and removes the cluster.
    func destroy() {
        if let pm = postmaster {
            kill(pm, SIGCONT)
            for child in children(of: pm) { kill(child, SIGCONT) }
        }
        let r = TestCluster.tool(["/bin/bash", TestCluster.script, "stop", clusterDirectory], in: directory, within: 120)
        if r.status != 0 {
            stopImmediately()
            if let pm = postmaster { kill(pm, SIGKILL) }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Three jobs for the flow: one with output on both streams, one that dies, and a few plain ones.
private let flowJobs = [
    #"{"id":"hello","command":"echo out-of-hello; echo err-of-hello >&2"}"#,
    #"{"id":"doomed","command":"echo doomed-ran; exit 3","max_retries":1}"#,
] + (1...6).map { #"{"id":"plain\#($0)","command":"echo plain-\#($0)"}"# }

// MARK: - the tests

@Suite(.serialized, .enabled(if: postgresEndToEnd, "QUEUECTL_TEST_POSTGRES is not set: Scripts/test.sh starts a server with Scripts/postgres.sh"))
struct PostgresEndToEndTests {
    // MARK: 1. the whole flow

    @Test func storeInitIsIdempotentAndSafeTwiceAtOnce() throws {
        _ = try requireTestServer()
        let pg = PostgresQueue()
        let first = pg.run(["store", "init"])
        #expect(first.status == 0, "\(first)")
        #expect(first.stdout.contains("created the queuectl tables (schema 2) in PostgreSQL at "), "\(first)")
        let again = pg.run(["store", "init"])
        #expect(again.status == 0, "\(again)")
        #expect(again.stdout.contains("at schema 2 already; nothing to do"), "\(again)")
        #expect(try pg.sql("SELECT count(*) FROM queuectl_meta") == "1")

        // Two at once on a database without the tables: one creates them, the other finds them made.
        let fresh = PostgresQueue()
        let a = fresh.start(["store", "init"]), b = fresh.start(["store", "init"])
        let codes = [a.wait(seconds: 30), b.wait(seconds: 30)]
        #expect(codes == [0, 0], "\(a.stdout()) \(a.stderr()) \(b.stdout()) \(b.stderr())")
        #expect([a.stdout(), b.stdout()].filter { $0.contains("created the queuectl tables") }.count == 1)
        #expect(try fresh.sql("SELECT count(*) FROM queuectl_meta") == "1")
        #expect(fresh.ok("status").contains("Total: 0"))
    }

    @Test func theWholeFlowWithOutputKeptInTheDatabase() throws {
        _ = try requireTestServer()
        let pg = PostgresQueue()
        pg.ok("store", "init")
        pg.ok("config", "set", "backoff-base", "1")
        #expect(pg.ok("enqueue", "-", stdin: flowJobs.joined(separator: "\n") + "\n").split(separator: "\n").count == flowJobs.count)

        // The worker runs on "another host": a queue home of its own, which nobody else reads.
        let workerHome = pg.home("worker-host")
        let worker = pg.start(["worker", "start", "--count", "3", "--drain"], home: workerHome)
        #expect(worker.wait(seconds: 60) == 0, "\(worker.stdout()) \(worker.stderr())")
        #expect(worker.stdout().contains("started with 3 slots on PostgreSQL at "), "\(worker.stdout())")
        #expect(worker.stdout().contains("doomed failed (exit 3, attempt 1 of 1); moved to the DLQ"), "\(worker.stdout())")

        let status = pg.ok("status")
        let server = try #require(testPostgres?.split(separator: " ").first { $0.hasPrefix("host=") }?.dropFirst(5))
        #expect(status.contains("Store: PostgreSQL at \(server)/.s.PGSQL."), "\(status)")
        #expect(status.contains("Completed: 7"), "\(status)")
        #expect(status.contains("Dead: 1"), "\(status)")
        #expect(status.contains("DLQ: 1 job"), "\(status)")
        let statusJSON = try JSONSerialization.jsonObject(with: Data(pg.ok("status", "--json").utf8)) as? [String: Any]
        #expect(statusJSON != nil)

        let list = pg.ok("list")
        for id in ["hello", "doomed"] + (1...6).map({ "plain\($0)" }) { #expect(list.contains("\n\(id) "), "\(id) missing: \(list)") }
        #expect(pg.ok("list", "--state", "dead").split(separator: "\n").dropFirst().map { $0.split(separator: " ").first } == ["doomed"])
        let show = pg.ok("show", "hello")
        #expect(show.contains("state       completed"), "\(show)")
        #expect(show.contains("exit code   0"), "\(show)")

        // The output is in the database: the worker host's copies went when the runs were recorded,
        // and the reader (another home, with no logs of its own) still shows every line.
        let workerLogs = (try? FileManager.default.contentsOfDirectory(atPath: workerHome + "/logs")) ?? []
        #expect(workerLogs.isEmpty, "left on the worker's host: \(workerLogs)")
        try? FileManager.default.removeItem(atPath: workerHome + "/logs")
        try? FileManager.default.removeItem(atPath: pg.sandbox.home + "/logs")
        let log = pg.ok("logs", "hello")
        #expect(log.contains("out-of-hello\n"), "\(log)")
        #expect(log.contains("err-of-hello\n"), "\(log)")
        #expect(log.contains("=== queuectl: run 1 of 3"), "\(log)")
        #expect(pg.ok("logs", "hello", "--stderr").contains("err-of-hello"))

        // The DLQ: listed, retried, dead again, and its log holds both runs.
        let dlq = pg.ok("dlq", "list")
        #expect(dlq.contains("doomed") && dlq.contains("exit 3"), "\(dlq)")
        #expect(pg.run(["dlq", "retry", "doomed"]).status == 0)
        #expect(try pg.jobs()["doomed"]?["state"] as? String == "pending")
        #expect(pg.ok("dlq", "list") == "The dead letter queue is empty.\n" || !pg.ok("dlq", "list").contains("doomed"))
        let second = pg.start(["worker", "start", "--drain"], home: workerHome)
        #expect(second.wait(seconds: 60) == 0, "\(second.stdout()) \(second.stderr())")
        #expect(try pg.jobs()["doomed"]?["state"] as? String == "dead")
        let doomedLog = pg.ok("logs", "doomed")
        #expect(doomedLog.components(separatedBy: "doomed-ran\n").count == 3, "both runs' output: \(doomedLog)")

        // Settings live in the database.
        #expect(pg.ok("config", "set", "max-retries", "5") == "max-retries = 5\n")
        #expect(pg.run(["config", "get", "max-retries"], home: pg.home("third-host")).stdout == "5\n")
        #expect(pg.run(["config", "set", "lease-seconds", "1"]).status == 64)
        #expect(pg.ok("config", "get", "lease-seconds") == "30\n")
        // Every job printed something: each has its log in the database.
        #expect(try pg.sql("SELECT count(*) FROM queuectl_logs") == String(flowJobs.count))
    }

    /// The same bad input gets the same exit code and message on both stores, and changes nothing.
    @Test func badInputExitsAsOnTheDataFileAndChangesNothing() throws {
        _ = try requireTestServer()
        let pg = PostgresQueue()
        pg.ok("store", "init")
        pg.ok("enqueue", #"{"id":"taken","command":"true"}"#)
        // The same queue on the data file: QUEUECTL_STORE emptied, whatever the environment has.
        let file = QueueSandbox()
        #expect(file.run(["enqueue", #"{"id":"taken","command":"true"}"#], env: ["QUEUECTL_STORE": ""]).status == 0)

        let before = try pg.fingerprint()
        let cases: [([String], Int32)] = [
            (["show", "nope"], 1), (["logs", "nope"], 1), (["cancel", "nope"], 1), (["kill", "nope"], 1),
            (["retry", "nope"], 1), (["restart", "nope"], 1), (["dlq", "retry", "nope"], 1), (["edit", "nope", "--priority", "3"], 1),
            (["enqueue", #"{"id":"taken","command":"true"}"#], 1),
            (["enqueue", "{bad"], 64), (["enqueue", #"{"command":""}"#], 64), (["enqueue", #"{"command":"true","bogus":1}"#], 64),
            (["enqueue", #"{"id":"../x","command":"true"}"#], 64), (["enqueue", "--priority", "5000", #"{"command":"true"}"#], 64),
            (["enqueue", "-"], 64),
            (["config", "set", "max-retries", "abc"], 64), (["config", "set", "lease-seconds", "1"], 64),
            (["config", "set", "no-such-key", "1"], 64), (["config", "get", "no-such-key"], 64),
            (["list", "--state", "nostate"], 64), (["worker", "start", "--count", "-1"], 64),
        ]
        for (args, code) in cases {
            let stdin = args == ["enqueue", "-"] ? "{\"command\":\"true\"}\nnot json\n" : nil
            let onFile = file.run(args, stdin: stdin, env: ["QUEUECTL_STORE": ""])
            let onDatabase = pg.run(args, stdin: stdin)
            #expect(onFile.status == code, "\(args) on the data file: \(onFile)")
            #expect(onDatabase.status == onFile.status, "\(args): data file \(onFile.status), PostgreSQL \(onDatabase)")
            #expect(onDatabase.stderr == onFile.stderr, "\(args)")
            #expect(onDatabase.stdout.isEmpty, "\(args): \(onDatabase)")
        }
        #expect(try pg.fingerprint() == before)
    }

    // MARK: 2. before `store init`

    @Test func withoutStoreInitEveryCommandSaysSoAndCreatesNothing() throws {
        _ = try requireTestServer()
        let pg = PostgresQueue()
        let commands: [[String]] = [
            ["status"], ["status", "--json"], ["list"], ["show", "x"], ["logs", "x"], ["stats"],
            ["enqueue", #"{"command":"true"}"#], ["add", "true"], ["worker", "start", "--drain"], ["worker", "start"],
            ["worker", "stop"], ["dlq", "list"], ["dlq", "retry", "x"], ["dlq", "delete", "x"], ["dlq", "summary"],
            ["config", "get", "max-retries"], ["config", "set", "max-retries", "3"], ["config", "list"], ["set", "max-retries", "3"],
            ["cancel", "x"], ["kill", "x"], ["retry", "x"], ["restart", "x"], ["edit", "x", "--priority", "1"],
            ["pause"], ["resume"],
        ]
        for args in commands {
            let r = pg.run(args, within: 30)
            #expect(r.status == 1, "\(args): \(r)")
            #expect(r.stderr.contains("has no queuectl tables yet: create them with 'queuectl store init'"), "\(args): \(r)")
            #expect(r.stdout.isEmpty, "\(args): \(r)")
        }
        let schema = try #require(pg.schemaName)
        #expect(try pg.sql("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '\(schema)'") == "0")
        #expect(try pg.sql("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = '\(schema)'") == "0")
        #expect(!FileManager.default.fileExists(atPath: pg.sandbox.home), "a queue home was made")
        // And then it can be set up.
        pg.ok("store", "init")
        #expect(pg.ok("status").contains("Total: 0"))
    }

    // MARK: 3. credentials

    /// Connection strings with a password, to a server that refuses them or is not there: every
    /// command fails with exit 1, names the server, and never shows the password.
    @Test func aPasswordIsNeverShownWhenTheServerRefusesOrIsAbsent() throws {
        let server = try requireTestServer()
        let socketDirectory = try #require(server.split(separator: " ").first { $0.hasPrefix("host=") }.map { String($0.dropFirst(5)) })
        let nowhere = makeTemporaryDirectory("queuectl-nowhere")
        defer { try? FileManager.default.removeItem(atPath: nowhere) }
        let cluster = try TestCluster()
        defer { cluster.destroy() }
        // A server that checks passwords: scram for every role but postgres (the tests' own).
        try psql(cluster.conninfo, "SET password_encryption = 'scram-sha-256'; CREATE ROLE queuectl LOGIN PASSWORD 'correct-horse'")
        let hba = cluster.dataDirectory + "/pg_hba.conf"
        try "local all postgres trust\nlocal all all scram-sha-256\n".write(toFile: hba, atomically: false, encoding: .utf8)
        try psql(cluster.conninfo, "SELECT pg_reload_conf()")
        let clusterSocket = cluster.clusterDirectory

        let cases: [(conninfo: String, server: String, says: String)] = [
            ("host=\(clusterSocket) dbname=queuectl_test user=queuectl password=hunter2", "PostgreSQL at \(clusterSocket)/.s.PGSQL.5432",
             #"password authentication failed for user "queuectl""#),
            ("postgresql://queuectl:hunter2@/queuectl_test?host=\(clusterSocket)", "PostgreSQL at \(clusterSocket)/.s.PGSQL.5432",
             #"password authentication failed for user "queuectl""#),
            ("host=\(socketDirectory) dbname=queuectl_test user=nobody password=hunter2", "PostgreSQL at \(socketDirectory)/.s.PGSQL.5432",
             #"role "nobody" does not exist"#),
            ("postgresql://nobody:hunter2@/queuectl_test?host=\(socketDirectory)", "PostgreSQL at \(socketDirectory)/.s.PGSQL.5432",
             #"role "nobody" does not exist"#),
            ("host=\(nowhere) dbname=q user=u password=hunter2", "PostgreSQL at \(nowhere)/.s.PGSQL.5432", "No such file or directory"),
            ("postgresql://u:hunter2@/db?host=\(nowhere)", "PostgreSQL at \(nowhere)/.s.PGSQL.5432", "No such file or directory"),
            ("host=127.0.0.1 port=1 dbname=q user=u password=hunter2 connect_timeout=5", "PostgreSQL at 127.0.0.1:1", "Connection refused"),
            ("postgresql://u:hunter2@127.0.0.1:1/db?connect_timeout=5", "PostgreSQL at 127.0.0.1:1", "Connection refused"),
        ]
        let q = QueueSandbox()
        for c in cases {
            for args in [["status"], ["enqueue", #"{"command":"true"}"#], ["worker", "start", "--drain"], ["worker", "start"],
                         ["store", "init"], ["list"]] {
                // By the environment, by the option after the command, and by the option before it.
                for way in 0..<3 {
                    let child = way == 0 ? q.start(args, env: ["QUEUECTL_STORE": c.conninfo])
                        : way == 1 ? q.start(args + ["--store", c.conninfo], env: ["QUEUECTL_STORE": ""])
                        : q.start(["--store", c.conninfo] + args, env: ["QUEUECTL_STORE": ""])
                    let code = child.wait(seconds: 30)
                    if code == nil { child.signal(SIGKILL); child.wait() }
                    let said = child.stdout() + child.stderr()
                    #expect(code == 1, "\(args) with \(c.conninfo): \(said)")
                    #expect(child.stderr().hasPrefix("Error: cannot connect to the PostgreSQL store: \(c.server)"), "\(args): \(said)")
                    #expect(child.stderr().contains(c.says), "\(args): \(said)")
                    #expect(!said.contains("hunter2"), "\(args) showed the password: \(said)")
                }
            }
        }
        #expect(!FileManager.default.fileExists(atPath: q.home), "a queue home was made")
    }

    /// A password in a connection string that works (the test server trusts every local user, so
    /// it ignores it) appears in nothing a command or a worker prints.
    @Test func aPasswordThatWorksIsShownNowhere() throws {
        _ = try requireTestServer()
        let schema = PostgresQueue()
        defer { withExtendedLifetime(schema) {} }  // its schema is dropped with it
        let pg = PostgresQueue(conninfo: schema.conninfo + " password=hunter2")
        var said = pg.ok("store", "init")
        said += pg.ok("enqueue", #"{"id":"p1","command":"echo fine"}"#)
        said += pg.ok("enqueue", #"{"id":"p2","command":"exit 2","max_retries":1}"#)
        let worker = pg.start(["worker", "start", "--drain"])
        #expect(worker.wait(seconds: 60) == 0)
        said += worker.stdout() + worker.stderr()
        for args in [["status"], ["status", "--json"], ["list"], ["show", "p2"], ["show", "p2", "--json"], ["logs", "p1"], ["dlq", "list"],
                     ["stats"], ["config", "list"], ["show", "nope"], ["enqueue", "{bad"], ["wait", "p1"], ["logs", "-f", "p1"],
                     ["prune", "--dry-run"]] {
            let r = pg.run(args, within: 20)
            said += r.stdout + r.stderr
        }
        #expect(said.contains("PostgreSQL at "))
        #expect(!said.contains("hunter2"), "\(said)")
    }

    // MARK: 4. two workers in two PID namespaces

    @Test(.enabled(if: pidNamespacesWork))
    func twoWorkersInTwoPIDNamespacesRunEachOf300JobsExactlyOnce() throws {
        _ = try requireTestServer()
        let janitor = Janitor()
        defer { janitor.run() }
        let pg = PostgresQueue()
        pg.ok("store", "init")
        let done = pg.sandbox.root + "/done"
        // Both workers are up, listening, before the jobs come: one NOTIFY wakes both at once.
        let workers = ["container-a", "container-b"].map { host in
            pg.start(inNewPIDNamespace(["worker", "start", "--count", "3"]), home: pg.home(host), program: "/usr/bin/unshare")
        }
        for w in workers { janitor.add { w.signal(SIGKILL); w.wait() } }
        #expect(eventually { (try? pg.workerCount()) == 2 }, "\(workers.map { $0.stderr() })")
        let jobs = (1...300).map { #"{"id":"n\#($0)","command":"echo $QUEUECTL_JOB_ID >> \#(done)"}"# }
        pg.ok("enqueue", "-", stdin: jobs.joined(separator: "\n") + "\n")
        #expect(eventually(within: 120) { (try? pg.sql("SELECT count(*) FROM queuectl_jobs WHERE state = 'completed'")) == "300" },
                "\(pg.ok("status"))")
        // Each worker is its namespace's pid 1, the child of unshare: SIGTERM stops it gracefully.
        for w in workers { for pid in children(of: w.pid) { kill(pid, SIGTERM) } }
        for w in workers { #expect(w.wait(seconds: 30) == 0, "\(w.stdout()) \(w.stderr())") }

        let lines = ((try? String(contentsOfFile: done, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        var seen: [String: Int] = [:]
        for id in lines { seen[id, default: 0] += 1 }
        #expect(seen.filter { $0.value > 1 }.isEmpty, "run more than once: \(seen.filter { $0.value > 1 })")
        #expect(Set(lines) == Set((1...300).map { "n\($0)" }), "missing: \(Set((1...300).map { "n\($0)" }).subtracting(lines).sorted())")
        #expect(lines.count == 300)
        let all = try pg.jobs()
        #expect(all.count == 300)
        #expect(all.values.allSatisfy { $0["state"] as? String == "completed" && $0["attempts"] as? Int == 0 })
        let completedBy = workers.map { $0.stdout().components(separatedBy: " completed in ").count - 1 }
        #expect(completedBy.reduce(0, +) == 300, "\(completedBy)")
        #expect(completedBy.allSatisfy { $0 > 0 }, "both workers took part: \(completedBy)")
        for w in workers {
            #expect(!w.stdout().contains("no longer this worker's job"), "\(w.stdout())")
            #expect(!w.stdout().contains("recovered from a lost worker"), "\(w.stdout())")
        }
    }

    // MARK: 5. a worker killed with -9 mid-run

    /// The job of the killed worker: its first run sleeps, the next ones end at once.
    private func victimCommand(_ runs: String) -> String {
        #"echo "run $QUEUECTL_ATTEMPT" >> \#(runs); [ "$QUEUECTL_ATTEMPT" -gt 1 ] || sleep 30"#
    }

    /// Worker A, in a PID namespace of its own (not as its pid 1, so that its job outlives it, as on
    /// a host), runs `id`'s first run; returns A's unshare, A's pid as seen here, its key, and the
    /// run's processes.
    private func victimRunning(_ pg: PostgresQueue, _ id: String, _ janitor: Janitor,
                               sourceLocation: SourceLocation = #_sourceLocation) throws -> (Child, Int32, String, [SeenProcess]) {
        let runs = pg.sandbox.root + "/runs"
        pg.ok("config", "set", "lease-seconds", "2")
        pg.ok("enqueue", jobJSON(["id": id, "command": victimCommand(runs)]))
        let a = pg.start(inNewPIDNamespaceUnderAnInit(["worker", "start"]), home: pg.home("host-a"), program: "/usr/bin/unshare")
        janitor.add { a.signal(SIGKILL); a.wait() }
        var workerPID: Int32?
        #expect(eventually {
            workerPID = children(of: a.pid).flatMap { children(of: $0) }.first {
                String(decoding: procFile("/proc/\($0)/cmdline") ?? [], as: UTF8.self).contains("worker")
            }
            return workerPID != nil
        }, "\(a.stderr())", sourceLocation: sourceLocation)
        var run1: [SeenProcess] = []
        #expect(eventually {
            run1 = jobProcesses(id)
            return run1.count == 2  // its shell and the sleep
        }, "\(a.stdout()) \(a.stderr())", sourceLocation: sourceLocation)
        let key = try #require(try pg.row(id)?.worker, sourceLocation: sourceLocation)
        #expect(try pg.row(id)?.state == "processing", sourceLocation: sourceLocation)
        return (a, try #require(workerPID, sourceLocation: sourceLocation), key, run1)
    }

    /// Kills worker A with -9 and follows the job (by the server's clock) until it is recovered:
    /// never while A's lease holds. Returns the row that showed the recovery, and how many looks fell
    /// within the lease.
    private func killAndFollow(_ pg: PostgresQueue, _ id: String, worker pid: Int32, key: String,
                               sourceLocation: SourceLocation = #_sourceLocation) throws -> (leaseUntil: Int64, recovered: (state: String, worker: String, updatedAt: Int64, now: Int64)?, looksWithinLease: Int) {
        kill(pid, SIGKILL)
        #expect(eventually { !processIsRunning(pid) }, sourceLocation: sourceLocation)
        let leaseUntil = try #require(try pg.leaseUntil(key), "A's record went before its lease ran out", sourceLocation: sourceLocation)
        var looksWithinLease = 0
        var recovered: (state: String, worker: String, updatedAt: Int64, now: Int64)?
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            guard let row = try pg.row(id) else { break }
            if row.state == "processing" && row.worker == key {
                if row.now < leaseUntil { looksWithinLease += 1 }
            } else {
                #expect(row.now >= leaseUntil, "recovered \(leaseUntil - row.now) ms before the lease ran out: \(row)", sourceLocation: sourceLocation)
                recovered = row
                break
            }
            usleep(20_000)
        }
        return (leaseUntil, recovered, looksWithinLease)
    }

    /// A worker in a container killed with -9 mid-run; another on the host recovers its job only once
    /// the lease has run out, and (the host seeing into the container) kills the orphaned run by its
    /// marker before the job runs again.
    @Test(.enabled(if: pidNamespacesWork))
    func aWorkerKilledMidRunLosesItsJobOnlyAfterItsLeaseAndTheHostKillsItsOrphan() throws {
        _ = try requireTestServer()
        let janitor = Janitor()
        defer { janitor.run() }
        let pg = PostgresQueue()
        pg.ok("store", "init")
        let id = "victim-" + UUID().uuidString.prefix(8).lowercased()
        janitor.add { killJobProcesses(id) }
        let (_, workerA, keyA, run1) = try victimRunning(pg, id, janitor)

        // B, on the host, looks at the queue every second: for more than a lease while A lives, it
        // takes nothing from A, and status says A is alive by its lease.
        let b = pg.start(["worker", "start"], home: pg.home("host-b"))
        janitor.add { b.signal(SIGKILL); b.wait() }
        #expect(eventually { (try? pg.workerCount()) == 2 }, "\(b.stderr())")
        let until = Date().addingTimeInterval(3)
        while Date() < until {
            let row = try pg.row(id)
            #expect(row?.state == "processing" && row?.worker == keyA, "taken from its live worker: \(String(describing: row))")
            usleep(100_000)
        }
        let status = pg.ok("status")
        #expect(status.contains("on another host or PID namespace; alive by its lease in the database"), "\(status)")
        #expect(run1.allSatisfy { $0.isRunning })

        let (leaseUntil, recovered, looks) = try killAndFollow(pg, id, worker: workerA, key: keyA)
        #expect(looks > 0, "the job was never looked at while the lease held")
        let row = try #require(recovered, "not recovered within 20 s of the kill: \(b.stdout())")
        // Recovered as a failed run (backoff 2 s), at a server time after the lease ran out.
        #expect(row.state == "failed", "\(row)")
        #expect(row.worker == "")
        #expect(row.updatedAt >= leaseUntil, "recovered at \(row.updatedAt), lease until \(leaseUntil)")
        // Recovery on the host reaches into the container: the orphaned run was killed by its marker
        // before the job was recorded as recovered.
        #expect(run1.allSatisfy { !$0.isRunning }, "the orphaned run outlived the recovery: \(run1.filter(\.isRunning))")
        #expect(eventually { b.stdout().contains("\(id) recovered from a lost worker (attempt 1 of 3); retry in 2s") }, "\(b.stdout())")
        let job = try #require(try pg.jobs()[id])
        #expect(job["last_error"] as? String == "worker lost", "\(job)")
        // B then runs it again, once.
        #expect(eventually { (try? pg.jobs()[id]?["state"] as? String) == "completed" }, "\(b.stdout())")
        let runs = (try? String(contentsOfFile: pg.sandbox.root + "/runs", encoding: .utf8)) ?? ""
        #expect(runs == "run 1\nrun 2\n", "\(runs)")
        b.signal(SIGTERM)
        #expect(b.wait(seconds: 20) == 0, "\(b.stdout()) \(b.stderr())")
    }

    /// The same, recovered by a worker in a sibling container: the lease is honoured just the same,
    /// but the orphaned run is out of its sight.
    @Test(.enabled(if: pidNamespacesWork))
    func aWorkerKilledMidRunIsRecoveredFromASiblingNamespaceOnlyAfterItsLease() throws {
        _ = try requireTestServer()
        let janitor = Janitor()
        defer { janitor.run() }
        let pg = PostgresQueue()
        pg.ok("store", "init")
        pg.ok("config", "set", "backoff-base", "1")
        let id = "sibling-" + UUID().uuidString.prefix(8).lowercased()
        janitor.add { killJobProcesses(id) }
        let (_, workerA, keyA, run1) = try victimRunning(pg, id, janitor)
        let b = pg.start(inNewPIDNamespace(["worker", "start"]), home: pg.home("host-b"), program: "/usr/bin/unshare")
        janitor.add { b.signal(SIGKILL); b.wait() }
        #expect(eventually { (try? pg.workerCount()) == 2 }, "\(b.stderr())")

        let (leaseUntil, recovered, looks) = try killAndFollow(pg, id, worker: workerA, key: keyA)
        #expect(looks > 0, "the job was never looked at while the lease held")
        let row = try #require(recovered, "not recovered within 20 s of the kill: \(b.stdout())")
        #expect(row.updatedAt >= leaseUntil, "recovered at \(row.updatedAt), lease until \(leaseUntil)")
        #expect(eventually { (try? pg.jobs()[id]?["state"] as? String) == "completed" }, "\(b.stdout())")
        let job = try #require(try pg.jobs()[id])
        #expect(job["attempts"] as? Int == 1)
        // What happens to the orphan: B's namespace cannot see A's processes, so nothing killed the
        // first run, which still sleeps after the second has run: the job ran twice at once. The
        // README says so ("a worker's orphaned processes can only be killed on its own host: recovery
        // on another host kills nothing"; run workers so that their processes go with them), and a
        // sibling namespace is another host here. Should that change, this says so and the README
        // must too.
        #expect(run1.allSatisfy { $0.isRunning }, "the orphan of a worker in another namespace was killed after all")
        b.signal(SIGKILL)
    }

    // MARK: 6. fencing

    /// A worker whose server goes away mid-run kills its run before its lease can run out, says so,
    /// and exits non-zero; once the server is back, the run is recovered as `worker lost`.
    @Test func aWorkerThatCannotRenewItsLeaseKillsItsRunBeforeTheLeaseRunsOut() throws {
        _ = try requireTestServer()
        let janitor = Janitor()
        defer { janitor.run() }
        let cluster = try TestCluster()
        janitor.add { cluster.destroy() }
        let pg = PostgresQueue(conninfo: cluster.conninfo)
        pg.ok("store", "init")
        pg.ok("config", "set", "lease-seconds", "2")
        let id = "fenced-" + UUID().uuidString.prefix(8).lowercased()
        janitor.add { killJobProcesses(id) }
        pg.ok("enqueue", #"{"id":"\#(id)","command":"sleep 60; echo never"}"#)
        let worker = pg.start(["worker", "start"], home: pg.home("worker-host"))
        janitor.add { worker.signal(SIGKILL); worker.wait() }
        var run: [SeenProcess] = []
        #expect(eventually { run = jobProcesses(id); return run.count == 2 }, "\(worker.stdout()) \(worker.stderr())")
        let key = try #require(try pg.row(id)?.worker)
        // The run's child recorded (the worker does it within 0.1 s of the start), so the run counts as
        // started when it is recovered.
        #expect(eventually { (try? pg.jobs()[id]?["child_pid"]) as? Int != nil }, "\(worker.stdout())")
        // The lease as last renewed before the server goes: a renewal after this read only moves it later.
        let leaseUntil = try #require(try pg.leaseUntil(key))

        #expect(cluster.stopImmediately().status == 0)
        var goneAt: Int64?
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if run.allSatisfy({ !$0.isRunning }) { goneAt = epochMilliseconds(); break }
            usleep(5_000)
        }
        let gone = try #require(goneAt, "the run still runs 10 s after the server went: \(worker.stdout())")
        #expect(gone < leaseUntil, "the run was killed \(gone - leaseUntil) ms after the lease ran out")
        print("fencing: the run was gone \(leaseUntil - gone) ms before the lease (as last read) ran out")
        let code = worker.wait(seconds: 10)
        #expect(code != nil && code != 0, "exit \(String(describing: code)): \(worker.stdout())")
        #expect(worker.stdout().contains("killing its 1 running job before its lease runs out (others may then run them), and stopping"),
                "\(worker.stdout())")
        #expect(jobProcesses(id).isEmpty)

        // Back up: the next transaction recovers the run the worker could not record.
        #expect(cluster.start().status == 0)
        pg.ok("config", "set", "max-backoff", "0")
        let job = try #require(try pg.jobs()[id])
        #expect(job["state"] as? String == "failed", "\(job)")
        #expect(job["last_error"] as? String == "worker lost", "\(job)")
        #expect(job["attempts"] as? Int == 1, "\(job)")
    }

    /// The same when the server does not close the connection but stops answering (its backends
    /// frozen, as when it hangs): the worker must still fence within its lease. By its Unix socket,
    /// and by TCP with the keepalive settings the README advises for a silent partition.
    @Test(arguments: [false, true])
    func aWorkerWhoseServerStopsAnsweringKillsItsRunBeforeTheLeaseRunsOut(overTCP: Bool) throws {
        _ = try requireTestServer()
        let janitor = Janitor()
        defer { janitor.run() }
        let cluster = try TestCluster()
        janitor.add { cluster.destroy() }
        var conninfo = cluster.conninfo
        if overTCP {
            let port = try #require(cluster.listenOnLoopback(), "the cluster did not restart on a TCP port")
            conninfo = "host=127.0.0.1 port=\(port) dbname=queuectl_test user=postgres "
                + "keepalives_idle=1 keepalives_interval=1 keepalives_count=1 tcp_user_timeout=1000"
        }
        let pg = PostgresQueue(conninfo: conninfo)
        pg.ok("store", "init")
        pg.ok("config", "set", "lease-seconds", "2")
        let id = "frozen-" + UUID().uuidString.prefix(8).lowercased()
        janitor.add { killJobProcesses(id) }
        pg.ok("enqueue", #"{"id":"\#(id)","command":"sleep 60; echo never"}"#)
        let worker = pg.start(["worker", "start"], home: pg.home("worker-host"))
        janitor.add { worker.signal(SIGKILL); worker.wait() }
        var run: [SeenProcess] = []
        #expect(eventually { run = jobProcesses(id); return run.count == 2 }, "\(worker.stdout()) \(worker.stderr())")
        let key = try #require(try pg.row(id)?.worker)
        let leaseUntil = try #require(try pg.leaseUntil(key))
        // The worker's two connections (its queries and its LISTEN) are the cluster's only client backends.
        let backends = try pg.sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
            .split(separator: "\n").compactMap { Int32($0) }
        #expect(backends.count == 2, "\(backends)")
        // The whole server stops answering: its backends and the postmaster, so that no new
        // connection is answered either. (With only the old backends frozen, a worker that connects
        // anew renews its lease and rightly keeps its job.)
        let postmaster = (try? String(contentsOfFile: cluster.dataDirectory + "/postmaster.pid", encoding: .utf8))?
            .split(separator: "\n").first.flatMap { Int32($0) }
        let frozen = backends + [try #require(postmaster, "no postmaster.pid in \(cluster.dataDirectory)")]
        for pid in frozen { kill(pid, SIGSTOP) }
        janitor.add { for pid in frozen { kill(pid, SIGCONT) } }

        // Well past the lease: a second for it to run out, and two more.
        var goneAt: Int64?
        let deadline = Date(timeIntervalSince1970: Double(leaseUntil) / 1000).addingTimeInterval(3)
        while Date() < deadline {
            if run.allSatisfy({ !$0.isRunning }) { goneAt = epochMilliseconds(); break }
            usleep(5_000)
        }
        // Every call to the server gives up after a fifth of the lease, so the worker hears of the
        // silence in time, kills its run and stops, before its lease runs out.
        let gone = try #require(goneAt, "the run still runs \(epochMilliseconds() - leaseUntil) ms after its lease ran out")
        #expect(gone < leaseUntil)
        // Its last transaction and its goodbye each wait out a call's deadline on the silent server.
        #expect(worker.wait(seconds: 5).map { $0 != 0 } == true, "the worker still runs: \(worker.stdout())")
        #expect(worker.stdout().contains("before its lease runs out"), "\(worker.stdout())")
    }

    // MARK: 7. the server restarted mid-drain

    @Test func aServerRestartedMidDrainCostsNoJobAndRunsNoneTwice() throws {
        _ = try requireTestServer()
        let janitor = Janitor()
        defer { janitor.run() }
        let cluster = try TestCluster()
        janitor.add { cluster.destroy() }
        let pg = PostgresQueue(conninfo: cluster.conninfo)
        pg.ok("store", "init")
        pg.ok("config", "set", "lease-seconds", "30")
        let done = pg.sandbox.root + "/done"
        let tag = UUID().uuidString.prefix(8).lowercased()
        let ids = (1...200).map { "r\(tag)-\($0)" }
        janitor.add { for id in ids { killJobProcesses(id) } }
        let jobs = ids.map { #"{"id":"\#($0)","command":"echo $QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT >> \#(done); sleep 0.02"}"# }
        pg.ok("enqueue", "-", stdin: jobs.joined(separator: "\n") + "\n")
        let worker = pg.start(["worker", "start", "--count", "2", "--drain"], home: pg.home("worker-host"))
        janitor.add { worker.signal(SIGKILL); worker.wait() }
        func lines() -> [String] { ((try? String(contentsOfFile: done, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
        #expect(eventually(within: 60) { lines().count >= 50 }, "\(worker.stdout()) \(worker.stderr())")

        #expect(cluster.stopImmediately().status == 0)
        let ranBeforeTheStop = lines().count
        // The worker notices, keeps its results, and goes on trying.
        #expect(eventually { worker.stdout().contains("could not update the queue") }, "\(worker.stdout())")
        #expect(worker.wait(seconds: 0.5) == nil, "the worker gave up: \(worker.stdout())")
        #expect(cluster.start().status == 0)
        let code = worker.wait(seconds: 120)
        #expect(code == 0, "exit \(String(describing: code)): \(worker.stdout()) \(worker.stderr())")

        let all = try pg.jobs()
        #expect(all.count == 200)
        let notCompleted = all.filter { $0.value["state"] as? String != "completed" }
        #expect(notCompleted.isEmpty, "\(notCompleted.mapValues { $0["state"] ?? "?" })")
        var runs: [String: Int] = [:]
        for line in lines() { runs[String(line.split(separator: " ")[0]), default: 0] += 1 }
        #expect(Set(runs.keys) == Set(ids), "never ran: \(Set(ids).subtracting(runs.keys).sorted())")
        // A job may have run again only if its run's record was lost: then it counts a failed attempt.
        var again = 0
        for id in ids {
            let attempts = all[id]?["attempts"] as? Int ?? -1
            #expect(runs[id] == 1 + attempts, "\(id) ran \(runs[id] ?? 0) times with \(attempts) failed attempts recorded")
            again += (runs[id] ?? 0) - 1
        }
        print("server restart mid-drain: \(ranBeforeTheStop) runs before the stop, \(again) jobs run again, "
            + "\(worker.stdout().components(separatedBy: "could not update the queue").count - 1) failed transactions reported")
        #expect(again == 0, "runs repeated although the server lost no committed transaction")
    }

    // MARK: 8. the dashboard

    /// The dashboard serves a PostgreSQL queue as it serves the data file: the JSON of the commands,
    /// the pages, events on a change made on another host, and the actions; never the password.
    @Test func theDashboardServesAPostgreSQLQueue() throws {
        _ = try requireTestServer()
        let schema = PostgresQueue()
        defer { withExtendedLifetime(schema) {} }  // its schema is dropped with it
        let pg = PostgresQueue(conninfo: schema.conninfo + " password=hunter2")
        let early = pg.run(["dashboard", "--port", "0"], within: 20)
        #expect(early.status == 1 && early.stderr.contains("has no queuectl tables yet: create them with 'queuectl store init'"), "\(early)")
        #expect(early.stdout.isEmpty && !FileManager.default.fileExists(atPath: pg.sandbox.home), "nothing listened, no home was made")
        pg.ok("store", "init")
        pg.ok("config", "set", "backoff-base", "1")
        pg.ok("enqueue", #"{"id":"done","command":"echo hi; echo oops >&2"}"#)
        pg.ok("enqueue", #"{"id":"doomed","command":"exit 2","max_retries":0}"#)
        let worker = pg.start(["worker", "start", "--drain"], home: pg.home("worker-host"))
        #expect(worker.wait(seconds: 60) == 0)
        pg.ok("enqueue", "--delay", "1h", #"{"id":"later","command":"./report.sh"}"#)

        let d = try DashboardProcess(["--allow-actions"]) { pg.start($0) }
        let token = try #require(d.token)
        let said = d.child.stdout()
        #expect(said.contains("queuectl dashboard for PostgreSQL at "), "\(said)")
        let http = try HTTPClient(port: d.port)
        #expect(try http.get("/api/status").body == pg.ok("status", "--json"), "the same bytes as status --json")
        #expect(try http.get("/api/jobs").body == pg.ok("list", "--json"))
        #expect(try http.get("/api/jobs?state=dead").body == pg.ok("list", "--state", "dead", "--json"))
        #expect(try http.get("/api/jobs/done").body == pg.ok("show", "done", "--json"))
        #expect(try http.get("/api/jobs/nope").status == 404)

        let page = try http.get("/")
        #expect(page.status == 200 && page.body.contains("title=\"the store\">PostgreSQL at "), "the header names the server")
        #expect(page.body.contains(#"data-state="completed" data-count="1""#) && page.body.contains(#"data-state="dead" data-count="1""#))
        #expect(page.body.contains(#"data-state="total" data-count="3""#) && page.body.contains(#"href="/jobs/later""#), "later is next up")
        #expect(page.body.contains("1 finished, 1 failed"), "the chart counts the runs as the database holds them")
        #expect(page.body.contains(#"<span class="badge hot">1</span>"#), "the DLQ badge")
        let job = try http.get("/jobs/done")
        #expect(job.status == 200 && job.body.contains("hi\n") && job.body.contains("oops\n"), "the log from the database")
        #expect(job.body.contains("=== queuectl: run 1 of 3"))
        #expect(!job.body.contains("\u{2410}") && !job.body.contains(pg.home("worker-host")), "no marks, and no path on the worker's host")
        #expect(try http.get("/jobs/nope").status == 404)
        #expect(try http.get("/dlq").body.contains(#"data-key="exit 2""#))

        // A change made by another process reaches an open stream.
        let stream = try HTTPClient(port: d.port)
        try stream.write("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:\(d.port)\r\n\r\n")
        _ = try stream.readUntil("\n\n", after: "event: status")
        pg.ok("enqueue", #"{"id":"fresh","command":"true"}"#)
        let event = try stream.readUntil("\n\n", after: "event: status")
        #expect(event.contains(#""pending": 2"#) && event.contains(#""total": 4"#), "\(event)")

        let retried = try HTTPClient(port: d.port).post("/api/jobs/doomed/retry", headers: ["X-Queuectl-Token": token])
        #expect(retried.status == 200 && retried.body.contains(#""state": "pending""#), "\(retried.body)")
        #expect(try pg.jobs()["doomed"]?["state"] as? String == "pending")
        let before = try pg.fingerprint()
        let conflict = try HTTPClient(port: d.port).post("/api/jobs/done/retry", headers: ["X-Queuectl-Token": token])
        #expect(conflict.status == 409 && conflict.body.contains("job 'done' is completed; only a failed or dead job can be retried"))
        #expect(try pg.fingerprint() == before, "a refused action writes nothing")
        #expect(d.stop() == 0)
        let everything = said + d.child.stderr() + page.body + job.body + event + early.stderr
        #expect(!everything.contains("hunter2"))
    }

    /// The shell's commands run against the store the shell was started on, and so do its reads.
    @Test func theShellWorksOnPostgreSQL() throws {
        _ = try requireTestServer()
        let pg = PostgresQueue()
        pg.ok("store", "init")
        let r = pg.run(["shell"], within: 20, stdin: "enqueue {\"id\":\"typed\",\"command\":\"true\"}\nlist\nstatus\n")
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("typed  pending"), "\(r)")
        #expect(r.stdout.contains("Store: PostgreSQL at "), "\(r)")
        #expect(try pg.jobs()["typed"]?["state"] as? String == "pending")
    }

    /// What the first slice refused and main now does on PostgreSQL: --after, wait, logs -f, prune,
    /// top and status --watch, each once, with the data file's exit codes.
    @Test func theCommandsOnceMissingOnPostgreSQLWork() throws {
        _ = try requireTestServer()
        let pg = PostgresQueue()
        pg.ok("store", "init")
        let done = pg.sandbox.root + "/order"
        pg.ok("enqueue", #"{"id":"first","command":"sleep 0.3; echo first >> \#(done)"}"#)
        pg.ok("enqueue", "--after", "first", #"{"id":"second","command":"echo second >> \#(done)"}"#)
        pg.ok("enqueue", #"{"id":"doomed","command":"exit 1","max_retries":1}"#)
        pg.ok("enqueue", "--after", "doomed", #"{"id":"orphan","command":"echo orphan-ran >> \#(done)"}"#)
        let worker = pg.start(["worker", "start", "--count", "3", "--drain"], home: pg.home("worker-host"))
        #expect(worker.wait(seconds: 60) == 0, "\(worker.stdout()) \(worker.stderr())")
        #expect((try? String(contentsOfFile: done, encoding: .utf8)) == "first\nsecond\n")
        #expect(try pg.jobs()["orphan"]?["state"] as? String == "dead")
        #expect(pg.run(["wait", "first", "second"], within: 20).status == 0)
        #expect(pg.run(["wait", "doomed"], within: 20).status == 1)
        let followed = pg.run(["logs", "-f", "first"], within: 20)
        #expect(followed.status == 0, "\(followed)")
        #expect(pg.run(["prune", "--dry-run"], within: 20).status == 0)
        #expect(pg.run(["prune"], within: 20).status == 0)
        for args in [["top"], ["status", "--watch"]] {
            let view = pg.start(args)
            #expect(eventually { view.stdout().contains("PostgreSQL at ") }, "\(args): \(view.stdout()) \(view.stderr())")
            view.signal(SIGINT)
            #expect(view.wait(seconds: 10) == 0, "\(args): \(view.stderr())")
        }
    }

    // MARK: beyond the brief

    /// `restart` sends finished jobs to the back of the queue as a fresh set of attempts, which
    /// numbers them anew: it must work on PostgreSQL as on the data file, alone and beside enqueues.
    @Test func restartRunsFinishedJobsAgainAndNumbersThemLast() throws {
        _ = try requireTestServer()
        let pg = PostgresQueue()
        pg.ok("store", "init")
        pg.ok("enqueue", #"{"id":"first","command":"echo first-ran"}"#)
        pg.ok("enqueue", #"{"id":"dies","command":"echo dies-ran; exit 4","max_retries":1}"#)
        let worker = pg.start(["worker", "start", "--drain"], home: pg.home("worker-host"))
        #expect(worker.wait(seconds: 60) == 0)
        pg.ok("enqueue", #"{"id":"later","command":"true","run_at":"2999-01-01T00:00:00Z"}"#)
        let before = try pg.fingerprint()
        #expect(pg.run(["restart", "later"]).status == 1, "a pending job has nothing to restart")
        #expect(try pg.fingerprint() == before)

        let r = pg.run(["restart", "first", "dies"])
        #expect(r.status == 0, "\(r)")
        let jobs = try pg.jobs()
        for id in ["first", "dies"] {
            #expect(jobs[id]?["state"] as? String == "pending", "\(id): \(String(describing: jobs[id]))")
            #expect(jobs[id]?["restarts"] as? Int == 1, "\(id): \(String(describing: jobs[id]))")
        }
        // Numbered after every job there was, in the order given, and the next enqueue after them.
        let seq = { (id: String) in (try? pg.jobs()[id]?["seq"] as? Int) ?? nil }
        pg.ok("enqueue", #"{"id":"next","command":"true"}"#)
        #expect(seq("first")! > seq("later")!)
        #expect(seq("dies")! == seq("first")! + 1)
        #expect(seq("next")! == seq("dies")! + 1)

        // Restarts beside enqueues, at once: every one succeeds, and no number is given twice.
        let restarts = (1...4).map { _ in pg.start(["restart", "first"]) }
        let adds = (1...8).map { pg.start(["enqueue", #"{"id":"more\#($0)","command":"true"}"#]) }
        for c in adds { #expect(c.wait(seconds: 30) == 0, "\(c.stderr())") }
        // A restart of a job already pending again says so (exit 1); one of them runs first.
        let codes = restarts.map { $0.wait(seconds: 30) }
        #expect(codes.allSatisfy { $0 == 0 || $0 == 1 }, "\(codes) \(restarts.map { $0.stderr() })")
        #expect(try pg.sql("SELECT count(*) = count(DISTINCT seq) FROM queuectl_jobs") == "t")

        let again = pg.start(["worker", "start", "--drain"], home: pg.home("worker-host"))
        #expect(again.wait(seconds: 60) == 0)
        #expect(try pg.jobs()["first"]?["state"] as? String == "completed")
        #expect(try pg.jobs()["dies"]?["state"] as? String == "dead")
        let log = pg.ok("logs", "first")
        #expect(log.components(separatedBy: "first-ran\n").count == 3, "both runs' output: \(log)")
        #expect(log.contains("restart 1, run 1 of 3"), "\(log)")
    }


    /// A database whose tables are of a newer schema is refused by every command, and left alone.
    @Test func aNewerSchemaIsRefusedAndLeftAsItIs() throws {
        _ = try requireTestServer()
        let pg = PostgresQueue()
        pg.ok("store", "init")
        pg.ok("enqueue", #"{"id":"a","command":"true"}"#)
        try pg.sql("UPDATE queuectl_meta SET schema_version = 3")
        let before = try pg.fingerprint()
        for args in [["status"], ["store", "init"], ["add", "true"], ["worker", "start", "--drain"], ["cancel", "a"], ["config", "set", "max-retries", "1"]] {
            let r = pg.run(args, within: 30)
            #expect(r.status == 1, "\(args): \(r)")
            #expect(r.stderr.contains("are at schema 3, newer than this queuectl knows (2); it has been left as it is"), "\(args): \(r)")
        }
        #expect(try pg.fingerprint() == before)
    }

    /// Tables of schema 1 (a queuectl before this one) are refused by every command but `store init`,
    /// which brings them up to schema 2; then the queue goes on where it was.
    @Test func anOlderSchemaIsRefusedUntilStoreInitBringsItUp() throws {
        _ = try requireTestServer()
        let pg = PostgresQueue()
        pg.ok("store", "init")
        pg.ok("enqueue", #"{"id":"a","command":"true"}"#)
        try pg.sql(backToSchema1)
        let before = try pg.fingerprint()
        for args in [["status"], ["add", "true"], ["worker", "start", "--drain"], ["cancel", "a"]] {
            let r = pg.run(args, within: 30)
            #expect(r.status == 1, "\(args): \(r)")
            #expect(r.stderr.contains("are at schema 1, older than this queuectl's (2); they have been left as they are: "
                + "bring them up to date with 'queuectl store init'"), "\(args): \(r)")
        }
        #expect(try pg.fingerprint() == before)
        #expect(pg.ok("store", "init").contains("brought the queuectl tables in PostgreSQL at "))
        pg.ok("enqueue", #"{"id":"b","command":"true"}"#)
        pg.ok("worker", "start", "--drain")
        #expect(pg.ok("status").contains("Completed: 2"))
        #expect(try pg.sql(countsBesideJobs.counts) == "default completed 2")
    }

    /// Cancel, kill, pause and resume given on one host reach a worker on another, woken by NOTIFY.
    @Test func controlsGivenOnOneHostReachAWorkerOnAnother() throws {
        _ = try requireTestServer()
        let janitor = Janitor()
        defer { janitor.run() }
        let pg = PostgresQueue()
        pg.ok("store", "init")
        let tag = UUID().uuidString.prefix(8).lowercased()
        let (killed, cancelled) = ("k-\(tag)", "c-\(tag)")
        janitor.add { killJobProcesses(killed); killJobProcesses(cancelled) }
        pg.ok("enqueue", #"{"id":"\#(killed)","command":"sleep 30"}"#)
        pg.ok("enqueue", #"{"id":"\#(cancelled)","command":"sleep 30"}"#)
        let worker = pg.start(["worker", "start", "--count", "2"], home: pg.home("worker-host"))
        janitor.add { worker.signal(SIGKILL); worker.wait() }
        #expect(eventually { !jobProcesses(killed).isEmpty && !jobProcesses(cancelled).isEmpty }, "\(worker.stdout())")
        pg.ok("kill", killed)
        pg.ok("cancel", cancelled)
        #expect(eventually { jobProcesses(killed).isEmpty && jobProcesses(cancelled).isEmpty }, "\(worker.stdout())")
        #expect(eventually { (try? pg.jobs()[killed]?["state"] as? String) == "dead" }, "\(worker.stdout())")
        #expect(eventually { (try? pg.jobs()[cancelled]) == nil }, "\(worker.stdout())")

        pg.ok("pause")
        pg.ok("enqueue", #"{"id":"after-pause","command":"true"}"#)
        // Over two of the worker's looks (one a second), it claims nothing.
        let until = Date().addingTimeInterval(2.2)
        while Date() < until {
            #expect(try pg.jobs()["after-pause"]?["state"] as? String == "pending")
            usleep(100_000)
        }
        pg.ok("resume")
        #expect(eventually { (try? pg.jobs()["after-pause"]?["state"] as? String) == "completed" }, "\(worker.stdout())")
        worker.signal(SIGTERM)
        #expect(worker.wait(seconds: 20) == 0, "\(worker.stdout()) \(worker.stderr())")
    }

    /// A log over `max-log-bytes` keeps its beginning and its end, the middle cut under a marker,
    /// as the data file's does ("the middle is cut beyond it"), also over several runs.
    @Test func aLogOverMaxLogBytesIsCutInTheMiddleAsOnTheDataFile() throws {
        _ = try requireTestServer()
        let pg = PostgresQueue()
        pg.ok("store", "init")
        let file = QueueSandbox()
        let onFile = ["QUEUECTL_STORE": ""]
        let job = #"{"id":"big","command":"echo first-line-of-$QUEUECTL_ATTEMPT; seq 1 300 >&2; [ $QUEUECTL_ATTEMPT -ge 3 ]"}"#
        var logs: [String] = []
        for run in [{ (a: [String]) in pg.run(a) }, { (a: [String]) in file.run(a, env: onFile) }] {
            for setting in [["max-log-bytes", "1024"], ["backoff-base", "1"], ["max-backoff", "0"]] {
                #expect(run(["config", "set"] + setting).status == 0)
            }
            #expect(run(["enqueue", job]).status == 0)
            #expect(run(["worker", "start", "--drain"]).status == 0)
            logs.append(run(["logs", "big"]).stdout)
        }
        let (database, dataFile) = (logs[0], logs[1])
        #expect(dataFile.hasPrefix("=== queuectl: run 1 of 3, started "), "\(dataFile)")
        #expect(dataFile.contains("bytes of output cut here]"), "\(dataFile)")
        #expect(dataFile.hasSuffix("=== queuectl: exit 0 after " + (dataFile.components(separatedBy: "exit 0 after ").last ?? "")))
        // The database bounds a log with the data file's own cut: head and tail around a marker.
        #expect(database.hasPrefix("=== queuectl: run 1 of 3, started "), "\(database)")
        #expect(database.contains("first-line-of-1\n"), "\(database)")
        #expect(database.contains("bytes of output cut here]"), "\(database)")
        #expect(database.hasSuffix("=== queuectl: exit 0 after " + (database.components(separatedBy: "exit 0 after ").last ?? "")))
    }

    /// A run whose output passes `max-log-bytes` while it runs is cut in the middle on the worker's
    /// host, under a marker; the database, which receives the output as it comes (with each lease
    /// renewal, for `logs -f`), must hold the same: whole lines, the marker, nothing spliced.
    @Test func aLongRunsOutputCutWhileItRunsIsNotSplicedInTheDatabase() throws {
        _ = try requireTestServer()
        let pg = PostgresQueue()
        pg.ok("store", "init")
        let file = QueueSandbox()
        let onFile = ["QUEUECTL_STORE": ""]
        // About 3 s of output, 2.7 KB: several lease renewals (every 667 ms) upload it as it grows,
        // and the worker's host cuts it, past 1 KiB, more than once.
        let job = #"{"id":"long","command":"for i in $(seq 1 300); do echo line-$i; sleep 0.01; done"}"#
        var logs: [String] = []
        for run in [{ (a: [String]) in pg.run(a) }, { (a: [String]) in file.run(a, env: onFile) }] {
            for setting in [["max-log-bytes", "1024"], ["lease-seconds", "2"]] { #expect(run(["config", "set"] + setting).status == 0) }
            #expect(run(["enqueue", job]).status == 0)
            #expect(run(["worker", "start", "--drain"]).status == 0)
            logs.append(run(["logs", "long"]).stdout)
        }
        /// The lines that are neither a whole line of the job's, nor queuectl's own, nor a piece of a
        /// line the cut went through (next to its marker).
        func spliced(_ log: String) -> [String] {
            let lines = log.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            func isMarker(_ i: Int) -> Bool { lines.indices.contains(i) && lines[i].hasPrefix("[queuectl: ") && lines[i].hasSuffix(" cut here]") }
            return lines.indices.filter { i in
                let line = lines[i]
                if line.isEmpty || isMarker(i) || (line.hasPrefix("=== queuectl: ") && line.hasSuffix(" ===")) { return false }
                if line.hasPrefix("line-"), Int(line.dropFirst(5)).map({ (1...300).contains($0) }) == true { return false }
                return !(isMarker(i - 1) || isMarker(i + 1))
            }.map { lines[$0] }
        }
        let (database, dataFile) = (logs[0], logs[1])
        #expect(dataFile.contains(" bytes of output cut here]"), "\(dataFile)")
        #expect(spliced(dataFile).isEmpty, "\(spliced(dataFile))\n\(dataFile)")
        #expect(database.contains("line-300\n=== queuectl: exit 0 after "), "\(database)")
        // A cut on the worker's host replaces what the database had of that file with the cut file.
        #expect(database.contains(" bytes of output cut here]"), "\(database)")
        #expect(spliced(database).isEmpty, "spliced: \(spliced(database))\n\(database)")
    }

    /// `keep-completed` bounds the completed jobs a queue keeps; the workers prune as they finish
    /// more, on either store.
    @Test func keepCompletedIsHonouredAsOnTheDataFile() throws {
        _ = try requireTestServer()
        let pg = PostgresQueue()
        pg.ok("store", "init")
        let file = QueueSandbox()
        let onFile = ["QUEUECTL_STORE": ""]
        let stores: [([String]) -> RunResult] = [{ pg.run($0) }, { file.run($0, env: onFile) }]
        for run in stores {
            #expect(run(["config", "set", "keep-completed", "2"]).status == 0)
            for i in 1...6 { #expect(run(["enqueue", #"{"id":"k\#(i)","command":"true"}"#]).status == 0) }
            #expect(run(["worker", "start", "--drain"]).status == 0)
        }
        let kept = { (list: String) in list.split(separator: "\n").dropFirst().count }
        let onTheFile = kept(file.run(["list", "--state", "completed"], env: onFile).stdout)
        #expect(onTheFile < 6, "the data file keeps \(onTheFile)")
        // The first slice kept them all; main prunes as the data file's workers do.
        #expect(kept(pg.ok("list", "--state", "completed")) == onTheFile)
    }
}

// MARK: - a claim whose COMMIT succeeded but whose answer never came

/// A Unix-socket proxy in front of a PostgreSQL server. Once, it lets a claim's COMMIT through
/// (the first COMMIT after a statement with `FOR UPDATE OF j SKIP LOCKED` on a connection) and
/// then drops the connection instead of passing on the server's answer: the claim is committed,
/// and the worker cannot know it, as when a network fails at that moment. Every other byte passes.
final class CommitCuttingProxy: @unchecked Sendable {
    /// The directory of the proxy's socket (`host=` for libpq; the port is 5432).
    let directory: String
    private let upstream: String
    private let listener: Int32
    private let lock = NSLock()
    private var armed = true
    private var cutCount = 0
    private var open: Set<Int32> = []

    /// The number of connections cut so far.
    var cuts: Int { lock.withLock { cutCount } }

    /// `upstream`: the server's socket directory.
    init(upstream serverDirectory: String) throws {
        directory = makeTemporaryDirectory("queuectl-proxy", mode: 0o755)
        upstream = serverDirectory + "/.s.PGSQL.5432"
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0, CommitCuttingProxy.withAddress(directory + "/.s.PGSQL.5432", { bind(listener, $0, $1) }) == 0,
              Glibc.listen(listener, 16) == 0 else {
            throw NSError(domain: "proxy", code: Int(errno), userInfo: [NSLocalizedDescriptionKey: String(cString: strerror(errno))])
        }
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    static func withAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            for (i, b) in bytes.prefix(raw.count - 1).enumerated() { raw[i] = b }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    private final class Connection: @unchecked Sendable {
        let client: Int32, server: Int32
        let lock = NSLock()
        var sawClaim = false
        var cutPending = false
        init(client: Int32, server: Int32) { self.client = client; self.server = server }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            let server = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard server >= 0, CommitCuttingProxy.withAddress(upstream, { connect(server, $0, $1) }) == 0 else {
                close(client)
                if server >= 0 { close(server) }
                continue
            }
            lock.withLock { _ = open.insert(client); _ = open.insert(server) }
            let c = Connection(client: client, server: server)
            Thread.detachNewThread { [self] in clientToServer(c) }
            Thread.detachNewThread { [self] in serverToClient(c) }
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Bool {
        var rest = bytes
        while !rest.isEmpty {
            let n = rest.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            rest = rest.dropFirst(n)
        }
        return true
    }

    private func clientToServer(_ c: Connection) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var carry: [UInt8] = []
        while true {
            let n = read(c.client, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            let chunk = buffer[0..<n]
            let text = String(decoding: carry + chunk, as: UTF8.self)
            carry = Array((carry + chunk).suffix(64))
            if lock.withLock({ armed }) {
                c.lock.withLock {
                    if text.contains("FOR UPDATE OF j SKIP LOCKED") { c.sawClaim = true }
                    if c.sawClaim, text.contains("COMMIT") { c.cutPending = true }
                }
            }
            if !CommitCuttingProxy.writeAll(c.server, chunk) { break }
        }
        shutdown(c.server, Int32(SHUT_WR))
    }

    private func serverToClient(_ c: Connection) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(c.server, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            if c.lock.withLock({ c.cutPending }) {
                // The COMMIT's answer: dropped, and the connection with it.
                lock.withLock { armed = false; cutCount += 1 }
                break
            }
            if !CommitCuttingProxy.writeAll(c.client, buffer[0..<n]) { break }
        }
        shutdown(c.client, Int32(SHUT_RDWR))
        shutdown(c.server, Int32(SHUT_RDWR))
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        lock.withLock { for fd in open { shutdown(fd, Int32(SHUT_RDWR)) } }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

extension PostgresEndToEndTests {
    /// The connection drops after the server committed a claim and before the worker heard so. The
    /// worker reconnects and goes on; the job it claimed without knowing must still run (or go back),
    /// not stay `processing` under a live worker that is not running it.
    @Test func aClaimCommittedWhileTheConnectionDroppedIsNotLeftProcessing() throws {
        let server = try requireTestServer()
        let janitor = Janitor()
        defer { janitor.run() }
        let socketDirectory = try #require(server.split(separator: " ").first { $0.hasPrefix("host=") }.map { String($0.dropFirst(5)) })
        let proxy = try CommitCuttingProxy(upstream: socketDirectory)
        janitor.add { proxy.stop() }
        let pg = PostgresQueue()
        pg.ok("store", "init")
        let id = "cut-" + UUID().uuidString.prefix(8).lowercased()
        janitor.add { killJobProcesses(id) }
        pg.ok("enqueue", #"{"id":"\#(id)","command":"echo ran"}"#)
        // The worker alone goes through the proxy (a later host= wins in a libpq connection string).
        let worker = pg.sandbox.start(["worker", "start", "--drain"],
                                      env: ["QUEUECTL_STORE": pg.conninfo + " host=\(proxy.directory)", "QUEUECTL_HOME": pg.home("worker-host")])
        janitor.add { worker.signal(SIGKILL); worker.wait() }
        let code = worker.wait(seconds: 60)
        #expect(code == 0, "exit \(String(describing: code)): \(worker.stdout()) \(worker.stderr())")
        // The setup did what it meant to: one connection cut at the claim's COMMIT, which the worker
        // saw fail.
        #expect(proxy.cuts == 1)
        #expect(worker.stdout().contains("could not update the queue"), "\(worker.stdout())")
        let job = try #require(try pg.jobs()[id])
        // The next exchange finds the job processing under this worker's own key, neither run nor
        // being started by it: a claim whose answer was lost. It goes back without an attempt, and runs.
        #expect(job["state"] as? String == "completed", "\(job)\n\(worker.stdout())")
        #expect(worker.stdout().contains("\(id) started"), "\(worker.stdout())")
    }
}
