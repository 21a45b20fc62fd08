import Foundation
import Glibc
import Synchronization
import Testing
import TestSupport
@testable import QueueSystem

private func temporaryDirectory() -> String {
    var template = Array("/tmp/queuectl-sys-XXXXXX".utf8CString)
    return String(cString: mkdtemp(&template)!)
}

/// The device number `stat` gives for `major:minor`, as glibc's `makedev` encodes it.
private func device(major: UInt64, minor: UInt64) -> UInt64 {
    ((major & 0xfff) << 8) | ((major & ~0xfff) << 32) | (minor & 0xff) | ((minor & ~0xff) << 12)
}

@Suite struct ProcLocksParsingTests {
    static let sample = """
        1: POSIX  ADVISORY  WRITE 501 fe:00:4242 0 EOF
        2: FLOCK  ADVISORY  WRITE 777 08:01:4242 0 EOF
        3: FLOCK  ADVISORY  WRITE 1234 fe:00:4242 0 EOF
        3: -> FLOCK  ADVISORY  WRITE 5678 fe:00:4242 0 EOF
        3: -> FLOCK  ADVISORY  WRITE 5679 fe:00:4242 0 EOF
        4: FLOCK  ADVISORY  WRITE 99 103:05:77 0 EOF
        5: OFDLCK ADVISORY  READ  -1 fe:00:88 0 EOF
        6: FLOCK  ADVISORY  WRITE 4321 fe:00:424 0 EOF

        """

    @Test func theHolderIsTheLineForThisDeviceAndInodeNotAWaiterNorAPOSIXLock() {
        #expect(LockHolder.flockHolder(inProcLocks: Self.sample, device: device(major: 0xfe, minor: 0), inode: 4242) == 1234)
    }

    @Test func majorAndMinorAreHexAndMayBeWide() {
        #expect(LockHolder.flockHolder(inProcLocks: Self.sample, device: device(major: 0x103, minor: 5), inode: 77) == 99)
        #expect(LockHolder.flockHolder(inProcLocks: Self.sample, device: device(major: 8, minor: 1), inode: 4242) == 777)
    }

    @Test func anInodeOnlyPrefixOfAnotherDoesNotMatch() {
        #expect(LockHolder.flockHolder(inProcLocks: Self.sample, device: device(major: 0xfe, minor: 0), inode: 42) == nil)
    }

    @Test func onlyWaitersOrNothingMeansNoKnownHolder() {
        let waiters = "3: -> FLOCK  ADVISORY  WRITE 5678 fe:00:4242 0 EOF\n"
        #expect(LockHolder.flockHolder(inProcLocks: waiters, device: device(major: 0xfe, minor: 0), inode: 4242) == nil)
        #expect(LockHolder.flockHolder(inProcLocks: "", device: device(major: 0xfe, minor: 0), inode: 4242) == nil)
        // A holder in another PID namespace shows as pid 0 (or -1): not a pid to name.
        let hidden = "1: FLOCK  ADVISORY  WRITE 0 fe:00:4242 0 EOF\n"
        #expect(LockHolder.flockHolder(inProcLocks: hidden, device: device(major: 0xfe, minor: 0), inode: 4242) == nil)
    }

    @Test func aDeviceThatDoesNotMatchFallsBackToTheOneHolderOfThatInode() {
        // Some file systems (btrfs subvolumes, overlays) show another device in /proc/locks than stat does.
        #expect(LockHolder.flockHolder(inProcLocks: Self.sample, device: device(major: 0, minor: 0x2b), inode: 424) == 4321)
        // Two holders of that inode on other devices: which one is ours is unknown.
        #expect(LockHolder.flockHolder(inProcLocks: Self.sample, device: device(major: 0, minor: 0x2b), inode: 4242) == nil)
    }

    @Test func descriptionsNameThePidAndWhetherItIsStopped() {
        #expect(LockHolder(pid: 12, stopped: false).description == "pid 12")
        #expect(LockHolder(pid: 12, stopped: true).description == "pid 12 (stopped)")
    }
}

@Suite(.serialized) struct ContendedLockTests {
    /// Holds the lock on `path` through a descriptor of its own, as another process would (flock
    /// locks belong to the open file, so this conflicts with FileLock in the same process).
    final class OtherHolder: Sendable {
        let fd: Int32
        init(_ path: String) {
            fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            precondition(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
        }
        func release() { flock(fd, LOCK_UN) }
        deinit { close(fd) }
    }

