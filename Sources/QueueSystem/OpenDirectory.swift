@preconcurrency import Glibc

/// A directory held open. Every file in it is reached relative to the descriptor (`openat` and the
/// other `*at` calls), never by a path, so renaming the directory or putting another one at its
/// path after it was opened redirects nothing: the files are always this directory's.
///
/// Files are opened with `O_NOFOLLOW` and `O_NONBLOCK` and checked with `fstat` to be regular
/// files before anything reads or writes them: a link planted in the directory is not followed, and
/// a FIFO there is refused instead of blocking the open (or the first read) for ever.
package final class OpenDirectory: Sendable {
    /// Its path when it was opened: for messages only.
    package let path: String
    package let descriptor: FileDescriptor

    init(path: String, descriptor: consuming FileDescriptor) {
        self.path = path
        self.descriptor = descriptor
    }

    /// Opens the directory at `path`, following links like any path: for callers that hold no
    /// directory yet and trust the path (tests, `AtomicFile.replace(_:with:)`). Wraps `open(2)`.
    package static func open(_ path: String) throws(Errno) -> OpenDirectory {
        OpenDirectory(path: path, descriptor: FileDescriptor(owning: try Files.open(path, O_RDONLY | O_DIRECTORY)))
    }

    package var fd: Int32 { descriptor.rawValue }

    /// `path/name`, for messages.
    package func path(of name: String) -> String { path == "/" ? "/" + name : path + "/" + name }

    /// A path that reaches this very directory whatever is at `path` now, for the calls that take
    /// only a path (`inotify_add_watch`): `/proc/self/fd/N`.
    package var procPath: String { "/proc/self/fd/\(fd)" }

    /// The directory's own owner and mode. Wraps `fstat(2)`.
    package func status() throws(Errno) -> Files.Status { try FileDescriptor.status(fd) }

    /// What is at `name` in this directory, a link described rather than followed; nil if nothing
    /// is. Wraps `fstatat(2)` with `AT_SYMLINK_NOFOLLOW`.
    package func entryStatus(_ name: String) throws(Errno) -> Files.Status? {
        var st = stat()
        do throws(Errno) { try retryingOnInterrupt { fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) } } catch {
            if error == .noSuchFileOrDirectory { return nil }
            throw error
        }
        return Files.Status(st)
    }

    /// Which file is at `name` now (a link's own identity, not its target's); nil if none. Wraps
    /// `fstatat(2)` with `AT_SYMLINK_NOFOLLOW`.
    package func identity(of name: String) -> FileIdentity? {
        var st = stat()
        guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        return FileIdentity(st)
    }

    /// Opens the regular file `name` (`flags` as for `open`, plus `O_CREAT` to create it with
    /// `mode`). A link there fails and anything but a regular file is refused, with
    /// `Errno.notARegularFile`; the open itself never blocks on a FIFO. Wraps `openat(2)`, `fstat(2)`.
    package func openFile(_ name: String, _ flags: Int32, mode: mode_t = 0o600) throws(Errno) -> FileDescriptor {
        let raw: Int32
        do throws(Errno) {
            raw = try retryingOnInterrupt { openat(fd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode) }
        } catch {
            // ELOOP: a link (O_NOFOLLOW); ENXIO: a FIFO with no reader, or a socket, opened to write.
            if error == .tooManyLinks || error.rawValue == ENXIO, let found = try? entryStatus(name), found.type != .regular {
                throw .notARegularFile(found.type)
            }
            throw error
        }
        let file = FileDescriptor(owning: raw)
        let type = try file.status().type
        guard type == .regular else { throw .notARegularFile(type) }
        // Back to blocking I/O for the regular file (where O_NONBLOCK means nothing, but stays unsurprising).
        if flags & O_NONBLOCK == 0 { _ = fcntl(raw, F_SETFL, fcntl(raw, F_GETFL) & ~O_NONBLOCK) }
        return file
    }

    /// `openFile`, or nil when there is no file at `name`.
    package func openFileIfPresent(_ name: String, _ flags: Int32) throws(Errno) -> FileDescriptor? {
        do { return try openFile(name, flags) } catch {
            if error == .noSuchFileOrDirectory { return nil }
            throw error
        }
    }

    /// The regular file `name` open for reading, or nil when there is none.
    package func openForReading(_ name: String) throws(Errno) -> FileDescriptor? { try openFileIfPresent(name, O_RDONLY) }

    /// The regular file `name` open for writing, created (with `mode`) if missing; with `append`,
    /// open for reading too, every write going to the end.
    package func openForWriting(_ name: String, append: Bool = false, mode: mode_t = 0o600) throws(Errno) -> FileDescriptor {
        try openFile(name, append ? O_RDWR | O_CREAT | O_APPEND : O_WRONLY | O_CREAT, mode: mode)
    }

    /// `openForWriting(name, append: true)` without creating it: nil when there is no file at `name`.
    package func openForAppendingIfPresent(_ name: String) throws(Errno) -> FileDescriptor? {
        try openFileIfPresent(name, O_RDWR | O_APPEND)
    }

    /// The whole regular file `name`, or nil when there is none.
    package func readFile(_ name: String) throws(Errno) -> [UInt8]? {
        guard let file = try openFileIfPresent(name, O_RDONLY) else { return nil }
        return try Files.readAll(fd: file.rawValue)
    }

    /// The last `maxBytes` of the regular file `name` and the file's whole size, or nil when there is
    /// none: a view of a long log reads its end only. Wraps `fstat(2)`, `pread(2)`.
    package func readFileTail(_ name: String, maxBytes: Int) throws(Errno) -> (bytes: [UInt8], size: Int)? {
        guard let file = try openFileIfPresent(name, O_RDONLY) else { return nil }
        let size = try file.status().size
        let start = max(0, size - maxBytes)
        var bytes = [UInt8](repeating: 0, count: size - start)
        var count = 0
        while count < bytes.count {
            let n = try bytes.withUnsafeMutableBytes { raw in
                Result { () throws(Errno) in
                    try retryingOnInterrupt { pread(file.rawValue, raw.baseAddress! + count, raw.count - count, off_t(start + count)) }
                }
            }.get()
            if n == 0 { break }  // cut meanwhile: what is there
            count += n
        }
        bytes.removeSubrange(count...)
        return (bytes, start + count)
    }

    /// Opens the directory `name` in this one, never through a link; with `create`, makes it (mode
    /// 0700) first if it is missing. Nil when it is missing and not to be created. A link or another
    /// kind of file there fails with `Errno.notADirectory`. Wraps `mkdirat(2)`, `openat(2)`.
    package func openDirectory(_ name: String, create: Bool) throws(Errno) -> OpenDirectory? {
        while true {
            do throws(Errno) {
                let raw = try retryingOnInterrupt { openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
                return OpenDirectory(path: path(of: name), descriptor: FileDescriptor(owning: raw))
            } catch {
                if error == .noSuchFileOrDirectory {
                    guard create else { return nil }
                    do throws(Errno) { try retryingOnInterrupt { mkdirat(fd, name, 0o700) } } catch {
                        if error != .fileExists { throw error }
                    }
                    continue
                }
                if error == .tooManyLinks || error.rawValue == ENOTDIR, let found = try? entryStatus(name), found.type != .directory {
                    throw .notADirectory(found.type)
                }
                throw error
            }
        }
    }

    /// Removes the file (or link) `name`, ignoring a missing one; a link's target is untouched.
    /// Wraps `unlinkat(2)`.
    package func remove(_ name: String) { _ = unlinkat(fd, name, 0) }

    /// Renames `from` over `to`, both in this directory, in one step. Wraps `renameat(2)`.
    package func rename(_ from: String, to: String) throws(Errno) {
        try retryingOnInterrupt { renameat(fd, from, fd, to) }
    }

    /// Makes the renames and removals in this directory durable. Wraps `fsync(2)`.
    package func sync() throws(Errno) { try Files.fsync(fd) }
}

