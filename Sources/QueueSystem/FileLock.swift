@preconcurrency import Glibc
import Synchronization

/// An exclusive `flock(2)` on a separate lock file. The lock file is never renamed or replaced, so
/// the lock stays valid while the data file beside it is swapped atomically.
package enum FileLock {
    /// Opens (creating with mode 0600) the lock file, takes `LOCK_EX`, runs `body`, and releases.
    /// The descriptor is close-on-exec, so no child ever holds the lock.
    ///
    /// An uncontended lock costs one `flock(LOCK_EX|LOCK_NB)`. A contended one is waited for in the
    /// kernel (a blocking `flock`, so the hand-off is as quick as the kernel makes it), with a watchdog
    /// thread that interrupts the wait when `waiting` wants to report the holder or give up.
    package static func withExclusiveLock<T, E: Error>(
        path: String, waiting: LockWaiting = .forever, _ body: () throws(E) -> T
    ) throws(LockedError<E>) -> T {
        let file: FileDescriptor
        do { file = FileDescriptor(owning: try Files.open(path, O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600)) } catch { throw .lock(error) }
        return try withExclusiveLock(on: file, waiting: waiting, body)
    }

    /// As `withExclusiveLock(path:)`, on the lock file `name` in `directory`: a regular file, opened
    /// without following a link and without blocking on a FIFO (see `OpenDirectory.openFile`).
    package static func withExclusiveLock<T, E: Error>(
        in directory: OpenDirectory, name: String, waiting: LockWaiting = .forever, _ body: () throws(E) -> T
    ) throws(LockedError<E>) -> T {
        let file: FileDescriptor
        do { file = try directory.openFile(name, O_RDWR | O_CREAT, mode: 0o600) } catch { throw .lock(error) }
        return try withExclusiveLock(on: file, waiting: waiting, body)
    }

    /// Takes the lock on `file`, runs `body`, and releases it: `file` is closed as this returns (a
    /// noncopyable parameter lives to the end of its scope), which drops the lock.
    private static func withExclusiveLock<T, E: Error>(
        on file: consuming FileDescriptor, waiting: LockWaiting, _ body: () throws(E) -> T
    ) throws(LockedError<E>) -> T {
        let fd = file.rawValue
        do {
            try retryingOnInterrupt { flock(fd, LOCK_EX | LOCK_NB) }
        } catch {
            guard error == .wouldBlock else { throw .lock(error) }
            switch waitForContendedLock(fd, waiting) {
            case .locked: break
            case .failed(let errno): throw .lock(errno)
            case .timedOut(let holder): throw .timedOut(seconds: waiting.timeout ?? 0, holder: holder)
            }
        }
        do { return try body() } catch { throw .body(error) }
    }

    private enum WaitOutcome {
        case locked
        case failed(Errno)
        case timedOut(LockHolder?)
    }

    /// Blocks in `flock(LOCK_EX)` until the lock is ours. A watchdog interrupts the wait at each of
    /// `waiting`'s milestones (report the holder, give up); each is handled here, on the waiting thread.
    private static func waitForContendedLock(_ fd: Int32, _ waiting: LockWaiting) -> WaitOutcome {
        enum Milestone { case report, giveUp }
        let start = monotonicMilliseconds()
        var milestones: [(at: Int64, what: Milestone)] = []
        if waiting.report != nil, waiting.timeout.map({ $0 > waiting.reportAfter }) ?? true {
            milestones.append((start + Int64(waiting.reportAfter * 1000), .report))
        }
        if let timeout = waiting.timeout {
            if timeout <= 0 { return .timedOut(LockHolder.of(lockedFile: fd)) }
            milestones.append((start + Int64((timeout * 1000).rounded(.up)), .giveUp))
        }
        let watchdog = milestones.isEmpty ? nil : LockWatchdog.start(waiter: pthread_self(), deadlines: milestones.map(\.at))
        defer {
            watchdog?.finish()
            watchdog?.restoreSignalMask()
        }
        // Without a watchdog (none wanted, or no thread could be made) this is a plain blocking wait.
        var handled = 0
        while true {
            if flock(fd, LOCK_EX) == 0 { return .locked }
            let error = Errno.current
            guard error == .interrupted else { return .failed(error) }
            guard let watchdog else { continue }
            while handled < watchdog.due {
                handled += 1
                watchdog.acknowledge(handled)  // first, so the watchdog stops interrupting
                switch milestones[handled - 1].what {
                case .report:
                    waiting.report?(LockHolder.of(lockedFile: fd))
                case .giveUp:
                    // Released just now? Then it is ours after all.
                    if flock(fd, LOCK_EX | LOCK_NB) == 0 { return .locked }
                    return .timedOut(LockHolder.of(lockedFile: fd))
                }
            }
        }
    }
}

