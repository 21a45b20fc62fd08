import Foundation
import Testing
import QueueSystem
@testable import QueueStorage

/// The fast path's date cache, and the run-copying writer on a real mapped file (written by helper-5
/// in review; the first two tests failed before the cache started empty).
@Suite struct FastPathEdgeTests {
    /// A canonical job line as the writer writes it.
    static func line(id: String = "a", created: Int64 = 1_764_000_000_123, extra: (inout Job) -> Void = { _ in }) -> [UInt8] {
        var job = Job(id: id, command: "true", maxRetries: 3, sequence: 1, now: Timestamp(milliseconds: created))
        extra(&job)
        var w = JSONWriter()
        DocumentCodec.writeJob(job, to: &w)
        return w.bytes
    }

    /// Replaces the ten date bytes of the first `"created_at": "` with `date`.
    static func withCreatedDate(_ line: [UInt8], _ date: [UInt8]) -> [UInt8] {
        let key = Array("\"created_at\": \"".utf8)
        var bytes = line
        let at = (0...(bytes.count - key.count)).first { Array(bytes[$0..<$0 + key.count]) == key }! + key.count
        bytes.replaceSubrange(at..<at + 10, with: date)
        return bytes
    }

    /// The date cache starts empty: a first time whose date is ten NUL bytes must be checked, not
    /// taken for a date seen before.
    @Test func aDateOfTenNulBytesIsRefusedAsTheGeneralReaderRefusesIt() {
        let bad = Self.withCreatedDate(Self.line(), [UInt8](repeating: 0, count: 10))
        bad.withUnsafeBufferPointer { buffer in
            let general = generalSummary(buffer)
            #expect(general == nil, "the general reader refuses control characters in a string")
            let fast = fastSummary(buffer)
            #expect(fast == nil, "fast path accepted a date of NUL bytes as \(String(describing: fast?.0)) ms")
        }
    }

    /// Such a file is refused when read, not accepted to trap later when the job is decoded whole.
    @Test func aDocumentWhoseFirstJobHasANulDateIsRefused() throws {
        let line = Self.withCreatedDate(Self.line(), [UInt8](repeating: 0, count: 10))
        let text = Array("{\"version\": 2, \"next_seq\": 2, \"config\": {}, \"workers\": [], \"jobs\": [\n    ".utf8) + line + Array("\n  ]\n}\n".utf8)
        var threw = false
        do { _ = try DocumentCodec.decode(text) } catch { threw = true }
        #expect(threw, "a job the general reader refuses was accepted (reading it later traps)")
    }

    /// A NUL date after a real one is a cache miss and is refused.
    @Test func aNulDateAfterARealDateIsRefused() {
        let good = Self.line(id: "a")
        let bad = Self.withCreatedDate(Self.line(id: "b"), [UInt8](repeating: 0, count: 10))
        let both = good + Array(",\n    ".utf8) + bad
        both.withUnsafeBufferPointer { buffer in
            var reader = CanonicalJobReader(buffer)
            #expect(reader.summary(at: 0) != nil)
            #expect(reader.summary(at: good.count + 6) == nil)
        }
    }

    /// The date cache across jobs: a reader reused over many jobs (as readDocument does) with dates
    /// changed at random must agree with the general reader on every one.
    @Test func aReusedReaderAgreesWithTheGeneralReaderAcrossDates() {
        var random = SeededGenerator(state: 7)
        let alphabet = Array("0123456789-T:.Z\" ".utf8) + [0, 0x1F, 0x7F, 0xC3]
        var lines: [[UInt8]] = []
        for i in 0..<4_000 {
            var bytes = Self.line(id: "j\(i)", created: Int64.random(in: 0...253_402_300_799_999, using: &random)) { job in
                if i % 3 == 0 { job.runAt = Timestamp(milliseconds: job.createdAt.milliseconds + 86_400_000) }
                if i % 4 == 0 { job.finishedAt = job.createdAt }
            }
            if i % 2 == 0 {
                // Edit a byte of one of the times (the times start after "created_at").
                let from = bytes.count / 2
                let at = Int.random(in: from..<bytes.count, using: &random)
                bytes[at] = alphabet.randomElement(using: &random)!
            }
            lines.append(bytes)
        }
        var all: [UInt8] = []
        var starts: [Int] = []
        for l in lines {
            if !all.isEmpty { all += Array(",\n    ".utf8) }
            starts.append(all.count)
            all += l
        }
        var disagreements = 0, accepted = 0
        all.withUnsafeBufferPointer { buffer in
            var reader = CanonicalJobReader(buffer)
            for (k, start) in starts.enumerated() {
                guard let fast = reader.summary(at: start) else { continue }
                accepted += 1
                let own = UnsafeBufferPointer(rebasing: buffer[start..<start + lines[k].count])
                let general = generalSummary(own)
                if general?.0 != fast || general.map({ $0.1 + start }) != reader.offset { disagreements += 1 }
            }
        }
        #expect(disagreements == 0)
        #expect(accepted > 2_000, "the fast path took \(accepted) of 4000")
    }

    /// Write with runs from a real mapped file (so pages are released) and large jobs (runs over the
    /// 64 KiB chunk and the 2 MB cut), rebase onto the written file, change again and write again.
    @Test func writingRunsFromAMappedFileAndRebasingKeepsEveryJob() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("queuectl-runs-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var random = SeededGenerator(state: 99)
        var expected = Document()
        for i in 0..<3_000 {
            let size = i % 97 == 0 ? 70_000 : Int.random(in: 10...900, using: &random)
            var job = Job(id: "job-\(i)", command: String(repeating: "x", count: size), maxRetries: 1, sequence: Int64(i + 1),
                          now: Timestamp(milliseconds: 1_764_000_000_000 + Int64(i)))
            if i % 5 == 0 { job.lastError = "é\n\"" }
            expected.jobs.append(job)
        }
        expected.nextSequence = 10_000
        var path = dir + "/0.json"
        _ = FileManager.default.createFile(atPath: path, contents: Data(DocumentCodec.encode(expected)))
        var d = try DocumentCodec.decode(#require(try FileBytes.map(path)))
        for round in 1...4 {
            func change(_ d: inout Document) {
                var r = SeededGenerator(state: UInt64(round))
                for _ in 0..<20 {
                    let i = Int.random(in: 0..<d.jobs.count, using: &r)
                    switch Int.random(in: 0..<3, using: &r) {
                    case 0: d.jobs[i].attempts += 1
                    case 1: d.jobs.remove(at: i)
                    default: d.jobs.swapAt(i, Int.random(in: 0..<d.jobs.count, using: &r))
                    }
                }
                d.jobs.append(Job(id: "new-\(round)", command: "echo", maxRetries: 0, sequence: 5_000 + Int64(round), now: Timestamp(milliseconds: 5)))
            }
            change(&d)
            change(&expected)
            path = dir + "/\(round).json"
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            let ranges = try DocumentCodec.write(d) { (chunk: UnsafeRawBufferPointer) throws(Errno) in try Files.writeAll(fd, chunk) }
            close(fd)
            let written = try #require(try FileBytes.map(path))
            let out = Array(written.bytes)
            #expect(out == DocumentCodec.encode(expected), "round \(round): written differs from a fresh encoding")
            d.jobs.rebase(on: written, ranges: ranges)
            var same = d.jobs.count == expected.jobs.count
            for i in d.jobs.indices where same {
                same = d.jobs[i] == expected.jobs[i] && d.jobs.summary(at: i) == JobSummary(expected.jobs[i])
            }
            #expect(same, "round \(round): a rebased job differs")
        }
    }
}
