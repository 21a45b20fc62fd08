@preconcurrency import Glibc
import GlibcExtras

/// The signals the queue sends, named for the modules that do not import Glibc.
package struct ProcessSignal: RawRepresentable, Hashable, Sendable {
    package let rawValue: Int32
    package init(rawValue: Int32) { self.rawValue = rawValue }

    /// SIGTERM: asks a process to end.
    package static let terminate = ProcessSignal(rawValue: SIGTERM)
    /// SIGKILL: ends a process; it cannot be caught or ignored.
    package static let kill = ProcessSignal(rawValue: SIGKILL)

    /// `SIGTERM`, `SIGKILL`, … for the signals a job commonly dies of; nil for others.
    package var name: String? {
        switch rawValue {
        case SIGHUP: return "SIGHUP"
        case SIGINT: return "SIGINT"
        case SIGKILL: return "SIGKILL"
        case SIGTERM: return "SIGTERM"
        case SIGSEGV: return "SIGSEGV"
        case SIGABRT: return "SIGABRT"
        case SIGPIPE: return "SIGPIPE"
        default: return nil
        }
    }
}

extension Processes {
    /// This process's PID namespace (the inode of `/proc/self/ns/pid`): pids mean something only
    /// within one. Nil where it cannot be read.
    package static let pidNamespace: UInt64? = {
        var st = stat()
        guard stat("/proc/self/ns/pid", &st) == 0 else { return nil }
        return UInt64(st.st_ino)
    }()

    /// Makes this process the reaper of its orphaned descendants: a job's background process whose
    /// shell has exited is reparented to the worker, not to init, so its exit wakes the worker
    /// (SIGCHLD) and the worker reaps it. Wraps `prctl(PR_SET_CHILD_SUBREAPER)`.
    package static func becomeChildSubreaper() {
        _ = prctl(36, 1, 0, 0, 0)  // PR_SET_CHILD_SUBREAPER, from <sys/prctl.h>
    }

    /// Reaps every child of this process that has ended, without blocking: the job shells and, for a
    /// subreaper, orphaned descendants. Wraps `waitpid(-1, WNOHANG)`.
    package static func reapExitedChildren() -> [(pid: Int32, status: ExitStatus)] {
        var reaped: [(pid: Int32, status: ExitStatus)] = []
        while true {
            var st: Int32 = 0
            let pid = waitpid(-1, &st, WNOHANG)
            if pid > 0 {
                reaped.append((pid, ExitStatus(waitStatus: st)))
            } else if pid == -1, errno == EINTR {
                continue
            } else {
                return reaped
            }
        }
    }

    /// True while some process of the group led by `pgid` exists, a zombie included: a cheap test
    /// for a process that reaps its own children (the worker, a subreaper). Wraps `kill(-pgid, 0)`.
    package static func groupHasMembers(_ pgid: Int32) -> Bool {
        guard pgid > 1 else { return false }
        return !(kill(-pgid, 0) == -1 && errno == ESRCH)
    }

    /// True while some process of the group led by `pgid` exists and is not a zombie. A group of
    /// only zombies has run its course: nothing of it runs any more (a zombie whose parent does not
    /// reap it, as pid 1 of some containers does not, would otherwise hold the group forever).
    /// Wraps `kill(-pgid, 0)`, and reads `/proc` only when that finds the group.
    package static func groupIsAlive(_ pgid: Int32) -> Bool {
        guard groupHasMembers(pgid) else { return false }
        guard let dir = opendir("/proc") else { return true }
        defer { closedir(dir) }
        while let item = readdir(dir) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = Int32(name), let bytes = try? Files.readAll("/proc/\(pid)/stat"),
                  let stat = parseStat(bytes) else { continue }
            if stat.group == pgid, stat.state != "Z", stat.state != "X" { return true }
        }
        return false
    }

    /// Sends `signal` to the process group led by `pgid`; a missing group is not an error. Wraps `kill(2)`.
    package static func signalGroup(_ pgid: Int32, _ signal: ProcessSignal) {
        guard pgid > 1 else { return }
        _ = kill(-pgid, signal.rawValue)
    }

    /// Sends `signal` to every process whose environment holds exactly `entry`, and to the group
    /// of each that leads one: a job's processes that left its group (`setsid cmd &`) still carry
    /// the marker the worker gave the job. Returns how many were found.
    @discardableResult
    package static func signalMarked(_ entry: String, _ signal: ProcessSignal) -> Int {
        let found = withEnvironmentEntry(entry)
        for pid in found {
            if processGroup(of: pid) == pid { signalGroup(pid, signal) }
            _ = kill(pid, signal.rawValue)
        }
        return found.count
    }
}

/// Blocks the calling thread for `milliseconds`. Wraps `nanosleep(2)`, resuming after a signal.
package func sleepMilliseconds(_ milliseconds: Int64) {
    var request = timespec(tv_sec: Int(milliseconds / 1000), tv_nsec: Int(milliseconds % 1000) * 1_000_000)
    var remaining = timespec()
    while nanosleep(&request, &remaining) == -1, errno == EINTR { request = remaining }
}
