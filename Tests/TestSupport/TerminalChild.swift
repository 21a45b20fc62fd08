import Foundation
@preconcurrency import Glibc

/// A process running in a pseudo-terminal of its own (a new session with the terminal as its
/// controlling terminal), so it sees what a person at a terminal would give it: keys, Ctrl+C, a size.
package final class TerminalChild: @unchecked Sendable {
    package let pid: pid_t
    private let master: Int32
    private var bytes: [UInt8] = []
    private var status: Int32?

    package init(argv: [String], env: [String: String], rows: UInt16 = 30, columns: UInt16 = 110) {
        master = PTY.open(O_RDWR | O_NOCTTY)
        precondition(master >= 0 && PTY.grant(master) == 0 && PTY.unlock(master) == 0, "no pseudo-terminal")
        var name = [CChar](repeating: 0, count: 128)
        precondition(PTY.name(master, &name, name.count) == 0, "no pseudo-terminal name")
        let slave = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var size = winsize(ws_row: rows, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(master, UInt(TIOCSWINSZ), &size)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addclose(&actions, master)
        // Opened after setsid, without O_NOCTTY: it becomes the controlling terminal.
        posix_spawn_file_actions_addopen(&actions, 0, slave, O_RDWR, 0)
        posix_spawn_file_actions_adddup2(&actions, 0, 1)
        posix_spawn_file_actions_adddup2(&actions, 0, 2)
        pid = spawnForTest(argv, env: env, actions: &actions, newSession: true)
    }

    /// Everything the program has written to the terminal so far, escape sequences included.
    package var output: String {
        pump(milliseconds: 0)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Types `text` at the terminal.
    package func send(_ text: String) {
        _ = text.withCString { write(master, $0, strlen($0)) }
    }

    /// How many bytes the program has written so far: a mark for `output(since:)`.
    package var mark: Int {
        pump(milliseconds: 0)
        return bytes.count
    }

    /// What the program has written since `mark`.
    package func output(since mark: Int) -> String {
        pump(milliseconds: 0)
        return String(decoding: bytes[min(mark, bytes.count)...], as: UTF8.self)
    }

    /// Reads until `text` has appeared after `mark`, or `seconds` pass.
    @discardableResult
    package func waitFor(_ text: String, since mark: Int = 0, within seconds: Double = 10) -> Bool {
        waitForOutput(within: seconds) { _ in String(decoding: bytes[min(mark, bytes.count)...], as: UTF8.self).contains(text) }
    }

    /// Reads until `prompt` has been drawn with nothing typed after it, since `mark`: how the line
    /// editor draws an empty line (the prompt, clear to the end of the line, back to its start).
    /// Where the terminal cannot edit, the prompt is printed as it is.
    @discardableResult
    package func waitForPrompt(_ prompt: String = "queuectl> ", since mark: Int, editing: Bool = true, within seconds: Double = 10) -> Bool {
        waitFor(editing ? prompt + "\u{1B}[K\r" : prompt, since: mark, within: seconds)
    }

    /// Waits for the prompt, then types `line` and Enter. Returns the mark from before the line.
    @discardableResult
    package func enter(_ line: String, after mark: Int, prompt: String = "queuectl> ") -> Int {
        waitForPrompt(prompt, since: mark)
        let now = self.mark
        send(line + "\r")
        return now
    }

    /// The terminal's line discipline as the program left it: canonical (line by line) and echoing.
    package var lineMode: (canonical: Bool, echo: Bool) {
        var settings = termios()
        _ = tcgetattr(master, &settings)
        return (settings.c_lflag & tcflag_t(ICANON) != 0, settings.c_lflag & tcflag_t(ECHO) != 0)
    }

    package func signal(_ signal: Int32) { kill(pid, signal) }

    /// Reads until `condition` holds for the output, or `seconds` pass.
    @discardableResult
    package func waitForOutput(within seconds: Double = 10, _ condition: (String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            pump(milliseconds: 20)
            if condition(String(decoding: bytes, as: UTF8.self)) { return true }
        }
        return false
    }

    private func pump(milliseconds: Int32) {
        var entry = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
        var timeout = milliseconds
        while poll(&entry, 1, timeout) > 0 {
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = read(master, &chunk, chunk.count)
            if n <= 0 { return }
            bytes.append(contentsOf: chunk[..<n])
            timeout = 0
        }
    }

    /// Waits up to `seconds` for the program to end, reading its output meanwhile.
    package func wait(seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let status { return status }
            pump(milliseconds: 10)
            var st: Int32 = 0
            if waitpid(pid, &st, WNOHANG) == pid {
                pump(milliseconds: 50)
                status = (st & 0x7f) == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f)
                return status
            }
        }
        return nil
    }

    deinit {
        if status == nil {
            kill(pid, SIGKILL)
            var st: Int32 = 0
            waitpid(pid, &st, 0)
        }
        close(master)
    }
}

/// glibc's pseudo-terminal calls are declared only under _XOPEN_SOURCE, which Swift's Glibc module
/// does not set, so they are looked up at run time.
private enum PTY {
    static func symbol<T>(_ name: String, _ type: T.Type) -> T {
        guard let pointer = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { fatalError("no \(name) in libc") }
        return unsafeBitCast(pointer, to: type)
    }
    static let open = symbol("posix_openpt", (@convention(c) (Int32) -> Int32).self)
    static let grant = symbol("grantpt", (@convention(c) (Int32) -> Int32).self)
    static let unlock = symbol("unlockpt", (@convention(c) (Int32) -> Int32).self)
    static let name = symbol("ptsname_r", (@convention(c) (Int32, UnsafeMutablePointer<CChar>, Int) -> Int32).self)
}
