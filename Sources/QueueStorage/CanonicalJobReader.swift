import QueueSystem

/// The scan's fast path: a job exactly as `DocumentCodec.writeJob` writes it (fields in its order,
/// its separators, ASCII strings without escapes, canonical times, integers) is read straight into
/// its summary, comparing each key as a run of bytes rather than looking it up.
///
/// It accepts a subset of what `DocumentCodec.readJob` accepts and gives the same summary; anything
/// else (another key order, spacing, escapes, non-ASCII text, a fractional timeout, an error) makes it
/// return nil, and the caller reads that job with the general reader, which also words any error.
struct CanonicalJobReader {
    private let buffer: UnsafeBufferPointer<UInt8>
    private let bytes: UnsafePointer<UInt8>
    private var base: UnsafeRawPointer { UnsafeRawPointer(bytes) }
    private var count: Int { buffer.count }
    private(set) var offset = 0
    // Times in a file share few dates: the last date read (its ten bytes) and its first millisecond.
    // None at first: any starting bytes could match a date never checked (ten NULs, say).
    private var lastDate: (UInt64, UInt16)?
    private var lastDateMilliseconds: Int64 = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        buffer = bytes
        self.bytes = bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!
    }

    /// The summary of the job at `start`, leaving `offset` just past its closing brace; or nil.
    mutating func summary(at start: Int) -> JobSummary? {
        offset = start
        guard literal("{\"id\": \""), let idRange = plainString(),
              literal(", \"command\": \""), plainString() != nil,
              literal(", \"state\": \""), let state = state(),
              literal(", \"attempts\": "), integer() != nil,
              literal(", \"max_retries\": "), integer() != nil,
              literal(", \"priority\": "), let priority = integer(),
              literal(", \"seq\": "), let sequence = integer(),
              literal(", \"created_at\": \""), timestamp() != nil,
              literal(", \"updated_at\": \""), timestamp() != nil else { return nil }
        var runAt: Timestamp?, finishedAt: Timestamp?, worker: ProcessIdentity?, cancelRequested = false, killRequested = false
        if literal(", \"run_at\": \"") { guard let t = timestamp() else { return nil }; runAt = t }
        if literal(", \"exit_code\": ") { guard integer() != nil else { return nil } }
        if literal(", \"last_error\": \"") { guard plainString() != nil else { return nil } }
        if literal(", \"started_at\": \"") { guard timestamp() != nil else { return nil } }
        if literal(", \"finished_at\": \"") { guard let t = timestamp() else { return nil }; finishedAt = t }
        if literal(", \"duration_ms\": ") { guard integer() != nil else { return nil } }
        if literal(", \"worker_pid\": ") {
            guard let process = processIdentity(", \"worker_start_time\": ") else { return nil }
            worker = process
        }
        if literal(", \"child_pid\": ") { guard processIdentity(", \"child_start_time\": ") != nil else { return nil } }
        if literal(", \"timeout\": ") { guard integer() != nil else { return nil } }
        if literal(", \"cwd\": \"") { guard plainString() != nil else { return nil } }
        if literal(", \"env\": {") {
            guard environment() else { return nil }
            _ = literal(", \"env_captured\": true")
        }
        if literal(", \"cancel_requested\": true") { cancelRequested = true }
        if literal(", \"kill_requested\": true") { killRequested = true }
        if literal(", \"restarts\": ") { guard integer() != nil else { return nil } }
        guard literal("}") else { return nil }
        let id = String(decoding: UnsafeBufferPointer(start: bytes + idRange.lowerBound, count: idRange.count), as: UTF8.self)
        return JobSummary(id: id, sequence: sequence, runAt: runAt,
                          finishedAt: finishedAt ?? Timestamp(milliseconds: 0), worker: worker,
                          priority: Int32(clamping: priority), state: state, cancelRequested: cancelRequested,
                          killRequested: killRequested)
    }

    private func byte(_ i: Int) -> UInt8 { bytes[i] }

    /// Consumes `text` if the bytes at the cursor are exactly it, comparing eight bytes at a time.
    private mutating func literal(_ text: StaticString) -> Bool {
        let n = text.utf8CodeUnitCount
        guard offset + n <= count else { return false }
        let here = base + offset
        let expected = UnsafeRawPointer(text.utf8Start)
        var k = 0
        while k + 8 <= n {
            guard here.loadUnaligned(fromByteOffset: k, as: UInt64.self) == expected.loadUnaligned(fromByteOffset: k, as: UInt64.self) else { return false }
            k += 8
        }
        while k < n {
            guard here.load(fromByteOffset: k, as: UInt8.self) == expected.load(fromByteOffset: k, as: UInt8.self) else { return false }
            k += 1
        }
        offset += n
        return true
    }

    /// The bytes of a string whose opening quote was consumed, up to its closing quote, which is
    /// consumed too. Nil if a byte before it is a backslash, a control character or non-ASCII.
    private mutating func plainString() -> Range<Int>? {
        guard let end = firstSpecialStringByte(in: buffer, from: offset), bytes[end] == 0x22 else { return nil }
        defer { offset = end + 1 }
        return offset..<end
    }

    /// The rest of an `env` object whose opening brace was consumed, with its closing brace: plain
    /// strings, names valid and in strictly increasing byte order as the writer sorts them (which
    /// also rules out a repeated name, an error the general reader words).
    private mutating func environment() -> Bool {
        if literal("}") { return true }
        var previous: Range<Int>?
        repeat {
            guard literal("\""), let name = plainString(), !name.isEmpty,
                  !UnsafeBufferPointer(rebasing: buffer[name]).contains(UInt8(ascii: "=")),
                  previous.map({ isLess($0, name) }) ?? true,
                  literal(": \""), plainString() != nil else { return false }
            previous = name
        } while literal(", ")
        return literal("}")
    }

    private func isLess(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
        UnsafeBufferPointer(rebasing: buffer[a]).lexicographicallyPrecedes(UnsafeBufferPointer(rebasing: buffer[b]))
    }

    private mutating func state() -> JobState? {
        guard let range = plainString() else { return nil }
        return JobState(utf8: UnsafeBufferPointer(start: bytes + range.lowerBound, count: range.count))
    }

    /// An integer as `JSONReader.readInt64` reads it, of at most 18 digits (so it cannot overflow).
    /// What follows is left to the next literal, which rules out a fraction or exponent.
    private mutating func integer() -> Int64? {
        var i = offset
        let negative = i < count && byte(i) == UInt8(ascii: "-")
        if negative { i += 1 }
        let first = i
        var value: Int64 = 0
        while i < count, i - first < 19 {
            let digit = byte(i) &- 0x30
            guard digit <= 9 else { break }
            value = value &* 10 &+ Int64(digit)  // a 19th digit may wrap; it is refused below
            i += 1
        }
        let digits = i - first
        guard digits > 0, digits <= 18, digits == 1 || byte(first) != 0x30 else { return nil }
        offset = i
        return negative ? -value : value
    }

    /// A pid (as `readPid` accepts) followed by the start-time key and a start time.
    private mutating func processIdentity(_ startTimeKey: StaticString) -> ProcessIdentity? {
        guard let pid = integer(), let pid32 = Int32(exactly: pid), pid32 > 0,
              literal(startTimeKey), let start = integer(), start >= 0 else { return nil }
        return ProcessIdentity(pid: pid32, startTime: UInt64(start))
    }

    /// A canonical time (`2026-11-24T08:00:00.250Z`) whose opening quote was consumed, and its
    /// closing quote. A date seen last time is not worked out again.
    private mutating func timestamp() -> Timestamp? {
        guard offset + 25 <= count, byte(offset + 24) == 0x22 else { return nil }
        let p = base + offset
        let date = (p.loadUnaligned(as: UInt64.self), p.loadUnaligned(fromByteOffset: 8, as: UInt16.self))
        guard let timeOfDay = Timestamp.canonicalTimeOfDay(bytes + offset + 10) else { return nil }
        if lastDate.map({ $0 != date }) ?? true {
            // A new date gets the full check, which also gives its first millisecond.
            guard let time = Timestamp(iso8601Bytes: UnsafeBufferPointer(start: bytes + offset, count: 24)) else { return nil }
            lastDate = date
            lastDateMilliseconds = time.milliseconds - timeOfDay
        }
        offset += 25
        return Timestamp(milliseconds: lastDateMilliseconds + timeOfDay)
    }
}
