import Foundation
import Testing
import TestSupport

/// A job's environment: the worker's, plus `--env`, or the enqueuer's whole one with `--capture-env`
/// (issue 12, item 8).
@Suite struct EnvironmentTests {
    /// The variables a job saw, from its log: `NAME=value` lines its command printed with `env`.
    func seen(_ q: QueueSandbox, _ id: String) -> [String: String] {
        var found: [String: String] = [:]
        for line in q.ok("logs", id).split(separator: "\n") where !line.hasPrefix("===") {
            if let eq = line.firstIndex(of: "=") { found[String(line[..<eq])] = String(line[line.index(after: eq)...]) }
        }
        return found
    }

    @Test func envAddsToTheWorkersEnvironmentAndTheRunVariablesStayTheWorkers() throws {
        let q = QueueSandbox()
        #expect(q.run(["add", "--id", "e", "--env", "ADDED=1", "--env", "SPACED=a b=c", "--env", "SHARED=job", "env"]).status == 0)
        q.ok("enqueue", #"{"id":"j","command":"env","env":{"FROM_JSON":"yes","SHARED":"job"}}"#)
        q.ok("add", "--id", "none", "env")
        #expect(q.run(["worker", "start", "--drain"], env: ["WORKER_ONLY": "w", "SHARED": "worker"]).status == 0)
        let e = seen(q, "e")
        #expect(e["ADDED"] == "1")
        #expect(e["SPACED"] == "a b=c")
        #expect(e["SHARED"] == "job")
        #expect(e["WORKER_ONLY"] == "w")
        #expect(e["QUEUECTL_JOB_ID"] == "e")
        #expect(e["QUEUECTL_RUN"]?.hasSuffix(":e") == true)
        let j = seen(q, "j")
        #expect(j["FROM_JSON"] == "yes" && j["SHARED"] == "job" && j["WORKER_ONLY"] == "w")
        let none = seen(q, "none")
        #expect(none["SHARED"] == "worker" && none["ADDED"] == nil)
    }

    @Test func captureEnvRunsWithTheEnqueuersWholeEnvironmentInsteadOfTheWorkers() throws {
        let q = QueueSandbox()
        let r = q.run(["add", "--id", "c", "--capture-env", "--env", "EXTRA=x", "env"],
                      env: ["ENQUEUER_ONLY": "here", "SHARED": "enqueuer", "QUEUECTL_JOB_ID": "stale-parent"])
        #expect(r.status == 0, "\(r)")
        let stored = try #require(q.jobs()["c"])
        #expect(stored["env_captured"] as? Bool == true)
        #expect((stored["env"] as? [String: String])?["ENQUEUER_ONLY"] == "here")
        #expect(q.run(["worker", "start", "--drain"], env: ["WORKER_ONLY": "w", "SHARED": "worker"]).status == 0)
        let c = seen(q, "c")
        #expect(c["ENQUEUER_ONLY"] == "here")
        #expect(c["SHARED"] == "enqueuer")
        #expect(c["EXTRA"] == "x")
        #expect(c["WORKER_ONLY"] == nil)
        // The run's own variables are set anew, whatever was captured.
        #expect(c["QUEUECTL_JOB_ID"] == "c")
        #expect(c["QUEUECTL_ATTEMPT"] == "1")
    }

    /// The classic cron trap: a worker started by cron (or systemd) has a bare PATH, so a tool found in
    /// the enqueuer's shell is "not found" in the job; `--env PATH=...` (or `--capture-env`) fixes it.
    @Test func aBarePATHInTheWorkerIsTheCronTrapAndEnvPATHFixesIt() throws {
        let q = QueueSandbox()
        q.ok("config", "set", "max-retries", "0")
        let bin = q.root + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try "#!/bin/sh\necho tool ran\n".write(toFile: bin + "/mytool", atomically: true, encoding: .utf8)
        chmod(bin + "/mytool", 0o755)
        q.ok("add", "--id", "trap", "mytool")
        #expect(q.run(["add", "--id", "fixed", "--env", "PATH=\(bin):/usr/bin:/bin", "mytool"]).status == 0)
        #expect(q.run(["add", "--id", "captured", "--capture-env", "mytool"], env: ["PATH": "\(bin):/usr/bin:/bin"]).status == 0)
        #expect(q.run(["worker", "start", "--drain"], env: ["PATH": "/usr/bin:/bin"]).status == 0)
        let jobs = q.jobs()
        #expect(jobs["trap"]?["state"] as? String == "dead")
        #expect(jobs["trap"]?["exit_code"] as? Int == 127)
        #expect(jobs["fixed"]?["state"] as? String == "completed")
        #expect(jobs["captured"]?["state"] as? String == "completed")
        #expect(q.ok("logs", "fixed").contains("tool ran"))
    }

    @Test func showListsTheNamesNeverTheValuesAndTheFileStaysPrivate() throws {
        let q = QueueSandbox()
        #expect(q.run(["add", "--id", "s", "--env", "API_TOKEN=secret-value", "--env", "TZ=UTC", "true"]).status == 0)
        let show = q.ok("show", "s")
        #expect(show.contains("API_TOKEN TZ (added to the worker's)"), "\(show)")
        #expect(!show.contains("secret-value"))
        #expect(q.run(["add", "--id", "c", "--capture-env", "true"], env: ["ONLY_HERE": "1"]).status == 0)
        #expect(q.ok("show", "c").contains("captured at enqueue, replacing the worker's:"))
        #expect(q.ok("show", "c").contains("ONLY_HERE"))
        var st = stat()
        #expect(stat(q.dataPath, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
    }

    @Test func badNamesValuesAndSizesAreRefusedWithNothingChanged() throws {
        let q = QueueSandbox()
        q.ok("add", "--id", "first", "true")
        let before = try #require(q.dataBytes())
        let big = String(repeating: "v", count: 131_072)
        let cases: [([String], String)] = [
            (["add", "--env", "NOEQUALS", "true"], "--env takes NAME=VALUE, not 'NOEQUALS'"),
            (["add", "--env", "=x", "true"], "name must not be empty"),
            (["add", "--env", "A=1", "--env", "A=2", "true"], "--env sets 'A' more than once"),
            (["add", "--env", "QUEUECTL_JOB_ID=x", "true"], "set by the worker for each run"),
            (["enqueue", #"{"command":"true","env":{"A=B":"1"}}"#], "must not contain '='"),
            (["enqueue", #"{"command":"true","env":{"":"1"}}"#], "name must not be empty"),
            (["enqueue", #"{"command":"true","env":{"A":1}}"#], "'A' must be a string"),
            (["enqueue", #"{"command":"true","env":["A"]}"#], "field 'env' must be an object"),
            (["enqueue", #"{"command":"true","env":{"A":"x\u0000y"}}"#], "must not contain a NUL character"),
            (["enqueue", "--env", "A=2", #"{"command":"true","env":{"A":"1"}}"#], "'env.A' is set in the job and by --env"),
        ]
        for (args, message) in cases {
            let r = q.run(args)
            #expect(r.status == 64, "\(args.prefix(3)): \(r.status)")
            #expect(r.stderr.contains(message), "\(args.prefix(3)): \(r.stderr)")
        }
        // One entry longer than exec(2) takes (which no argument could be, so it comes as JSON).
        let tooBig = q.run(["enqueue", "-"], stdin: #"{"command":"true","env":{"BIG":"\#(big)"}}"#)
        #expect(tooBig.status == 64)
        #expect(tooBig.stderr.contains("environment variable 'BIG' is 131076 bytes; the limit is 131071"), "\(tooBig.stderr)")
        // Many variables, each within its limit, together over 1 MiB.
        let many = (0..<9).flatMap { ["--env", "V\($0)=" + String(repeating: "x", count: 120_000)] }
        let r = q.run(["add"] + many + ["true"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("the limit is 1048576 (1 MiB)"), "\(r.stderr)")
        #expect(q.dataBytes() == before)
    }
}
