@preconcurrency import Glibc

/// An open file descriptor that is closed exactly once, when its owner lets go of it. It cannot be
/// copied, so no second owner can close it early or use it after the close.
public struct FileDescriptor: ~Copyable, Sendable {
    public let rawValue: Int32

    public init(owning rawValue: Int32) { self.rawValue = rawValue }

    /// Opens `path` for writing, creating it with `mode` if need be, never through a symbolic link;
    /// with `append`, every write goes to the end. Wraps `open(2)`.
    public static func openForWriting(_ path: String, append: Bool = false, mode: UInt32 = 0o600) throws(Errno) -> FileDescriptor {
        FileDescriptor(owning: try Files.open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | (append ? O_APPEND : 0), mode: mode_t(mode)))
    }

    /// Which file this descriptor reaches now. Wraps `fstat(2)`.
    public func identity() throws(Errno) -> FileIdentity {
        var st = stat()
        try retryingOnInterrupt { fstat(rawValue, &st) }
        return FileIdentity(st)
    }

    /// Writes `bytes` at the start of the file, over what was there. Wraps `pwrite(2)`.
    public func overwrite(_ bytes: [UInt8]) throws(Errno) {
        let written = try bytes.withUnsafeBytes { raw in
            Result { () throws(Errno) in try retryingOnInterrupt { pwrite(rawValue, raw.baseAddress, raw.count, 0) } }
        }.get()
        if written != bytes.count { throw Errno(rawValue: EIO) }
    }

    deinit { Files.close(rawValue) }
}
