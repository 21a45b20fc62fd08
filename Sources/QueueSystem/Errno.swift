@preconcurrency import Glibc

/// A C `errno` value as a Swift error, with the C library's message as its description.
public struct Errno: RawRepresentable, Error, Hashable, CustomStringConvertible, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    public static var current: Errno { Errno(rawValue: errno) }

    public var description: String {
        let text = String(cString: strerror(rawValue))
        // EFBIG is most often the file-size limit, which strerror does not mention.
        if rawValue == EFBIG, let limit = ProcessLimits.fileSizeLimit {
            return "\(text): beyond this process's file-size limit of \(limit) bytes (ulimit -f)"
        }
        return text
    }

    public static let interrupted = Errno(rawValue: EINTR)
    public static let noSuchFileOrDirectory = Errno(rawValue: ENOENT)
    public static let fileExists = Errno(rawValue: EEXIST)
    public static let noSuchProcess = Errno(rawValue: ESRCH)
}

/// Calls `body` until it stops failing with EINTR. `body` returns -1 and sets errno on failure,
/// as most system calls do; any other failure is thrown as `Errno`.
@discardableResult
public func retryingOnInterrupt<T: FixedWidthInteger>(_ body: () -> T) throws(Errno) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let error = Errno.current
        if error != .interrupted { throw error }
    }
}
