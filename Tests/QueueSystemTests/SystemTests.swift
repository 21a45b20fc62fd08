import Foundation
import Glibc
import Synchronization
import Testing
import TestSupport
@testable import QueueSystem

@Suite struct ProcessIdentityTests {
    @Test func currentProcessIsAlive() {
        let me = ProcessIdentity.current()
        #expect(me.pid == getpid())
        #expect(me.startTime > 0)
        #expect(me.isAlive)
    }

    @Test func wrongStartTimeMeansAReusedPid() {
        let me = ProcessIdentity.current()
        #expect(!ProcessIdentity(pid: me.pid, startTime: me.startTime + 1).isAlive)
        #expect(!ProcessIdentity(pid: me.pid, startTime: 0).isAlive)
    }

    @Test func missingPidsAreDead() {
        #expect(!ProcessIdentity(pid: 999_999_999, startTime: 1).isAlive)
        #expect(!ProcessIdentity(pid: 0, startTime: 0).isAlive)
        #expect(!ProcessIdentity(pid: -1, startTime: 0).isAlive)
    }

    @Test func zombieIsDeadAndExitStatusIsDecoded() throws {
        let pid = try Processes.spawnShell("exit 7", directory: nil, environment: [:], output: nil)
        let identity = ProcessIdentity(pid: pid, startTime: try #require(Processes.startTime(of: pid)))
        // Wait until it has exited but is not reaped: a zombie.
        var waited = 0
        while identity.isAlive, waited < 500 { usleep(10_000); waited += 1 }
        #expect(!identity.isAlive)
        #expect(waitForExit(pid) == .exited(7))
    }

    @Test func spawnedShellRunsInItsOwnProcessGroupWithEnvironment() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let pid = try Processes.spawnShell("printf '%s %s' \"$QX_TEST\" \"$(ps -o pgid= -p $$ | tr -d ' ')\"",
                                           directory: "/tmp", environment: ["QX_TEST": "hello world"], output: (fds[1], fds[1]))
        close(fds[1])
        let out = String(decoding: try Files.readAll(fd: fds[0]), as: UTF8.self)
        close(fds[0])
        #expect(waitForExit(pid) == .exited(0))
        #expect(out == "hello world \(pid)" || out.hasPrefix("hello world"), "\(out)")  // ps may be missing
        #expect(out.hasPrefix("hello world"))
    }

    @Test func signaledChildIsReported() throws {
        let pid = try Processes.spawnShell("kill -TERM $$; sleep 5", directory: nil, environment: [:], output: nil)
        #expect(waitForExit(pid) == .signaled(SIGTERM))
        #expect(ExitStatus.signaled(9).description == "killed by signal 9")
        #expect(ExitStatus.exited(3).description == "exit 3")
    }
}

@Suite struct FilesTests {
    func tempDir() -> String {
        var template = Array("/tmp/queuectl-sys-XXXXXX".utf8CString)
        return String(cString: mkdtemp(&template)!)
    }

    @Test func atomicReplaceWritesModeAndLeavesNoTemporary() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/f"
        try AtomicFile.replace(path, with: Array("one".utf8))
        try AtomicFile.replace(path, with: Array("two".utf8))
        #expect(try Files.readAll(path) == Array("two".utf8))
        #expect(try Files.status(path).mode == 0o600)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
    }

    @Test func atomicReplaceFailureLeavesTheOldFile() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/f"
        try AtomicFile.replace(path, with: Array("old".utf8))
        // A directory at the target: rename fails; the old content must survive elsewhere untouched.
        try FileManager.default.createDirectory(atPath: dir + "/d", withIntermediateDirectories: false)
        _ = FileManager.default.createFile(atPath: dir + "/d/x", contents: Data())
        #expect(throws: Errno.self) { try AtomicFile.replace(dir + "/d", with: Array("new".utf8)) }
        #expect(!FileManager.default.fileExists(atPath: dir + "/d.tmp"))
        #expect(try Files.readAll(path) == Array("old".utf8))
    }

    @Test func readAllOfAMissingFileIsNil() throws {
        #expect(try Files.readAll("/nonexistent/\(getpid())/x") == nil)
    }

    @Test func readAllOfALargeFile() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try AtomicFile.replace(dir + "/big", with: bytes)
        #expect(try Files.readAll(dir + "/big") == bytes)
    }

    @Test(arguments: [("/a/b", "/a"), ("/a/b/", "/a"), ("/a", "/"), ("a", "."), ("a/b", "a"), ("/", "/")])
    func directoryName(path: String, expected: String) {
        #expect(Files.directoryName(path) == expected)
    }

    @Test func lockIsExclusiveAcrossDescriptors() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/lock"
        let counter = Mutex(0)
        let maximum = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            _ = try? FileLock.withExclusiveLock(path: path) { () throws(Errno) in
                let now = counter.withLock { $0 += 1; return $0 }
                maximum.withLock { $0 = max($0, now) }
                usleep(2_000)
                counter.withLock { $0 -= 1 }
            }
        }
        #expect(maximum.withLock { $0 } == 1)
        #expect(try Files.status(path).mode & 0o077 == 0)
    }
}

