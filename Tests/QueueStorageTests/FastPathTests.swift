import Foundation
import Testing
import QueueSystem
@testable import QueueStorage

/// A small deterministic generator (SplitMix64), so a failing case can be found again.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The general reader's summary of the job at the start of `bytes` and where it ends, or nil if it
/// refuses it.
func generalSummary(_ bytes: UnsafeBufferPointer<UInt8>) -> (JobSummary, Int)? {
    var reader = JSONReader(bytes)
    guard let job = try? DocumentCodec.readJob(&reader, index: 0, whole: false) else { return nil }
    return (JobSummary(job), reader.offset)
}

func fastSummary(_ bytes: UnsafeBufferPointer<UInt8>) -> (JobSummary, Int)? {
    var reader = CanonicalJobReader(bytes)
    return reader.summary(at: 0).map { ($0, reader.offset) }
}

/// Jobs as the writer writes them, with every optional field on some.
func canonicalJobLines() -> [[UInt8]] {
    let t = Timestamp(milliseconds: 1_764_000_000_123)
    var jobs: [Job] = []
    var plain = Job(id: "a", command: "true", maxRetries: 3, sequence: 1, now: t)
    jobs.append(plain)
    plain.state = .completed
    plain.exitCode = 0
    plain.startedAt = t
    plain.finishedAt = Timestamp(milliseconds: t.milliseconds + 86_400_000 * 40 + 5)
    plain.durationMilliseconds = 12
    plain.cwd = "/tmp/some dir"
    plain.environment = JobEnvironment(variables: ["TZ": "UTC"])
    jobs.append(plain)
    var everything = Job(id: "job-7f3a_x.1", command: "sleep 2 && echo 'done' > /tmp/out", maxRetries: 1000, priority: -1000,
                         sequence: 999_999_999_999, now: Timestamp(milliseconds: 0))
    everything.state = .processing
    everything.attempts = 17
    everything.runAt = Timestamp(milliseconds: 253_402_300_799_999)
    everything.exitCode = -1
    everything.lastError = "exit 127: command not found"
    everything.startedAt = Timestamp(milliseconds: 951_782_400_000)  // 2000-02-29
    everything.finishedAt = Timestamp(milliseconds: 951_868_799_999)
    everything.durationMilliseconds = Int64(999_999_999_999_999_999)
    everything.worker = ProcessIdentity(pid: Int32.max, startTime: 123_456_789_012)
    everything.child = ProcessIdentity(pid: 1, startTime: 0)
    everything.timeout = 30
    everything.cwd = "/"
    everything.environment = JobEnvironment(variables: ["A": "1", "EMPTY": "", "PATH": "/usr/local/bin:/usr/bin:/bin"], captured: true)
    everything.cancelRequested = true
    everything.killRequested = true
    everything.restarts = 12
    jobs.append(everything)
    var dead = Job(id: "d", command: "false", maxRetries: 0, priority: 1000, sequence: 3, now: t)
    dead.state = .dead
    dead.attempts = 1
    dead.lastError = ""
    jobs.append(dead)
    return jobs.map { job in
        var w = JSONWriter()
        DocumentCodec.writeJob(job, to: &w)
        return w.bytes
    }
}

@Suite struct FastPathTests {
    @Test func canonicalJobsTakeTheFastPathWithTheGeneralReadersSummary() throws {
        for line in canonicalJobLines() {
            try line.withUnsafeBufferPointer { bytes in
                let fast = try #require(fastSummary(bytes), "\(String(decoding: line, as: UTF8.self))")
                let general = try #require(generalSummary(bytes))
                #expect(fast.0 == general.0)
                #expect(fast.1 == bytes.count && general.1 == bytes.count)
            }
        }
    }

    @Test func everyJobOfAWrittenDocumentDecodesAsTheGeneralReaderDecodesIt() throws {
        let d = sampleDocument(jobCount: 300)
        let decoded = try DocumentCodec.decode(DocumentCodec.encode(d))
        let same = decoded == d && decoded.jobs.entries.map(\.summary) == d.jobs.entries.map(\.summary)
        #expect(same)
        // The jobs with plain ASCII text go the fast way; the awkward strings need the general one.
        let source = try #require(decoded.jobs.source)
        var reader = CanonicalJobReader(source.bytes)
        let fast = decoded.jobs.entries.filter { reader.summary(at: $0.range!.lowerBound) != nil }.count
        #expect(fast > 30 && fast < 300)
    }

