import QueueSystem

/// A job's log file: its runs' output, each run under a header line and over a footer line of
/// queuectl's own, stdout and stderr in one stream in the order the worker read them.
///
/// Which stream each piece came from is marked in the bytes themselves, so that one file still holds
/// everything in time order and its middle can still be cut. A two-byte mark, DLE (0x10) and a
/// control character, switches what follows to another channel: SOH (0x01) the job's stdout, STX
/// (0x02) its stderr, ETX (0x03) a text of queuectl's own (a header, a footer, a cut marker; each
/// starts with its own mark), NUL (0x00) unmarked text from before streams were recorded. A DLE the
/// job wrote is doubled. The marks are control characters a terminal does not show, so `cat` of a log
/// still reads as it did. A file written before this format has no marks at all: it reads as unmarked
/// text from its start, in which queuectl's own lines are found by their words, as they always were.
package enum LogFormat {
    static let escape: UInt8 = 0x10

    /// What the bytes that follow a mark are.
    package enum Channel: Equatable, Sendable {
        case stdout, stderr
        /// A header, footer or cut marker of queuectl's own.
        case ours
        /// Unmarked text: a log, or its beginning, written before streams were recorded.
        case unmarked

        var mark: UInt8 {
            switch self {
            case .stdout: return 0x01
            case .stderr: return 0x02
            case .ours: return 0x03
            case .unmarked: return 0x00
            }
        }

        init?(mark: UInt8) {
            switch mark {
            case 0x01: self = .stdout
            case 0x02: self = .stderr
            case 0x03: self = .ours
            case 0x00: self = .unmarked
            default: return nil
            }
        }
    }

    /// Appends `bytes` to `out` as `channel`, after a mark if the file's end (`current`) is another
    /// channel; a text of queuectl's own always gets its mark, so that each one stands alone. A DLE in
    /// the job's output is doubled (found with `memchr`, so plain output costs one pass at most).
    package static func append(_ bytes: ArraySlice<UInt8>, as channel: Channel, after current: inout Channel?, to out: inout [UInt8]) {
        if current != channel || channel == .ours { out += [escape, channel.mark] }
        current = channel
        bytes.withUnsafeBufferPointer { buffer in
            var start = 0
            while let dle = QueueSystem.firstIndex(of: escape, in: buffer, from: start) {
                out.append(contentsOf: buffer[start...dle])
                out.append(escape)
                start = dle + 1
            }
            out.append(contentsOf: buffer[start...])
        }
    }

    // MARK: texts of queuectl's own

    static let headerOpening = Array("=== queuectl: ".utf8)
    static let markerOpening = Array("\n[queuectl: ".utf8)
    static let markerEndings = [Array(" bytes of output cut here]\n".utf8), Array(" bytes of older output cut here]\n".utf8)]

    /// The cut marker that stands for `count` bytes.
    package static func marker(cutting count: Int) -> [UInt8] { Array("\n[queuectl: \(count) bytes of output cut here]\n".utf8) }

    /// The run number a header gives (`=== queuectl: run 2 of 4, ...` or `=== queuectl: restart 1,
    /// run 2 of 4, ...`), or nil for any other text.
    package static func headerRun(_ text: ArraySlice<UInt8>) -> Int? {
        guard text.starts(with: headerOpening) else { return nil }
        var rest = text.dropFirst(headerOpening.count)
        if rest.starts(with: Array("restart ".utf8)) {
            rest = rest.dropFirst(8).drop { $0 >= 0x30 && $0 <= 0x39 }
            guard rest.starts(with: Array(", ".utf8)) else { return nil }
            rest = rest.dropFirst(2)
        }
        guard rest.starts(with: Array("run ".utf8)) else { return nil }
        rest = rest.dropFirst(4)
        let digits = rest.prefix { $0 >= 0x30 && $0 <= 0x39 }
        guard !digits.isEmpty, digits.count < 10, rest.dropFirst(digits.count).starts(with: Array(" of ".utf8)) else { return nil }
        return digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }

    /// The number of bytes a cut marker at the start of `text` says were cut, and its length.
    static func markerCount(_ text: ArraySlice<UInt8>) -> (count: Int, length: Int)? {
        guard text.starts(with: markerOpening) else { return nil }
        let digits = text.dropFirst(markerOpening.count).prefix { $0 >= 0x30 && $0 <= 0x39 }
        guard !digits.isEmpty, digits.count <= 18 else { return nil }
        let after = text.dropFirst(markerOpening.count + digits.count)
        guard let ending = markerEndings.first(where: { after.starts(with: $0) }) else { return nil }
        return (digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }, markerOpening.count + digits.count + ending.count)
    }

    // MARK: reading a whole file

    /// One stretch of a log in one channel: from its mark (if it has one) to the next mark that
    /// switches channel or starts a text of queuectl's own. A doubled DLE stays inside its stretch.
    struct Segment: Equatable {
        var range: Range<Int>
        var channel: Channel
        /// Bytes of the mark at its start (0 for the unmarked start of an old file).
        var markLength: Int
        var content: Range<Int> { range.lowerBound + markLength..<range.upperBound }
    }

    /// The segments of a whole log, in order.
    static func segments(_ bytes: [UInt8]) -> [Segment] {
        bytes.withUnsafeBufferPointer { buffer in
            var segments: [Segment] = []
            var current = Segment(range: 0..<0, channel: .unmarked, markLength: 0)
            var i = 0
            while let dle = QueueSystem.firstIndex(of: escape, in: buffer, from: i) {
                guard dle + 1 < buffer.count else { break }
                let next = buffer[dle + 1]
                if next == escape {
                    i = dle + 2
                    continue
                }
                guard let channel = Channel(mark: next) else {
                    i = dle + 1
                    continue
                }
                current.range = current.range.lowerBound..<dle
                if !current.range.isEmpty { segments.append(current) }
                current = Segment(range: dle..<dle, channel: channel, markLength: 2)
                i = dle + 2
            }
            current.range = current.range.lowerBound..<buffer.count
            if !current.range.isEmpty { segments.append(current) }
            return segments
        }
    }

    /// How many bytes of what it stands for `bytes[range]` holds: a doubled DLE is one byte.
    static func decodedCount(_ bytes: [UInt8], _ range: Range<Int>) -> Int {
        var count = 0, i = range.lowerBound
        while i < range.upperBound {
            i += bytes[i] == escape && i + 1 < range.upperBound && bytes[i + 1] == escape ? 2 : 1
            count += 1
        }
        return count
    }
}

