@preconcurrency import Glibc
import Synchronization

// What a fatal signal's handler puts back on the terminal before the process dies. The handler
// cannot capture anything, so this is global. `saved` is written only while `restoreFD` is -1 (no
// handler reads it then) and read only by a handler that took a descriptor from `restoreFD`, so the
// two never touch it at once; it is allocated once and never freed.
nonisolated(unsafe) private let savedForSignals = UnsafeMutablePointer<termios>.allocate(capacity: 1)
private let restoreFD = Atomic<Int32>(-1)

/// Puts the terminal back, then lets the signal do what it would have done: the default action.
private let restoringHandler: @convention(c) (Int32) -> Void = { signal in
    let fd = restoreFD.exchange(-1, ordering: .sequentiallyConsistent)
    if fd >= 0 { _ = tcsetattr(fd, TCSANOW, savedForSignals) }
    _ = Glibc.signal(signal, SIG_DFL)
    _ = raise(signal)
}

/// The signals that end a process by default and can be caught: a process that dies of one of
/// them while the terminal is raw would leave the user typing blind.
private let fatalSignals = [SIGTERM, SIGHUP, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGALRM, SIGUSR1, SIGUSR2]

/// A terminal switched to reading keys one at a time without echo. `restore()` puts back exactly
/// what was there, and so does a fatal signal that arrives meanwhile (for each such signal left at
/// its default action; a handler of the program's own, as the worker's, is left alone). Wraps `termios(3)`.
package final class RawTerminalMode {
    /// What the keys are read for.
    package enum Purpose {
        /// Single keys (the live view): ICANON and ECHO off, ISIG kept so Ctrl+C still raises SIGINT.
        case keys
        /// A line editor: also ISIG, IEXTEN, IXON and ICRNL off, so Ctrl+C, Ctrl+Z, Ctrl+\, Ctrl+V,
        /// Ctrl+S and Ctrl+Q arrive as bytes and Enter as a carriage return. Output processing stays.
        case lineEditing
    }

    private let fd: Int32
    private var saved = termios()
    private var active = false

    package init?(fd: Int32, for purpose: Purpose = .keys) {
        self.fd = fd
        guard isatty(fd) == 1, tcgetattr(fd, &saved) == 0 else { return nil }
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        if purpose == .lineEditing {
            raw.c_lflag &= ~tcflag_t(ISIG | IEXTEN)
            raw.c_iflag &= ~tcflag_t(IXON | ICRNL | INLCR | IGNCR)
        }
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        // Armed before the switch: a signal between the two restores what is there anyway.
        _ = restoreFD.exchange(-1, ordering: .sequentiallyConsistent)
        savedForSignals.pointee = saved
        installRestoringHandlers()
        restoreFD.store(fd, ordering: .sequentiallyConsistent)
        guard tcsetattr(fd, TCSANOW, &raw) == 0 else {
            _ = restoreFD.exchange(-1, ordering: .sequentiallyConsistent)
            return nil
        }
        active = true
    }

    package func restore() {
        guard active else { return }
        _ = restoreFD.exchange(-1, ordering: .sequentiallyConsistent)
        _ = tcsetattr(fd, TCSANOW, &saved)
        active = false
    }

    deinit { restore() }

    /// The restoring handler for every fatal signal still at its default action. Once installed it
    /// stays: with nothing to restore it only re-raises the signal with its default action.
    private func installRestoringHandlers() {
        for s in fatalSignals {
            var current = sigaction()
            guard sigaction(s, nil, &current) == 0 else { continue }
            // SIG_DFL is the null handler.
            guard current.__sigaction_handler.sa_handler == nil else { continue }
            var action = sigaction()
            action.__sigaction_handler.sa_handler = restoringHandler
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(s, &action, nil)
        }
    }
}

/// The terminal's settings, saved once and put back whenever a program run in the foreground may
/// have left them changed (killed while its own raw mode was on). Wraps `tcgetattr`/`tcsetattr`.
package final class SavedTerminalSettings {
    private let fd: Int32
    private var saved = termios()

    package init?(fd: Int32) {
        self.fd = fd
        guard isatty(fd) == 1, tcgetattr(fd, &saved) == 0 else { return nil }
    }

    package func restore() { _ = tcsetattr(fd, TCSANOW, &saved) }
}

// The session's SIGINT handler writes a byte to this pipe (the handler cannot capture anything, so
// its write end is global); a wait for input polls the read end beside the terminal, so a Ctrl+C
// that comes just before the wait begins is not missed.
private let interruptWriteFD = Atomic<Int32>(-1)
private let interruptReadFD = Atomic<Int32>(-1)
private let interruptHandler: @convention(c) (Int32) -> Void = { _ in
    let savedErrno = errno
    var byte: UInt8 = 1
    _ = write(interruptWriteFD.load(ordering: .sequentiallyConsistent), &byte, 1)
    errno = savedErrno
}

