import Foundation
import Glibc
import Testing
import QueueSystem
import Synchronization
@testable import QueueStorage

/// A fresh temporary directory, removed at the end.
final class TempDir {
    let path: String
    init() {
        var template = Array("/tmp/queuectl-unit-XXXXXX".utf8CString)
        path = String(cString: mkdtemp(&template)!)
    }
    deinit {
        chmod(path, 0o700)
        try? FileManager.default.removeItem(atPath: path)
    }
    var home: String { path + "/home" }
    var store: Store { Store(home: QueueHome(directory: home)) }
    var dataPath: String { home + "/data.json" }
}

struct StatInfo: Equatable { let inode: UInt; let mtimeSec: Int; let mtimeNsec: Int; let mode: UInt32 }
func statInfo(_ path: String) -> StatInfo? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return StatInfo(inode: UInt(st.st_ino), mtimeSec: st.st_mtim.tv_sec, mtimeNsec: st.st_mtim.tv_nsec, mode: st.st_mode & 0o7777)
}
func readBytes(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map { Array($0) } }
func writeBytes(_ path: String, _ text: String, mode: mode_t = 0o600) {
    _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    chmod(path, mode)
}

struct Boom: Error {}

@Suite(.serialized) struct StoreTests {
    func addJob(_ store: Store, _ id: String) throws {
        try store.transaction { (s) throws(QueueError) in
            s.document.jobs.append(Job(id: id, command: "echo \(id)", maxRetries: 3, sequence: s.document.nextSequence, now: s.now))
            s.document.nextSequence += 1
        }
    }

    @Test func changeIsPersisted() throws {
        let t = TempDir()
        try addJob(t.store, "one")
        try addJob(t.store, "two")
        let d = try t.store.read()
        #expect(d.jobs.map(\.id) == ["one", "two"])
        #expect(d.nextSequence == 3)
        // The file on disk is the codec's encoding and decodes by itself.
        let onDisk = try DocumentCodec.decode(try #require(readBytes(t.dataPath)))
        #expect(onDisk == d)
        // A new Store on the same home sees it (nothing cached).
        #expect(try Store(home: QueueHome(directory: t.home + "///")).read() == d)
        // No temporary file is left behind.
        #expect(!FileManager.default.fileExists(atPath: t.dataPath + ".tmp"))
    }

    @Test func transactionReturnsTheBodysValue() throws {
        let t = TempDir()
        try addJob(t.store, "x")
        let count = try t.store.transaction { (s) throws(QueueError) in s.document.jobs.count }
        #expect(count == 1)
    }

    @Test func throwingBodyWritesNothing() throws {
        let t = TempDir()
        try addJob(t.store, "keep")
        let before = try #require(readBytes(t.dataPath))
        let info = statInfo(t.dataPath)
        #expect(throws: QueueError.self) {
            try t.store.transaction { (s) throws(QueueError) in
                s.document.jobs.removeAll()
                s.document.config.maxRetries = 99
                throw QueueError.usage("no")
            }
        }
        #expect(readBytes(t.dataPath) == before)
        #expect(statInfo(t.dataPath) == info)
        #expect(try t.store.read().jobs.map(\.id) == ["keep"])
    }

    @Test func thrownErrorIsPassedThroughUnchanged() throws {
        let t = TempDir()
        do {
            try t.store.transaction { (_: inout Snapshot) throws(QueueError) in throw QueueError.failure("specific words") }
            Issue.record("did not throw")
        } catch {
            #expect(error == .failure("specific words"))
        }
    }

    @Test func throwingBodyOnAnEmptyHomeCreatesNoDataFile() throws {
        let t = TempDir()
        _ = try? t.store.transaction { (s) throws(QueueError) in
            s.document.config.workerCount = 3
            throw QueueError.failure("x")
        }
        #expect(!FileManager.default.fileExists(atPath: t.dataPath))
    }

    @Test func unchangedDocumentIsNotRewritten() throws {
        let t = TempDir()
        try addJob(t.store, "a")
        let before = try #require(readBytes(t.dataPath))
        let info = try #require(statInfo(t.dataPath))
        usleep(20_000)  // so that a rewrite would show in the mtime
        let n = try t.store.transaction { (s) throws(QueueError) in s.document.jobs.filter { $0.state == .pending }.count }
        #expect(n == 1)
        #expect(readBytes(t.dataPath) == before)
        #expect(statInfo(t.dataPath) == info, "the file was rewritten by a read-only transaction")
    }

