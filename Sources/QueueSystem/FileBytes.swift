@preconcurrency import Glibc
import Synchronization

/// Bytes to decode: a file mapped read-only, or a copy of an array. A mapping stays valid after the
/// file is renamed over (it holds the old inode), so jobs can still be decoded from it after the
/// transaction that read it. Pages already scanned can be handed back (`release`), so a large file
/// does not stay resident.
///
/// A file truncated in place while it is mapped loses the pages past its new end, and touching one
/// raises SIGBUS. Here such a page reads as zeros instead (see `busErrorHandler`), as the rest of a
/// page cut in the middle does anyway, and `changedUnderMapping` or `wasChangedInPlace` says so: the
/// reader then reports the change and discards what it read.
package final class FileBytes: @unchecked Sendable {
    package let bytes: UnsafeBufferPointer<UInt8>
    private let mapped: Bool
    /// The mapping's slot in `MappedRegions`, for a mapped file.
    private var region: Int?
    /// A reader found bytes that decoded before no longer do.
    private let noticed = Atomic<Bool>(false)
    /// Which file this is, as it was when mapped; nil for an array.
    package private(set) var identity: FileIdentity?

    /// Maps `path`, or returns nil when it does not exist. Wraps `mmap(2)`.
    package static func map(_ path: String) throws(Errno) -> FileBytes? {
        let fd: Int32
        do throws(Errno) { fd = try Files.open(path, O_RDONLY) } catch {
            if error == .noSuchFileOrDirectory { return nil }
            throw error
        }
        return try map(FileDescriptor(owning: fd))
    }

    /// Maps the file `file` reaches, whatever is at its path now. Wraps `mmap(2)`.
    package static func map(_ file: borrowing FileDescriptor) throws(Errno) -> FileBytes {
        let fd = file.rawValue
        var st = stat()
        try retryingOnInterrupt { fstat(fd, &st) }
        let length = Int(st.st_size)
        let result: FileBytes
        if length == 0 {
            result = FileBytes(array: [])
        } else if busErrorHandlerInstalled, let region = MappedRegions.reserve() {
            guard let base = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
                MappedRegions.release(region)
                throw Errno.current
            }
            MappedRegions.register(region, base: base, length: length)
            result = FileBytes(UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: length), mapped: true)
            result.region = region
        } else {
            // No way to survive a truncation under a mapping: read a copy instead.
            var bytes = [UInt8](repeating: 0, count: length)
            let n = bytes.withUnsafeMutableBytes { raw in pread(fd, raw.baseAddress!, length, 0) }
            guard n >= 0 else { throw Errno.current }
            result = FileBytes(array: Array(bytes.prefix(n)))
        }
        // Taken the way `OpenDirectory.identity(of:)` takes the path's, so the two compare like with like
        // (a time-faking LD_PRELOAD such as faketime rewrites fstat's times but not fstatat's).
        result.identity = try FileIdentity.of(descriptor: fd)
        return result
    }

    package convenience init(array: [UInt8]) {
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
    package func release(_ range: Range<Int>) {
        guard mapped, let base = bytes.baseAddress else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound + page - 1) / page * page
        let end = range.upperBound / page * page
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    /// For one pass from the start of the file: releases the pages before `end` once 2 MB have
    /// been passed since `released`, and moves `released` up to `end`.
    package func release(passedUpTo end: Int, since released: inout Int) {
        guard end - released >= 2 << 20 else { return }
        release(released..<end)
        released = end
    }

    /// True if the mapped file changed in place since it was mapped, as far as this process has seen:
    /// a page lost to a truncation was touched (it read as zeros), or `noticeChangeUnderMapping()`.
    package var changedUnderMapping: Bool {
        noticed.load(ordering: .sequentiallyConsistent) || region.map { MappedRegions.faults($0) > 0 } ?? false
    }

    /// `changedUnderMapping`, or the file `name` in `directory` is still this very file (device and
    /// inode) but its size or times changed: it was written or truncated in place. Where another file
    /// was renamed to that name since, this mapping is intact. Wraps `fstatat(2)`.
    package func wasChangedInPlace(in directory: OpenDirectory, name: String) -> Bool {
        if changedUnderMapping { return true }
        guard mapped, let identity, let now = directory.identity(of: name) else { return false }
        return now.device == identity.device && now.inode == identity.inode && now != identity
    }

    /// For a reader whose bytes decoded once and no longer do: the mapped file changed under it (the
    /// tail of a page cut by a truncation reads as zeros without any fault). Counted with the faults.
    package func noticeChangeUnderMapping() {
        noticed.store(true, ordering: .sequentiallyConsistent)
        MappedRegions.totalFaults.add(1, ordering: .sequentiallyConsistent)
    }

    /// True for the bytes of a mapped file, which can change under the reader; false for a copy.
    package var isMapped: Bool { mapped }

    /// How many times this process has seen a mapped file change under it: lost pages touched, and
    /// `noticeChangeUnderMapping()` calls. A command compares it before and after.
    package static var changesNoticed: Int { MappedRegions.totalFaults.load(ordering: .sequentiallyConsistent) }

    deinit {
        if mapped {
            if let region { MappedRegions.release(region) }
            _ = munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
        } else {
            UnsafeMutableBufferPointer(mutating: bytes).deallocate()
        }
    }
}

