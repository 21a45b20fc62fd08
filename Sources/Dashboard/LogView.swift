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

    init(bytes: [UInt8], size: Int) {
        self.size = size
        runsIncomplete = bytes.count < size
        runs = LogView.runs(in: bytes)
        var start = max(0, bytes.count - LogView.shownBytes)
        // From the next line, unless the cut is inside one very long line.
        if start > 0, let newline = bytes[start...].prefix(4096).firstIndex(of: 0x0A) { start = newline + 1 }
        hidden = size - (bytes.count - start)
        text = String(decoding: bytes[start...], as: UTF8.self)
    }

    /// The runs in the order their headers appear: `=== queuectl: run 2 of 4, started <time> ===`,
    /// each ended by the next `=== queuectl: <outcome> ===` line.
    static func runs(in bytes: [UInt8]) -> [Run] {
        let headerPrefix = "=== queuectl: run ", prefix = "=== queuectl: ", suffix = " ==="
        var runs: [Run] = []
        for line in bytes.split(separator: 0x0A) where line.starts(with: prefix.utf8) && line.count < 1024 {
            let text = String(decoding: line, as: UTF8.self)
            guard text.hasSuffix(suffix) else { continue }
            let inner = text.dropFirst(prefix.count).dropLast(suffix.count)
            if text.hasPrefix(headerPrefix), let comma = inner.firstRange(of: ", started ") {
                runs.append(Run(number: String(inner[inner.index(inner.startIndex, offsetBy: 4)..<comma.lowerBound]),
                                started: String(inner[comma.upperBound...]), outcome: nil))
            } else if !runs.isEmpty, runs[runs.count - 1].outcome == nil {
                runs[runs.count - 1].outcome = String(inner)
            }
        }
        return runs
    }
}