/// The signal handling of an interactive session (the shell and the menu), which must outlive the
/// Ctrl+C meant for the line being typed or the program it runs in the foreground. SIGINT is noted
/// (see `takeInterrupt`) and ends a wait for input (`readInput`), so a line read from a terminal in
/// canonical mode can be cancelled; SIGQUIT and SIGTSTP from the keyboard reach the foreground
/// program only. A program started afterwards gets every signal at its default again.
package enum SessionSignals {
    package static func install() throws(Errno) {
        if interruptReadFD.load(ordering: .sequentiallyConsistent) < 0 {
            let fds = try Files.makePipe()
            // The handler must never block on a full pipe.
            _ = fcntl(fds.write, F_SETFL, O_NONBLOCK)
            interruptWriteFD.store(fds.write, ordering: .sequentiallyConsistent)
            interruptReadFD.store(fds.read, ordering: .sequentiallyConsistent)
        }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = interruptHandler
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGINT, &action, nil)
        _ = signal(SIGQUIT, SIG_IGN)
        _ = signal(SIGPIPE, SIG_IGN)
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        sigprocmask(SIG_UNBLOCK, &unblock, nil)
    }

    /// True if SIGINT arrived since the last call.
    package static func takeInterrupt() -> Bool {
        let fd = interruptReadFD.load(ordering: .sequentiallyConsistent)
        guard fd >= 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 64)
        var any = false
        while read(fd, &buffer, buffer.count) > 0 { any = true }
        return any
    }
}

/// What one read from a terminal or pipe gave.
package enum InputRead: Equatable {
    case bytes([UInt8])
    /// A signal interrupted the wait (SIGINT, in a session).
    case interrupted
    case end
}

/// Waits for input on `fd` and reads what is there, up to 4 KiB; in a session, a SIGINT that came
/// before or during the wait ends it (`.interrupted`). Wraps `poll(2)` and `read(2)`.
package func readInput(_ fd: Int32) -> InputRead {
    let interrupts = interruptReadFD.load(ordering: .sequentiallyConsistent)
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        var entries = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        if interrupts >= 0 { entries.append(pollfd(fd: interrupts, events: Int16(POLLIN), revents: 0)) }
        if poll(&entries, nfds_t(entries.count), -1) < 0 {
            if errno == EINTR { continue }
            return .end
        }
        if entries.count > 1, entries[1].revents != 0, SessionSignals.takeInterrupt() { return .interrupted }
        guard entries[0].revents != 0 else { continue }
        let n = chunk.withUnsafeMutableBytes { raw in read(fd, raw.baseAddress!, raw.count) }
        if n > 0 { return .bytes(Array(chunk[..<n])) }
        if n == 0 { return .end }
        if errno == EINTR || errno == EAGAIN { continue }
        return .end
    }
}

/// What reading a line gave.
package enum LineRead: Equatable {
    case line(String)
    /// Ctrl+C: what was typed is dropped.
    case cancelled
    case end
}

/// Reads lines from a descriptor, buffering what comes after the first newline.
package final class LineReader {
    private let fd: Int32
    private var pending: [UInt8] = []
    private var atEnd = false

    package init(fd: Int32) { self.fd = fd }

    /// The next line without its newline. With `cancelOnInterrupt`, a signal that interrupts the
    /// wait (Ctrl+C at a terminal in canonical mode, where the kernel drops what was typed too)
    /// cancels the line; otherwise the read goes on.
    package func next(cancelOnInterrupt: Bool) -> LineRead {
        while true {
            if let newline = pending.firstIndex(of: 0x0A) {
                let line = pending[..<newline]
                pending.removeSubrange(...newline)
                return .line(String(decoding: line.last == 0x0D ? line.dropLast() : line, as: UTF8.self))
            }
            if atEnd {
                guard !pending.isEmpty else { return .end }
                defer { pending.removeAll() }
                return .line(String(decoding: pending, as: UTF8.self))
            }
            switch readInput(fd) {
            case .bytes(let bytes): pending += bytes
            case .interrupted:
                if cancelOnInterrupt {
                    pending.removeAll()
                    return .cancelled
                }
            case .end: atEnd = true
            }
        }
    }
}

extension Console {
    /// The terminal's height in rows, or nil when `fd` is not a terminal. Wraps `ioctl(TIOCGWINSZ)`.
    package static func height(_ fd: Int32) -> Int? {
        var size = winsize()
        guard ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_row > 0 else { return nil }
        return Int(size.ws_row)
    }

}
