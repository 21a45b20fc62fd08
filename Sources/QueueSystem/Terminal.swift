@preconcurrency import Glibc

/// A terminal switched to reading keys one at a time without echo (ICANON and ECHO off, ISIG kept
/// so Ctrl+C still raises SIGINT). `restore()` puts back exactly what was there. Wraps `termios(3)`.
package final class RawTerminalMode {
    private let fd: Int32
    private var saved = termios()
    private var active = false

    package init?(fd: Int32) {
        self.fd = fd
        guard isatty(fd) == 1, tcgetattr(fd, &saved) == 0 else { return nil }
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        guard tcsetattr(fd, TCSANOW, &raw) == 0 else { return nil }
        active = true
    }

    package func restore() {
        guard active else { return }
        _ = tcsetattr(fd, TCSANOW, &saved)
        active = false
    }

    deinit { restore() }
}

/// Reads lines from a descriptor, buffering what comes after the first newline.
package final class LineReader {
    private let fd: Int32
    private var pending: [UInt8] = []
    private var atEnd = false

    package init(fd: Int32) { self.fd = fd }

    /// The next line without its newline, or nil at end of input.
    package func readLine() -> String? {
        while true {
            if let newline = pending.firstIndex(of: 0x0A) {
                let line = pending[..<newline]
                pending.removeSubrange(...newline)
                return String(decoding: line.last == 0x0D ? line.dropLast() : line, as: UTF8.self)
            }
            if atEnd {
                guard !pending.isEmpty else { return nil }
                defer { pending.removeAll() }
                return String(decoding: pending, as: UTF8.self)
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { raw in read(fd, raw.baseAddress!, raw.count) }
            if n > 0 {
                pending.append(contentsOf: chunk[..<n])
            } else if n == 0 || errno != EINTR {
                atEnd = true
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