    @Test func readOnlyTransactionOnAnEmptyHomeCreatesNoDataFile() throws {
        let t = TempDir()
        let jobs = try t.store.transaction { (s) throws(QueueError) in s.document.jobs.count }
        #expect(jobs == 0)
        #expect(!FileManager.default.fileExists(atPath: t.dataPath))
        #expect(try t.store.read() == Document())
    }

    @Test(arguments: ["{", "", "not json", #"{"version": 2, "config": {}, "workers": [], "jobs": [], "x": 1}"#, #"{"version": 9, "config": {}, "workers": [], "jobs": []}"#])
    func corruptFileFailsBeforeTheBodyAndIsKept(content: String) throws {
        let t = TempDir()
        try addJob(t.store, "a")  // creates the directory with the right modes
        writeBytes(t.dataPath, content)
        let info = statInfo(t.dataPath)
        var ran = false
        do {
            try t.store.transaction { (s) throws(QueueError) in
                ran = true
                s.document = Document()
            }
            Issue.record("a corrupt file was accepted")
        } catch {
            #expect(error.kind == .failure)
            #expect(error.message.contains(t.dataPath), "\(error.message)")
        }
        #expect(!ran)
        #expect(readBytes(t.dataPath) == Array(content.utf8))
        #expect(statInfo(t.dataPath) == info)
        #expect(throws: QueueError.self) { try t.store.read() }
    }

    @Test func directoryIs0700AndFilesAre0600EvenWithAPermissiveUmask() throws {
        let t = TempDir()
        let old = umask(0)
        defer { umask(old) }
        try addJob(Store(home: QueueHome(directory: t.path + "/a/b/home")), "x")
        #expect(statInfo(t.path + "/a/b/home")?.mode == 0o700)
        #expect(statInfo(t.path + "/a/b/home/data.json")?.mode == 0o600)
        #expect(statInfo(t.path + "/a/b/home/data.lock")?.mode == 0o600)
    }

    @Test func modesStayPrivateAfterRewrites() throws {
        let t = TempDir()
        try addJob(t.store, "a")
        try addJob(t.store, "b")
        #expect(statInfo(t.home)?.mode == 0o700)
        #expect(statInfo(t.dataPath)?.mode == 0o600)
    }

    @Test(arguments: [0o777 as mode_t, 0o770, 0o702, 0o720])
    func writableDirectoryIsRefused(mode: mode_t) throws {
        let t = TempDir()
        try addJob(t.store, "a")
        let before = readBytes(t.dataPath)
        chmod(t.home, mode)
        var ran = false
        do {
            try t.store.transaction { (s) throws(QueueError) in ran = true; s.document.jobs.removeAll() }
            Issue.record("mode \(String(mode, radix: 8)) accepted")
        } catch {
            #expect(error.message.contains("refusing"), "\(error.message)")
            #expect(error.message.contains(t.home))
        }
        #expect(!ran)
        #expect(readBytes(t.dataPath) == before)
        #expect(throws: QueueError.self) { try t.store.read() }
    }

    @Test(arguments: [0o666 as mode_t, 0o622, 0o606])
    func writableDataFileIsRefused(mode: mode_t) throws {
        let t = TempDir()
        try addJob(t.store, "a")
        let before = readBytes(t.dataPath)
        chmod(t.dataPath, mode)
        var ran = false
        #expect(throws: QueueError.self) {
            try t.store.transaction { (s) throws(QueueError) in ran = true; s.document.jobs.removeAll() }
        }
        #expect(!ran)
        #expect(readBytes(t.dataPath) == before)
        #expect(throws: QueueError.self) { try t.store.read() }
    }

    @Test func writableLockFileIsRefused() throws {
        let t = TempDir()
        try addJob(t.store, "a")
        chmod(t.home + "/data.lock", 0o666)
        #expect(throws: QueueError.self) { try addJob(t.store, "b") }
        chmod(t.home + "/data.lock", 0o600)
        #expect(try t.store.read().jobs.count == 1)
    }

    @Test func readableByOthersIsAccepted() throws {
        // Only write access for others is dangerous; 0755/0644 are the common defaults and must work.
        let t = TempDir()
        try addJob(t.store, "a")
        chmod(t.home, 0o755)
        chmod(t.dataPath, 0o644)
        try addJob(t.store, "b")
        #expect(try t.store.read().jobs.count == 2)
    }

    @Test func homeThatIsAFileIsRefused() throws {
        let t = TempDir()
        writeBytes(t.home, "x")
        #expect(throws: QueueError.self) { try addJob(t.store, "a") }
        #expect(readBytes(t.home) == Array("x".utf8))
    }

    @Test func aJobsLogGoesOnlyOnceTheFileWithoutTheJobIsSaved() throws {
        let t = TempDir()
        try addJob(t.store, "a")
        try addJob(t.store, "b")
        #expect(mkdir(t.home + "/logs", 0o700) == 0)
        for id in ["a", "b"] { writeBytes(t.home + "/logs/\(id).log", id) }
        // A transaction that fails writes nothing and removes no log.
        do {
            try t.store.transaction { (s) throws(QueueError) in
                s.document.jobs.removeAll { $0.id == "a" }
                throw QueueError.failure("boom")
            }
            Issue.record("the transaction should have failed")
        } catch {}
        #expect(readBytes(t.home + "/logs/a.log") != nil)
        // One that saves removes the logs of the jobs it removed, and only those.
        try t.store.transaction { (s) throws(QueueError) in s.document.jobs.removeAll { $0.id == "a" } }
        #expect(readBytes(t.home + "/logs/a.log") == nil)
        #expect(readBytes(t.home + "/logs/b.log") == Array("b".utf8))
    }

    @Test func concurrentTransactionsFromManyThreadsLoseNothing() throws {
        let t = TempDir()
        let store = t.store
        DispatchQueue.concurrentPerform(iterations: 40) { i in
            try? store.transaction { (s) throws(QueueError) in
                s.document.jobs.append(Job(id: "t\(i)", command: "x", maxRetries: 0, sequence: s.document.nextSequence, now: s.now))
                s.document.nextSequence += 1
            }
        }
        let d = try store.read()
        #expect(Set(d.jobs.map(\.id)) == Set((0..<40).map { "t\($0)" }))
        #expect(Set(d.jobs.map(\.sequence)).count == 40)
    }
}

/// A data file replaced by another program right after a worker's own rename (`jq … > x && mv x
/// data.json`): the worker must never read the new file through what it knows of the one it wrote.
@Suite struct ReplacedAfterRenameTests {
    /// A valid data file, written the way an outside tool would: to a temporary name, then renamed.
    static func replace(_ dataPath: String, withJobs ids: [String]) {
        var store = Document()
        let now = Timestamp(milliseconds: 1_764_000_000_000)
        for (i, id) in ids.enumerated() {
            store.jobs.append(Job(id: id, command: "echo \(id) from the outside edit, longer than ours", maxRetries: 3,
                                  sequence: Int64(i + 1), now: now))
        }
        store.nextSequence = Int64(ids.count + 1)
        let bytes = DocumentCodec.encode(store)
        let temporary = dataPath + ".edit"
        _ = FileManager.default.createFile(atPath: temporary, contents: Data(bytes), attributes: [.posixPermissions: 0o600])
        precondition(rename(temporary, dataPath) == 0)
    }