/// How to wait for the lock when another process holds it.
package struct LockWaiting: Sendable {
    /// Give up after this many seconds; nil waits as long as it takes.
    package var timeout: Double?
    /// Called once, on the waiting thread, when the lock has been held by another process for
    /// `reportAfter` seconds (not if the timeout comes first). The holder is nil if it cannot be found.
    package var report: (@Sendable (LockHolder?) -> Void)?
    package var reportAfter: Double

    package init(timeout: Double? = nil, reportAfter: Double = 1, report: (@Sendable (LockHolder?) -> Void)? = nil) {
        self.timeout = timeout
        self.reportAfter = reportAfter
        self.report = report
    }

    /// Wait silently for as long as it takes.
    package static let forever = LockWaiting()
}

/// Either the lock could not be taken, or it was not free before the timeout, or the body failed.
package enum LockedError<E: Error>: Error {
    case lock(Errno)
    case timedOut(seconds: Double, holder: LockHolder?)
    case body(E)
}

/// The process that holds a `flock` another is waiting for, as `/proc/locks` shows it.
package struct LockHolder: Equatable, Sendable, CustomStringConvertible {
    package let pid: Int32
    /// Stopped (state T or t in `/proc/PID/stat`): by Ctrl+Z, SIGSTOP or a debugger. It holds the
    /// lock until it is continued.
    package let stopped: Bool

    package init(pid: Int32, stopped: Bool) {
        self.pid = pid
        self.stopped = stopped
    }

    /// `pid 1234` or `pid 1234 (stopped)`.
    package var description: String { "pid \(pid)" + (stopped ? " (stopped)" : "") }

    /// Who holds the `flock` on the file open as `fd`, or nil if `/proc/locks` does not say (no
    /// `/proc`, or a holder in another PID namespace).
    static func of(lockedFile fd: Int32) -> LockHolder? {
        var st = stat()
        guard fstat(fd, &st) == 0, let bytes = try? Files.readAll("/proc/locks"),
              let pid = flockHolder(inProcLocks: String(decoding: bytes, as: UTF8.self), device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        else { return nil }
        guard let statBytes = try? Files.readAll("/proc/\(pid)/stat"), let state = Processes.parseStat(statBytes)?.state else {
            return LockHolder(pid: pid, stopped: false)
        }
        return LockHolder(pid: pid, stopped: state == "T" || state == "t")
    }

    /// The pid holding a `FLOCK` on the file `device`/`inode` in the text of `/proc/locks`, whose lines
    /// read `1: FLOCK  ADVISORY  WRITE 1234 fe:00:16220211 0 EOF` (major and minor in hex, the inode in
    /// decimal). Lines with `->` are processes waiting for that lock, not holding it. Where the device
    /// does not match (some file systems show another number there than `stat` does), one holder with
    /// that inode is taken.
    static func flockHolder(inProcLocks text: String, device: UInt64, inode: UInt64) -> Int32? {
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~UInt64(0xfff))
        let minor = (device & 0xff) | ((device >> 12) & ~UInt64(0xff))
        var sameInode: [Int32] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] != "->", fields[1] == "FLOCK" else { continue }
            let file = fields[5].split(separator: ":")
            guard file.count == 3, UInt64(file[2]) == inode, let pid = Int32(fields[4]), pid > 0 else { continue }
            if UInt64(file[0], radix: 16) == major, UInt64(file[1], radix: 16) == minor { return pid }
            sameInode.append(pid)
        }
        return sameInode.count == 1 ? sameInode[0] : nil
    }
}

