import JobManager
import PostgresStore
import QueueStorage
import QueueSystem
import Worker

extension Commands {
    static let logsArguments = [jobArgument]
    static let logsOptions: [OptionSpec] = [
        .flag("follow", short: "f", "Print the output so far, then follow the job's current (or next) run until it ends; "
            + "exit 0 if the job completed, else the run's exit code (1 if it has none)."),
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

        init(_ args: ParsedArguments) throws(QueueError) {
            stderrOnly = args.has("stderr")
            if let text = args.value("lines") { lines = try NumberInput.integer(text, for: "--lines", in: 0...Int(Int32.max)) }
            if let text = args.value("run") { run = try NumberInput.integer(text, for: "--run", in: 1...Int(Int32.max)) }
            if args.has("follow"), run != nil { throw .usage("--run shows one run; --follow follows the current one: give one of them") }
        }

        /// `pieces` as they are printed as they come (no `-n` count to take): the log's bytes without
        /// its marks, as `logs` always printed them.
        func render(_ pieces: [LogDecoder.Piece]) -> [UInt8] {
            var out: [UInt8] = []
            for piece in pieces {
                switch piece {
                case .output(let bytes, let stderr): if !stderrOnly || stderr { out += bytes }
                case .ours(let text, _): if !ownLinesOnly { out += text }
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
        let view = try LogView(args)
        let document = try context.read(.ids([id]))
        if args.has("follow") { return try follow(id, view: view, document: document, context: context) }
        guard let bytes = try context.queue().log(id) else {
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

    /// `logs -f`: what the log holds, then what it gains, until the run being followed ends: the run
    /// going on, or else the job's next one. Woken by writes to the log and by changes to the queue
    /// (inotify), and once a second should a wake-up be missed. The worker writes a run's footer
    /// before it records the run's end, so once the end is seen the log is read to its end and done.
    /// A log cut after a run is replaced by a new file, but only after that run's footer is in the
    /// one held open, so following a single run never needs the new file.
    static func follow(_ id: String, view: LogView, document first: Document, context: Context) throws(QueueError) -> Int32 {
        if let database = try context.queue() as? PostgresQueueStore {
            return try followDatabase(id, view: view, document: first, store: database, context: context)
        }
        let store = try context.store()
        guard let firstIndex = first.index(of: id) else { throw .failure("no job with id '\(id)'") }
        let initial = first.jobs[firstIndex]
        var log: FileDescriptor?
        var decoder = LogDecoder()
        var backlog = true
        var queueWatcher: (any ChangeNotifier)?
        var logWatcher: DirectoryWatcher?
        var noWorkerNotice = NoWorkerNotice()
        var toldLost = false
        // The run followed, once it is going: its start time.
        var following: Timestamp? = initial.state == .processing ? initial.startedAt : nil
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        context.flush()

        /// Prints what the log gained since the last look (everything, the first time).
        func readLog(ending: Bool) throws(QueueError) {
            if log == nil, let logs = try store.home.openLogs(create: false) {
                // Watched before it is opened, so that no write between the two is missed.
                if logWatcher == nil { logWatcher = try? DirectoryWatcher(directory: logs.procPath, fileName: QueueHome.logName(id), writes: true) }
                do { log = try logs.openForReading(QueueHome.logName(id)) } catch {
                    throw .failure("cannot read \(store.home.logPath(for: id)): \(error)")
                }
            }
            var pieces: [LogDecoder.Piece] = []
            if let fd = log?.rawValue {
                while let n = Files.readAvailable(fd, into: &buffer), n > 0 { pieces += decoder.feed(buffer[..<n]) }
            }
            if ending { pieces += decoder.end() }
            // `-n` counts lines of what the log holds; what it gains is printed as it comes.
            try? Files.writeAll(1, backlog && view.ownLinesOnly ? view.lastLines(pieces) : view.render(pieces))
            backlog = false
        }

        var lookAtQueue = true
        while true {
            guard lookAtQueue else {
                // Only the log was written to: nothing about the job can have changed.
                try readLog(ending: false)
                lookAtQueue = wake()
                continue
            }
            let document = try store.read()
            let (job, exit) = try look(at: id, in: document, following: &following, initial: initial, readLog: readLog)
            if let exit { return exit }
            if job.state == .processing, !toldLost, JobManager.ownerLiveness(of: job, in: document, home: store.home)?.isAlive == false {
                toldLost = true
                Console.err("job '\(id)' is running, \(JobManager.lostWorkerNote(job))\n")
            }
            noWorkerNotice.check(document, home: store.home)
            if queueWatcher == nil {
                queueWatcher = try context.queue().changeNotifier()
                // Watching from now on: look again, so that no change before the watch is missed.
                continue
            }
            lookAtQueue = wake()
        }

        /// Waits for a write to the log or the queue, a second at most; true unless it was only the log.
        func wake() -> Bool {
            let ready = waitForInput([queueWatcher?.descriptor, logWatcher?.fd].compactMap { $0 }, timeoutMilliseconds: Int(noWorkerNotice.nextCheckIn(atMost: 1000)))
            let queue = queueWatcher?.drain() ?? false
            _ = logWatcher?.drain()
            return queue || ready.isEmpty || logWatcher == nil
        }
    }

    /// One look of `logs -f` at the job it follows, as `document` has it: the log read (to its end
    /// once the run is over), and the exit code then; nil while the run goes on.
    static func look(at id: String, in document: Document, following: inout Timestamp?, initial: Job,
                     readLog: (_ ending: Bool) throws(QueueError) -> Void) throws(QueueError) -> (job: Job, exit: Int32?) {
        guard let i = document.index(of: id) else {
            try readLog(true)
            throw .failure("job '\(id)' was removed (cancelled or deleted) while its output was followed")
        }
        let job = document.jobs[i]
        let ended = runEnded(job, following: &following, initial: initial)
        try readLog(ended)
        guard ended else { return (job, nil) }
        if job.state == .failed { Console.err("job '\(id)' failed (\(job.lastError ?? "error")); it runs again when its retry is due\n") }
        return (job, finalExitCode(job))
    }

    /// Whether the run `logs -f` follows is over, as `job` is now: the run going on when it started
    /// (`following`, its start, set once a run is seen going), or else the job's next one.
    static func runEnded(_ job: Job, following: inout Timestamp?, initial: Job) -> Bool {
        if let started = following { return job.state != .processing || job.startedAt != started }
        if job.state == .processing {
            following = job.startedAt
            return false
        }
        // Finished already, or a run came and went between two looks.
        return job.state == .completed || job.state == .dead || (job.state == .failed && job.finishedAt != initial.finishedAt)
    }

    /// `logs -f` on the PostgreSQL store: the log as the database has it, then what it gains (a
    /// worker uploads a running job's output with each of its transactions and lease renewals, and
    /// the rest with the run's end, in the transaction that records it), until the run followed ends.
    /// Woken by the database's notifications, and twice a second.
    static func followDatabase(_ id: String, view: LogView, document first: Document, store: PostgresQueueStore,
                               context: Context) throws(QueueError) -> Int32 {
        guard let firstIndex = first.index(of: id) else { throw .failure("no job with id '\(id)'") }
        let initial = first.jobs[firstIndex]
        var decoder = LogDecoder()
        var backlog = true
        var printed = 0
        var following: Timestamp? = initial.state == .processing ? initial.startedAt : nil
        let notifier = try store.changeNotifier()
        var noWorkerNotice = NoWorkerNotice()
        context.flush()

        func readLog(ending: Bool) throws(QueueError) {
            var pieces: [LogDecoder.Piece] = []
            if let (bytes, total) = try store.storedLog(id), total > printed {
                // What came since the last look; of it, what the database still holds.
                pieces = decoder.feed(bytes.suffix(min(bytes.count, total - printed))[...])
                printed = total
            }
            if ending { pieces += decoder.end() }
            try? Files.writeAll(1, backlog && view.ownLinesOnly ? view.lastLines(pieces) : view.render(pieces))
            backlog = false
        }

        while true {
            // A run's end and the rest of its output are recorded in one transaction: read after the job.
            let document = try store.read(.ids([id]))
            if let exit = try look(at: id, in: document, following: &following, initial: initial, readLog: readLog).exit { return exit }
            noWorkerNotice.check(document, home: store.home)
            waitForInput([notifier.descriptor], timeoutMilliseconds: Int(noWorkerNotice.nextCheckIn(atMost: 500)))
            notifier.drain()
        }
    }
}