    /// The fast path may refuse anything, but what it accepts the general reader must accept too,
    /// with the same summary and the same end. Random edits of canonical jobs probe the border.
    @Test func whatTheFastPathAcceptsTheGeneralReaderAcceptsTheSame() {
        var random = SeededGenerator(state: 20261124)
        let alphabet = Array("0123456789-+.eE\"\\ :,{}[]TZtrufalsn\u{1F}\u{7F}x".utf8) + [0xC3, 0xA9, 0xFF]
        var accepted = 0
        for line in canonicalJobLines() {
            for _ in 0..<6_000 {
                var bytes = line
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    let at = Int.random(in: 0..<bytes.count, using: &random)
                    switch Int.random(in: 0..<4, using: &random) {
                    case 0: bytes[at] = alphabet.randomElement(using: &random)!
                    case 1: bytes.remove(at: at)
                    case 2: bytes.insert(alphabet.randomElement(using: &random)!, at: at)
                    default:  // a digit, so numbers and times change value or grow
                        bytes.insert(UInt8.random(in: 0x30...0x39, using: &random), at: at)
                    }
                    if bytes.isEmpty { bytes = line }
                }
                bytes.withUnsafeBufferPointer { buffer in
                    guard let fast = fastSummary(buffer) else { return }
                    accepted += 1
                    let general = generalSummary(buffer)
                    #expect(general?.0 == fast.0 && general?.1 == fast.1,
                            "fast path accepted what the general reader reads otherwise: \(String(decoding: bytes, as: UTF8.self))")
                }
            }
        }
        // Edits inside values (a digit, a letter of a command) keep many jobs canonical.
        #expect(accepted > 500)
    }

    @Test func aFileWithJobsOffTheFastPathReadsTheSame() throws {
        // Spacing, key order and escapes of a hand-edited file.
        let jobs = [
            #"{"id":"a","command":"true","state":"pending","attempts":0,"max_retries":3,"created_at":"2025-11-04T10:30:00Z","updated_at":"2025-11-04T10:30:00Z"}"#,
            #"{"command": "echo \u00e9", "id": "b", "state": "failed", "attempts": 1, "max_retries": 3, "priority": 0, "seq": 2, "created_at": "2025-11-04T10:30:00.000Z", "updated_at": "2025-11-04T10:30:00.000Z", "run_at": "2025-11-04T10:30:02.000+00:00"}"#,
            #"{"id": "c", "command": "true", "state": "pending", "attempts": 0, "max_retries": 3, "priority": 0, "seq": 3, "created_at": "2025-11-04T10:30:00.000Z", "updated_at": "2025-11-04T10:30:00.000Z", "timeout": 1.5}"#,
        ]
        let d = try DocumentCodec.decode(Array(document(jobs: jobs).utf8))
        #expect(d.jobs.map(\.id) == ["a", "b", "c"])
        #expect(d.jobs[1].command == "echo é")
        #expect(d.jobs.summary(at: 1).runAt == Timestamp(iso8601: "2025-11-04T10:30:02.000Z"))
        #expect(d.jobs[2].timeout == 1.5)
    }

    /// Unchanged jobs are copied from the source in runs; what is written must be the document as the
    /// writer writes it, and each returned range must hold its job. A hand-edited file's separators
    /// (one as long as the writer's) do not join a run and are not copied.
    @Test(arguments: ["", ", ", ",\r\n   "])
    func writingCopiesUnchangedJobsAndReportsWhereEachJobIs(separator: String) throws {
        let original = sampleDocument(jobCount: 120)
        var text = DocumentCodec.encode(original)
        if !separator.isEmpty {
            text = Array(String(decoding: text, as: UTF8.self).replacingOccurrences(of: "},\n    {\"id\": \"job-4", with: "}\(separator){\"id\": \"job-4").utf8)
        }
        var d = try DocumentCodec.decode(text)
        let readBack = d == original
        #expect(readBack)
        var expected = original
        func change(_ d: inout Document) {
            d.jobs[0].attempts += 1
            d.jobs[57].state = .dead
            d.jobs.remove(at: 90)
            d.jobs.remove(at: 10)
            d.jobs[d.jobs.count - 1].lastError = "changed"
            d.jobs.append(Job(id: "new", command: "echo new", maxRetries: 1, sequence: d.nextSequence, now: Timestamp(milliseconds: 5)))
            d.nextSequence += 1
        }
        change(&d)
        change(&expected)
        var out: [UInt8] = []
        let ranges = DocumentCodec.write(d) { (chunk: UnsafeRawBufferPointer) in out.append(contentsOf: chunk) }
        let rereadIsExpected = try DocumentCodec.decode(out) == expected
        #expect(rereadIsExpected)
        #expect(ranges.count == expected.jobs.count)
        for (i, range) in ranges.enumerated() {
            let job = out.withUnsafeBufferPointer { bytes in try? DocumentCodec.decodeJob(UnsafeBufferPointer(rebasing: bytes[range]), index: i) }
            let same = job == expected.jobs[i]
            #expect(same, "job \(i)")
        }
        let sameAsEncodedAnew = out == DocumentCodec.encode(expected)
        #expect(sameAsEncodedAnew)
    }
}
