@preconcurrency import Glibc

/// The process's standard streams. Text is written as UTF-8 in one call where possible.
package enum Console {
    package static func out(_ text: String) { write(1, text) }
    package static func err(_ text: String) { write(2, text) }

    private static func write(_ fd: Int32, _ text: String) {
        var text = text
        text.withUTF8 { try? Files.writeAll(fd, UnsafeRawBufferPointer($0)) }
    }

    package static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// The terminal's width in columns, or nil when `fd` is not a terminal. Wraps `ioctl(TIOCGWINSZ)`.
    package static func width(_ fd: Int32) -> Int? {
        var size = winsize()
        guard ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }

    /// Reads all of standard input, or returns nil once it holds more than `limit` bytes.
    package static func readStandardInput(limit: Int) throws(Errno) -> [UInt8]? { try Files.readAll(fd: 0, limit: limit) }

    /// An environment variable. Wraps `getenv(3)`.
    package static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    /// Sets a variable of this process's environment, which the processes it starts inherit.
    package static func setEnvironment(_ name: String, _ value: String) { setenv(name, value, 1) }

    /// This process's whole environment, by name (an entry without '=' is left out, as getenv would).
    package static func allEnvironment() -> [String: String] {
        var variables: [String: String] = [:]
        var index = 0
        while let entry = environ[index] {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") { variables[String(text[..<eq])] = String(text[text.index(after: eq)...]) }
            index += 1
        }
        return variables
    }
}

/// This process's effective user id. Wraps `geteuid(2)`.
package func effectiveUserID() -> UInt32 { geteuid() }

/// Ends the process now. Wraps `exit(3)`.
package func exitProcess(_ code: Int32) -> Never { exit(code) }
