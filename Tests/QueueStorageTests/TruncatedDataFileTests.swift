import Foundation
import Glibc
import Testing
import QueueSystem
@testable import QueueStorage

/// A data file truncated in place while a reader has it mapped: the lost pages read as zeros and the
/// reader reports the change, instead of dying of SIGBUS or writing what it made of the zeros.
@Suite(.serialized) struct TruncatedDataFileTests {
    /// A queue of `count` jobs, each with a long command, so the file spans many pages.
    func seed(_ t: TempDir, count: Int = 200) throws {
        try t.store.transaction { (s) throws(QueueError) in
            for i in 0..<count {
                s.document.jobs.append(Job(id: "j\(i)", command: "echo " + String(repeating: "x", count: 200), maxRetries: 3,
                                           sequence: s.document.nextSequence, now: s.now))
                s.document.nextSequence += 1
            }
        }
    }

    @Test func aTransactionThatReadsLostPagesWritesNothingAndSaysTheFileChanged() throws {
        let t = TempDir()
        try seed(t)
        let before = try #require(statInfo(t.dataPath))
        do {
            try t.store.transaction { (s) throws(QueueError) in
                #expect(truncate(t.dataPath, 0) == 0)
                // Decoded from the mapping now: every page is lost.
                let last = s.document.jobs[s.document.jobs.count - 1]
                #expect(last.id == "j199")
                s.document.jobs[0].priority = 9
            }
            Issue.record("the transaction succeeded")
        } catch {
            #expect(error.message.contains("data file \(t.dataPath) changed while it was read (truncated in place?)"), "\(error)")
        }
        // Left as it is: the same (truncated) file, not a replacement holding zeros.
        #expect(statInfo(t.dataPath)?.inode == before.inode)
        #expect(readBytes(t.dataPath) == [])
    }

    @Test func aLockFreeReadOfLostPagesIsFlaggedNotATrap() throws {
        let t = TempDir()
        try seed(t)
        let document = try t.store.read()
        #expect(truncate(t.dataPath, 100) == 0)
        let jobs = document.jobs.map(\.id)  // every job decoded from the mapping
        #expect(jobs.count == 200)
        #expect(document.jobs.source?.changedUnderMapping == true)
    }
}
