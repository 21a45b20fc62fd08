import QueueSystem
import Synchronization

/// Where a queue lives: `$QUEUECTL_HOME`, by default `~/.queuectl`. Its directories are opened once
/// (per value and its copies) and checked, and every file in them is reached relative to those
/// descriptors: renaming the folder or putting another at its path afterwards redirects nothing.
/// The paths below are for messages.
package struct QueueHome: Sendable {
    package let directory: String
    package var dataPath: String { directory + "/data.json" }
    package var lockPath: String { directory + "/data.lock" }
    package var logsDirectory: String { directory + "/logs" }
    /// Each worker's heartbeat: an empty file whose modification time it renews.
    package var leasesDirectory: String { directory + "/leases" }
    package func leasePath(for worker: WorkerRecord) -> String { leasesDirectory + "/" + QueueHome.leaseName(worker) }
    /// Each job's output, every run under a header line. Ids are safe file names (see JobInput).
    package func logPath(for id: String) -> String { logsDirectory + "/" + QueueHome.logName(id) }

    package static let dataName = "data.json", lockName = "data.lock", logsName = "logs", leasesName = "leases"
    /// The name of a job's log in the `logs` directory.
    package static func logName(_ id: String) -> String { id + ".log" }
    static func leaseName(_ worker: WorkerRecord) -> String {
        "\(worker.pidNamespace ?? 0)-\(worker.process.pid)-\(worker.process.startTime)"
    }

    /// The directories opened so far, shared by the copies of this value.
    private let opened = OpenedDirectories()

    package init(directory: String) {
        var d = directory
        while d.count > 1, d.hasSuffix("/") { d.removeLast() }
        self.directory = d
    }

    /// `$QUEUECTL_HOME`, else `$HOME/.queuectl`. Either must be an absolute path: a relative one
    /// would make the queue depend on the directory a command happens to run in (a usage error).
    package static func fromEnvironment() throws(QueueError) -> QueueHome {
        if let home = Console.environment("QUEUECTL_HOME"), !home.isEmpty {
            guard home.hasPrefix("/") else {
                throw .usage("QUEUECTL_HOME must be an absolute path, not '\(home)': a relative one would make the queue "
                    + "depend on the current directory (for example, QUEUECTL_HOME=\"$PWD/\(home)\")")
            }
            return QueueHome(directory: home)
        }
        guard let home = Console.environment("HOME"), !home.isEmpty else {
            throw .failure("neither QUEUECTL_HOME nor HOME is set; set QUEUECTL_HOME to the queue's directory")
        }
        guard home.hasPrefix("/") else {
            throw .usage("HOME is not an absolute path ('\(home)'), so the default queue ~/.queuectl has no fixed place; "
                + "set QUEUECTL_HOME to an absolute path")
        }
        return QueueHome(directory: home + "/.queuectl")
    }

    // MARK: the directories

    /// The queue directory, opened once and checked: reached without following a link that someone
    /// else owns, through no directory that others could change (see `OpenDirectory.openChecked`),
    /// owned by you and writable by nobody else, and its `logs` and `leases`, if there, likewise
    /// (real directories, yours, private). With `create`, it is made (mode 0700) if missing; without,
    /// nil when it does not exist: reading creates nothing.
    package func open(create: Bool) throws(QueueError) -> OpenDirectory? {
        if let home = opened.kept("") { return home }
        let home: OpenDirectory
        do {
            guard let found = try OpenDirectory.openChecked(directory, create: create) else { return nil }
            home = found
        } catch {
            throw refusal(error)
        }
        let status: Files.Status
        do { status = try home.status() } catch { throw .failure("cannot use the queue directory \(directory): \(error)") }
        try QueueHome.checkOwnership(directory, status, fix: "chmod 700")
        for name in [QueueHome.logsName, QueueHome.leasesName] { try checkEntry(name, in: home, expecting: .directory) }
        return opened.keep(home, as: "")
    }

    /// `open(create: true)`, which always has a directory to return.
    package func openCreating() throws(QueueError) -> OpenDirectory {
        guard let home = try open(create: true) else { throw .failure("cannot create the queue directory \(directory)") }
        return home
    }

    /// The `logs` directory, opened once through the queue directory, never through a link; nil when
    /// it (or the queue) does not exist and `create` is false.
    package func openLogs(create: Bool) throws(QueueError) -> OpenDirectory? {
        try openSubdirectory(QueueHome.logsName, create: create)
    }

    /// The `leases` directory, as `openLogs`.
    package func openLeases(create: Bool) throws(QueueError) -> OpenDirectory? {
        try openSubdirectory(QueueHome.leasesName, create: create)
    }

    private func openSubdirectory(_ name: String, create: Bool) throws(QueueError) -> OpenDirectory? {
        if let kept = opened.kept(name) { return kept }
        guard let home = try open(create: create) else { return nil }
        let path = home.path(of: name)
        let subdirectory: OpenDirectory
        do {
            guard let found = try home.openDirectory(name, create: create) else { return nil }
            subdirectory = found
            try QueueHome.checkOwnership(path, try subdirectory.status(), fix: "chmod 700")
        } catch let error as QueueError {
            throw error
        } catch let error as Errno {
            throw error.isWrongFileType ? QueueHome.notOurs(path, error) : .failure("cannot use \(path): \(error)")
        } catch {
            throw .failure("cannot use \(path): \(error)")
        }
        return opened.keep(subdirectory, as: name)
    }

    /// Refuses `name` in `directory` if it is there and is not of `type`, or is someone else's, or
    /// others can write it. One `fstatat`; the opens that follow check again, through the descriptor.
    func checkEntry(_ name: String, in directory: OpenDirectory, expecting type: FileType) throws(QueueError) {
        let path = directory.path(of: name)
        let found: Files.Status?
        do { found = try directory.entryStatus(name) } catch { throw .failure("cannot use \(path): \(error)") }
        guard let found else { return }
        guard found.type == type else {
            throw QueueHome.notOurs(path, type == .directory ? .notADirectory(found.type) : .notARegularFile(found.type))
        }
        try QueueHome.checkOwnership(path, found, fix: type == .directory ? "chmod 700" : "chmod 600")
    }

    /// A link, a FIFO or another kind of file where queuectl keeps a file or a directory of its own.
    static func notOurs(_ path: String, _ error: Errno) -> QueueError {
        .failure("refusing to use \(path): \(error). Only queuectl should make it; move it away (mv \(path) \(path).moved) "
            + "and queuectl makes a new one")
    }

    /// A queue that another user owns or can write is a way for them to run commands as us: refuse it.
    static func checkOwnership(_ path: String, _ status: Files.Status, fix: String) throws(QueueError) {
        let me = effectiveUserID()
        if status.owner != me {
            throw .failure("refusing to use \(path): it is owned by uid \(status.owner), not by you (uid \(me)). "
                + "A queue another user controls could run commands as you. Fix: chown \(me) \(path)")
        }
        if status.mode & 0o022 != 0 {
            throw .failure("refusing to use \(path): other users can write it (mode \(String(status.mode, radix: 8))). "
                + "A queue others can write is a way to run commands as you. Fix: \(fix) \(path)")
        }
    }

    /// What `openChecked` found wrong on the way to the queue directory, as a message.
    private func refusal(_ error: PathCheckError) -> QueueError {
        let me = effectiveUserID()
        switch error {
        case .failed(let path, let errno):
            if path == directory { return .failure("cannot use the queue directory \(directory): \(errno)") }
            return .failure("cannot use the queue directory \(directory): \(path): \(errno)")
        case .untrustedLink(let path, let owner):
            return .failure("refusing to use the queue directory \(directory): \(path) is a symbolic link owned by uid \(owner), "
                + "not by you (uid \(me)) or root, so another user chooses where the queue is. "
                + "Fix: remove the link (rm \(path)) or set QUEUECTL_HOME to a directory of your own")
        case .unsafeDirectory(let path, let owner, let mode):
            if owner != me && owner != 0 {
                return .failure("refusing to use the queue directory \(directory): \(path), on its way, is owned by uid \(owner), "
                    + "not by you (uid \(me)) or root, so another user could put a directory of their choosing there. "
                    + "Fix: set QUEUECTL_HOME to a directory in one of your own")
            }
            return .failure("refusing to use the queue directory \(directory): other users can write \(path) "
                + "(mode \(String(mode, radix: 8))) and it has no sticky bit, so they could rename the queue away and put "
                + "another in its place. Fix: chmod +t \(path) (or chmod go-w \(path)), or set QUEUECTL_HOME elsewhere")
        case .notADirectory(let path, let type):
            return .failure("\(path == directory ? path : "the queue directory \(directory): \(path)") is not a directory (it is \(type))")
        }
    }

    // MARK: files in the directories

    /// A job's log, or nil when it has none. A link or a FIFO there is refused, not followed or waited on.
    package func readLog(_ id: String) throws(QueueError) -> [UInt8]? {
        guard let logs = try openLogs(create: false) else { return nil }
        do { return try logs.readFile(QueueHome.logName(id)) } catch { throw .failure("cannot read \(logPath(for: id)): \(error)") }
    }

    /// The last `maxBytes` of a job's log and the log's whole size, or nil when it has none. An id
    /// that is not a safe file name (a hand-edited data file) has none: it is never made into a path.
    package func readLogTail(_ id: String, maxBytes: Int) throws(QueueError) -> (bytes: [UInt8], size: Int)? {
        guard QueueHome.isSafeName(id), let logs = try openLogs(create: false) else { return nil }
        do { return try logs.readFileTail(QueueHome.logName(id), maxBytes: maxBytes) } catch {
            throw .failure("cannot read \(logPath(for: id)): \(error)")
        }
    }

    /// A single name in a directory: not empty, `.` or `..`, and without a `/`.
    static func isSafeName(_ name: String) -> Bool { !name.isEmpty && name != "." && name != ".." && !name.utf8.contains(0x2F) }

    /// Whether the job has a log file.
    package func hasLog(_ id: String) -> Bool {
        guard let logs = try? openLogs(create: false) else { return false }
        return (try? logs.entryStatus(QueueHome.logName(id))) != nil
    }

    /// Removes the logs of `ids`, jobs just removed, unless a job of that id is in `jobs` again. A
    /// link there is removed, not what it points to.
    func removeLogs(_ ids: [String], keeping jobs: JobTable) {
        guard !ids.isEmpty, let logs = try? openLogs(create: false) else { return }
        var doomed = Set(ids)
        if ids.count <= 8 {
            doomed = doomed.filter { jobs.index(of: $0) == nil }
        } else {
            for i in jobs.indices where doomed.contains(jobs.summary(at: i).id) { doomed.remove(jobs.summary(at: i).id) }
        }
        for id in doomed { logs.remove(QueueHome.logName(id)) }
    }

    /// Creates (or reopens) a worker's lease file, for writing.
    package func createLease(for worker: WorkerRecord) throws(QueueError) -> FileDescriptor {
        do {
            guard let leases = try openLeases(create: true) else { throw Errno.noSuchFileOrDirectory }
            return try leases.openForWriting(QueueHome.leaseName(worker))
        } catch let error as QueueError {
            throw error
        } catch {
            throw .failure("cannot write its lease \(leasePath(for: worker)): \(error)")
        }
    }

    /// A worker's lease as last written, or nil when there is none to read.
    package func readLease(for worker: WorkerRecord) -> [UInt8]? {
        guard let leases = try? openLeases(create: false) else { return nil }
        return try? leases.readFile(QueueHome.leaseName(worker))
    }

    package func removeLease(for worker: WorkerRecord) {
        (try? openLeases(create: false))??.remove(QueueHome.leaseName(worker))
    }
}

