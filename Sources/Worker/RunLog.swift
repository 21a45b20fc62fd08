import QueueSystem
import QueueStorage

/// One run's output on its way to the job's log file (its format: `LogFormat`). The child writes
/// its stdout and its stderr to a pipe each; the worker copies them over, each piece marked with its
/// stream, keeping the first half of `maxBytes` as it comes and the last half in memory, so a run
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
    /// The channel the file's end is in (see `LogFormat`); unknown for a file this run did not start.
    private var channel: LogFormat.Channel?
    /// Why the output could not be logged (the file could not be created), once that happened.
    private(set) var lost: String?
    private var lostReported = false

    /// One of the child's two output pipes.
    private final class Pipe {
        let readEnd: FileDescriptor
        /// The child's end, until the child has its own copy.
        var writeEnd: FileDescriptor?
        /// The end to poll, until its end of file (a job may close its output long before it ends:
        /// an ended pipe stays readable, and polling it would spin).
        var pollFD: Int32?
        let stderr: Bool

        init(stderr: Bool) throws(Errno) {
            let pipe = try Files.makePipe()
            readEnd = FileDescriptor(owning: pipe.read)
            writeEnd = FileDescriptor(owning: pipe.write)
            pollFD = pipe.read
            self.stderr = stderr
        }

        var writeFD: Int32 {
            switch writeEnd {
            case .some(let end): return end.rawValue
            case .none: return -1
            }
        }
    }

    private let pipes: [Pipe]
    private let maxBytes: Int
    /// Output bytes still written as they come, before the rest goes to `tail`.
    private var headRoom: Int
    /// The latest output beyond the head, kept in memory with the stream of each piece.
    private var tail: [(bytes: ArraySlice<UInt8>, stderr: Bool)] = []
    private var tailCount = 0
    private var dropped = 0
    private var buffer = [UInt8](repeating: 0, count: 65_536)

    /// Opens `name` in `directory` if it exists (else it is created with the first output) and a
    /// pipe each for the child's stdout and stderr. A link, a FIFO or another kind of file at `name`
    /// is refused, without waiting on it.
    init(in directory: OpenDirectory, name: String, header: String, maxBytes: Int) throws(Errno) {
        self.directory = directory
        self.name = name
        self.maxBytes = maxBytes
        headRoom = maxBytes / 2
        file = try directory.openForAppendingIfPresent(name)
        pipes = [try Pipe(stderr: false), try Pipe(stderr: true)]
        pendingHeader = Array(header.utf8)
        if fileFD != nil { write([]) }
    }

    /// The reason the output is not being logged, the first time it is asked after that happened.
    func newlyLost() -> String? {
        guard let lost, !lostReported else { return nil }
        lostReported = true
        return lost
    }

    /// The ends of the pipes the child writes its stdout and stderr to.
    var writeFDs: (stdout: Int32, stderr: Int32) { (pipes[0].writeFD, pipes[1].writeFD) }

    /// The pipes to poll, until each is at its end of file.
    var pollFDs: [Int32] { pipes.compactMap(\.pollFD) }

    /// Closes the worker's copies of the write ends once the child has its own.
    func closeWriteEnds() { for pipe in pipes { pipe.writeEnd = nil } }

    /// Copies what the child has written so far, stdout first when both have something (two pipes
    /// say nothing of which was written first).
    func pump() {
        for pipe in pipes where pipe.pollFD != nil {
            while true {
                guard let n = Files.readAvailable(pipe.readEnd.rawValue, into: &buffer) else {
                    pipe.pollFD = nil
                    break
                }
                if n == 0 { break }
                take(buffer[..<n], stderr: pipe.stderr)
            }
        }
    }

    private func take(_ bytes: ArraySlice<UInt8>, stderr: Bool) {
        var rest = bytes
        if headRoom > 0 {
            let head = rest.prefix(headRoom)
            write([(head, stderr ? .stderr : .stdout)])
            headRoom -= head.count
            rest = rest.dropFirst(head.count)
        }
        guard !rest.isEmpty else { return }
        tail.append((Array(rest)[...], stderr))
        tailCount += rest.count
        let keep = maxBytes - maxBytes / 2
        if tailCount > 2 * keep { dropTail(toKeep: keep) }
    }

    /// Forgets the oldest tail output beyond the last `keep` bytes, counting it as cut.
    private func dropTail(toKeep keep: Int) {
        var excess = tailCount - keep
        dropped += excess
        tailCount = keep
        var first = 0
        while excess > 0 {
            if tail[first].bytes.count <= excess {
                excess -= tail[first].bytes.count
                first += 1
            } else {
                tail[first].bytes = tail[first].bytes.dropFirst(excess)
                excess = 0
            }
        }
        tail.removeFirst(first)
    }

    /// Copies the last of the output, writes `footer`, and bounds the file. The descriptors close
    /// when the log is let go of.
    func finish(footer: String) {
        pump()
        closeWriteEnds()
        let keep = maxBytes - maxBytes / 2
        if tailCount > keep { dropTail(toKeep: keep) }
        // A run that printed nothing into a log that does not exist leaves none.
        guard fileFD != nil || headRoom < maxBytes / 2 || !tail.isEmpty else { return }
        var pieces: [(ArraySlice<UInt8>, LogFormat.Channel)] = []
        if dropped > 0 { pieces.append((LogFormat.marker(cutting: dropped)[...], .ours)) }
        for piece in tail { pieces.append((piece.bytes, piece.stderr ? .stderr : .stdout)) }
        pieces.append((Array(footer.utf8)[...], .ours))
        write(pieces)
        bound()
    }

    /// Appends `pieces` (output of the job, marked with its stream, or texts of queuectl's own) in one
    /// write, after the run's header if that is not written yet, creating the file first if need be.
    private func write(_ pieces: [(bytes: ArraySlice<UInt8>, channel: LogFormat.Channel)]) {
        if fileFD == nil, lost == nil {
            do { file = try directory.openForWriting(name, append: true) } catch {
                lost = "output not logged: cannot open \(directory.path(of: name)): \(error)"
            }
        }
        guard let fd = fileFD else { return }
        var out: [UInt8] = []
        if let header = pendingHeader {
            pendingHeader = nil
            LogFormat.append(header[...], as: .ours, after: &channel, to: &out)
        }
        for piece in pieces where !piece.bytes.isEmpty { LogFormat.append(piece.bytes, as: piece.channel, after: &channel, to: &out) }
        if !out.isEmpty { try? Files.writeAll(fd, out) }
    }

    private var fileFD: Int32? {
        switch file {
        case .some(let file): return file.rawValue
        case .none: return nil
        }
    }

    /// Cuts the middle out of a log longer than `maxBytes`, keeping its start and its end. The marker
    /// left in the cut says how much output it stands for: the bytes removed now, less the markers of
    /// earlier cuts among them, plus what those markers stood for (stream marks are not output and
    /// count for nothing). The cut never splits a mark, a doubled DLE or a text of queuectl's own (a
    /// header, footer or marker that reaches into the cut is removed whole). After the marker, the
    /// header of the run the kept end belongs to is written again if the cut took it, and the stream
    /// that end is in is marked again; the cut is that much longer, so the file stays within the bound.
    /// The file read is the one written, through its descriptor; the shorter one replaces it in the
    /// same directory.
    private func bound() {
        let read: [UInt8]?
        switch file {
        case .some(let file): read = (try? file.status().size).flatMap { $0 > maxBytes ? try? file.contents() : nil }
        case .none: read = nil
        }
        guard let bytes = read else { return }
        let cut = LogFormat.cut(bytes, keeping: maxBytes / 2)
        try? AtomicFile.replace(in: directory, name: name, with: Array(bytes[..<cut.range.lowerBound]) + cut.insert + Array(bytes[cut.range.upperBound...]))
    }

}
