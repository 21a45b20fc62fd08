import Foundation
@preconcurrency import Glibc
import Testing
import TestSupport

// The queue folder is reached by descriptors opened once and checked, never trusted by its path:
// links, a parent others can write, FIFOs, and a folder swapped while a worker runs.

/// Under CI (as root) the tests that need a second user must not be skipped.
private let haveOtherUser: Bool = {
    if otherUser == nil, ProcessInfo.processInfo.environment["CI"] == "true" { return true }  // and fail in the test
    return otherUser != nil
}()

/// The names in a directory, sorted; nil if it cannot be listed.
private func listing(_ path: String) -> [String]? { (try? FileManager.default.contentsOfDirectory(atPath: path))?.sorted() }

/// True if something (a link included, whatever it points at) is at `path`.
private func entryExists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}

/// The commands a planted home must stop, reading and writing ones.
private let homeCommands: [[String]] = [
    ["status"], ["list"], ["show", "x"], ["logs", "x"], ["config", "get"], ["dlq", "list"],
    ["enqueue", #"{"id":"fresh","command":"echo fresh"}"#], ["config", "set", "max-retries", "2"],
    ["cancel", "x"], ["prune", "--older-than", "0"], ["dlq", "delete", "x"], ["worker", "start", "--count", "1"],
]

@Suite struct HomeSafetyTests {
    // (a)
    @Test(.enabled(if: haveOtherUser))
    func aLinkAnotherUserPlantsAtTheHomePathIsRefusedByEveryCommandAndNothingIsWrittenThrough() throws {
        let other = try #require(otherUser, "tests that need a second user run as root (useradd)")
        let q = QueueSandbox()
        let shared = makeTemporaryDirectory("queuectl-shared", mode: 0o1777)
        let victim = makeTemporaryDirectory("queuectl-victim")
        defer {
            try? FileManager.default.removeItem(atPath: shared)
            try? FileManager.default.removeItem(atPath: victim)
        }
        // The victim's own directory elsewhere, with a queue-like shape.
        try FileManager.default.createDirectory(atPath: victim + "/logs", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        _ = FileManager.default.createFile(atPath: victim + "/logs/x.log", contents: Data("precious".utf8), attributes: [.posixPermissions: 0o600])
        let home = shared + "/home"
        #expect(runAs(other.name, ["/bin/ln", "-s", victim, home], directory: q.root) == 0)
        var st = stat()
        #expect(lstat(home, &st) == 0 && st.st_uid == other.uid, "the link is the other user's")

        for command in homeCommands {
            let r = q.bounded(command, env: ["QUEUECTL_HOME": home], seconds: 10)
            let shown = "queuectl \(command) -> \(r)"
            #expect(r.status == 1, "a home that is another user's link must be refused: \(shown)")
            #expect(r.stderr.hasPrefix("Error: "), "\(shown)")
            #expect(r.stderr.contains(home) && r.stderr.contains("symbolic link") && r.stderr.contains("uid \(other.uid)"), "\(shown)")
            #expect(listing(victim) == ["logs"] && listing(victim + "/logs") == ["x.log"], "something was written through the link: \(shown)")
            #expect(FileManager.default.contents(atPath: victim + "/logs/x.log") == Data("precious".utf8), "\(shown)")
        }
        #expect(entryExists(home), "the link is left for its owner to remove")
    }

    // (a), the other side: a link that is yours, to a directory of yours, is followed.
    @Test func aLinkOfYoursToADirectoryOfYoursIsFollowedOnce() throws {
        let q = QueueSandbox()
        let target = q.root + "/real"
        #expect(mkdir(target, 0o700) == 0)
        #expect(symlink(target, q.home) == 0)
        q.ok("enqueue", #"{"id":"a","command":"true"}"#)
        #expect(FileManager.default.fileExists(atPath: target + "/data.json"))
        #expect(q.ok("list").contains("a"))
    }

    // (b)
    @Test func aHomeWhoseParentOthersCanWriteWithoutTheStickyBitIsRefused() throws {
        let q = QueueSandbox()
        let parent = q.root + "/open"
        let home = parent + "/home"
        #expect(mkdir(parent, 0o700) == 0)
        let env = ["QUEUECTL_HOME": home]
        #expect(q.run(["enqueue", #"{"id":"a","command":"true"}"#], env: env).status == 0)
        let before = try #require(FileManager.default.contents(atPath: home + "/data.json"))
        chmod(parent, 0o777)
        for command in [["status"], ["list"], ["enqueue", #"{"id":"b","command":"true"}"#], ["worker", "start", "--count", "1"], ["prune"]] {
            let r = q.bounded(command, env: env, seconds: 10)
            let shown = "queuectl \(command) -> \(r)"
            #expect(r.status == 1, "a parent others can write, without the sticky bit, must be refused: \(shown)")
            #expect(r.stderr.hasPrefix("Error: ") && r.stderr.contains(parent) && r.stderr.contains("sticky"), "\(shown)")
            #expect(FileManager.default.contents(atPath: home + "/data.json") == before, "\(shown)")
        }
        // With the sticky bit, others cannot rename what is not theirs: accepted.
        chmod(parent, 0o1777)
        #expect(q.run(["status"], env: env).status == 0)
    }

    // (c)
    @Test func aLinkedLogsFolderIsNeitherWrittenNorPrunedThrough() throws {
        let q = QueueSandbox()
        let victim = q.root + "/victim"
        #expect(mkdir(victim, 0o700) == 0)
        _ = FileManager.default.createFile(atPath: victim + "/x.log", contents: Data("precious".utf8))
        q.ok("enqueue", #"{"id":"x","command":"echo through"}"#)
        #expect(symlink(victim, q.home + "/logs") == 0)
        for command in [["cancel", "x"], ["prune", "--older-than", "0"], ["worker", "start", "--count", "1"], ["logs", "x"], ["status"]] {
            let r = q.bounded(command, seconds: 10)
            let shown = "queuectl \(command) -> \(r)"
            #expect(r.status == 1 && r.stderr.contains(q.home + "/logs") && r.stderr.contains("symbolic link"), "\(shown)")
            #expect(listing(victim) == ["x.log"] && FileManager.default.contents(atPath: victim + "/x.log") == Data("precious".utf8), "\(shown)")
        }
        #expect(q.state(of: "x") == "pending", "the refused cancel changed nothing")
    }

    // (c), one log file a link: the run is not logged through it, and removing the job removes the link only.
    @Test func aLinkAtALogPathIsNotFollowedAndOnlyTheLinkIsRemoved() throws {
        let q = QueueSandbox()
        let victim = q.root + "/victim.log"
        _ = FileManager.default.createFile(atPath: victim, contents: Data("precious".utf8))
        q.ok("enqueue", #"{"id":"x","command":"echo through"}"#)
        #expect(mkdir(q.home + "/logs", 0o700) == 0)
        #expect(symlink(victim, q.home + "/logs/x.log") == 0)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        #expect(q.state(of: "x") == "completed")
        let error = q.jobs()["x"]?["last_error"] as? String ?? ""
        #expect(error.contains("output not logged") && error.contains("symbolic link"), "\(error)")
        #expect(q.ok("prune", "--older-than", "0") == "x\n")
        #expect(!entryExists(q.home + "/logs/x.log"), "the link goes with the job")
        #expect(FileManager.default.contents(atPath: victim) == Data("precious".utf8))
    }

    // (d)
    @Test(arguments: storageCommands)
    func aFIFOAtTheDataFileStopsEveryCommandPromptly(_ command: [String]) throws {
        let q = QueueSandbox()
        #expect(mkdir(q.home, 0o700) == 0)
        #expect(mkfifo(q.dataPath, 0o600) == 0)
        let stdin = command == ["enqueue", "-"] ? #"{"id":"fresh","command":"echo fresh"}"# + "\n" : nil
        let r = q.bounded(command, stdin: stdin, seconds: 5)
        let shown = "queuectl \(command) -> \(r)"
        #expect(r.status == 1, "a FIFO at data.json must be refused, not waited on: \(shown)")
        #expect(r.stderr.hasPrefix("Error: ") && r.stderr.contains(q.dataPath) && r.stderr.contains("FIFO"), "\(shown)")
        #expect(r.stdout.isEmpty, "\(shown)")
        unlink(q.dataPath)
    }

    @Test func aFIFOAtTheLockFileIsRefused() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"a","command":"true"}"#)
        unlink(q.home + "/data.lock")
        #expect(mkfifo(q.home + "/data.lock", 0o600) == 0)
        for command in [["enqueue", #"{"id":"b","command":"true"}"#], ["status"]] {
            let r = q.bounded(command, seconds: 5)
            #expect(r.status == 1 && r.stderr.contains(q.home + "/data.lock") && r.stderr.contains("FIFO"), "queuectl \(command) -> \(r)")
        }
        #expect(q.jobs().keys.sorted() == ["a"])
    }

    @Test func aFIFOAtALogPathRunsTheJobUnloggedAndTheWorkerStillStopsOnSIGTERM() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"f","command":"echo hidden"}"#)
        #expect(mkdir(q.home + "/logs", 0o700) == 0)
        #expect(mkfifo(q.home + "/logs/f.log", 0o600) == 0)
        let worker = q.start(["worker", "start", "--count", "1"])
        #expect(eventually(within: 15) { q.state(of: "f") == "completed" }, "the job must run: \(worker.stdout()) \(worker.stderr())")
        let error = q.jobs()["f"]?["last_error"] as? String ?? ""
        #expect(error.contains("output not logged") && error.contains("FIFO"), "\(error)")
        #expect(eventually(within: 5) { worker.stdout().contains("f: output not logged") }, "\(worker.stdout())")
        worker.signal(SIGTERM)
        #expect(worker.wait(seconds: 10) == 0, "the worker must stop on SIGTERM: \(worker.stdout()) \(worker.stderr())")
    }

    // (e)
    @Test func aWorkerGoesOnWithTheFolderItOpenedWhenAnotherIsPutInItsPlace() throws {
        let q = QueueSandbox()
        q.ok("config", "set", "max-retries", "1")
        let worker = q.start(["worker", "start", "--count", "1"])
        #expect(eventually(within: 10) { worker.stdout().contains("started") }, "\(worker.stderr())")
        let moved = q.root + "/moved"
        #expect(rename(q.home, moved) == 0)
        #expect(mkdir(q.home, 0o700) == 0)
        // A job for the folder the worker opened, now under its new name: the worker runs it there.
        #expect(q.run(["enqueue", #"{"id":"s","command":"echo still here"}"#], env: ["QUEUECTL_HOME": moved]).status == 0)
        func stateInMoved() -> String? {
            guard let data = FileManager.default.contents(atPath: moved + "/data.json"),
                  let doc = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let jobs = doc["jobs"] as? [[String: Any]] else { return nil }
            return jobs.first { $0["id"] as? String == "s" }?["state"] as? String
        }
        #expect(eventually(within: 15) { stateInMoved() == "completed" }, "\(worker.stdout()) \(worker.stderr())")
        #expect((try? String(contentsOfFile: moved + "/logs/s.log", encoding: .utf8))?.contains("still here") == true)
        worker.signal(SIGTERM)
        #expect(worker.wait(seconds: 10) == 0)
        // Its unregistering went to its own folder too, and nothing at all into the one put in its place.
        #expect(listing(q.home) == [], "the worker wrote into the folder swapped in: \(listing(q.home) ?? [])")
        #expect(!(String(decoding: FileManager.default.contents(atPath: moved + "/data.json") ?? Data(), as: UTF8.self)
            .contains("\"pid\": \(worker.pid)")), "the worker did not unregister")
    }

    // (f)
    @Test func everyWayAJobIsRemovedRemovesItsLogAndADryRunRemovesNone() throws {
        func log(_ q: QueueSandbox, _ id: String) -> Bool { FileManager.default.fileExists(atPath: q.home + "/logs/\(id).log") }
        // cancel of a failed job waiting for its retry
        let c = QueueSandbox()
        c.ok("enqueue", #"{"id":"c","command":"echo c; exit 1","max_retries":3}"#)
        #expect(c.run(["worker", "start", "--drain"]).status == 0)
        #expect(c.state(of: "c") == "failed" && log(c, "c"))
        c.ok("cancel", "c")
        #expect(!log(c, "c"))
        // dlq delete
        let d = QueueSandbox()
        d.ok("enqueue", #"{"id":"d","command":"echo d; exit 1","max_retries":0}"#)
        #expect(d.run(["worker", "start", "--drain"]).status == 0)
        #expect(d.state(of: "d") == "dead" && log(d, "d"))
        d.ok("dlq", "delete", "d")
        #expect(!log(d, "d"))
        // prune, after a dry run that removes nothing
        let p = QueueSandbox()
        p.ok("enqueue", #"{"id":"p","command":"echo p"}"#)
        #expect(p.run(["worker", "start", "--drain"]).status == 0)
        #expect(p.ok("prune", "--older-than", "0", "--dry-run") == "p\n")
        #expect(log(p, "p") && p.state(of: "p") == "completed")
        #expect(p.ok("prune", "--older-than", "0") == "p\n")
        #expect(!log(p, "p") && p.state(of: "p") == nil)
        // the worker's retention
        let r = QueueSandbox()
        r.ok("config", "set", "keep-completed", "1")
        for id in ["r1", "r2", "r3"] { r.ok("enqueue", #"{"id":"\#(id)","command":"echo \#(id)"}"#) }
        #expect(r.run(["worker", "start", "--drain"]).status == 0)
        #expect(r.jobs().keys.sorted() == ["r3"])
        #expect(!log(r, "r1") && !log(r, "r2") && log(r, "r3"))
        // a running job cancelled: removed, with its log, when its run ends
        let k = QueueSandbox()
        k.ok("enqueue", #"{"id":"k","command":"echo k; sleep 30"}"#)
        let worker = k.start(["worker", "start", "--count", "1"])
        #expect(eventually(within: 15) { k.state(of: "k") == "processing" && log(k, "k") })
        k.ok("cancel", "k")
        #expect(eventually(within: 15) { k.jobs()["k"] == nil && !log(k, "k") }, "\(worker.stdout())")
        worker.signal(SIGTERM)
        #expect(worker.wait(seconds: 10) == 0)
    }
}