/// The queue's directories once opened, each kept open for the rest of the process.
final class OpenedDirectories: Sendable {
    /// By name in the queue directory; "" for the queue directory itself.
    private let directories = Mutex<[String: OpenDirectory]>([:])

    func kept(_ name: String) -> OpenDirectory? { directories.withLock { $0[name] } }

    /// Keeps `directory` unless another thread kept one first; returns the one kept.
    func keep(_ directory: OpenDirectory, as name: String) -> OpenDirectory {
        directories.withLock { kept in
            if let first = kept[name] { return first }
            kept[name] = directory
            return directory
        }
    }
}

/// What a transaction's body sees and changes. Writing back happens only if `document` was changed.
package struct Snapshot {
    private var stored: Document
    package private(set) var changed = false
    package let now: Timestamp
    /// The queue the document is from (nil for a document made in memory).
    package let home: QueueHome?
    package init(document: Document, now: Timestamp, home: QueueHome? = nil) {
        stored = document
        self.now = now
        self.home = home
    }

    /// Changed in place: an observed property (`didSet`) is copied on each change from another
    /// module, which for a large queue meant copying its whole job table per change.
    package var document: Document {
        get { stored }
        _modify {
            changed = true
            yield &stored
        }
    }
}

/// The data file and its write protocol: `flock` on `data.lock`, read and decode `data.json`, change,
/// encode, write `data.json.tmp`, fsync, rename, fsync the directory, unlock.
package struct Store: Sendable {
    package let home: QueueHome
    private let cache: DocumentCache?
    /// Runs right after each rename of a written data file, still under the lock: where tests stand
    /// in for another program replacing the file at that moment.
    private let afterReplace: (@Sendable () -> Void)?
    /// How a transaction waits when another process holds the lock: by default silently, for as
    /// long as it takes.
    package var lockWaiting = LockWaiting.forever

    /// With `keepsLastDocument`, the document this store last wrote is kept, mapped, and used again
    /// instead of a new scan as long as the data file is still that very file: a worker, whose
    /// transactions follow each other, then scans only after another process wrote.
    package init(home: QueueHome, keepsLastDocument: Bool = false) {
        self.init(home: home, keepsLastDocument: keepsLastDocument, afterReplace: nil)
    }

    package init(home: QueueHome, keepsLastDocument: Bool, afterReplace: (@Sendable () -> Void)?) {
        self.home = home
        cache = keepsLastDocument ? DocumentCache() : nil
        self.afterReplace = afterReplace
    }

    /// Runs `body` under the lock on a fresh read of the data file, and writes the result back if the
    /// body changed it. If `body` throws, nothing is written. A file that does not decode is never
    /// written over: the transaction fails before `body` runs. The logs of the jobs it removed are
    /// removed once the new file is in place.
    package func transaction<T>(_ body: (inout Snapshot) throws(QueueError) -> T) throws(QueueError) -> T {
        let directory = try home.openCreating()
        try checkFiles(directory)
        do {
            return try FileLock.withExclusiveLock(in: directory, name: QueueHome.lockName, waiting: lockWaiting) { () throws(QueueError) -> T in
                // Straight into the snapshot, which then holds the only reference and changes in place.
                var snapshot = Snapshot(document: try current(directory), now: Timestamp.now(), home: home)
                let result = try body(&snapshot)
                // What the body read of a file truncated under it is zeros, not jobs: write none of it.
                if snapshot.document.jobs.source?.wasChangedInPlace(in: directory, name: QueueHome.dataName) == true {
                    throw changedWhileRead()
                }
                if snapshot.changed {
                    // The snapshot lets go of the document, so saving can rebase it without a copy.
                    var changed = snapshot.document
                    snapshot = Snapshot(document: Document(), now: snapshot.now)
                    try save(&changed, in: directory)
                } else {
                    cache?.keep(snapshot.document)
                }
                return result
            }
        } catch {
            switch error {
            case .lock(let errno):
                if errno.isWrongFileType { throw QueueHome.notOurs(home.lockPath, errno) }
                throw .failure("cannot lock \(home.lockPath): \(errno)")
            case .timedOut(let seconds, let holder):
                var w = JSONWriter()
                w.double(seconds)
                throw QueueError(kind: .lockTimedOut, message: "timed out after \(String(decoding: w.bytes, as: UTF8.self))s waiting for the queue lock held by "
                    + (holder.map(\.description) ?? "another process"))
            case .body(let error): throw error
            }
        }
    }

    /// As `transaction`, for a body that changes only jobs or settings already there: on a queue that
    /// does not exist it runs on an empty one first, and a body that then fails or changes nothing
    /// (`retry` of an unknown id, say) leaves no queue folder behind.
    package func transactionOnExisting<T>(_ body: (inout Snapshot) throws(QueueError) -> T) throws(QueueError) -> T {
        if try home.open(create: false) == nil {
            var empty = Snapshot(document: Document(), now: Timestamp.now(), home: home)
            let result = try body(&empty)
            if !empty.changed { return result }
        }
        return try transaction(body)
    }

    /// Reads the data file without the lock. The file is only ever replaced whole, so this sees one
    /// complete version; use it where a moment-old view is fine.
    package func read() throws(QueueError) -> Document {
        // A queue not created yet is an empty one; reading does not create it.
        guard let directory = try home.open(create: false) else { return Document() }
        try checkFiles(directory)
        return try load(directory)
    }

    /// True while the data file is still the very file `document` was read from (one `fstatat`): a
    /// view that refreshes often reads the file again only when the queue has changed.
    package func isCurrent(_ document: Document) -> Bool {
        guard let source = document.jobs.source, !source.changedUnderMapping, let identity = source.identity,
              let directory = try? home.open(create: false) else { return false }
        return directory.identity(of: QueueHome.dataName) == identity
    }

    /// True when the data file is no longer the one this store last read or wrote: another process
    /// wrote it since. Always true for a store that keeps no document.
    package var changedSinceLastTransaction: Bool {
        guard let cache, let directory = try? home.open(create: false) else { return true }
        return !cache.matches(directory)
    }

    /// The kept document if the data file is still the one it came from, else a fresh read.
    private func current(_ directory: OpenDirectory) throws(QueueError) -> Document {
        if let cached = cache?.take(matching: directory) { return cached }
        return try load(directory)
    }

    private func load(_ directory: OpenDirectory) throws(QueueError) -> Document {
        let source: FileBytes
        do {
            guard let file = try directory.openForReading(QueueHome.dataName) else { return Document() }
            source = try FileBytes.map(file)
            try QueueHome.checkOwnership(home.dataPath, try file.status(), fix: "chmod 600")
        } catch let error as QueueError {
            throw error
        } catch let error as Errno {
            if error.isWrongFileType { throw QueueHome.notOurs(home.dataPath, error) }
            throw .failure("cannot read \(home.dataPath): \(error)")
        } catch {
            throw .failure("cannot read \(home.dataPath): \(error)")
        }
        let document: Document
        do {
            document = try DocumentCodec.decode(source)
        } catch {
            if source.wasChangedInPlace(in: directory, name: QueueHome.dataName) { throw changedWhileRead() }
            throw .failure("data file \(home.dataPath) is not valid: \(error). It has been left as it is; "
                + "fix or move it away (a new empty queue is then started)")
        }
        if source.changedUnderMapping { throw changedWhileRead() }
        return document
    }

    /// The data file was truncated in place while it was mapped (see `FileBytes`): only queuectl
    /// should write it, and only by replacing it whole.
    package func changedWhileRead() -> QueueError {
        .failure("data file \(home.dataPath) changed while it was read (truncated in place?); it has been left as it is. "
            + "Only queuectl should write it; run the command again")
    }

    private func save(_ document: inout Document, in directory: OpenDirectory) throws(QueueError) {
        var ranges: [Range<Int>] = []
        let written: FileDescriptor
        do {
            written = try AtomicFile.replace(in: directory, name: QueueHome.dataName) { (fd) throws(Errno) in
                var sent = 0, flushed = 0
                ranges = try DocumentCodec.write(document) { (chunk) throws(Errno) in
                    sent += chunk.count
                    // Job ranges are 32-bit: a file this large could not be read back.
                    guard sent < Int(UInt32.max) else { throw Errno.fileTooLarge }
                    try Files.writeAll(fd, chunk)
                    // The disk writes each megabyte while the next is copied: the fsync waits for less.
                    if sent - flushed >= 1 << 20 {
                        Files.startWriteback(fd, flushed..<sent)
                        flushed = sent
                    }
                }
                // Unchanged jobs were copied from the mapping: if it lost pages meanwhile, they were zeros.
                if document.jobs.source?.wasChangedInPlace(in: directory, name: QueueHome.dataName) == true { throw Errno.ioError }
            }
        } catch {
            if document.jobs.source?.wasChangedInPlace(in: directory, name: QueueHome.dataName) == true { throw changedWhileRead() }
            throw .failure("cannot write \(home.dataPath): \(error); the previous data file is unchanged")
        }
        afterReplace?()
        // The jobs removed are gone from the file on disk: their logs go now, and only now.
        home.removeLogs(document.jobs.takeRemovedIDs(), keeping: document.jobs)
        // The ranges hold in the file written, reached through its own descriptor: another program may
        // have renamed a file of its own over the path since (the lock binds only queuectl). The kept
        // document is then simply not used, as its identity no longer matches the path's.
        if let cache, let bytes = try? FileBytes.map(written) {
            document.jobs.rebase(on: bytes, ranges: ranges)
            cache.keep(document)
        }
    }

    /// Refuses a data or lock file that is not a regular file (a link, a FIFO), is someone else's or
    /// others can write.
    private func checkFiles(_ directory: OpenDirectory) throws(QueueError) {
        for name in [QueueHome.dataName, QueueHome.lockName] { try home.checkEntry(name, in: directory, expecting: .regular) }
    }
}

/// The last document a store wrote or read, with the mapping of its file.
final class DocumentCache: @unchecked Sendable {
    // Used by one thread only (a worker's loop); the class is Sendable so that Store can be.
    private var document: Document?

    /// True when a document is kept and the data file in `directory` is still the one it was read
    /// from (or written as). One `fstatat`, relative to the queue directory held open.
    func matches(_ directory: OpenDirectory) -> Bool {
        guard let identity = document?.jobs.source?.identity else { return false }
        return directory.identity(of: QueueHome.dataName) == identity
    }

    /// The kept document if it `matches(directory)`, else nil; either way, it is no longer kept.
    func take(matching directory: OpenDirectory) -> Document? {
        defer { document = nil }
        return matches(directory) ? document : nil
    }

    func keep(_ document: Document) {
        self.document = document.jobs.source?.identity == nil ? nil : document
    }
}
