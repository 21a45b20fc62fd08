@preconcurrency import Glibc
import GlibcExtras

/// Thin wrappers over the file system calls the queue needs. Every raw call retries on EINTR.
package enum Files {
    /// Opens `path`; the descriptor is always close-on-exec. Wraps `open(2)`.
    package static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o600) throws(Errno) -> Int32 {
        try retryingOnInterrupt { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    /// Closes a descriptor, ignoring errors (there is nothing useful to do about them). Wraps `close(2)`.
    package static func close(_ fd: Int32) { _ = Glibc.close(fd) }

    /// Runs `body` with `fd`, closing it afterwards.
    package static func closeAfter<T, E: Error>(_ fd: Int32, _ body: (Int32) throws(E) -> T) throws(E) -> T {
        defer { close(fd) }
        return try body(fd)
    }

    /// Reads the whole file at `path`, or returns nil when it does not exist.
    package static func readAll(_ path: String) throws(Errno) -> [UInt8]? {
        let fd: Int32
        do throws(Errno) { fd = try open(path, O_RDONLY) } catch { if error == .noSuchFileOrDirectory { return nil }; throw error }
        return try closeAfter(fd) { (fd) throws(Errno) in try readAll(fd: fd) }
    }

    /// Reads from `fd` until end of file. Wraps `read(2)`.
    package static func readAll(fd: Int32) throws(Errno) -> [UInt8] {
        // With no limit the result is never nil.
        try readAll(fd: fd, limit: .max)!
    }

    /// Reads from `fd` until end of file, or returns nil once it holds more than `limit` bytes.
    /// Wraps `read(2)`.
    package static func readAll(fd: Int32, limit: Int) throws(Errno) -> [UInt8]? {
        var st = stat()
        try retryingOnInterrupt { fstat(fd, &st) }
        var buffer = [UInt8](repeating: 0, count: max(Int(st.st_size) + 1, 4096))
        var count = 0
        while true {
            if count == buffer.count { buffer.append(contentsOf: repeatElement(0, count: buffer.count)) }
            // withUnsafeMutableBytes rethrows untyped errors, so the result travels as a Result.
            let n = try buffer.withUnsafeMutableBytes { raw in
                Result { () throws(Errno) in try retryingOnInterrupt { read(fd, raw.baseAddress! + count, raw.count - count) } }
            }.get()
            if n == 0 { break }
            count += n
            if count > limit { return nil }
        }
        buffer.removeSubrange(count...)
        return buffer
    }

    /// Writes all of `bytes`, looping over short writes. Wraps `write(2)`.
    package static func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer) throws(Errno) {
        var offset = 0
        while offset < raw.count {
            offset += try retryingOnInterrupt { write(fd, raw.baseAddress! + offset, raw.count - offset) }
        }
    }

    package static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(Errno) {
        try bytes.withUnsafeBytes { raw in Result { () throws(Errno) in try writeAll(fd, raw) } }.get()
    }

    /// Starts writing `range` of a file to the disk without waiting, so that a later fsync has less
    /// left to wait for. Only a hint: failures are ignored (fsync reports them). Wraps
    /// `sync_file_range(2)` with `SYNC_FILE_RANGE_WRITE`.
    package static func startWriteback(_ fd: Int32, _ range: Range<Int>) {
        _ = sync_file_range(fd, Int64(range.lowerBound), Int64(range.count), 2)  // SYNC_FILE_RANGE_WRITE
    }

    /// Flushes a descriptor's data to the disk. Wraps `fsync(2)`.
    package static func fsync(_ fd: Int32) throws(Errno) { try retryingOnInterrupt { Glibc.fsync(fd) } }

    /// Renames `from` over `to` in one step. Wraps `rename(2)`.
    package static func rename(_ from: String, _ to: String) throws(Errno) {
        try retryingOnInterrupt { Glibc.rename(from, to) }
    }

    /// A pipe whose ends are both close-on-exec and whose read end does not block. Wraps `pipe(2)`.
    package static func makePipe() throws(Errno) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        try retryingOnInterrupt { pipe(&fds) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        return (fds[0], fds[1])
    }

    /// Reads what is available now without blocking: nil at end of file, empty when nothing is waiting.
    package static func readAvailable(_ fd: Int32, into buffer: inout [UInt8]) -> Int? {
        let n = buffer.withUnsafeMutableBytes { raw in read(fd, raw.baseAddress!, raw.count) }
        if n > 0 { return n }
        if n == 0 { return nil }
        return errno == EAGAIN || errno == EINTR ? 0 : nil
    }

    /// The owner, permission bits and kind of a file. Wraps `stat(2)`.
    package struct Status: Sendable {
        package let owner: uid_t
        package let mode: mode_t
        package let type: FileType
        package let size: Int
        package let modified: Timestamp

        package var isDirectory: Bool { type == .directory }

        init(_ st: stat) {
            owner = st.st_uid
            mode = st.st_mode & 0o7777
            type = FileType(mode: st.st_mode)
            size = Int(st.st_size)
            modified = Timestamp(milliseconds: Int64(st.st_mtim.tv_sec) * 1000 + Int64(st.st_mtim.tv_nsec) / 1_000_000)
        }
    }

    package static func status(_ path: String) throws(Errno) -> Status {
        var st = stat()
        try retryingOnInterrupt { stat(path, &st) }
        return Status(st)
    }

    /// Whether this process may enter the directory `path` (search permission). Wraps `access(2)`.
    package static func canEnter(_ path: String) -> Bool { access(path, X_OK) == 0 }

    /// The directory part of a path, like `dirname(1)`.
    package static func directoryName(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    /// The current working directory. Wraps `getcwd(3)`.
    package static func currentDirectory() -> String? {
        guard let pointer = getcwd(nil, 0) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }
}

/// The kind of a file, from the `S_IFMT` bits of its mode.
package enum FileType: UInt8, Sendable, CustomStringConvertible {
    case regular, directory, symbolicLink, fifo, socket, characterDevice, blockDevice, unknown

    package init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFLNK: self = .symbolicLink
        case S_IFIFO: self = .fifo
        case S_IFSOCK: self = .socket
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        default: self = .unknown
        }
    }

    /// `a FIFO`, `a symbolic link`: for messages.
    package var description: String {
        switch self {
        case .regular: return "a regular file"
        case .directory: return "a directory"
        case .symbolicLink: return "a symbolic link"
        case .fifo: return "a FIFO (named pipe)"
        case .socket: return "a socket"
        case .characterDevice: return "a character device"
        case .blockDevice: return "a block device"
        case .unknown: return "a file of unknown type"
        }
    }
}
