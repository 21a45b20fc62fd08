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
/// explicitly whatever the process inherited (a worker started with `&` inherits SIGINT ignored),
/// except that a SIGHUP ignored on entry stays ignored: that is what `nohup` asks for.
package final class SignalWaker: Sendable {
    private let readEnd: FileDescriptor
    private let writeEnd: FileDescriptor
    /// The pipe's read end, for `poll`.
    package var wakeFD: Int32 { readEnd.rawValue }

    package init() throws(Errno) {
        let fds = try Files.makePipe()
        // The handler must never block on a full pipe.
        _ = fcntl(fds.write, F_SETFL, O_NONBLOCK)
        readEnd = FileDescriptor(owning: fds.read)
        writeEnd = FileDescriptor(owning: fds.write)
        // A new waker starts counting afresh (a shell may run several workers, one after another).
        stopRequests.store(0, ordering: .sequentiallyConsistent)
        wakeWriteFD.store(fds.write, ordering: .sequentiallyConsistent)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = signalHandler
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        var unblock = sigset_t()
        sigemptyset(&unblock)
        ignoresHangup = Self.isIgnored(SIGHUP)
        for s in [SIGINT, SIGTERM, SIGCHLD] + (ignoresHangup ? [] : [SIGHUP]) {
            sigaction(s, &action, nil)
            sigaddset(&unblock, s)
        }
        sigprocmask(SIG_UNBLOCK, &unblock, nil)
        signal(SIGPIPE, SIG_IGN)
    }

    /// True when SIGHUP was ignored on entry (`nohup`) and so is left ignored.
    package let ignoresHangup: Bool

    /// Whether `signal`'s disposition is SIG_IGN now. Wraps `sigaction(2)`.
    private static func isIgnored(_ signal: Int32) -> Bool {
        var current = sigaction()
        guard sigaction(signal, nil, &current) == 0, let handler = current.__sigaction_handler.sa_handler else { return false }
        return unsafeBitCast(handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self)
    }

    /// How many stop signals (INT, TERM, HUP) have arrived so far.
    package var stopRequestCount: Int { stopRequests.load(ordering: .sequentiallyConsistent) }

    /// Empties the wake pipe after `poll` reported it readable.
    package func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakeFD, &buffer, buffer.count) > 0 {}
    }

    /// The handler stops writing to the pipe before its ends are closed (the handlers stay: a
    /// signal after this only counts).
    deinit { _ = wakeWriteFD.compareExchange(expected: writeEnd.rawValue, desired: -1, ordering: .sequentiallyConsistent) }
}

/// Tells when one file in a directory is replaced by a rename, as every write of the data file is,
/// or, with `writes`, also created or written to (a log as it grows). By default only renames onto
/// that name count: opening or closing the lock file must not wake anyone, or idle workers would
/// wake each other forever. Wraps `inotify(7)`.
package final class DirectoryWatcher: Sendable {
    private let descriptor: FileDescriptor
    private let fileName: [UInt8]
    /// The inotify descriptor, for `poll`.
    package var fd: Int32 { descriptor.rawValue }

    package init(directory: String, fileName: String, writes: Bool = false) throws(Errno) {
        self.fileName = Array(fileName.utf8)
        let watcher = FileDescriptor(owning: try retryingOnInterrupt { inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC)) })
        let events = UInt32(IN_MOVED_TO) | (writes ? UInt32(IN_CREATE) | UInt32(IN_MODIFY) : 0)
        try retryingOnInterrupt { inotify_add_watch(watcher.rawValue, directory, events) }
        descriptor = watcher
    }

    /// Empties the queued events after `poll` reported the descriptor readable. Returns whether one
    /// of them was about the watched file.
    package func drain() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var replaced = false
        while true {
            let n = read(fd, &buffer, buffer.count)
            guard n > 0 else { return replaced }
            // struct inotify_event: wd, mask, cookie, len (4 bytes each), then a NUL-padded name.
            var offset = 0
            while offset + 16 <= n {
                let length = Int(buffer[offset + 12]) | Int(buffer[offset + 13]) << 8 | Int(buffer[offset + 14]) << 16 | Int(buffer[offset + 15]) << 24
                let name = buffer[(offset + 16)..<min(n, offset + 16 + length)].prefix { $0 != 0 }
                if name.elementsEqual(fileName) { replaced = true }
                offset += 16 + length
            }
        }
    }

}

/// Waits until one of `fds` is readable or `timeoutMilliseconds` pass (-1: no limit). Wraps `poll(2)`;
/// an interruption by a signal returns early, which is what the caller wants.
/// Returns the descriptors that are readable.
@discardableResult
package func waitForInput(_ fds: [Int32], timeoutMilliseconds: Int) -> Set<Int32> {
    var entries = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    guard poll(&entries, nfds_t(entries.count), Int32(clamping: timeoutMilliseconds)) > 0 else { return [] }
    return Set(entries.filter { $0.revents != 0 }.map(\.fd))
}
