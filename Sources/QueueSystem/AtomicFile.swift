@preconcurrency import Glibc

/// Replaces a file so that a crash at any moment leaves either the old or the new content.
public enum AtomicFile {
    /// Writes `bytes` to `path.tmp`, fsyncs it, renames it over `path`, then fsyncs the directory.
    /// On failure the temporary file is removed and `path` is untouched.
    public static func replace(_ path: String, with bytes: [UInt8], mode: mode_t = 0o600) throws(Errno) {
        try replace(path, mode: mode) { (fd) throws(Errno) in try Files.writeAll(fd, bytes) }
    }

    /// As `replace(_:with:)`, with the content written by `write` to the temporary file's descriptor.
    /// Once the rename is done the new content is in place, so a directory that cannot be fsynced
    /// (some network and FUSE file systems refuse) does not make it a failure: that last step's
    /// durability is the file system's.
    public static func replace(_ path: String, mode: mode_t = 0o600, write: (Int32) throws(Errno) -> Void) throws(Errno) {
        let temporary = path + ".tmp"
        // O_NOFOLLOW: a link planted at the temporary name must not redirect the write.
        Files.removeIfPresent(temporary)
        let fd = try Files.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode)
        do {
            try Files.closeAfter(fd) { (fd) throws(Errno) in
                _ = fchmod(fd, mode)
                try write(fd)
                try Files.fsync(fd)
            }
            try Files.rename(temporary, path)
        } catch {
            Files.removeIfPresent(temporary)
            throw error
        }
        try? syncDirectory(Files.directoryName(path))
    }

    /// Makes a rename in `directory` durable. Wraps `fsync(2)` on the directory.
    public static func syncDirectory(_ directory: String) throws(Errno) {
        let fd = try Files.open(directory, O_RDONLY | O_DIRECTORY)
        try Files.closeAfter(fd) { (fd) throws(Errno) in try Files.fsync(fd) }
    }
}
