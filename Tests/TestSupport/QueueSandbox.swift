import Foundation
import QueueSystem
@preconcurrency import Glibc

/// The built `queuectl`: `$QUEUECTL_BIN`, else `.build/debug/queuectl` in this package.
package let queuectlBinary: String = {
    if let path = ProcessInfo.processInfo.environment["QUEUECTL_BIN"], !path.isEmpty { return path }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/queuectl").path
}()

/// What a finished `queuectl` run printed and returned.
package struct RunResult: Sendable, CustomStringConvertible {
    package let status: Int32
    package let stdout: String
    package let stderr: String
    package var description: String { "exit \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)" }
}

/// A temporary queue home (`QUEUECTL_HOME`) with helpers to run the built binary against it.
/// The real `~/.queuectl` is never touched.
package final class QueueSandbox: @unchecked Sendable {
    package let home: String
    package let root: String

    package init() {
        var template = Array("/tmp/queuectl-test-XXXXXX".utf8CString)
        guard let dir = mkdtemp(&template) else { fatalError("mkdtemp failed") }
        root = String(cString: dir)
        home = root + "/home"
    }

    deinit {
        // Stop anything a test left running, then remove the directory.
        if let doc = try? document(), let workers = doc["workers"] as? [[String: Any]] {
            for w in workers { if let pid = w["pid"] as? Int32 { kill(pid, SIGKILL) } }
        }
        try? FileManager.default.removeItem(atPath: root)
    }

    package var dataPath: String { home + "/data.json" }

    package func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["QUEUECTL_HOME"] = home
        env["COLUMNS"] = "200"
        for (k, v) in extra { env[k] = v }
        return env
    }

    /// Runs `queuectl args` to completion.
    @discardableResult
    package func run(_ args: [String], stdin: String? = nil, env: [String: String] = [:]) -> RunResult {
        let p = start(args, stdin: stdin, env: env)
        let status = p.wait()
        return RunResult(status: status, stdout: p.stdout(), stderr: p.stderr())
    }

    /// Runs `queuectl args`, expecting success, and returns stdout.
    @discardableResult
    package func ok(_ args: String..., stdin: String? = nil) -> String {
        let r = run(args, stdin: stdin)
        precondition(r.status == 0, "queuectl \(args) failed: \(r)")
        return r.stdout
    }

    /// Starts `queuectl args` in the background, its output going to files.
    /// With `program`, runs that with `args` instead (a wrapper such as `unshare` that runs queuectl).
    package func start(_ args: [String], stdin: String? = nil, env: [String: String] = [:], program: String? = nil) -> Child {
        Child(argv: [program ?? queuectlBinary] + args, env: environment(env), stdin: stdin, directory: root)
    }

    /// The data file's raw bytes, or nil when there is none.
    package func dataBytes() -> Data? { FileManager.default.contents(atPath: dataPath) }

    /// The data file decoded with Foundation, independently of queuectl's own codec.
    package func document() throws -> [String: Any] {
        guard let data = dataBytes() else { return [:] }
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// The jobs by id, from the data file.
    package func jobs() -> [String: [String: Any]] {
        let list = ((try? document())?["jobs"] as? [[String: Any]]) ?? []
        return Dictionary(uniqueKeysWithValues: list.map { ($0["id"] as! String, $0) })
    }

    package func state(of id: String) -> String? { jobs()[id]?["state"] as? String }

    /// Makes retries immediate, so tests do not wait for backoff.
    package func fastRetries() {
        ok("config", "set", "backoff-base", "1")
        ok("config", "set", "max-backoff", "0")
    }
}