/// Reads a log as it is written (the whole file at once, or what `logs -f` reads as it grows) into
/// pieces: the job's output, marked stdout or stderr, and the texts of queuectl's own.
package struct LogDecoder {
    package enum Piece: Equatable, Sendable {
        /// Output of the job; `stderr` false for stdout (and for unmarked output of an old log).
        case output([UInt8], stderr: Bool)
        /// A header (with the run number it gives), a footer or a cut marker.
        case ours([UInt8], run: Int?)
    }

    private var channel = LogFormat.Channel.unmarked
    /// A text of queuectl's own, or unmarked text, is taken whole: up to the next mark or the end.
    private var held: [UInt8] = []
    /// The last byte fed was a DLE whose partner has not come yet.
    private var escapePending = false

    package init() {}

    /// The pieces `bytes` complete. Output is handed on as it comes; other text waits for its end.
    package mutating func feed(_ bytes: ArraySlice<UInt8>) -> [Piece] {
        var pieces: [Piece] = []
        var rest = bytes
        if escapePending, let first = rest.first {
            escapePending = false
            rest = rest.dropFirst()
            take(mark: first, into: &pieces)
        }
        while !rest.isEmpty {
            let dle = rest.withUnsafeBufferPointer { QueueSystem.firstIndex(of: LogFormat.escape, in: $0, from: 0) }
            guard let offset = dle else {
                add(rest, into: &pieces)
                break
            }
            let at = rest.startIndex + offset
            add(rest[..<at], into: &pieces)
            guard at + 1 < rest.endIndex else {
                escapePending = true
                break
            }
            take(mark: rest[at + 1], into: &pieces)
            rest = rest[(at + 2)...]
        }
        return pieces
    }

    /// The pieces still held, at the end of what there is to read.
    package mutating func end() -> [Piece] {
        var pieces: [Piece] = []
        if escapePending {
            escapePending = false
            add([LogFormat.escape], into: &pieces)
        }
        flush(into: &pieces)
        return pieces
    }

    private mutating func take(mark: UInt8, into pieces: inout [Piece]) {
        if mark == LogFormat.escape { return add([LogFormat.escape], into: &pieces) }
        guard let next = LogFormat.Channel(mark: mark) else {
            // Not a mark: a DLE of an unmarked log, kept as it was.
            return add([LogFormat.escape, mark], into: &pieces)
        }
        flush(into: &pieces)
        channel = next
    }

    private mutating func add(_ bytes: ArraySlice<UInt8>, into pieces: inout [Piece]) {
        guard !bytes.isEmpty else { return }
        switch channel {
        case .stdout, .stderr:
            if case .output(let previous, let stderr)? = pieces.last, stderr == (channel == .stderr) {
                pieces[pieces.count - 1] = .output(previous + bytes, stderr: stderr)
            } else {
                pieces.append(.output(Array(bytes), stderr: channel == .stderr))
            }
        case .ours, .unmarked:
            held += bytes
        }
    }

    private mutating func flush(into pieces: inout [Piece]) {
        guard !held.isEmpty else { return }
        if channel == .ours {
            pieces.append(.ours(held, run: LogFormat.headerRun(held[...])))
        } else if channel == .unmarked {
            pieces += LogDecoder.unmarkedPieces(held)
        }
        held = []
    }

    /// Unmarked text (an old log): queuectl's own lines are found by their words, a header or footer
    /// from `=== queuectl: ` to the end of its line, a cut marker whole; the rest is stdout.
    static func unmarkedPieces(_ text: [UInt8]) -> [Piece] {
        var pieces: [Piece] = []
        var start = 0, i = 0
        func output(upTo end: Int) {
            if end > start { pieces.append(.output(Array(text[start..<end]), stderr: false)) }
        }
        while i < text.count {
            if text[i] == 0x3D, text[i...].starts(with: LogFormat.headerOpening) {
                let end = text[i...].firstIndex(of: 0x0A).map { $0 + 1 } ?? text.count
                output(upTo: i)
                pieces.append(.ours(Array(text[i..<end]), run: LogFormat.headerRun(text[i..<end])))
                start = end
                i = end
            } else if text[i] == 0x0A, let marker = LogFormat.markerCount(text[i...]) {
                output(upTo: i)
                pieces.append(.ours(Array(text[i..<i + marker.length]), run: nil))
                start = i + marker.length
                i = start
            } else {
                i += 1
            }
        }
        output(upTo: text.count)
        return pieces
    }
}
