@preconcurrency import Glibc

/// Replaces a file so that a crash at any moment leaves either the old or the new content.
public enum AtomicFile {
    /// Writes `bytes` to `path.tmp`, fsyncs it, renames it over `path`, then fsyncs the directory.
    /// On failure the temporary file is removed and `path` is untouched.
    public static func replace(_ path: String, with bytes: [UInt8], mode: mode_t = 0o600) throws(Errno) {
        _ = try replace(path, mode: mode) { (fd) throws(Errno) in try Files.writeAll(fd, bytes) }
    }

    /// As `replace(_:with:)`, with the content written by `write` to the temporary file's descriptor.
    /// Returns that descriptor, open for reading and writing: it reaches the very file written, even
    /// if another program has since put a different file at `path`, which the path would reach.
    /// Once the rename is done the new content is in place, so a directory that cannot be fsynced
    /// (some network and FUSE file systems refuse) does not make it a failure: that last step's
    /// durability is the file system's.
    public static func replace(_ path: String, mode: mode_t = 0o600,
                               write: (Int32) throws(Errno) -> Void) throws(Errno) -> FileDescriptor {
        let temporary = path + ".tmp"
        // O_NOFOLLOW: a link planted at the temporary name must not redirect the write.
        Files.removeIfPresent(temporary)
        let file = FileDescriptor(owning: try Files.open(temporary, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode))
        do {
            _ = fchmod(file.rawValue, mode)
            try write(file.rawValue)
            try Files.fsync(file.rawValue)
            try Files.rename(temporary, path)
        } catch {
            Files.removeIfPresent(temporary)
            throw error
        }
        try? syncDirectory(Files.directoryName(path))
        return file
    }

    /// Makes a rename in `directory` durable. Wraps `fsync(2)` on the directory.
    public static func syncDirectory(_ directory: String) throws(Errno) {
        let fd = try Files.open(directory, O_RDONLY | O_DIRECTORY)
        try Files.closeAfter(fd) { (fd) throws(Errno) in try Files.fsync(fd) }
    }
}
