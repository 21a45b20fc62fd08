import QueueSystem

/// One run's output on its way to the job's log file. The child writes to a pipe; the worker copies
/// it over, keeping the first half of `maxBytes` as it comes and the last half in memory, so a run
/// that prints without end neither fills the disk nor loses its last words. After the run, the whole
/// file (all runs) is cut in the middle if it has grown past `maxBytes`. A job's first run that
/// prints nothing leaves no file: it is created with the first output (a new file per job was a
/// fifth of a busy worker's CPU here, on a file system that checks recently freed inodes on each).
final class RunLog {
    /// The log file, in the queue's `logs` directory (held open: see `OpenDirectory`).
    private let directory: OpenDirectory
    private let name: String
    /// Open to append and to read back (for `bound`); a regular file, never reached through a link.
    /// Nil until there is something to write to a log that did not exist yet.
    private var file: FileDescriptor?
    /// The run's header, until the file it opens exists.
    private var pendingHeader: [UInt8]?
    /// Why the output could not be logged (the file could not be created), once that happened.
    private(set) var lost: String?
    private var lostReported = false
    private let readEnd: FileDescriptor
    /// The pipe to poll, until its end of file (a job may close its output long before it ends:
    /// an ended pipe stays readable, and polling it would spin).
    private(set) var pollFD: Int32?
    /// The child's end of the pipe, until the child has its own copy.
    private var writeEnd: FileDescriptor?
    private let maxBytes: Int
    private var headRoom: Int
    private var tail: [UInt8] = []
    private var dropped = 0
    private var buffer = [UInt8](repeating: 0, count: 65_536)

    /// Opens `name` in `directory` if it exists (else it is created with the first output) and a
    /// pipe for the child's output. A link, a FIFO or another kind of file at `name` is refused,
    /// without waiting on it.
    init(in directory: OpenDirectory, name: String, header: String, maxBytes: Int) throws(Errno) {
        self.directory = directory
        self.name = name
        self.maxBytes = maxBytes
        headRoom = maxBytes / 2
        file = try directory.openForAppendingIfPresent(name)
        let pipe = try Files.makePipe()
        readEnd = FileDescriptor(owning: pipe.read)
        writeEnd = FileDescriptor(owning: pipe.write)
        pollFD = pipe.read
        pendingHeader = Array(header.utf8)
        if fileFD != nil { write([]) }
    }

    /// The reason the output is not being logged, the first time it is asked after that happened.
    func newlyLost() -> String? {
        guard let lost, !lostReported else { return nil }
        lostReported = true
        return lost
    }

    /// The end of the pipe the child writes to; -1 once closed.
    var writeFD: Int32 {
        switch writeEnd {
        case .some(let end): return end.rawValue
        case .none: return -1
        }
    }

    /// Closes the worker's copy of the write end once the child has its own.
    func closeWriteEnd() { writeEnd = nil }

    /// Copies what the child has written so far. Returns false once the pipe is at end of file.
    @discardableResult
    func pump() -> Bool {
        guard pollFD != nil else { return false }
        while true {
            guard let n = Files.readAvailable(readEnd.rawValue, into: &buffer) else {
                pollFD = nil
                return false
            }
            if n == 0 { return true }
            take(buffer[..<n])
        }
    }

    private func take(_ bytes: ArraySlice<UInt8>) {
        var rest = bytes
        if headRoom > 0 {
            let head = rest.prefix(headRoom)
            write(Array(head))
            headRoom -= head.count
            rest = rest.dropFirst(head.count)
        }
        guard !rest.isEmpty else { return }
        tail.append(contentsOf: rest)
        let keep = maxBytes - maxBytes / 2
        if tail.count > 2 * keep {
            dropped += tail.count - keep
            tail.removeFirst(tail.count - keep)
        }
    }

    /// Copies the last of the output, writes `footer`, and bounds the file. The descriptors close
    /// when the log is let go of.
    func finish(footer: String) {
        pump()
        closeWriteEnd()
        let keep = maxBytes - maxBytes / 2
        if tail.count > keep {
            dropped += tail.count - keep
            tail.removeFirst(tail.count - keep)
        }
        // A run that printed nothing into a log that does not exist leaves none.
        guard fileFD != nil || headRoom < maxBytes / 2 || !tail.isEmpty else { return }
        if dropped > 0 { write(Array("\n[queuectl: \(dropped) bytes of output cut here]\n".utf8)) }
        write(tail)
        write(Array(footer.utf8))
        bound()
    }

