@preconcurrency import Glibc

/// An open file descriptor that is closed exactly once, when its owner lets go of it. It cannot be
/// copied, so no second owner can close it early or use it after the close.
package struct FileDescriptor: ~Copyable, Sendable {
    package let rawValue: Int32

    package init(owning rawValue: Int32) { self.rawValue = rawValue }

    /// Which file this descriptor reaches now. Wraps `fstatat(2)` with `AT_EMPTY_PATH`.
    package func identity() throws(Errno) -> FileIdentity {
        try FileIdentity.of(descriptor: rawValue)
    }

    /// Writes `bytes` at the start of the file, over what was there. Wraps `pwrite(2)`.
    package func overwrite(_ bytes: [UInt8]) throws(Errno) {
        let written = try bytes.withUnsafeBytes { raw in
            Result { () throws(Errno) in try retryingOnInterrupt { pwrite(rawValue, raw.baseAddress, raw.count, 0) } }
        }.get()
        if written != bytes.count { throw Errno(rawValue: EIO) }
    }

    /// The whole file from its start, whatever the descriptor's offset. Wraps `lseek(2)`, `read(2)`.
    package func contents() throws(Errno) -> [UInt8] {
        try retryingOnInterrupt { lseek(rawValue, 0, SEEK_SET) }
        return try Files.readAll(fd: rawValue)
    }

    deinit { Files.close(rawValue) }
}