extension FileDescriptor {
    /// The owner, mode and kind of the file this descriptor reaches. Wraps `fstat(2)`.
    package func status() throws(Errno) -> Files.Status { try FileDescriptor.status(rawValue) }

    static func status(_ fd: Int32) throws(Errno) -> Files.Status {
        var st = stat()
        try retryingOnInterrupt { fstat(fd, &st) }
        return Files.Status(st)
    }
}

// MARK: - opening a directory by a path others may share

/// Why `OpenDirectory.openChecked` refused a path or could not follow it.
package enum PathCheckError: Error, Sendable {
    /// A call failed on `path`.
    case failed(path: String, Errno)
    /// `path` is a symbolic link owned by `owner`, who is neither this user nor root: whoever owns it
    /// chooses where it leads.
    case untrustedLink(path: String, owner: uid_t)
    /// `path`, a directory on the way, is owned by someone else than this user or root, or others can
    /// write it and it lacks the sticky bit: they could put something else at the next name.
    case unsafeDirectory(path: String, owner: uid_t, mode: mode_t)
    /// `path` is not a directory.
    case notADirectory(path: String, FileType)
}

extension OpenDirectory {
    /// Opens the directory at the absolute `path` one name at a time from `/`, each relative to the
    /// last (`openat` with `O_NOFOLLOW`), and checks each directory passed through, through its own
    /// descriptor: it must belong to this user or root, and others may write it only if it has the
    /// sticky bit (then they cannot rename or remove what is not theirs). A symbolic link on the way,
    /// the last name included, is followed only if this user or root owns it. So nobody else can
    /// steer the path, and once it is open, nothing they do to the path changes the directory held.
    /// The last directory itself is only opened: its owner and mode are the caller's to check.
    ///
    /// Missing directories are made (mode 0700) with `create`; without it, nil when one is missing.
    package static func openChecked(_ path: String, create: Bool) throws(PathCheckError) -> OpenDirectory? {
        let me = geteuid()
        func trusted(_ owner: uid_t) -> Bool { owner == me || owner == 0 }
        func fail(_ shown: String, _ error: Errno) -> PathCheckError { .failed(path: shown.isEmpty ? "/" : shown, error) }
        /// Checks a directory that the walk goes on through.
        func checkPassage(_ dir: borrowing FileDescriptor, _ shown: String) throws(PathCheckError) {
            let st: Files.Status
            do { st = try dir.status() } catch { throw fail(shown, error) }
            if !trusted(st.owner) || (st.mode & 0o022 != 0 && st.mode & 0o1000 == 0) {
                throw .unsafeDirectory(path: shown.isEmpty ? "/" : shown, owner: st.owner, mode: st.mode)
            }
        }
        func openRoot() throws(PathCheckError) -> FileDescriptor {
            do { return FileDescriptor(owning: try Files.open("/", O_PATH | O_DIRECTORY)) } catch { throw fail("/", error) }
        }
        // Names still to walk, the next one last.
        var pending = path.split(separator: "/").reversed().map(String.init)
        var current = try openRoot()
        var shown = ""  // the path of `current`, as walked ("" for the root)
        var links = 0
        while let name = pending.popLast() {
            if name == "." { continue }
            try checkPassage(current, shown)
            let next = name == ".." ? String(shown[..<(shown.lastIndex(of: "/") ?? shown.startIndex)]) : shown + "/" + name
            var st = stat()
            if fstatat(current.rawValue, name, &st, AT_SYMLINK_NOFOLLOW) != 0 {
                let error = Errno.current
                if error == .interrupted { pending.append(name); continue }
                guard error == .noSuchFileOrDirectory else { throw fail(next, error) }
                guard create else { return nil }
                if mkdirat(current.rawValue, name, 0o700) != 0, Errno.current != .fileExists { throw fail(next, .current) }
                pending.append(name)
                continue
            }
            switch FileType(mode: st.st_mode) {
            case .symbolicLink:
                guard trusted(st.st_uid) else { throw .untrustedLink(path: next, owner: st.st_uid) }
                links += 1
                if links > 40 { throw fail(next, .tooManyLinks) }
                var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlinkat(current.rawValue, name, &target, target.count - 1)
                guard n > 0 else { throw fail(next, n == 0 ? .noSuchFileOrDirectory : .current) }
                let destination = String(decoding: target[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                pending += destination.split(separator: "/").reversed().map(String.init)
                if destination.hasPrefix("/") {
                    current = try openRoot()
                    shown = ""
                }
            case .directory:
                let raw = openat(current.rawValue, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if raw < 0 {
                    let error = Errno.current
                    // Replaced since the fstatat (by this user or root: the directory was checked): look again.
                    guard error == .interrupted || error == .tooManyLinks || error.rawValue == ENOTDIR || error == .noSuchFileOrDirectory
                    else { throw fail(next, error) }
                    pending.append(name)
                    continue
                }
                current = FileDescriptor(owning: raw)
                shown = next
            case let other:
                throw .notADirectory(path: next, other)
            }
        }
        // Opened to look up names only (O_PATH): open it for real, to read it and fsync it.
        do {
            let raw = try retryingOnInterrupt { openat(current.rawValue, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
            return OpenDirectory(path: path, descriptor: FileDescriptor(owning: raw))
        } catch {
            throw fail(shown, error)
        }
    }
}

extension FileIdentity {
    /// The identity of the file `fd` reaches, by the same call as `OpenDirectory.identity(of:)`:
    /// `fstatat(2)` with `AT_EMPTY_PATH`.
    static func of(descriptor fd: Int32) throws(Errno) -> FileIdentity {
        var st = stat()
        try retryingOnInterrupt { fstatat(fd, "", &st, AT_EMPTY_PATH) }
        return FileIdentity(st)
    }
}

/// `AT_EMPTY_PATH` (Linux, `_GNU_SOURCE`): `fstatat` on the descriptor itself.
let AT_EMPTY_PATH: Int32 = 0x1000

/// `O_PATH` (Linux), which Swift's Glibc module does not show (it needs `_GNU_SOURCE`): a descriptor
/// that only names a directory to look names up in, openable with search permission alone.
let O_PATH: Int32 = 0o10000000