    /// Appends `bytes`, after the run's header if that is not written yet, creating the file first
    /// if need be.
    private func write(_ bytes: [UInt8]) {
        if fileFD == nil, lost == nil {
            do { file = try directory.openForWriting(name, append: true) } catch {
                lost = "output not logged: cannot open \(directory.path(of: name)): \(error)"
            }
        }
        guard let fd = fileFD else { return }
        if let header = pendingHeader {
            pendingHeader = nil
            try? Files.writeAll(fd, header)
        }
        if !bytes.isEmpty { try? Files.writeAll(fd, bytes) }
    }

    private var fileFD: Int32? {
        switch file {
        case .some(let file): return file.rawValue
        case .none: return nil
        }
    }

    /// Cuts the middle out of a log longer than `maxBytes`, keeping its start and its end. The marker
    /// left in the cut says how much output it stands for: the bytes removed now, less the markers of
    /// earlier cuts among them, plus what those markers stood for. (A marker that reaches into the
    /// cut is removed whole, so none is left half there.) The file read is the one written, through
    /// its descriptor; the shorter one replaces it in the same directory.
    private func bound() {
        let read: [UInt8]?
        switch file {
        case .some(let file): read = (try? file.status().size).flatMap { $0 > maxBytes ? try? file.contents() : nil }
        case .none: read = nil
        }
        guard let bytes = read else { return }
        let half = maxBytes / 2
        var cut = half..<(bytes.count - half)
        var counted: Set<Int> = []
        var earlierMarkerBytes = 0, stoodFor = 0
        var grew = true
        while grew {
            grew = false
            let window = max(0, cut.lowerBound - RunLog.longestMarker)..<min(bytes.count, cut.upperBound + RunLog.longestMarker)
            for (range, count) in RunLog.markers(in: bytes, window) where range.overlaps(cut) && !counted.contains(range.lowerBound) {
                counted.insert(range.lowerBound)
                earlierMarkerBytes += range.count
                stoodFor += count
                if range.lowerBound < cut.lowerBound || range.upperBound > cut.upperBound {
                    cut = min(cut.lowerBound, range.lowerBound)..<max(cut.upperBound, range.upperBound)
                    grew = true
                }
            }
        }
        let marker = Array("\n[queuectl: \(cut.count - earlierMarkerBytes + stoodFor) bytes of output cut here]\n".utf8)
        try? AtomicFile.replace(in: directory, name: name, with: Array(bytes[..<cut.lowerBound]) + marker + Array(bytes[cut.upperBound...]))
    }

    /// `\n[queuectl: ` + at most 19 digits + the longer ending.
    private static let longestMarker = 12 + 19 + 32

    /// The cut markers in `window` of `bytes` (this version's and the older `bytes of older output`
    /// form), each with the number of bytes it says were cut.
    private static func markers(in bytes: [UInt8], _ window: Range<Int>) -> [(Range<Int>, Int)] {
        let opening = Array("\n[queuectl: ".utf8)
        let endings = [Array(" bytes of output cut here]\n".utf8), Array(" bytes of older output cut here]\n".utf8)]
        var found: [(Range<Int>, Int)] = []
        var i = window.lowerBound
        while let start = bytes[i..<window.upperBound].firstIndex(of: opening[0]) {
            i = start + 1
            guard bytes[start..<window.upperBound].starts(with: opening) else { continue }
            var end = start + opening.count, count = 0
            while end < window.upperBound, end - start - opening.count < 19, let digit = bytes[end].wholeNumberDigit {
                count = count * 10 + digit
                end += 1
            }
            guard end > start + opening.count,
                  let ending = endings.first(where: { bytes[end..<window.upperBound].starts(with: $0) }) else { continue }
            found.append((start..<end + ending.count, count))
        }
        return found
    }
}

private extension UInt8 {
    var wholeNumberDigit: Int? { self >= 0x30 && self <= 0x39 ? Int(self - 0x30) : nil }
}
