@preconcurrency import Glibc
import Synchronization

// A C signal handler cannot capture context, so what it touches is global. Both are atomics,
// which are safe to use from a handler; nothing else is done there.
private let stopRequests = Atomic<Int>(0)
private let wakeWriteFD = Atomic<Int32>(-1)

private let signalHandler: @convention(c) (Int32) -> Void = { signal in
    let savedErrno = errno
    if signal != SIGCHLD { stopRequests.add(1, ordering: .sequentiallyConsistent) }
    let fd = wakeWriteFD.load(ordering: .sequentiallyConsistent)
    if fd >= 0 {
        var byte: UInt8 = 1
        _ = write(fd, &byte, 1)
    }
    errno = savedErrno
}

/// The worker's signal handling: SIGINT, SIGTERM and SIGHUP count stop requests; SIGCHLD and all
/// of them write a byte to a pipe, so a `poll` on `wakeFD` wakes for them. Handlers are installed
/// explicitly whatever the process inherited (a worker started with `&` inherits SIGINT ignored).
public final class SignalWaker: Sendable {
    public let wakeFD: Int32
    private let writeFD: Int32

    public init() throws(Errno) {
        let fds = try Files.makePipe()
        // The handler must never block on a full pipe.
        _ = fcntl(fds.write, F_SETFL, O_NONBLOCK)
        wakeFD = fds.read
        writeFD = fds.write
        // A new waker starts counting afresh (a shell may run several workers, one after another).
        stopRequests.store(0, ordering: .sequentiallyConsistent)
        wakeWriteFD.store(writeFD, ordering: .sequentiallyConsistent)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = signalHandler
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for s in [SIGINT, SIGTERM, SIGHUP, SIGCHLD] {
            sigaction(s, &action, nil)
            sigaddset(&unblock, s)
        }
        sigprocmask(SIG_UNBLOCK, &unblock, nil)
        signal(SIGPIPE, SIG_IGN)
    }

    /// How many stop signals (INT, TERM, HUP) have arrived so far.
    public var stopRequestCount: Int { stopRequests.load(ordering: .sequentiallyConsistent) }

    /// Empties the wake pipe after `poll` reported it readable.
    public func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakeFD, &buffer, buffer.count) > 0 {}
    }
}

/// Tells when files in a directory are replaced or written. Wraps `inotify(7)`.
public final class DirectoryWatcher: Sendable {
    public let fd: Int32

    public init(directory: String) throws(Errno) {
        fd = try retryingOnInterrupt { inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC)) }
        do {
            try retryingOnInterrupt { inotify_add_watch(fd, directory, UInt32(IN_MOVED_TO | IN_CLOSE_WRITE)) }
        } catch {
            Files.close(fd)
            throw error
        }
    }

    /// Empties the queued events after `poll` reported the descriptor readable.
    public func drain() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while read(fd, &buffer, buffer.count) > 0 {}
    }

    deinit { Files.close(fd) }
}

/// Waits until one of `fds` is readable or `timeoutMilliseconds` pass (-1: no limit). Wraps `poll(2)`;
/// an interruption by a signal returns early, which is what the caller wants.
/// Returns the descriptors that are readable.
@discardableResult
public func waitForInput(_ fds: [Int32], timeoutMilliseconds: Int) -> Set<Int32> {
    var entries = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    guard poll(&entries, nfds_t(entries.count), Int32(clamping: timeoutMilliseconds)) > 0 else { return [] }
    return Set(entries.filter { $0.revents != 0 }.map(\.fd))
}