    @Test func aTimeoutGivesUpNamingTheHolderAndRunsNothing() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let holder = OtherHolder(dir + "/lock")
        let ran = Mutex(false)
        let started = monotonicMilliseconds()
        do {
            try FileLock.withExclusiveLock(path: dir + "/lock", waiting: LockWaiting(timeout: 0.3)) { () throws(Errno) in ran.withLock { $0 = true } }
            Issue.record("the lock was taken while held")
        } catch {
            guard case .timedOut(let seconds, let found) = error else { Issue.record("unexpected \(error)"); return }
            #expect(seconds == 0.3)
            #expect(found == LockHolder(pid: getpid(), stopped: false))
        }
        let waited = monotonicMilliseconds() - started
        #expect(waited >= 300 && waited < 3000, "waited \(waited) ms")
        #expect(!ran.withLock { $0 })
        _ = holder
    }

    @Test func aZeroTimeoutDoesNotWaitAndAFreeLockIgnoresTheTimeout() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try FileLock.withExclusiveLock(path: dir + "/lock", waiting: LockWaiting(timeout: 0)) { () throws(Errno) in 7 } == 7)
        let holder = OtherHolder(dir + "/lock")
        let started = monotonicMilliseconds()
        do {
            try FileLock.withExclusiveLock(path: dir + "/lock", waiting: LockWaiting(timeout: 0)) { () throws(Errno) in }
            Issue.record("the lock was taken while held")
        } catch {
            guard case .timedOut = error else { Issue.record("unexpected \(error)"); return }
        }
        #expect(monotonicMilliseconds() - started < 500)
        _ = holder
    }

    @Test func theHolderIsReportedOnceAfterTheDelayAndTheWaitGoesOnUntilItIsReleased() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let holder = OtherHolder(dir + "/lock")
        let reports = Mutex<[(LockHolder?, Int64)]>([])
        let started = monotonicMilliseconds()
        // Released from another thread once the report has come, and a while after it.
        let releaser = Thread {
            _ = eventually(within: 10) { !reports.withLock { $0.isEmpty } }
            usleep(400_000)
            holder.release()
        }
        releaser.start()
        let waiting = LockWaiting(reportAfter: 0.2) { found in reports.withLock { $0.append((found, monotonicMilliseconds())) } }
        let value = try FileLock.withExclusiveLock(path: dir + "/lock", waiting: waiting) { () throws(Errno) in 42 }
        #expect(value == 42)
        let seen = reports.withLock { $0 }
        #expect(seen.count == 1)
        #expect(seen.first?.0 == LockHolder(pid: getpid(), stopped: false))
        if let at = seen.first?.1 { #expect(at - started >= 200, "reported after \(at - started) ms") }
        #expect(monotonicMilliseconds() - started >= 600)
    }

    @Test func aHolderThatLetsGoBeforeTheReportIsNeverReported() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let holder = OtherHolder(dir + "/lock")
        let releaser = Thread {
            usleep(100_000)
            holder.release()
        }
        releaser.start()
        let reports = Mutex(0)
        let started = monotonicMilliseconds()
        try FileLock.withExclusiveLock(path: dir + "/lock", waiting: LockWaiting(timeout: 5) { _ in reports.withLock { $0 += 1 } }) { () throws(Errno) in }
        #expect(reports.withLock { $0 } == 0)
        // Handed over as the kernel does it, not at the next poll of a sleeping loop.
        #expect(monotonicMilliseconds() - started < 900)
    }

    @Test func aStoppedHolderIsSeenAsStopped() throws {
        let flockTool = "/usr/bin/flock"
        try #require(FileManager.default.isExecutableFile(atPath: flockTool), "util-linux flock(1) is needed")
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/lock"
        // -o: the lock is flock's own; its child does not keep it.
        let tool = Child(argv: [flockTool, "-o", path, "/bin/sleep", "30"], env: [:], stdin: nil, directory: dir)
        defer {
            tool.signal(SIGKILL)
            if let text = try? String(contentsOfFile: "/proc/\(tool.pid)/task/\(tool.pid)/children", encoding: .utf8) {
                for pid in text.split(separator: " ").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
            }
        }
        #expect(eventually(within: 10) {
            ((try? String(contentsOfFile: "/proc/locks", encoding: .utf8)) ?? "").contains("WRITE \(tool.pid) ")
        })
        let fd = open(path, O_RDWR | O_CLOEXEC)
        defer { close(fd) }
        #expect(LockHolder.of(lockedFile: fd) == LockHolder(pid: tool.pid, stopped: false))
        tool.signal(SIGSTOP)
        #expect(eventually(within: 10) { LockHolder.of(lockedFile: fd) == LockHolder(pid: tool.pid, stopped: true) })
        tool.signal(SIGCONT)
    }
}
