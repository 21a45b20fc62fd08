@preconcurrency import Glibc
import QueueSystem

/// Where a queue lives: `$QUEUECTL_HOME`, by default `~/.queuectl`.
public struct QueueHome: Sendable {
    public let directory: String
    public var dataPath: String { directory + "/data.json" }
    public var lockPath: String { directory + "/data.lock" }
    public var logsDirectory: String { directory + "/logs" }
    /// Each worker's heartbeat: an empty file whose modification time it renews.
    public var leasesDirectory: String { directory + "/leases" }
    public func leasePath(for worker: WorkerRecord) -> String {
        leasesDirectory + "/\(worker.pidNamespace ?? 0)-\(worker.process.pid)-\(worker.process.startTime)"
    }
    /// Each job's output, every run under a header line. Ids are safe file names (see JobInput).
    public func logPath(for id: String) -> String { logsDirectory + "/" + id + ".log" }

    public init(directory: String) {
        var d = directory
        while d.count > 1, d.hasSuffix("/") { d.removeLast() }
        self.directory = d
    }

    /// `$QUEUECTL_HOME`, else `$HOME/.queuectl`. Either must be an absolute path: a relative one
    /// would make the queue depend on the directory a command happens to run in (a usage error).
    public static func fromEnvironment() throws(QueueError) -> QueueHome {
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
}

/// What a transaction's body sees and changes. Writing back happens only if `document` was changed.
public struct Snapshot {
    private var stored: Document
    public private(set) var changed = false
    public let now: Timestamp
    /// The queue the document is from (nil for a document made in memory).
    public let home: QueueHome?
    init(document: Document, now: Timestamp, home: QueueHome? = nil) {
        stored = document
        self.now = now
        self.home = home
    }

    /// Changed in place: an observed property (`didSet`) is copied on each change from another
    /// module, which for a large queue meant copying its whole job table per change.
    public var document: Document {
        get { stored }
        _modify {
            changed = true
            yield &stored
        }
    }
}

/// The data file and its write protocol: `flock` on `data.lock`, read and decode `data.json`, change,
/// encode, write `data.json.tmp`, fsync, rename, fsync the directory, unlock.
public struct Store: Sendable {
    public let home: QueueHome
    private let cache: DocumentCache?
    /// Runs right after each rename of a written data file, still under the lock: where tests stand
    /// in for another program replacing the file at that moment.
    private let afterReplace: (@Sendable () -> Void)?
    /// How a transaction waits when another process holds the lock: by default silently, for as
    /// long as it takes.
    public var lockWaiting = LockWaiting.forever

    /// With `keepsLastDocument`, the document this store last wrote is kept, mapped, and used again
    /// instead of a new scan as long as the data file is still that very file: a worker, whose
    /// transactions follow each other, then scans only after another process wrote.
    public init(home: QueueHome, keepsLastDocument: Bool = false) {
        self.init(home: home, keepsLastDocument: keepsLastDocument, afterReplace: nil)
    }

    package init(home: QueueHome, keepsLastDocument: Bool, afterReplace: (@Sendable () -> Void)?) {
        self.home = home
        cache = keepsLastDocument ? DocumentCache() : nil
        self.afterReplace = afterReplace
    }

    /// Runs `body` under the lock on a fresh read of the data file, and writes the result back if the
    /// body changed it. If `body` throws, nothing is written. A file that does not decode is never
    /// written over: the transaction fails before `body` runs.
    public func transaction<T>(_ body: (inout Snapshot) throws(QueueError) -> T) throws(QueueError) -> T {
        try prepareDirectory()
        do {
            return try FileLock.withExclusiveLock(path: home.lockPath, waiting: lockWaiting) { () throws(QueueError) -> T in
                // Straight into the snapshot, which then holds the only reference and changes in place.
                var snapshot = Snapshot(document: try current(), now: Timestamp.now(), home: home)
                let result = try body(&snapshot)
                // What the body read of a file truncated under it is zeros, not jobs: write none of it.
                if snapshot.document.jobs.source?.wasChangedInPlace(home.dataPath) == true { throw changedWhileRead() }
                if snapshot.changed {
                    // The snapshot lets go of the document, so saving can rebase it without a copy.
                    var changed = snapshot.document
                    snapshot = Snapshot(document: Document(), now: snapshot.now)
                    try save(&changed)
                } else {
                    cache?.keep(snapshot.document)
                }
                return result
            }
        } catch {
            switch error {
            case .lock(let errno): throw .failure("cannot lock \(home.lockPath): \(errno)")
            case .timedOut(let seconds, let holder):
                var w = JSONWriter()
                w.double(seconds)
                throw .failure("timed out after \(String(decoding: w.bytes, as: UTF8.self))s waiting for the queue lock held by "
                    + (holder.map(\.description) ?? "another process"))
            case .body(let error): throw error
            }
        }
    }

    /// Reads the data file without the lock. The file is only ever replaced whole, so this sees one
    /// complete version; use it where a moment-old view is fine.
    public func read() throws(QueueError) -> Document {
        // A queue not created yet is an empty one; reading does not create it.
        if (try? Files.status(home.directory)) == nil { return Document() }
        try checkPermissions()
        return try load()
    }

