@preconcurrency import Glibc

extension Processes {
    /// Where a program started by `spawnThisProgram` runs.
    package enum Placement {
        /// In the foreground with this process's stdin, stdout and stderr, in its process group, so
        /// the terminal's Ctrl+C reaches it.
        case foreground
        /// In a session of its own (no controlling terminal: the terminal's Ctrl+C and hang-up do not
        /// reach it), stdin from `/dev/null`, stdout and stderr appended to `output`.
        case background(output: Int32)
    }

    /// Starts this very program again (`/proc/self/exe`, the binary this process runs even if its
    /// path was replaced since) with `arguments`, every signal at its default action and an empty
    /// signal mask, whatever this process set for its own. Wraps `posix_spawn(3)`.
    package static func spawnThisProgram(_ arguments: [String], _ placement: Placement) throws(Errno) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
        if case .background(let output) = placement {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_adddup2(&actions, output, 1)
            posix_spawn_file_actions_adddup2(&actions, output, 2)
            flags |= 0x80  // POSIX_SPAWN_SETSID, which Swift's Glibc module does not show
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var pid: pid_t = 0
        let result = withCStrings(["queuectl"] + arguments) { argv in
            posix_spawn(&pid, "/proc/self/exe", &actions, &attributes, argv, environ)
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
