import QueueStorage

/// What the job page shows of a log: its last 64 KiB, and the runs its header and footer lines record.
struct LogView: Sendable {
    /// What the page shows of the log's end.
    static let shownBytes = 64 * 1024
    /// How much of the end is read to find runs: a whole log at the default `max-log-bytes`.
    static let scannedBytes = 1 << 20

    struct Run: Equatable, Sendable {
        /// `1 of 4`
        let number: String
        let started: String
        /// `exit 0 after 0.002s`; nil while it runs (or when its end was cut from the log).
        var outcome: String?
    }

    /// The log's whole size in bytes.
    let size: Int
    /// The end shown, from the start of a line where possible.
    let text: String
    /// Bytes before `text` that are not shown.
    let hidden: Int
    let runs: [Run]
    /// The scan started after the log's start, so earlier runs may be missing.
    let runsIncomplete: Bool

    /// From the end of a log as stored (`LogFormat`: marked stdout, stderr and queuectl's own lines),
    /// shown without its marks, as `queuectl logs` prints it.
    init(bytes: [UInt8], size: Int) {
        self.size = size
        runsIncomplete = bytes.count < size
        runs = LogView.runs(in: LogView.decoded(bytes[...]))
        var start = max(0, bytes.count - LogView.shownBytes)
        // From the next line, unless the cut is inside one very long line.
        if start > 0, let newline = bytes[start...].prefix(4096).firstIndex(of: 0x0A) { start = newline + 1 }
        hidden = size - (bytes.count - start)
        var shown: [UInt8] = []
        for piece in LogView.decoded(bytes[start...]) {
            switch piece {
            case .output(let output, _): shown += output
            case .ours(let own, _): shown += own
            }
        }
        text = String(decoding: shown, as: UTF8.self)
    }

    static func decoded(_ bytes: ArraySlice<UInt8>) -> [LogDecoder.Piece] {
        var decoder = LogDecoder()
        return decoder.feed(bytes) + decoder.end()
    }

    /// The runs in the order their headers appear (`=== queuectl: run 2 of 4, started <time> ===`,
    /// after `restart 1, ` once restarted), each ended by the next `=== queuectl: <outcome> ===`.
    static func runs(in pieces: [LogDecoder.Piece]) -> [Run] {
        let prefix = "=== queuectl: ", suffix = " ==="
        var runs: [Run] = []
        for case .ours(let bytes, let run) in pieces where bytes.count < 1024 {
            let line = bytes.drop { $0 == 0x0A }.reversed().drop { $0 == 0x0A }.reversed()
            let text = String(decoding: line, as: UTF8.self)
            guard text.hasPrefix(prefix), text.hasSuffix(suffix) else { continue }
            let inner = text.dropFirst(prefix.count).dropLast(suffix.count)
            if run != nil, let comma = inner.firstRange(of: ", started "), let number = inner[..<comma.lowerBound].firstRange(of: "run ") {
                runs.append(Run(number: String(inner[number.upperBound..<comma.lowerBound]), started: String(inner[comma.upperBound...]), outcome: nil))
            } else if run == nil, !runs.isEmpty, runs[runs.count - 1].outcome == nil {
                runs[runs.count - 1].outcome = String(inner)
            }
        }
        return runs
    }
}