    /// True when the data file is no longer the one this store last read or wrote: another process
    /// wrote it since. Always true for a store that keeps no document.
    public var changedSinceLastTransaction: Bool {
        !(cache?.matches(home.dataPath) ?? false)
    }

    /// The kept document if the data file is still the one it came from, else a fresh read.
    private func current() throws(QueueError) -> Document {
        if let cached = cache?.take(matching: home.dataPath) { return cached }
        return try load()
    }

    private func load() throws(QueueError) -> Document {
        let source: FileBytes?
        do { source = try FileBytes.map(home.dataPath) } catch { throw .failure("cannot read \(home.dataPath): \(error)") }
        guard let source else { return Document() }
        try checkFile(home.dataPath)
        let document: Document
        do {
            document = try DocumentCodec.decode(source)
        } catch {
            if source.wasChangedInPlace(home.dataPath) { throw changedWhileRead() }
            throw .failure("data file \(home.dataPath) is not valid: \(error). It has been left as it is; "
                + "fix or move it away (a new empty queue is then started)")
        }
        if source.changedUnderMapping { throw changedWhileRead() }
        return document
    }

    /// The data file was truncated in place while it was mapped (see `FileBytes`): only queuectl
    /// should write it, and only by replacing it whole.
    public func changedWhileRead() -> QueueError {
        .failure("data file \(home.dataPath) changed while it was read (truncated in place?); it has been left as it is. "
            + "Only queuectl should write it; run the command again")
    }

    private func save(_ document: inout Document) throws(QueueError) {
        var ranges: [Range<Int>] = []
        let written: FileDescriptor
        do {
            written = try AtomicFile.replace(home.dataPath) { (fd) throws(Errno) in
                var sent = 0, flushed = 0
                ranges = try DocumentCodec.write(document) { (chunk) throws(Errno) in
                    sent += chunk.count
                    // Job ranges are 32-bit: a file this large could not be read back.
                    guard sent < Int(UInt32.max) else { throw Errno(rawValue: EFBIG) }
                    try Files.writeAll(fd, chunk)
                    // The disk writes each megabyte while the next is copied: the fsync waits for less.
                    if sent - flushed >= 1 << 20 {
                        Files.startWriteback(fd, flushed..<sent)
                        flushed = sent
                    }
                }
                // Unchanged jobs were copied from the mapping: if it lost pages meanwhile, they were zeros.
                if document.jobs.source?.wasChangedInPlace(home.dataPath) == true { throw Errno(rawValue: EIO) }
            }
        } catch {
            if document.jobs.source?.wasChangedInPlace(home.dataPath) == true { throw changedWhileRead() }
            throw .failure("cannot write \(home.dataPath): \(error); the previous data file is unchanged")
        }
        afterReplace?()
        // The ranges hold in the file written, reached through its own descriptor: another program may
        // have renamed a file of its own over the path since (the lock binds only queuectl). The kept
        // document is then simply not used, as its identity no longer matches the path's.
        if let cache, let bytes = try? FileBytes.map(written) {
            document.jobs.rebase(on: bytes, ranges: ranges)
            cache.keep(document)
        }
    }

    /// Creates the queue directory (mode 0700) if needed, then checks it is safe to use.
    private func prepareDirectory() throws(QueueError) {
        do { try Files.makeDirectories(home.directory) } catch {
            throw .failure("cannot create the queue directory \(home.directory): \(error)")
        }
        try checkPermissions()
    }

    /// A queue that another user owns or can write is a way for them to run commands as us: refuse it.
    private func checkPermissions() throws(QueueError) {
        let status: Files.Status
        do { status = try Files.status(home.directory) } catch {
            throw .failure("cannot use the queue directory \(home.directory): \(error)")
        }
        guard status.isDirectory else { throw .failure("\(home.directory) is not a directory") }
        try checkOwnership(home.directory, status, fix: "chmod 700")
        for path in [home.dataPath, home.lockPath] { try checkFile(path) }
    }

    private func checkFile(_ path: String) throws(QueueError) {
        guard let status = try? Files.status(path) else { return }
        try checkOwnership(path, status, fix: "chmod 600")
    }

    private func checkOwnership(_ path: String, _ status: Files.Status, fix: String) throws(QueueError) {
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
}

/// The last document a store wrote or read, with the mapping of its file.
final class DocumentCache: @unchecked Sendable {
    // Used by one thread only (a worker's loop); the class is Sendable so that Store can be.
    private var document: Document?

    /// True when a document is kept and the file at `path` is still the one it was read from (or
    /// written as).
    func matches(_ path: String) -> Bool {
        guard let identity = document?.jobs.source?.identity else { return false }
        return FileIdentity.of(path) == identity
    }

    /// The kept document if it `matches(path)`, else nil; either way, it is no longer kept.
    func take(matching path: String) -> Document? {
        defer { document = nil }
        return matches(path) ? document : nil
    }

    func keep(_ document: Document) {
        self.document = document.jobs.source?.identity == nil ? nil : document
    }
}
