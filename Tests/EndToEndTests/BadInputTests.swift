import Foundation
@preconcurrency import Glibc
import Testing
import TestSupport

// Hostile input, end to end: every row runs the built binary against a seeded queue and checks the
// documented exit code, an `Error: ` message on stderr that names the problem, empty stdout, and a
// data file that is byte-identical afterwards (and was not even rewritten).

// MARK: - fixture

/// A real data file made by the binary itself: config changed, two pending jobs and one dead job.
enum BadInputFixture {
    static let seed: Data = {
        let q = QueueSandbox()
        q.ok("config", "set", "backoff-base", "1")
        q.ok("config", "set", "max-backoff", "0")
        q.ok("enqueue", #"{"id":"gamma","command":"exit 1","max_retries":0}"#)
        let worker = q.start(["worker", "start", "--count", "1"])
        precondition(eventually(within: 15) { q.state(of: "gamma") == "dead" }, "seed: gamma never died: \(worker.stderr())")
        worker.signal(SIGINT)
        precondition(worker.wait(seconds: 10) == 0, "seed: worker did not stop")
        q.ok("config", "set", "max-retries", "5")
        q.ok("enqueue", #"{"id":"alpha","command":"echo a"}"#)
        q.ok("enqueue", #"{"id":"beta","command":"echo b","max_retries":1,"priority":5}"#)
        let bytes = q.dataBytes()!
        precondition(q.state(of: "alpha") == "pending" && q.state(of: "beta") == "pending")
        return bytes
    }()

    static var seedText: String { String(decoding: seed, as: UTF8.self) }
}

/// What one bounded run printed and returned (-1: it hung and was killed).
struct Outcome: CustomStringConvertible {
    let status: Int32
    let stdout: String
    let stderr: String
    var description: String { "exit \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)" }
}

/// The data file's identity: a rewrite (temp file + rename) changes the inode even if bytes match.
struct FileIdentity: Equatable {
    let inode: UInt64
    let mode: UInt32
    let uid: UInt32
}

func fileIdentity(_ path: String) -> FileIdentity? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return FileIdentity(inode: UInt64(st.st_ino), mode: UInt32(st.st_mode) & 0o7777, uid: UInt32(st.st_uid))
}

extension QueueSandbox {
    /// A queue home (0700) holding `data` as data.json (0600).
    static func seeded(_ data: Data = BadInputFixture.seed) -> QueueSandbox {
        let q = QueueSandbox()
        precondition(mkdir(q.home, 0o700) == 0)
        precondition(FileManager.default.createFile(atPath: q.dataPath, contents: data, attributes: [.posixPermissions: 0o600]))
        return q
    }

    /// Runs `queuectl args` but never waits more than `seconds` (a worker that wrongly starts is killed).
    func bounded(_ args: [String], stdin: String? = nil, env: [String: String] = [:], seconds: Double = 10) -> Outcome {
        let child = start(args, stdin: stdin, env: env)
        if let status = child.wait(seconds: seconds) {
            return Outcome(status: status, stdout: child.stdout(), stderr: child.stderr())
        }
        child.signal(SIGKILL)
        child.wait()
        return Outcome(status: -1, stdout: child.stdout(), stderr: "(hung for \(seconds)s and was killed)\n" + child.stderr())
    }

    /// Puts a decodable file back so `deinit` (which force-casts the document) cannot crash.
    func dropData() {
        chmod(home, 0o700)
        unlink(dataPath)
    }
}

// MARK: - the table

struct BadInputRow: Sendable, CustomTestStringConvertible {
    let name: String
    let args: [String]
    var stdin: String? = nil
    /// Acceptable exit codes (one, unless the documents leave it open).
    let codes: [Int32]
    /// Each must appear in stderr, case-insensitively.
    let mentions: [String]
    /// Files to create under the sandbox root first; `{ROOT}` in args is replaced by the root.
    var files: [String: String] = [:]

    var testDescription: String { name }

    init(_ name: String, _ args: [String], stdin: String? = nil, _ code: Int32, _ mentions: [String], files: [String: String] = [:]) {
        self.name = name
        self.args = args
        self.stdin = stdin
        self.codes = [code]
        self.mentions = mentions
        self.files = files
    }

    init(_ name: String, _ args: [String], stdin: String? = nil, oneOf codes: [Int32], _ mentions: [String], files: [String: String] = [:]) {
        self.name = name
        self.args = args
        self.stdin = stdin
        self.codes = codes
        self.mentions = mentions
        self.files = files
    }
}

let exitUsage: Int32 = 64
let exitFailure: Int32 = 1

let badInputLongID = String(repeating: "a", count: 129)
let badInputHugeLine = String(repeating: "x", count: (1 << 20) + 10)
let badInputHugeCommandLine = #"{"command":""# + String(repeating: "y", count: (1 << 20) + 10) + #""}"#

let badInputRows: [BadInputRow] = [
    // JSON that is not a job
    .init("malformed JSON", ["enqueue", #"{"command": "echo"#], exitUsage, ["JSON"]),
    .init("malformed JSON, single quotes", ["enqueue", "{'command': 'echo'}"], exitUsage, ["JSON"]),
    .init("empty string argument", ["enqueue", ""], exitUsage, ["JSON"]),
    .init("trailing text after the object", ["enqueue", #"{"command":"x"} junk"#], exitUsage, ["JSON"]),
    .init("two objects on one line", ["enqueue", #"{"command":"a"}{"command":"b"}"#], exitUsage, ["JSON"]),
    .init("duplicate key in one object", ["enqueue", #"{"command":"a","command":"b"}"#], exitUsage, ["command"]),
    .init("JSON array", ["enqueue", #"[{"command":"echo a"}]"#], exitUsage, ["object"]),
    .init("JSON string", ["enqueue", #""echo a""#], exitUsage, ["object"]),
    .init("JSON number", ["enqueue", "42"], exitUsage, ["object"]),
    .init("JSON null", ["enqueue", "null"], exitUsage, ["object"]),
    .init("JSON true", ["enqueue", "true"], exitUsage, ["object"]),
    .init("nested 100 000 arrays deep", ["enqueue", String(repeating: "[", count: 100_000)], exitUsage, ["JSON"]),
    .init("stdin: a command nested 200 000 deep", ["enqueue", "-"],
          stdin: #"{"command":"# + String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000) + "}\n", exitUsage, ["JSON"]),
    .init("lone surrogate escape", ["enqueue", #"{"command":"\ud800"}"#], exitUsage, ["JSON"]),
    .init("invalid escape", ["enqueue", #"{"command":"\x41"}"#], exitUsage, ["JSON"]),
    .init("number with a leading zero", ["enqueue", #"{"command":"a","max_retries":01}"#], exitUsage, ["JSON"]),
    .init("raw newline inside a string", ["enqueue", "{\"command\":\"a\nb\"}"], exitUsage, ["JSON"]),
    .init("stdin: a JSON array of jobs", ["enqueue", "-"], stdin: #"[{"command":"echo a"},{"command":"echo b"}]"# + "\n", exitUsage, ["object"]),

    // wrong field types and values
    .init("command is a number", ["enqueue", #"{"command": 5}"#], exitUsage, ["command"]),
    .init("command is null", ["enqueue", #"{"command": null}"#], exitUsage, ["command"]),
    .init("command is an array", ["enqueue", #"{"command": ["echo", "a"]}"#], exitUsage, ["command"]),
    .init("id is a fraction", ["enqueue", #"{"id": 7.5, "command": "echo"}"#], exitUsage, ["id"]),
    .init("id is a negative number", ["enqueue", #"{"id": -7, "command": "echo"}"#], exitUsage, ["id"]),
    .init("max_retries is a string", ["enqueue", #"{"command": "echo", "max_retries": "3"}"#], exitUsage, ["max_retries"]),
    .init("max_retries is negative", ["enqueue", #"{"command": "echo", "max_retries": -1}"#], exitUsage, ["max_retries"]),
    .init("max_retries is fractional", ["enqueue", #"{"command": "echo", "max_retries": 1.5}"#], exitUsage, ["max_retries"]),
    .init("max_retries is huge", ["enqueue", #"{"command": "echo", "max_retries": 99999999999999999999}"#], exitUsage, ["max_retries"]),
    .init("max_retries is 1e30", ["enqueue", #"{"command": "echo", "max_retries": 1e30}"#], exitUsage, ["max_retries"]),
    .init("max_retries is boolean", ["enqueue", #"{"command": "echo", "max_retries": true}"#], exitUsage, ["max_retries"]),
    .init("priority is a string", ["enqueue", #"{"command": "echo", "priority": "high"}"#], exitUsage, ["priority"]),
    .init("missing command", ["enqueue", #"{"id": "nocmd"}"#], exitUsage, ["command"]),
    .init("empty object", ["enqueue", "{}"], exitUsage, ["command"]),

    // unknown fields
    .init("typo 'comand' is named with a suggestion", ["enqueue", #"{"comand": "echo a"}"#], exitUsage, ["comand", "did you mean", "'command'"]),
    .init("typo 'max_retry' alongside command", ["enqueue", #"{"command": "echo a", "max_retry": 2}"#], exitUsage, ["max_retry"]),
    .init("unknown field 'foo'", ["enqueue", #"{"command": "echo a", "foo": 1}"#], exitUsage, ["foo"]),
    .init("unknown field 'state' (not settable)", ["enqueue", #"{"command": "echo a", "state": "completed"}"#], exitUsage, ["state"]),

    // empty commands
    .init("empty command", ["enqueue", #"{"command": ""}"#], exitUsage, ["command", "empty"]),
    .init("whitespace-only command", ["enqueue", #"{"command": "  \t\n "}"#], exitUsage, ["command", "empty"]),
    .init("command with a NUL", ["enqueue", #"{"command": "echo a\u0000rm -rf"}"#], exitUsage, ["command"]),

    // unsafe ids
    .init("id with a slash", ["enqueue", #"{"id": "a/b", "command": "echo"}"#], exitUsage, ["id"]),
    .init("id '..'", ["enqueue", #"{"id": "..", "command": "echo"}"#], exitUsage, ["id"]),
    .init("id '.'", ["enqueue", #"{"id": ".", "command": "echo"}"#], exitUsage, ["id"]),
    .init("id '../etc'", ["enqueue", #"{"id": "../etc", "command": "echo"}"#], exitUsage, ["id"]),
    .init("id with a space", ["enqueue", #"{"id": "a b", "command": "echo"}"#], exitUsage, ["id"]),
    .init("id with a newline", ["enqueue", #"{"id": "a\nb", "command": "echo"}"#], exitUsage, ["id"]),
    .init("id of 129 characters", ["enqueue", #"{"id": ""# + badInputLongID + #"", "command": "echo"}"#], exitUsage, ["id", "128"]),
    .init("empty id", ["enqueue", #"{"id": "", "command": "echo"}"#], exitUsage, ["id"]),
    .init("id starting with '-'", ["enqueue", #"{"id": "-rf", "command": "echo"}"#], exitUsage, ["id"]),
    .init("non-ASCII id", ["enqueue", #"{"id": "jöb", "command": "echo"}"#], exitUsage, ["id"]),

    // duplicates and all-or-none batches
    .init("duplicate of an existing id", ["enqueue", #"{"id": "alpha", "command": "echo again"}"#], exitFailure, ["alpha"]),
    .init("duplicate of an existing dead id", ["enqueue", #"{"id": "gamma", "command": "echo again"}"#], exitFailure, ["gamma"]),
    .init("stdin: same id twice in one batch", ["enqueue", "-"],
          stdin: #"{"id":"new1","command":"echo 1"}"# + "\n" + #"{"id":"new1","command":"echo 2"}"# + "\n", exitFailure, ["new1"]),
    .init("stdin: good lines then a duplicate of an existing id", ["enqueue", "-"],
          stdin: #"{"id":"new1","command":"echo 1"}"# + "\n" + #"{"command":"echo 2"}"# + "\n" + #"{"id":"beta","command":"echo 3"}"# + "\n", exitFailure, ["beta"]),
    .init("stdin: one bad line among good ones", ["enqueue", "-"],
          stdin: #"{"id":"ok1","command":"echo 1"}"# + "\n" + #"{"command":"#+"\n" + #"{"id":"ok3","command":"echo 3"}"# + "\n", exitUsage, ["line 2"]),
    .init("stdin: one unknown field among good lines", ["enqueue", "-"],
          stdin: #"{"id":"ok1","command":"echo 1"}"# + "\n" + #"{"id":"ok2","command":"echo 2"}"# + "\n" + #"{"id":"ok3","comand":"echo 3"}"# + "\n", exitUsage, ["line 3", "comand"]),
    .init("stdin: one empty command among good lines", ["enqueue", "-"],
          stdin: #"{"id":"ok1","command":"echo 1"}"# + "\n" + #"{"id":"ok2","command":" "}"# + "\n", exitUsage, ["line 2", "command"]),
    .init("stdin: one unsafe id among good lines", ["enqueue", "-"],
          stdin: #"{"id":"ok1","command":"echo 1"}"# + "\n" + #"{"id":"../x","command":"echo 2"}"# + "\n", exitUsage, ["line 2", "id"]),
    .init("stdin: a line over 1 MiB after a good line", ["enqueue", "-"],
          stdin: #"{"id":"ok1","command":"echo 1"}"# + "\n" + badInputHugeLine + "\n", exitUsage, ["line 2"]),
    .init("stdin: a valid job over 1 MiB", ["enqueue", "-"], stdin: badInputHugeCommandLine + "\n", exitUsage, ["command"]),
    .init("stdin: a valid job over 1 MiB among good lines", ["enqueue", "-"],
          stdin: #"{"id":"ok1","command":"echo 1"}"# + "\n" + badInputHugeCommandLine + "\n", exitUsage, ["line 2"]),
    .init("stdin: empty", ["enqueue", "-"], stdin: "", exitUsage, ["no jobs"]),
    .init("stdin: only blank lines", ["enqueue", "-"], stdin: "\n  \n\t\n", exitUsage, ["no jobs"]),
    .init("--file: one bad line among good ones names the file", ["enqueue", "--file", "{ROOT}/jobs.jsonl"], exitUsage, ["jobs.jsonl", "line 2"],
          files: ["jobs.jsonl": #"{"id":"f1","command":"echo 1"}"# + "\n" + "not json\n"]),
    .init("--file: duplicate ids in the file", ["enqueue", "--file", "{ROOT}/dups.jsonl"], exitFailure, ["f1"],
          files: ["dups.jsonl": #"{"id":"f1","command":"echo 1"}"# + "\n" + #"{"id":"f1","command":"echo 2"}"# + "\n"]),

    // enqueue usage
    .init("enqueue with no argument", ["enqueue"], exitUsage, ["json"]),
    .init("enqueue with two arguments", ["enqueue", #"{"command":"a"}"#, #"{"command":"b"}"#], exitUsage, ["unexpected"]),
    .init("enqueue --file of a missing file", ["enqueue", "--file", "/nonexistent/job.json"], oneOf: [exitUsage, exitFailure], ["/nonexistent/job.json"]),
    .init("enqueue --file of a directory", ["enqueue", "--file", "/tmp"], oneOf: [exitUsage, exitFailure], ["/tmp"]),
    .init("enqueue with both JSON and --file", ["enqueue", #"{"command":"a"}"#, "--file", "/tmp/x.json"], exitUsage, ["file"]),
    .init("enqueue --file with no value", ["enqueue", "--file"], exitUsage, ["--file"]),

    // worker start --count
    .init("worker start --count 0", ["worker", "start", "--count", "0"], exitUsage, ["--count"]),
    .init("worker start --count -1", ["worker", "start", "--count", "-1"], exitUsage, ["--count"]),
    .init("worker start --count abc", ["worker", "start", "--count", "abc"], exitUsage, ["--count"]),
    .init("worker start --count 1.5", ["worker", "start", "--count", "1.5"], exitUsage, ["--count"]),
    .init("worker start --count empty", ["worker", "start", "--count", ""], exitUsage, ["--count"]),
    .init("worker start --count huge", ["worker", "start", "--count", "99999999999999999999"], exitUsage, ["--count"]),
    .init("worker start --count=0", ["worker", "start", "--count=0"], exitUsage, ["--count"]),
    .init("worker start --count with no value", ["worker", "start", "--count"], exitUsage, ["--count"]),
    .init("worker start --count twice", ["worker", "start", "--count", "1", "--count", "2"], exitUsage, ["--count"]),
    .init("worker start extra argument", ["worker", "start", "now"], exitUsage, ["now"]),
    .init("worker stop --bogus", ["worker", "stop", "--bogus"], exitUsage, ["--bogus"]),

    // numbers: one reader for every option and config key, plain decimal only
    .init("enqueue --timeout 0x10 (hex)", ["enqueue", "--timeout", "0x10", #"{"command":"true"}"#], exitUsage, ["--timeout", "0x10", "seconds"]),
    .init("enqueue --timeout inf", ["enqueue", "--timeout", "inf", #"{"command":"true"}"#], exitUsage, ["--timeout", "inf"]),
    .init("enqueue --timeout nan", ["enqueue", "--timeout", "nan", #"{"command":"true"}"#], exitUsage, ["--timeout", "nan"]),
    .init("enqueue --timeout 1e3", ["enqueue", "--timeout", "1e3", #"{"command":"true"}"#], exitUsage, ["--timeout", "1e3"]),
    .init("enqueue --timeout +5", ["enqueue", "--timeout", "+5", #"{"command":"true"}"#], exitUsage, ["--timeout", "+5"]),
    .init("enqueue --timeout ' 5'", ["enqueue", "--timeout", " 5", #"{"command":"true"}"#], exitUsage, ["--timeout"]),
    .init("enqueue --timeout empty", ["enqueue", "--timeout", "", #"{"command":"true"}"#], exitUsage, ["--timeout"]),
    .init("enqueue --timeout .5", ["enqueue", "--timeout", ".5", #"{"command":"true"}"#], exitUsage, ["--timeout"]),
    .init("enqueue --timeout -1", ["enqueue", "--timeout", "-1", #"{"command":"true"}"#], exitUsage, ["--timeout"]),
    .init("enqueue --timeout 0", ["enqueue", "--timeout", "0", #"{"command":"true"}"#], exitUsage, ["--timeout"]),
    .init("enqueue --priority 0x10", ["enqueue", "--priority", "0x10", #"{"command":"true"}"#], exitUsage, ["--priority", "0x10", "integer"]),
    .init("enqueue --priority +5", ["enqueue", "--priority", "+5", #"{"command":"true"}"#], exitUsage, ["--priority", "+5"]),
    .init("enqueue --priority 1e2", ["enqueue", "--priority", "1e2", #"{"command":"true"}"#], exitUsage, ["--priority"]),
    .init("enqueue --priority 1.5", ["enqueue", "--priority", "1.5", #"{"command":"true"}"#], exitUsage, ["--priority"]),
    .init("enqueue --priority -1001", ["enqueue", "--priority", "-1001", #"{"command":"true"}"#], exitUsage, ["--priority", "-1000"]),
    .init("enqueue --delay 0x10m", ["enqueue", "--delay", "0x10m", #"{"command":"true"}"#], exitUsage, ["--delay"]),
    .init("enqueue --delay +5m", ["enqueue", "--delay", "+5m", #"{"command":"true"}"#], exitUsage, ["--delay"]),
    .init("enqueue --delay 1e3", ["enqueue", "--delay", "1e3", #"{"command":"true"}"#], exitUsage, ["--delay"]),
    .init("worker start --count 0x2", ["worker", "start", "--count", "0x2"], exitUsage, ["--count", "0x2"]),
    .init("worker start --count +2", ["worker", "start", "--count", "+2"], exitUsage, ["--count", "+2"]),
    .init("worker start --count ' 2'", ["worker", "start", "--count", " 2"], exitUsage, ["--count"]),
    .init("worker stop --wait --timeout 0x10", ["worker", "stop", "--wait", "--timeout", "0x10"], exitUsage, ["--timeout", "0x10"]),
    .init("worker stop --wait --timeout inf", ["worker", "stop", "--wait", "--timeout", "inf"], exitUsage, ["--timeout", "inf"]),
    .init("worker stop --wait --timeout 1e30", ["worker", "stop", "--wait", "--timeout", "1e30"], exitUsage, ["--timeout"]),
    .init("wait --timeout 0x10", ["wait", "alpha", "--timeout", "0x10"], exitUsage, ["--timeout", "0x10"]),
    .init("wait --timeout nan", ["wait", "alpha", "--timeout", "nan"], exitUsage, ["--timeout"]),
    .init("list --limit 0x10", ["list", "--limit", "0x10"], exitUsage, ["--limit", "0x10"]),
    .init("list --limit +1", ["list", "--limit", "+1"], exitUsage, ["--limit"]),
    .init("prune --keep 0x10", ["prune", "--keep", "0x10"], exitUsage, ["--keep", "0x10"]),
    .init("prune --keep 1e3", ["prune", "--keep", "1e3"], exitUsage, ["--keep"]),
    .init("prune --older-than 0x10", ["prune", "--older-than", "0x10"], exitUsage, ["--older-than"]),
    .init("status --watch --interval 0x1", ["status", "--watch", "--interval", "0x1"], exitUsage, ["--interval", "0x1"]),
    .init("status --watch --interval inf", ["status", "--watch", "--interval", "inf"], exitUsage, ["--interval"]),
    .init("max-retries +3", ["config", "set", "max-retries", "+3"], exitUsage, ["max-retries", "+3"]),
    .init("worker-count 0x2", ["config", "set", "worker-count", "0x2"], exitUsage, ["worker-count", "0x2"]),
    .init("job-timeout 1e3", ["config", "set", "job-timeout", "1e3"], exitUsage, ["job-timeout", "1e3"]),
    .init("job-timeout 0x10", ["config", "set", "job-timeout", "0x10"], exitUsage, ["job-timeout", "0x10"]),
    .init("max-log-bytes 0x400", ["config", "set", "max-log-bytes", "0x400"], exitUsage, ["max-log-bytes"]),
    .init("keep-completed +5", ["config", "set", "keep-completed", "+5"], exitUsage, ["keep-completed"]),
    .init("keep-completed-for 1e3", ["config", "set", "keep-completed-for", "1e3"], exitUsage, ["keep-completed-for"]),
    .init("backoff-base +2", ["config", "set", "backoff-base", "+2"], exitUsage, ["backoff-base"]),

    // the directory a job runs in must exist (else every run fails)
    .init("enqueue --cwd of a missing directory", ["enqueue", "--cwd", "/nonexistent", #"{"command":"true"}"#], exitUsage, ["--cwd", "/nonexistent", "does not exist"]),
    .init("enqueue --cwd of a file", ["enqueue", "--cwd", "{ROOT}/plain-file", #"{"command":"true"}"#], exitUsage, ["--cwd", "not a directory"],
          files: ["plain-file": "x"]),
    .init("enqueue --cwd relative", ["enqueue", "--cwd", "relative/dir", #"{"command":"true"}"#], exitUsage, ["--cwd", "absolute"]),
    .init("job field cwd of a missing directory", ["enqueue", #"{"command":"true","cwd":"/nonexistent"}"#], exitUsage, ["cwd", "/nonexistent", "does not exist"]),
    .init("job field cwd of a file", ["enqueue", #"{"command":"true","cwd":"{ROOT}/plain-file"}"#], exitUsage, ["cwd", "not a directory"],
          files: ["plain-file": "x"]),
    .init("stdin: one job with a missing cwd among good lines", ["enqueue", "-"],
          stdin: #"{"id":"ok1","command":"echo 1"}"# + "\n" + #"{"id":"ok2","command":"echo 2","cwd":"/nonexistent/dir"}"# + "\n", exitUsage, ["/nonexistent/dir"]),

    // list
    .init("list --state bogus", ["list", "--state", "bogus"], exitUsage, ["bogus"]),
    .init("list --state empty", ["list", "--state", ""], exitUsage, ["state"]),
    .init("list --limit -1", ["list", "--limit", "-1"], exitUsage, ["--limit"]),
    .init("list --limit abc", ["list", "--limit", "abc"], exitUsage, ["--limit"]),
    .init("list --limit=-1", ["list", "--limit=-1"], exitUsage, ["--limit"]),
    .init("list --bogus", ["list", "--bogus"], exitUsage, ["--bogus"]),
    .init("list -z", ["list", "-z"], exitUsage, ["-z"]),
    .init("list --json=yes", ["list", "--json=yes"], exitUsage, ["--json"]),
    .init("list with an argument", ["list", "pending"], exitUsage, ["pending"]),
    .init("status with two arguments", ["status", "a", "b"], exitUsage, ["b"]),
    .init("worker start with two counts", ["worker", "start", "2", "--count", "3"], exitUsage, ["count"]),
    .init("worker start with a count of zero", ["worker", "start", "0"], exitUsage, ["count"]),
    .init("status --bogus", ["status", "--bogus"], exitUsage, ["--bogus"]),

    // commands and subcommands
    .init("unknown command", ["frobnicate"], exitUsage, ["frobnicate"]),
    .init("unknown dlq subcommand", ["dlq", "frob"], exitUsage, ["frob"]),
    .init("unknown worker subcommand", ["worker", "frob"], exitUsage, ["frob"]),
    .init("unknown config subcommand", ["config", "frob"], exitUsage, ["frob"]),
    .init("missing dlq subcommand", ["dlq"], exitUsage, ["subcommand"]),
    .init("missing config subcommand", ["config"], exitUsage, ["subcommand"]),
    .init("missing worker subcommand", ["worker"], exitUsage, ["subcommand"]),
    .init("unknown top-level flag", ["--bogus"], exitUsage, ["--bogus"]),
    .init("help for an unknown command", ["help", "frobnicate"], exitUsage, ["frobnicate"]),

    // config
    .init("config set with a missing value", ["config", "set", "max-retries"], exitUsage, ["value"]),
    .init("config set with nothing", ["config", "set"], exitUsage, ["key"]),
    .init("config set lease-seconds below the least a heartbeat needs", ["config", "set", "lease-seconds", "1"], exitUsage, ["lease-seconds", "2"]),
    .init("config set lease-seconds over an hour", ["config", "set", "lease-seconds", "3601"], exitUsage, ["lease-seconds", "3600"]),
    .init("config set with too many arguments", ["config", "set", "max-retries", "3", "4"], exitUsage, ["4"]),
    .init("config get with too many arguments", ["config", "get", "max-retries", "backoff-base"], exitUsage, ["backoff-base"]),
    .init("config set of an unknown key lists the valid ones", ["config", "set", "max-retry", "3"], exitUsage, ["max-retry", "max-retries", "worker-count"]),
    .init("config get of an unknown key", ["config", "get", "bogus"], exitUsage, ["bogus"]),
    .init("max-retries -1", ["config", "set", "max-retries", "-1"], exitUsage, ["max-retries"]),
    .init("max-retries abc", ["config", "set", "max-retries", "abc"], exitUsage, ["max-retries"]),
    .init("max-retries 1.5", ["config", "set", "max-retries", "1.5"], exitUsage, ["max-retries"]),
    .init("max-retries empty", ["config", "set", "max-retries", ""], exitUsage, ["max-retries"]),
    .init("max-retries huge", ["config", "set", "max-retries", "99999999999999999999"], exitUsage, ["max-retries"]),
    .init("max_retries spelling, bad value", ["config", "set", "max_retries", "-3"], exitUsage, ["max-retries"]),
    .init("backoff-base 0.5", ["config", "set", "backoff-base", "0.5"], exitUsage, ["backoff-base"]),
    .init("backoff-base 0", ["config", "set", "backoff-base", "0"], exitUsage, ["backoff-base"]),
    .init("backoff-base -2", ["config", "set", "backoff-base", "-2"], exitUsage, ["backoff-base"]),
    .init("backoff-base nan", ["config", "set", "backoff-base", "nan"], exitUsage, ["backoff-base"]),
    .init("backoff-base inf", ["config", "set", "backoff-base", "inf"], exitUsage, ["backoff-base"]),
    .init("backoff-base infinity", ["config", "set", "backoff-base", "infinity"], exitUsage, ["backoff-base"]),
    .init("backoff-base abc", ["config", "set", "backoff-base", "abc"], exitUsage, ["backoff-base"]),
    .init("backoff-base hex", ["config", "set", "backoff-base", "0x10"], exitUsage, ["backoff-base"]),
    .init("max-backoff -1", ["config", "set", "max-backoff", "-1"], exitUsage, ["max-backoff"]),
    .init("max-backoff abc", ["config", "set", "max-backoff", "abc"], exitUsage, ["max-backoff"]),
    .init("max-backoff nan", ["config", "set", "max-backoff", "nan"], exitUsage, ["max-backoff"]),
    .init("worker-count 0", ["config", "set", "worker-count", "0"], exitUsage, ["worker-count"]),
    .init("worker-count -1", ["config", "set", "worker-count", "-1"], exitUsage, ["worker-count"]),
    .init("worker-count 2.5", ["config", "set", "worker-count", "2.5"], exitUsage, ["worker-count"]),

    // dlq
    .init("dlq retry of an unknown id", ["dlq", "retry", "nosuch"], exitFailure, ["nosuch"]),
    .init("dlq retry of a pending job", ["dlq", "retry", "alpha"], exitFailure, ["alpha"]),
    .init("dlq retry of a dead job and an unknown one: none retried", ["dlq", "retry", "gamma", "nosuch"], exitFailure, ["nosuch"]),
    .init("dlq retry of a dead job and a pending one: none retried", ["dlq", "retry", "gamma", "alpha"], exitFailure, ["alpha"]),
    .init("dlq retry with ids and --all", ["dlq", "retry", "gamma", "--all"], exitUsage, ["--all"]),
    .init("dlq retry with nothing", ["dlq", "retry"], exitUsage, ["id"]),
    .init("dlq retry of an unsafe id", ["dlq", "retry", "../gamma"], oneOf: [exitUsage, exitFailure], ["../gamma"]),
    .init("dlq delete of an unknown id", ["dlq", "delete", "nosuch"], exitFailure, ["nosuch"]),
    .init("dlq delete of a pending job", ["dlq", "delete", "beta"], exitFailure, ["beta"]),
    .init("dlq delete of a dead job and an unknown one: none deleted", ["dlq", "delete", "gamma", "nosuch"], exitFailure, ["nosuch"]),
    .init("dlq delete with nothing", ["dlq", "delete"], exitUsage, ["id"]),
    .init("dlq list with an argument", ["dlq", "list", "gamma"], exitUsage, ["gamma"]),
]

// MARK: - bad data files

struct BadFileRow: Sendable, CustomTestStringConvertible {
    let name: String
    /// What the file should say is wrong, besides its path (case-insensitive), if anything.
    let mentions: [String]
    let make: @Sendable (String) -> Data?
    var testDescription: String { name }
}

func badInputReplacing(_ text: String, _ target: String, _ replacement: String) -> Data? {
    guard text.contains(target) else { return nil }
    return Data(text.replacingOccurrences(of: target, with: replacement).utf8)
}

func badInputReplacingFirst(_ text: String, _ target: String, _ replacement: String) -> Data? {
    guard let range = text.range(of: target) else { return nil }
    return Data(text.replacingCharacters(in: range, with: replacement).utf8)
}

let badFileRows: [BadFileRow] = [
    .init(name: "truncated in half", mentions: []) { s in Data(Data(s.utf8).prefix(s.utf8.count / 2)) },
    .init(name: "truncated by one byte", mentions: []) { s in Data(Data(s.utf8).dropLast(2)) },
    .init(name: "empty (0 bytes)", mentions: []) { _ in Data() },
    .init(name: "not JSON at all", mentions: []) { _ in Data("this is not json\n".utf8) },
    .init(name: "binary garbage with NULs", mentions: []) { _ in Data([0, 1, 2, 0xFF, 0xFE, 0, 0x7B]) },
    .init(name: "a JSON array", mentions: []) { _ in Data("[]\n".utf8) },
    .init(name: "an empty object", mentions: []) { _ in Data("{}\n".utf8) },
    .init(name: "JSON null", mentions: []) { _ in Data("null\n".utf8) },
    .init(name: "trailing garbage after the document", mentions: []) { s in Data((s + "garbage\n").utf8) },
    .init(name: "a job missing state", mentions: ["state"]) { s in badInputReplacingFirst(s, #""state": "pending", "#, "") },
    .init(name: "a job with an unknown state", mentions: ["zombie"]) { s in badInputReplacingFirst(s, #""state": "pending""#, #""state": "zombie""#) },
    .init(name: "jobs is an object", mentions: []) { s in
        guard let start = s.range(of: #""jobs": ["#) else { return nil }
        return Data((String(s[..<start.lowerBound]) + "\"jobs\": {}\n}\n").utf8)
    },
    .init(name: "version 99", mentions: ["version"]) { s in badInputReplacing(s, #""version": 2,"#, #""version": 99,"#) },
    .init(name: "version as a string", mentions: []) { s in badInputReplacing(s, #""version": 2,"#, #""version": "1","#) },
    .init(name: "two jobs with the same id", mentions: ["alpha"]) { s in badInputReplacing(s, #""id": "beta""#, #""id": "alpha""#) },
    .init(name: "nested 500 000 arrays deep", mentions: []) { s in
        Data((String(s.prefix(while: { $0 != "\n" })) + "\n  \"x\": " + String(repeating: "[", count: 500_000)).utf8)
    },
    .init(name: "config with worker_count 0", mentions: ["worker_count"]) { s in badInputReplacing(s, #""worker_count": 1"#, #""worker_count": 0"#) },
    .init(name: "config with a negative max_retries", mentions: ["max_retries"]) { s in badInputReplacing(s, #""max_retries": 5,"#, #""max_retries": -5,"#) },
]

/// Commands that each must refuse a bad queue. `worker start` is bounded: if it wrongly runs, it is killed.
let storageCommands: [[String]] = [
    ["status"], ["status", "--json"], ["list"], ["list", "--json", "--state", "dead"],
    ["enqueue", #"{"id":"fresh","command":"echo fresh"}"#], ["enqueue", "-"],
    ["config", "get"], ["config", "get", "max-retries"], ["config", "set", "max-retries", "2"],
    ["dlq", "list"], ["dlq", "retry", "--all"], ["dlq", "retry", "gamma"], ["dlq", "delete", "gamma"],
    ["worker", "start", "--count", "1"], ["worker", "stop"],
]

struct PermissionRow: Sendable, CustomTestStringConvertible {
    let name: String
    /// The path that is unsafe, which the message must name.
    let culprit: @Sendable (QueueSandbox) -> String
    /// The fix the message must suggest.
    let fix: String
    let apply: @Sendable (QueueSandbox) -> Void
    var testDescription: String { name }
}

let permissionRows: [PermissionRow] = [
    .init(name: "queue directory mode 0777", culprit: { $0.home }, fix: "chmod") { chmod($0.home, 0o777) },
    .init(name: "queue directory mode 0770 (group-writable)", culprit: { $0.home }, fix: "chmod") { chmod($0.home, 0o770) },
    .init(name: "data.json mode 0666", culprit: { $0.dataPath }, fix: "chmod") { chmod($0.dataPath, 0o666) },
    .init(name: "data.json mode 0620 (group-writable)", culprit: { $0.dataPath }, fix: "chmod") { chmod($0.dataPath, 0o620) },
    .init(name: "data.json owned by uid 12345", culprit: { $0.dataPath }, fix: "chown") { chown($0.dataPath, 12345, 12345) },
    .init(name: "queue directory owned by uid 12345", culprit: { $0.home }, fix: "chown") { chown($0.home, 12345, 12345) },
]

// MARK: - help

/// Every command path; each must answer `--help`, `-h` and `help <path>` with the same text.
let helpPaths: [[String]] = [
    [], ["enqueue"], ["worker"], ["worker", "start"], ["worker", "stop"], ["status"], ["list"],
    ["dlq"], ["dlq", "list"], ["dlq", "retry"], ["dlq", "delete"],
    ["config"], ["config", "get"], ["config", "set"], ["help"],
]

// MARK: - tests

@Suite struct BadInputTests {
    @Test(arguments: badInputRows)
    func badInputIsRefusedAndChangesNothing(_ row: BadInputRow) throws {
        let q = QueueSandbox.seeded()
        for (name, content) in row.files {
            #expect(FileManager.default.createFile(atPath: q.root + "/" + name, contents: Data(content.utf8)))
        }
        let before = try #require(q.dataBytes())
        let identity = fileIdentity(q.dataPath)
        let args = row.args.map { $0.replacingOccurrences(of: "{ROOT}", with: q.root) }
        let r = q.bounded(args, stdin: row.stdin)
        let shown = "queuectl \(args.map { $0.count > 200 ? String($0.prefix(60)) + "…(\($0.count) chars)" : $0 }) -> \(r)"

        #expect(row.codes.contains(r.status), "exit code should be one of \(row.codes): \(shown)")
        #expect(r.stdout.isEmpty, "stdout must be empty on error: \(shown)")
        #expect(r.stderr.hasPrefix("Error: "), "stderr must start with 'Error: ': \(shown)")
        for word in row.mentions {
            #expect(r.stderr.lowercased().contains(word.lowercased()), "the message should mention '\(word)': \(shown)")
        }
        #expect(q.dataBytes() == before, "the data file changed: \(shown)")
        #expect(fileIdentity(q.dataPath) == identity, "the data file was rewritten (new inode, mode or owner): \(shown)")
        #expect(!FileManager.default.fileExists(atPath: q.dataPath + ".tmp"), "a temp file was left behind: \(shown)")
    }

    @Test(arguments: badFileRows, storageCommands)
    func aBadDataFileStopsEveryCommandAndIsLeftAlone(_ row: BadFileRow, _ command: [String]) throws {
        let q = QueueSandbox.seeded()
        defer { q.dropData() }
        let bad = try #require(row.make(BadInputFixture.seedText), "the fixture's text changed shape; fix the row '\(row.name)'")
        try bad.write(to: URL(fileURLWithPath: q.dataPath))
        chmod(q.dataPath, 0o600)
        let identity = fileIdentity(q.dataPath)
        let stdin = command == ["enqueue", "-"] ? #"{"id":"fresh","command":"echo fresh"}"# + "\n" : nil
        let r = q.bounded(command, stdin: stdin, seconds: 5)
        let shown = "[\(row.name)] queuectl \(command) -> \(r)"

        #expect(r.status == 1, "a data file that does not decode must stop the command with exit 1: \(shown)")
        #expect(r.stdout.isEmpty, "stdout must be empty on error: \(shown)")
        #expect(r.stderr.hasPrefix("Error: "), "stderr must start with 'Error: ': \(shown)")
        #expect(r.stderr.contains(q.dataPath), "the message must name the data file: \(shown)")
        for word in row.mentions {
            #expect(r.stderr.lowercased().contains(word.lowercased()), "the message should say what is wrong ('\(word)'): \(shown)")
        }
        #expect(q.dataBytes() == bad, "the bad data file was changed: \(shown)")
        #expect(fileIdentity(q.dataPath) == identity, "the bad data file was rewritten: \(shown)")
        #expect(!FileManager.default.fileExists(atPath: q.dataPath + ".tmp"), "a temp file was left behind: \(shown)")
    }

    @Test(arguments: permissionRows, storageCommands)
    func anUnsafeQueueIsRefusedWithAFix(_ row: PermissionRow, _ command: [String]) throws {
        let q = QueueSandbox.seeded()
        defer { q.dropData() }
        row.apply(q)
        let before = try #require(q.dataBytes())
        let identity = fileIdentity(q.dataPath)
        let homeIdentity = fileIdentity(q.home)
        let stdin = command == ["enqueue", "-"] ? #"{"id":"fresh","command":"echo fresh"}"# + "\n" : nil
        let r = q.bounded(command, stdin: stdin, seconds: 5)
        let shown = "[\(row.name)] queuectl \(command) -> \(r)"

        #expect(r.status == 1, "an unsafe queue must be refused with exit 1: \(shown)")
        #expect(r.stdout.isEmpty, "stdout must be empty on error: \(shown)")
        #expect(r.stderr.hasPrefix("Error: "), "stderr must start with 'Error: ': \(shown)")
        #expect(r.stderr.contains(row.culprit(q)), "the message must name the unsafe path: \(shown)")
        #expect(r.stderr.contains(row.fix), "the message must say how to fix it ('\(row.fix)'): \(shown)")
        let why = ["other users", "another user", "owned by", "writable", "can write"]
        #expect(why.contains { r.stderr.lowercased().contains($0) }, "the message must say why: \(shown)")
        #expect(q.dataBytes() == before, "the data file changed: \(shown)")
        #expect(fileIdentity(q.dataPath) == identity, "the data file was rewritten or its permissions changed: \(shown)")
        #expect(fileIdentity(q.home) == homeIdentity, "the directory's permissions were changed: \(shown)")
    }

    @Test(arguments: helpPaths)
    func everyCommandAnswersHelpTheSameThreeWays(_ path: [String]) throws {
        let q = QueueSandbox.seeded()
        let before = try #require(q.dataBytes())
        let forms = [path + ["--help"], path + ["-h"], ["help"] + path]
        var texts: [String] = []
        for args in forms {
            let r = q.bounded(args)
            #expect(r.status == 0, "queuectl \(args) -> \(r)")
            #expect(r.stderr.isEmpty, "help goes to stdout, not stderr: queuectl \(args) -> \(r)")
            #expect(r.stdout.contains("USAGE: queuectl" + path.map { " " + $0 }.joined()), "queuectl \(args) should print its usage: \(r)")
            texts.append(r.stdout)
        }
        #expect(Set(texts).count == 1, "-h, --help and 'help \(path.joined(separator: " "))' should print the same text")
        #expect(q.dataBytes() == before)
    }

    @Test func helpAfterOtherArgumentsStillShowsHelp() throws {
        let q = QueueSandbox.seeded()
        let before = try #require(q.dataBytes())
        for args in [["config", "set", "max-retries", "--help"], ["enqueue", "{bad json", "--help"],
                     ["dlq", "retry", "nosuch", "-h"], ["worker", "start", "--count", "0", "--help"]] {
            let r = q.bounded(args, seconds: 5)
            #expect(r.status == 0 && r.stdout.contains("USAGE:") && r.stderr.isEmpty, "queuectl \(args) -> \(r)")
        }
        #expect(q.dataBytes() == before)
    }

    @Test func invalidUTF8InAJobFileIsRefused() throws {
        let q = QueueSandbox.seeded()
        let before = try #require(q.dataBytes())
        let path = q.root + "/latin1.json"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(#"{"command":"echo "#.utf8 + [0xE9, 0xFF] + #""}"#.utf8 + [0x0A])))
        let r = q.bounded(["enqueue", "--file", path])
        #expect(r.status == 64 && r.stdout.isEmpty && r.stderr.hasPrefix("Error: ") && r.stderr.contains("UTF-8"), "\(r)")
        #expect(q.dataBytes() == before)
    }

    @Test func versionPrintsAndChangesNothing() throws {
        let q = QueueSandbox.seeded()
        let before = try #require(q.dataBytes())
        let r = q.bounded(["--version"])
        #expect(r.status == 0 && r.stdout.hasPrefix("queuectl ") && r.stderr.isEmpty, "\(r)")
        #expect(q.dataBytes() == before)
    }

    @Test func aQueueHomeThatIsAFileIsRefused() throws {
        let q = QueueSandbox.seeded()
        let file = q.root + "/not-a-dir"
        #expect(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))
        for command in [["status"], ["enqueue", #"{"command":"echo"}"#], ["list"]] {
            let r = q.bounded(command, env: ["QUEUECTL_HOME": file], seconds: 5)
            #expect(r.status == 1 && r.stdout.isEmpty && r.stderr.hasPrefix("Error: ") && r.stderr.contains(file), "queuectl \(command) -> \(r)")
        }
        #expect(FileManager.default.contents(atPath: file) == Data("x".utf8))
    }

    /// The positive control: the seeded queue is good, so the rows above fail for the reason they claim.
    @Test func theSeededQueueIsUsable() throws {
        let q = QueueSandbox.seeded()
        for command in [["status"], ["list"], ["config", "get"], ["dlq", "list"], ["worker", "stop"]] {
            let r = q.bounded(command, seconds: 5)
            #expect(r.status == 0, "queuectl \(command) -> \(r)")
        }
        #expect(q.state(of: "gamma") == "dead")
        #expect(q.state(of: "alpha") == "pending")
        #expect(q.ok("config", "get", "max-retries") == "5\n")
    }
}
