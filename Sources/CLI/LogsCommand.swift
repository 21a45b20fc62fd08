import JobManager
import QueueStorage
import QueueSystem
import Worker

extension Commands {
    static let logsArguments = [jobArgument]
    static let logsOptions: [OptionSpec] = [
        .value("lines", short: "n", "n", "Only the last <n> lines of the job's own output, without queuectl's header and footer lines."),
        .value("run", "k", "Only run <k>, as its header numbers it (after a restart or 'dlq retry', the latest run <k>)."),
        .flag("stderr", "Only what the job wrote to stderr (queuectl's own lines stay, unless -n is given)."),
    ]
    static let logsDiscussion = """
      stdout and stderr are one stream, in the order the worker read them (what a job writes to both
      within the same instant may come in either order); --stderr shows the stderr part alone. The log
      is $QUEUECTL_HOME/logs/<id>.log, bounded by config max-log-bytes: beyond it the middle is cut,
      keeping the start and the end.
    """

    static let logs = CommandSpec(
        name: "logs",
        summary: "Print a job's output: every run's stdout and stderr under a header line.",
        discussion: logsDiscussion,
        arguments: logsArguments,
        options: logsOptions,
        run: runLogs
    )

    static let output = CommandSpec(
        name: "output",
        summary: "A job's output (same as 'queuectl logs').",
        subcommands: [CommandSpec(name: "get", summary: logs.summary, discussion: logsDiscussion,
                                  arguments: logsArguments, options: logsOptions, run: runLogs)]
    )

    /// What `logs` shows of the pieces of a log.
    struct LogView {
        var stderrOnly = false
        /// `-n`: only the job's own lines, the last this many (of what the log holds).
        var lines: Int?
        var run: Int?
        /// Only the job's own lines, none of queuectl's (`-n`).
        var ownLinesOnly: Bool { lines != nil }
        /// Whether what was printed last ended a line (queuectl's own lines start on a line of their own).
        private var atLineStart = true

        init(_ args: ParsedArguments) throws(QueueError) {
            stderrOnly = args.has("stderr")
            if let text = args.value("lines") { lines = try NumberInput.integer(text, for: "--lines", in: 0...Int(Int32.max)) }
            if let text = args.value("run") { run = try NumberInput.integer(text, for: "--run", in: 1...Int(Int32.max)) }
        }

        /// `pieces` as they are printed as they come (no `-n` count to take).
        mutating func render(_ pieces: [LogDecoder.Piece]) -> [UInt8] {
            var out: [UInt8] = []
            for piece in pieces {
                switch piece {
                case .output(let bytes, let stderr):
                    guard !stderrOnly || stderr, let last = bytes.last else { continue }
                    out += bytes
                    atLineStart = last == 0x0A
                case .ours(let text, _):
                    guard !ownLinesOnly, let last = text.last else { continue }
                    if !atLineStart, text.first != 0x0A { out.append(0x0A) }
                    out += text
                    atLineStart = last == 0x0A
                }
            }
            return out
        }

        /// The last `lines` lines of the job's output in `pieces`; a run's last line that did not end
        /// is ended where the next run begins.
        func lastLines(_ pieces: [LogDecoder.Piece]) -> [UInt8] {
            var text: [UInt8] = []
            for piece in pieces {
                switch piece {
                case .output(let bytes, let stderr): if !stderrOnly || stderr { text += bytes }
                case .ours(_, let run): if run != nil, let last = text.last, last != 0x0A { text.append(0x0A) }
                }
            }
            guard let lines, lines > 0 else { return [] }
            var start = text.count, found = 0
            // A last line without its newline counts as a line.
            var i = text.last == 0x0A ? text.count - 1 : text.count
            while i > 0 {
                i -= 1
                if text[i] == 0x0A {
                    found += 1
                    if found == lines { break }
                }
                start = i
            }
            return Array(text[start...])
        }

        /// The pieces of run `k` in `pieces`: from the last header that gives it to the next header.
        static func run(_ k: Int, of pieces: [LogDecoder.Piece]) -> ArraySlice<LogDecoder.Piece>? {
            func header(_ piece: LogDecoder.Piece) -> Int? { if case .ours(_, let run) = piece { run } else { nil } }
            guard let start = pieces.lastIndex(where: { header($0) == k }) else { return nil }
            let end = pieces[(start + 1)...].firstIndex { header($0) != nil } ?? pieces.endIndex
            return pieces[start..<end]
        }
    }

    static func runLogs(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let id = args.positionals[0]
        var view = try LogView(args)
        let home = try context.store().home
        let document = try context.read()
        guard let bytes = try home.readLog(id) else {
            if document.index(of: id) == nil { throw .failure("no job with id '\(id)'") }
            Console.err("job '\(id)' has no output yet\n")
            return 0
        }
        var decoder = LogDecoder()
        var pieces = decoder.feed(bytes[...]) + decoder.end()
        if let k = view.run {
            guard let run = LogView.run(k, of: pieces) else {
                let runs = pieces.compactMap { if case .ours(_, let run?) = $0 { String(run) } else { nil } }
                throw .failure("job '\(id)' has no run \(k) in its log" + (runs.isEmpty ? "" : " (its runs there: \(runs.joined(separator: ", ")))"))
            }
            pieces = Array(run)
        }
        context.flush()
        try? Files.writeAll(1, view.lines == nil ? view.render(pieces) : view.lastLines(pieces))
        return 0
    }
}
