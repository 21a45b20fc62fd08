@preconcurrency import Glibc

/// Replaces a file so that a crash at any moment leaves either the old or the new content.
package enum AtomicFile {
    /// Writes `bytes` to `path.tmp`, fsyncs it, renames it over `path`, then fsyncs the directory.
    /// On failure the temporary file is removed and `path` is untouched.
    package static func replace(_ path: String, with bytes: [UInt8], mode: mode_t = 0o600) throws(Errno) {
        _ = try replace(path, mode: mode) { (fd) throws(Errno) in try Files.writeAll(fd, bytes) }
    }

    /// As `replace(_:with:)`, with the content written by `write` to the temporary file's descriptor.
    /// Returns that descriptor, open for reading and writing: it reaches the very file written, even
    /// if another program has since put a different file at `path`, which the path would reach.
    /// Once the rename is done the new content is in place, so a directory that cannot be fsynced
    /// (some network and FUSE file systems refuse) does not make it a failure: that last step's
    /// durability is the file system's.
    package static func replace(_ path: String, mode: mode_t = 0o600,
                               write: (Int32) throws(Errno) -> Void) throws(Errno) -> FileDescriptor {
        var name = Substring(path)
        while name.count > 1, name.hasSuffix("/") { name.removeLast() }
        return try replace(in: try OpenDirectory.open(Files.directoryName(path)), name: String(name.split(separator: "/").last ?? name),
                           mode: mode, write: write)
    }

    /// As `replace(_:with:)` for the file `name` in `directory`, every step relative to the directory's
    /// descriptor (`openat`, `renameat`, and the directory's own `fsync`).
    package static func replace(in directory: OpenDirectory, name: String, with bytes: [UInt8], mode: mode_t = 0o600) throws(Errno) {
        _ = try replace(in: directory, name: name, mode: mode) { (fd) throws(Errno) in try Files.writeAll(fd, bytes) }
    }

    /// As `replace(_:mode:write:)` for the file `name` in `directory`.
    package static func replace(in directory: OpenDirectory, name: String, mode: mode_t = 0o600,
                               write: (Int32) throws(Errno) -> Void) throws(Errno) -> FileDescriptor {
        let temporary = name + ".tmp"
        // Made new (O_EXCL, never through a link): a file planted at the temporary name cannot redirect the write.
        directory.remove(temporary)
        let file = try directory.openFile(temporary, O_RDWR | O_CREAT | O_EXCL, mode: mode)
        do {
            _ = fchmod(file.rawValue, mode)
            try write(file.rawValue)
            try Files.fsync(file.rawValue)
            try directory.rename(temporary, to: name)
        } catch {
            directory.remove(temporary)
            throw error
        }
        try? directory.sync()
        return file
    }
}
