@preconcurrency import Glibc

/// What the process sets up for itself at start, and the limits it runs under.
package enum ProcessLimits {
    /// Ignores SIGXFSZ, so that a write past the file-size limit (`ulimit -f`) fails with EFBIG and
    /// is reported, instead of killing the process without a word (and leaving its temporary file).
    /// Children get the default back: a spawn resets every signal. Wraps `signal(2)`.
    package static func ignoreFileSizeSignal() {
        signal(SIGXFSZ, SIG_IGN)
    }

    /// The largest file this process may write, in bytes (`ulimit -f`), or nil for no limit.
    /// Wraps `getrlimit(2)` with `RLIMIT_FSIZE`.
    package static var fileSizeLimit: UInt64? {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
        return UInt64(limit.rlim_cur)
    }
}