extension Errno {
    package static let wouldBlock = Errno(rawValue: EAGAIN)
}

// MARK: - the watchdog

/// The signal that interrupts a blocked `flock`. SIGURG's default action is to ignore it, so one that
/// arrives from elsewhere does no harm; its handler does nothing, and is installed without SA_RESTART
/// so that the blocked call returns EINTR.
private let interruptSignal = SIGURG

private let interruptHandlerInstalled: Bool = {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0
    return sigaction(interruptSignal, &action, nil) == 0
}()

/// A thread that, at each deadline, interrupts the waiting thread until it acknowledges that deadline:
/// a signal can arrive just before the wait begins and be lost, so it is sent again every few
/// milliseconds until the waiter has seen it. `finish()` stops it and waits for it to end, so it
/// never signals a thread that has moved on.
private final class LockWatchdog: Sendable {
    private let waiter: pthread_t
    private let deadlines: [Int64]
    private let dueCount = Atomic<Int>(0)
    private let acknowledged = Atomic<Int>(0)
    private let wake: (read: Int32, write: Int32)
    private let thread = Mutex<pthread_t?>(nil)
    /// The waiter's signal mask before the interrupt signal was unblocked for the wait.
    private let waiterMask: sigset_t

    private init(waiter: pthread_t, deadlines: [Int64], wake: (read: Int32, write: Int32), waiterMask: sigset_t) {
        self.waiter = waiter
        self.deadlines = deadlines
        self.wake = wake
        self.waiterMask = waiterMask
    }

    /// Starts the watchdog, or returns nil if no thread can be made (the wait then has no milestones).
    static func start(waiter: pthread_t, deadlines: [Int64]) -> LockWatchdog? {
        guard interruptHandlerInstalled, let wake = try? Files.makePipe() else { return nil }
        // The waiter must be able to receive the signal, whatever mask it inherited.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, interruptSignal)
        var mask = sigset_t()
        pthread_sigmask(SIG_UNBLOCK, &unblock, &mask)
        let watchdog = LockWatchdog(waiter: waiter, deadlines: deadlines, wake: wake, waiterMask: mask)
        let context = Unmanaged.passRetained(watchdog).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { context in
            Unmanaged<LockWatchdog>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
        guard rc == 0 else {
            watchdog.restoreSignalMask()
            Unmanaged<LockWatchdog>.fromOpaque(context).release()
            Files.close(wake.read)
            Files.close(wake.write)
            return nil
        }
        watchdog.thread.withLock { $0 = thread }
        return watchdog
    }

    /// How many deadlines have passed.
    var due: Int { dueCount.load(ordering: .sequentiallyConsistent) }

    func acknowledge(_ count: Int) { acknowledged.store(count, ordering: .sequentiallyConsistent) }

    /// Stops the watchdog and waits for its thread to end.
    func finish() {
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
        if let thread = thread.withLock({ $0 }) { pthread_join(thread, nil) }
        Files.close(wake.read)
        Files.close(wake.write)
    }

    /// Puts back the waiter's signal mask; called on the waiting thread once the watchdog has ended.
    func restoreSignalMask() {
        var mask = waiterMask
        pthread_sigmask(SIG_SETMASK, &mask, nil)
    }

    /// Waits up to `milliseconds` for `finish()`; true if it came.
    private func finished(within milliseconds: Int64) -> Bool {
        !waitForInput([wake.read], timeoutMilliseconds: Int(max(0, milliseconds))).isEmpty
    }

    private func run() {
        for (k, deadline) in deadlines.enumerated() {
            // poll() may return early on a signal: wait until the deadline has really come.
            while monotonicMilliseconds() < deadline {
                if finished(within: deadline - monotonicMilliseconds()) { return }
            }
            dueCount.store(k + 1, ordering: .sequentiallyConsistent)
            while acknowledged.load(ordering: .sequentiallyConsistent) < k + 1 {
                pthread_kill(waiter, interruptSignal)
                if finished(within: 5) { return }
            }
        }
        // Nothing more to do; finish() still writes and joins.
    }
}