/// A background process with stdout and stderr captured in files.
package final class Child: @unchecked Sendable {
    package let pid: pid_t
    let outPath: String
    let errPath: String
    private var status: Int32?

    package init(argv: [String], env: [String: String], stdin: String?, directory: String) {
        let id = UUID().uuidString
        outPath = directory + "/out-\(id)"
        errPath = directory + "/err-\(id)"
        var inPath = "/dev/null"
        if let stdin {
            inPath = directory + "/in-\(id)"
            _ = FileManager.default.createFile(atPath: inPath, contents: Data(stdin.utf8))
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 0, inPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        pid = spawnForTest(argv, env: env, actions: &actions, newSession: false)
    }

    /// `/bin/sh -c command` in the background.
    package static func shell(_ command: String, env: [String: String], directory: String) -> Child {
        Child(argv: ["/bin/sh", "-c", command], env: env, stdin: nil, directory: directory)
    }

    /// Waits for the process to end and returns its exit code (128 + signal if killed).
    @discardableResult
    package func wait() -> Int32 {
        if let status { return status }
        var st: Int32 = 0
        while waitpid(pid, &st, 0) == -1 && errno == EINTR {}
        let result = (st & 0x7f) == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f)
        status = result
        return result
    }

    /// Waits up to `seconds` for the process to end; nil if it is still running.
    package func wait(seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let status { return status }
            var st: Int32 = 0
            if waitpid(pid, &st, WNOHANG) == pid {
                status = (st & 0x7f) == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f)
                return status
            }
            usleep(10_000)
        }
        return nil
    }

    package func signal(_ signal: Int32) { kill(pid, signal) }

    /// Ctrl+C twice. Signals of one kind do not queue, so the second is sent once the worker has
    /// announced that it is stopping.
    package func interruptTwice() {
        signal(SIGINT)
        _ = eventually { stdout().contains("stopping") }
        signal(SIGINT)
    }

    package func stdout() -> String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
    package func stderr() -> String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

    deinit {
        if status == nil {
            kill(pid, SIGKILL)
            _ = wait()
        }
    }
}

/// Polls `condition` every 20 ms until it holds or `seconds` pass. Returns whether it held.
@discardableResult
package func eventually(within seconds: Double = 20, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// Reaps the child `pid` once it has ended (within 20 s), and says how it ended; nil at once if
/// there is no such process (already reaped).
package func waitForExit(_ pid: Int32) -> ExitStatus? {
    var status: ExitStatus?
    eventually {
        status = Processes.reapIfExited(pid)
        return status != nil || kill(pid, 0) != 0
    }
    return status
}

/// The start time (field 22 of /proc/PID/stat) of a process, or nil if there is none.
package func processStartTime(_ pid: Int32) -> UInt64? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    return fields.count > 19 ? UInt64(fields[19]) : nil
}

/// True if a process with this pid exists and is not a zombie.
package func processIsRunning(_ pid: Int32) -> Bool {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")") else { return false }
    let state = text[text.index(after: close)...].split(separator: " ").first
    return state != "Z" && state != "X"
}

/// Starts `argv` with an empty signal mask and every signal at its default, whatever the test runner
/// has; with `newSession`, as the leader of a new session (for a controlling terminal). Consumes
/// `actions`.
func spawnForTest(_ argv: [String], env: [String: String], actions: inout posix_spawn_file_actions_t, newSession: Bool) -> pid_t {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    var mask = sigset_t()
    sigemptyset(&mask)
    posix_spawnattr_setsigmask(&attributes, &mask)
    var defaults = sigset_t()
    sigfillset(&defaults)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    let setsid: Int32 = newSession ? 0x80 : 0  // POSIX_SPAWN_SETSID, which Swift's Glibc module does not show
    posix_spawnattr_setflags(&attributes, Int16(setsid | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let cArgs = argv.map { strdup($0) } + [nil]
    let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
    cArgs.forEach { free($0) }
    cEnv.forEach { free($0) }
    posix_spawn_file_actions_destroy(&actions)
    posix_spawnattr_destroy(&attributes)
    precondition(rc == 0, "cannot start \(argv[0]): \(String(cString: strerror(rc)))")
    return pid
}

/// A second, real user account for tests of what another user can do to a queue: made with
/// `useradd` the first time (tests run as root, as CI does); nil when not root.
package let otherUser: (name: String, uid: uid_t)? = {
    guard geteuid() == 0 else { return nil }
    let name = "queuectl-other"
    if getpwnam(name) == nil {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        let pid = spawnForTest(["/usr/sbin/useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                               env: [:], actions: &actions, newSession: false)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    }
    guard let entry = getpwnam(name) else { return nil }
    return (name, entry.pointee.pw_uid)
}()

/// Runs `argv` as `user` (`runuser -u USER -- argv`) and returns its exit code.
@discardableResult
package func runAs(_ user: String, _ argv: [String], directory: String) -> Int32 {
    Child(argv: ["/usr/sbin/runuser", "-u", user, "--"] + argv, env: ["PATH": "/usr/bin:/bin"], stdin: nil, directory: directory).wait()
}

/// A fresh directory `/tmp/PREFIX-XXXXXX` with `mode` (umask aside).
package func makeTemporaryDirectory(_ prefix: String, mode: mode_t = 0o700) -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    guard let dir = mkdtemp(&template) else { fatalError("mkdtemp failed") }
    let path = String(cString: dir)
    chmod(path, mode)
    return path
}