    @Test func aFileReplacedRightAfterTheRenameIsReadAsItIsNotThroughTheWrittenOffsets() throws {
        let t = TempDir()
        let dataPath = t.dataPath
        let edits = Mutex(0)
        // Only the first write is followed by an outside replacement.
        let store = Store(home: QueueHome(directory: t.home), keepsLastDocument: true) {
            let first = edits.withLock { n in n += 1; return n == 1 }
            if first { ReplacedAfterRenameTests.replace(dataPath, withJobs: ["x1", "x2", "x3"]) }
        }
        try store.transaction { (s) throws(QueueError) in
            s.document.jobs.append(Job(id: "ours", command: "true", maxRetries: 3, sequence: 1, now: s.now))
            s.document.nextSequence = 2
        }
        // The next transaction sees the outside file whole, and what it writes decodes.
        let seen = try store.transaction { (s) throws(QueueError) -> [Job] in
            s.document.jobs.append(Job(id: "next", command: "true", maxRetries: 3, sequence: s.document.nextSequence, now: s.now))
            s.document.nextSequence += 1
            return Array(s.document.jobs)
        }
        #expect(seen.map(\.id) == ["x1", "x2", "x3", "next"])
        #expect(seen.first?.command == "echo x1 from the outside edit, longer than ours")
        let onDisk = try DocumentCodec.decode(try #require(readBytes(dataPath)))
        #expect(onDisk.jobs.map(\.id) == ["x1", "x2", "x3", "next"])
        #expect(Array(onDisk.jobs).map(\.command) == seen.map(\.command))
    }
}
