@preconcurrency import Glibc

/// An exclusive `flock(2)` on a separate lock file. The lock file is never renamed or replaced, so
/// the lock stays valid while the data file beside it is swapped atomically.
public enum FileLock {
    /// Opens (creating with mode 0600) the lock file, takes `LOCK_EX`, runs `body`, and releases.
    /// The descriptor is close-on-exec, so no child ever holds the lock.
    public static func withExclusiveLock<T, E: Error>(
        path: String, _ body: () throws(E) -> T
    ) throws(LockedError<E>) -> T {
        let fd: Int32
        do { fd = try Files.open(path, O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600) } catch { throw .lock(error) }
        defer { Files.close(fd) }  // closing releases the lock
        do { try retryingOnInterrupt { flock(fd, LOCK_EX) } } catch { throw .lock(error) }
        do { return try body() } catch { throw .body(error) }
    }
}

/// Either the lock could not be taken, or the body failed.
public enum LockedError<E: Error>: Error {
    case lock(Errno)
    case body(E)
}