/// What tells one file from another, and a file from itself after an edit in place: device, inode,
/// size, and modification and change times. While a process holds a file mapped, its inode cannot be freed, so no
/// other file can take its number.
package struct FileIdentity: Equatable, Sendable {
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

}

/// The index of the first `byte` in `buffer` at or after `start`, or nil. Wraps `memchr(3)`, which
/// looks at many bytes per step.
package func firstIndex(of byte: UInt8, in buffer: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
    guard let base = buffer.baseAddress, start < buffer.count,
          let found = memchr(base + start, Int32(byte), buffer.count - start) else { return nil }
    return UnsafeRawPointer(found) - UnsafeRawPointer(base)
}

// MARK: - SIGBUS from a file truncated under its mapping

/// The live mappings, where the SIGBUS handler can find them: it may take no lock and allocate
/// nothing, so these are fixed slots of atomics. A slot is free when its base is 0.
private enum MappedRegions {
    static let count = 64
    static let bases: InlineArray<64, Atomic<UInt>> = InlineArray { _ in Atomic<UInt>(0) }
    static let lengths: InlineArray<64, Atomic<UInt>> = InlineArray { _ in Atomic<UInt>(0) }
    static let faultCounts: InlineArray<64, Atomic<Int>> = InlineArray { _ in Atomic<Int>(0) }
    static let totalFaults = Atomic<Int>(0)
    /// A base that no mapping has: the slot is taken but not yet registered.
    static let reserved: UInt = 1

    /// A free slot, now taken; nil if all are in use.
    static func reserve() -> Int? {
        for i in 0..<count where bases[i].compareExchange(expected: 0, desired: reserved, ordering: .sequentiallyConsistent).exchanged {
            faultCounts[i].store(0, ordering: .sequentiallyConsistent)
            return i
        }
        return nil
    }

    static func register(_ i: Int, base: UnsafeMutableRawPointer, length: Int) {
        lengths[i].store(UInt(length), ordering: .sequentiallyConsistent)
        bases[i].store(UInt(bitPattern: base), ordering: .sequentiallyConsistent)
    }

    /// Frees the slot; called before the mapping is unmapped.
    static func release(_ i: Int) {
        bases[i].store(reserved, ordering: .sequentiallyConsistent)
        lengths[i].store(0, ordering: .sequentiallyConsistent)
        bases[i].store(0, ordering: .sequentiallyConsistent)
    }

    static func faults(_ i: Int) -> Int { faultCounts[i].load(ordering: .sequentiallyConsistent) }

    /// The slot whose mapping holds `address`, if any.
    static func slot(holding address: UInt) -> Int? {
        for i in 0..<count {
            let base = bases[i].load(ordering: .sequentiallyConsistent)
            guard base > reserved, address >= base else { continue }
            if address - base < lengths[i].load(ordering: .sequentiallyConsistent) { return i }
        }
        return nil
    }
}

/// The disposition SIGBUS had before ours, for faults that are not in a mapping of ours. Written
/// once, before our handler is installed; only read afterwards.
private final class PreviousBusAction: @unchecked Sendable {
    var action = sigaction()
}

private let previousBusAction = PreviousBusAction()
private let pageSize = UInt(sysconf(Int32(_SC_PAGESIZE)))

/// On SIGBUS in one of our mappings, puts a page of zeros (read-only, anonymous) where the lost
/// page was and counts the fault; the access is then repeated and reads zeros. Any other SIGBUS gets
/// the previous disposition back and, as the access is repeated, whatever that does (by default,
/// the process dies as before). Only async-signal-safe work: atomics, `mmap`, `sigaction`.
private let busErrorHandler: @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void = { _, info, _ in
    let savedErrno = errno
    defer { errno = savedErrno }
    let address = UInt(bitPattern: info?.pointee._sifields._sigfault.si_addr)
    if let slot = MappedRegions.slot(holding: address) {
        let page = address & ~(pageSize - 1)
        let zeros = mmap(UnsafeMutableRawPointer(bitPattern: page), Int(pageSize), PROT_READ,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)
        if zeros != MAP_FAILED {
            MappedRegions.faultCounts[slot].add(1, ordering: .sequentiallyConsistent)
            MappedRegions.totalFaults.add(1, ordering: .sequentiallyConsistent)
            return
        }
    }
    sigaction(SIGBUS, &previousBusAction.action, nil)
}

private let busErrorHandlerInstalled: Bool = {
    _ = MappedRegions.totalFaults.load(ordering: .sequentiallyConsistent)  // initialised before any fault
    _ = pageSize
    var action = sigaction()
    action.__sigaction_handler.sa_sigaction = busErrorHandler
    sigemptyset(&action.sa_mask)
    action.sa_flags = SA_SIGINFO | SA_RESTART
    return sigaction(SIGBUS, &action, &previousBusAction.action) == 0
}()
