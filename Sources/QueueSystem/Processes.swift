@preconcurrency import Glibc
import GlibcExtras

/// How a child ended, decoded by hand from the `waitpid` status (the C macros are not visible to Swift).
package enum ExitStatus: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    init(waitStatus st: Int32) {
        let signal = st & 0x7f
        self = signal == 0 ? .exited((st >> 8) & 0xff) : .signaled(signal)
    }

    package var description: String {
        switch self {
        case .exited(let code): return "exit \(code)"
        case .signaled(let signal): return "killed by signal \(signal)"
        }
    }
}

/// What identifies a running process across pid reuse: its pid and its start time in clock ticks
/// since boot (field 22 of `/proc/PID/stat`).
package struct ProcessIdentity: Hashable, Sendable {
    package let pid: Int32
    package let startTime: UInt64
    package init(pid: Int32, startTime: UInt64) { self.pid = pid; self.startTime = startTime }

    /// This process.
    package static func current() -> ProcessIdentity {
        let pid = getpid()
        return ProcessIdentity(pid: pid, startTime: Processes.startTime(of: pid) ?? 0)
    }

    /// True if a process with this pid exists and started at the same time (so it is not a reused pid).
    /// A zombie counts as gone: it runs nothing any more. When `/proc` cannot be read for another
    /// reason than the process being gone, it counts as alive: nothing is recovered on a guess.
    package var isAlive: Bool {
        switch Processes.state(of: pid) {
        case .running(let start, let zombie): return start == startTime && !zombie
        case .gone: return false
        case .unknown: return true
        }
    }

    /// True if this process's group may be signalled as the job's own: the leader is this very process
    /// (even as an unreaped zombie whose group lives on), or no process has the pid any more, and Linux
    /// does not hand out a pid still in use as a process group id.
    package var groupIsStillItsOwn: Bool {
        switch Processes.state(of: pid) {
        case .running(let start, _): return start == startTime
        case .gone: return true
        case .unknown: return false
        }
    }
}

/// What `/proc/PID/stat` says of a pid.
package enum ProcessState: Equatable, Sendable {
    case running(startTime: UInt64, zombie: Bool)
    /// No such process (ENOENT or ESRCH).
    case gone
    /// `/proc` could not be read for another reason (no /proc, too many open files, hidepid).
    case unknown
}

