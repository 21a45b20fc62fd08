@preconcurrency import Glibc

/// Bytes to decode: a file mapped read-only, or a copy of an array. A mapping stays valid after the
/// file is renamed over (it holds the old inode), so jobs can still be decoded from it after the
/// transaction that read it. Pages already scanned can be handed back (`release`), so a large file
/// does not stay resident.
public final class FileBytes: @unchecked Sendable {
    public let bytes: UnsafeBufferPointer<UInt8>
    private let mapped: Bool
    /// Which file this is, as it was when mapped; nil for an array.
    public private(set) var identity: FileIdentity?

    /// Maps `path`, or returns nil when it does not exist. Wraps `mmap(2)`.
    public static func map(_ path: String) throws(Errno) -> FileBytes? {
        let fd: Int32
        do throws(Errno) { fd = try Files.open(path, O_RDONLY) } catch {
            if error == .noSuchFileOrDirectory { return nil }
            throw error
        }
        return try map(FileDescriptor(owning: fd))
    }

    /// Maps the file `file` reaches, whatever is at its path now. Wraps `mmap(2)`.
    public static func map(_ file: borrowing FileDescriptor) throws(Errno) -> FileBytes {
        let fd = file.rawValue
        var st = stat()
        try retryingOnInterrupt { fstat(fd, &st) }
        let length = Int(st.st_size)
        let result: FileBytes
        if length == 0 {
            result = FileBytes(array: [])
        } else {
            guard let base = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else { throw Errno.current }
            result = FileBytes(UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: length), mapped: true)
        }
        result.identity = FileIdentity(st)
        return result
    }

    public convenience init(array: [UInt8]) {
        let copy = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(array.count, 1))
        _ = copy.initialize(from: array)
        self.init(UnsafeBufferPointer(start: copy.baseAddress, count: array.count), mapped: false)
    }

    private init(_ bytes: UnsafeBufferPointer<UInt8>, mapped: Bool) {
        self.bytes = bytes
        self.mapped = mapped
    }

    /// Lets the kernel drop the mapped pages of `range` from this process; touching them again reads
    /// them back from the page cache. Wraps `madvise(MADV_DONTNEED)`.
    public func release(_ range: Range<Int>) {
        guard mapped, let base = bytes.baseAddress else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound + page - 1) / page * page
        let end = range.upperBound / page * page
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    /// For one pass from the start of the file: releases the pages before `end` once 2 MB have
    /// been passed since `released`, and moves `released` up to `end`.
    public func release(passedUpTo end: Int, since released: inout Int) {
        guard end - released >= 2 << 20 else { return }
        release(released..<end)
        released = end
    }

    deinit {
        if mapped {
            _ = munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
        } else {
            UnsafeMutableBufferPointer(mutating: bytes).deallocate()
        }
    }
}

/// What tells one file from another, and a file from itself after an edit in place: device, inode,
/// size, and modification and change times. While a process holds a file mapped, its inode cannot be freed, so no
/// other file can take its number.
public struct FileIdentity: Equatable, Sendable {
    let device: UInt64
    let inode: UInt64
    let size: Int64
    let modifiedSeconds: Int64
    let modifiedNanoseconds: Int64
    /// The inode change time, which no tool can set back (`touch -r` and `cp -p` can set mtime).
    let changedSeconds: Int64
    let changedNanoseconds: Int64

    init(_ st: stat) {
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        modifiedSeconds = Int64(st.st_mtim.tv_sec)
        modifiedNanoseconds = Int64(st.st_mtim.tv_nsec)
        changedSeconds = Int64(st.st_ctim.tv_sec)
        changedNanoseconds = Int64(st.st_ctim.tv_nsec)
    }

    /// The identity of the file at `path` now, or nil if there is none. Wraps `stat(2)`.
    public static func of(_ path: String) -> FileIdentity? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileIdentity(st)
    }
}

/// The index of the first `byte` in `buffer` at or after `start`, or nil. Wraps `memchr(3)`, which
/// looks at many bytes per step.
public func firstIndex(of byte: UInt8, in buffer: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
    guard let base = buffer.baseAddress, start < buffer.count,
          let found = memchr(base + start, Int32(byte), buffer.count - start) else { return nil }
    return UnsafeRawPointer(found) - UnsafeRawPointer(base)
}
