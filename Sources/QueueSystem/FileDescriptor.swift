@preconcurrency import Glibc

/// An open file descriptor that is closed exactly once, when its owner lets go of it. It cannot be
/// copied, so no second owner can close it early or use it after the close.
public struct FileDescriptor: ~Copyable {
    public let rawValue: Int32

    public init(owning rawValue: Int32) { self.rawValue = rawValue }

    /// Which file this descriptor reaches now. Wraps `fstat(2)`.
    public func identity() throws(Errno) -> FileIdentity {
        var st = stat()
        try retryingOnInterrupt { fstat(rawValue, &st) }
        return FileIdentity(st)
    }

    deinit { Files.close(rawValue) }
}