package enum Processes {
    /// Fields 3 (state) and 22 (start time) of `/proc/PID/stat`.
    package static func state(of pid: Int32) -> ProcessState {
        guard pid > 0 else { return .gone }
        let bytes: [UInt8]?
        do { bytes = try Files.readAll("/proc/\(pid)/stat") } catch {
            return error == .noSuchFileOrDirectory || error == .noSuchProcess ? .gone : .unknown
        }
        guard let bytes else { return .gone }
        guard let stat = parseStat(bytes) else { return .unknown }
        return .running(startTime: stat.startTime, zombie: stat.state == "Z" || stat.state == "X")
    }

    static func parseStat(_ bytes: [UInt8]) -> (state: Character, group: Int32, startTime: UInt64)? {
        // The command name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'.
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        // fields[0] is field 3 (state), fields[2] field 5 (process group); field 22 is fields[19].
        guard fields.count > 19, let state = fields[0].first,
              let group = Int32(String(decoding: fields[2], as: UTF8.self)),
              let start = UInt64(String(decoding: fields[19], as: UTF8.self)) else { return nil }
        return (Character(Unicode.Scalar(state)), group, start)
    }

    package static func startTime(of pid: Int32) -> UInt64? {
        if case .running(let start, _) = state(of: pid) { return start }
        return nil
    }

    /// This boot's id (`/proc/sys/kernel/random/boot_id`): pids and start times mean nothing across boots.
    package static let bootID: String? = {
        guard let bytes = try? Files.readAll("/proc/sys/kernel/random/boot_id") else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).filter { !$0.isWhitespace }
        return text.isEmpty ? nil : text
    }()

    /// Keeps large allocations (a big queue's job table) in their own mappings, returned to the
    /// system when freed. Otherwise glibc raises its mmap threshold after the first such free and
    /// serves the next table from the heap, and a long-running worker holds two. Wraps `mallopt(3)`.
    package static func returnLargeAllocationsToTheSystem() {
        _ = mallopt(-3, 1 << 20)  // M_MMAP_THRESHOLD, from <malloc.h>
    }

    /// Marks every inherited descriptor from 3 up close-on-exec, so jobs get only stdin, stdout and
    /// stderr whatever the worker was started with.
    package static func closeInheritedDescriptorsOnExec() {
        guard let dir = opendir("/proc/self/fd") else { return }
        var fds: [Int32] = []
        while let item = readdir(dir) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let fd = Int32(name), fd > 2 { fds.append(fd) }
        }
        closedir(dir)
        for fd in fds { _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC) }
    }

    /// Processes whose environment holds exactly `entry` (`NAME=value`), found through
    /// `/proc/PID/environ`. Only processes of this user are readable, which are the ones we want.
    package static func withEnvironmentEntry(_ entry: String) -> [Int32] {
        guard let dir = opendir("/proc") else { return [] }
        defer { closedir(dir) }
        let needle = Array(entry.utf8) + [0]
        var found: [Int32] = []
        while let item = readdir(dir) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = Int32(name), pid != getpid(),
                  let environment = try? Files.readAll("/proc/\(pid)/environ") else { continue }
            // Entries are NUL-terminated; match a whole entry.
            var start = 0
            for (i, byte) in environment.enumerated() where byte == 0 {
                if i + 1 - start == needle.count, environment[start...i].elementsEqual(needle) { found.append(pid); break }
                start = i + 1
            }
        }
        return found
    }

    /// The process group of `pid`, or nil if there is no such process. Wraps `getpgid(2)`.
    package static func processGroup(of pid: Int32) -> Int32? {
        let group = getpgid(pid)
        return group > 0 ? group : nil
    }

    /// Sends `signal` to one process. Returns false if it does not exist. Wraps `kill(2)`.
    @discardableResult
    package static func signal(_ pid: Int32, _ signal: ProcessSignal) -> Bool {
        guard pid > 1 else { return false }
        return kill(pid, signal.rawValue) == 0
    }

    /// Reaps `pid` if it has ended, without blocking. Wraps `waitpid(2)` with `WNOHANG`.
    package static func reapIfExited(_ pid: Int32) -> ExitStatus? {
        var st: Int32 = 0
        let result = try? retryingOnInterrupt { waitpid(pid, &st, WNOHANG) }
        guard let result, result == pid else { return nil }
        return ExitStatus(waitStatus: st)
    }

    /// Starts `/bin/sh -c command` in a process group of its own, with default signal dispositions,
    /// an empty signal mask, stdin from `/dev/null`, stdout and stderr to `output` (or `/dev/null`),
    /// in `directory`, with `environment` added to this process's own (or, with `inheriting` false,
    /// as its whole environment). Wraps `posix_spawn(3)`.
    /// With `arguments`, `command` is a program the shell only looks up in PATH and execs with them
    /// (`exec "$0" "$@"`): no shell parses a word, and a program not found exits 127 as a shell line's does.
    package static func spawnShell(
        _ command: String, arguments: [String]? = nil, directory: String?, environment: [String: String], inheriting: Bool = true,
        output: (stdout: Int32, stderr: Int32)?
    ) throws(Errno) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if let output {
            posix_spawn_file_actions_adddup2(&actions, output.stdout, 1)
            posix_spawn_file_actions_adddup2(&actions, output.stderr, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        if let directory {
            let result = posix_spawn_file_actions_addchdir_np(&actions, directory)
            if result != 0 { throw Errno(rawValue: result) }
        }

        // Every signal back to its default: a job must not inherit one its worker's parent ignored.
        var attributes = cleanSignalAttributes(flags: POSIX_SPAWN_SETPGROUP)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)

        var env: [String] = []
        var index = 0
        while inheriting, let entry = environ[index] {
            let text = String(cString: entry)
            let name = text.prefix { $0 != "=" }
            if environment[String(name)] == nil { env.append(text) }
            index += 1
        }
        for (key, value) in environment { env.append("\(key)=\(value)") }

        let argv = arguments.map { ["/bin/sh", "-c", "exec \"$0\" \"$@\"", command] + $0 } ?? ["/bin/sh", "-c", command]
        var pid: pid_t = 0
        let result = withCStrings(argv) { argvPointers in
            withCStrings(env) { envPointers in
                posix_spawn(&pid, "/bin/sh", &actions, &attributes, argvPointers, envPointers)
            }
        }
        if result != 0 { throw Errno(rawValue: result) }
        return pid
    }
}

extension Processes {
    /// Starts `executable` with `arguments` detached from this process's terminal: in a new session
    /// (so no terminal's hangup or Ctrl+C reaches it), stdin from `/dev/null`, stdout and stderr to
    /// `outputFD`, with default signal dispositions and an empty mask, and this environment. Wraps `posix_spawn(3)` with `POSIX_SPAWN_SETSID`.
    package static func spawnDetached(_ executable: String, arguments: [String], outputFD: Int32) throws(Errno) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outputFD, 1)
        posix_spawn_file_actions_adddup2(&actions, outputFD, 2)
        let setsid: Int32 = 0x80  // POSIX_SPAWN_SETSID (glibc 2.26), which Swift's Glibc module does not show
        var attributes = cleanSignalAttributes(flags: setsid)
        defer { posix_spawnattr_destroy(&attributes) }
        var pid: pid_t = 0
        let result = withCStrings([executable] + arguments) { argv in
            posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        }
        if result != 0 { throw Errno(rawValue: result) }
        return pid
    }

    /// This program's own executable, as the kernel knows it (`/proc/self/exe`). Wraps `readlink(2)`.
    package static func ownExecutable() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> T) -> T {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

extension Processes {
    /// Spawn attributes that put every signal back to its default action and empty the signal mask,
    /// whatever this process set for its own, plus `flags`. The caller destroys them.
    static func cleanSignalAttributes(flags: Int32) -> posix_spawnattr_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        var defaults = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setflags(&attributes, Int16(flags | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        return attributes
    }
}
