@preconcurrency import Glibc

extension Processes {
    /// Starts this very program again (`/proc/self/exe`, the binary this process runs even if its
    /// path was replaced since) with `arguments`, in the foreground: this process's stdin, stdout,
    /// stderr and process group, so the terminal's Ctrl+C reaches it. Every signal is at its default
    /// action and the signal mask empty, whatever this process set for its own. Wraps `posix_spawn(3)`.
    package static func spawnThisProgram(_ arguments: [String]) throws(Errno) -> Int32 {
        var attributes = cleanSignalAttributes(flags: 0)
        defer { posix_spawnattr_destroy(&attributes) }
        var pid: pid_t = 0
        let result = withCStrings(["queuectl"] + arguments) { argv in
            posix_spawn(&pid, "/proc/self/exe", nil, &attributes, argv, environ)
        }
        if result != 0 { throw Errno(rawValue: result) }
        return pid
    }

    /// Waits until the child `pid` has ended, through any signals meanwhile, and reaps it. Wraps `waitpid(2)`.
    package static func waitForChild(_ pid: Int32) -> ExitStatus? {
        var st: Int32 = 0
        while true {
            let result = waitpid(pid, &st, 0)
            if result == pid { return ExitStatus(waitStatus: st) }
            if result == -1, errno == EINTR { continue }
            return nil
        }
    }
}

extension ProcessSignal {
    /// SIGINT: what the terminal sends for Ctrl+C.
    package static let interrupt = ProcessSignal(rawValue: SIGINT)
}
