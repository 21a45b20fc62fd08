@preconcurrency import Glibc

/// A C `errno` value as a Swift error, with the C library's message as its description.
package struct Errno: RawRepresentable, Error, Hashable, CustomStringConvertible, Sendable {
    package let rawValue: Int32
    package init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    package static var current: Errno { Errno(rawValue: errno) }

    package var description: String {
        if let (expected, found) = wrongType {
            return "it is \(found), not \(expected)" + (found == .symbolicLink ? " (no link is followed inside the queue folder)" : "")
        }
        let text = String(cString: strerror(rawValue))
        // EFBIG is most often the file-size limit, which strerror does not mention.
        if rawValue == EFBIG, let limit = ProcessLimits.fileSizeLimit {
            return "\(text): beyond this process's file-size limit of \(limit) bytes (ulimit -f)"
        }
        return text
    }

    package static let interrupted = Errno(rawValue: EINTR)
    package static let noSuchFileOrDirectory = Errno(rawValue: ENOENT)
    package static let fileExists = Errno(rawValue: EEXIST)
    package static let noSuchProcess = Errno(rawValue: ESRCH)
    package static let tooManyLinks = Errno(rawValue: ELOOP)
    package static let ioError = Errno(rawValue: EIO)
    package static let fileTooLarge = Errno(rawValue: EFBIG)
    package static let addressInUse = Errno(rawValue: EADDRINUSE)
    package static let addressNotAvailable = Errno(rawValue: EADDRNOTAVAIL)
    package static let addressFamilyNotSupported = Errno(rawValue: EAFNOSUPPORT)

    /// Not the C library's: a file in the queue home that is not a regular file (a FIFO, a link, a
    /// device), refused before anything reads or writes it. Outside errno's range (below 4096); the
    /// description names what was found.
    package static func notARegularFile(_ found: FileType) -> Errno { Errno(rawValue: wrongTypeBase | Int32(found.rawValue)) }

    /// Not the C library's: a directory of the queue home that is something else (a link, a file).
    package static func notADirectory(_ found: FileType) -> Errno { Errno(rawValue: wrongTypeBase | 0x100 | Int32(found.rawValue)) }

    private static let wrongTypeBase: Int32 = 0x5100_0000

    /// What was expected and what was found, for the two errors above.
    var wrongType: (expected: FileType, found: FileType)? {
        guard rawValue & ~0x1ff == Errno.wrongTypeBase, let found = FileType(rawValue: UInt8(rawValue & 0xff)) else { return nil }
        return (rawValue & 0x100 == 0 ? .regular : .directory, found)
    }

    /// True for `notARegularFile` and `notADirectory`.
    package var isWrongFileType: Bool { wrongType != nil }
}

/// Calls `body` until it stops failing with EINTR. `body` returns -1 and sets errno on failure,
/// as most system calls do; any other failure is thrown as `Errno`.
@discardableResult
package func retryingOnInterrupt<T: FixedWidthInteger>(_ body: () -> T) throws(Errno) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let error = Errno.current
        if error != .interrupted { throw error }
    }
}
