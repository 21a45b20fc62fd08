import JobManager
import QueueStorage
import QueueSystem

extension Commands {
    static let watchOptions: [OptionSpec] = [
        .value("interval", short: "n", "seconds", "Time between refreshes.", default: "1"),
    ]

    static let top = CommandSpec(
        name: "top",
        summary: "A live view of the queue (same as 'queuectl status --watch').",
        discussion: """
          Counts per state, active workers and what they run, the next scheduled or retrying jobs, and
          the latest completions and failures, redrawn in place. 'q' or Ctrl+C quits and restores the
          terminal. When standard output is not a terminal, the view is printed again every interval.
          Colour is used only on a terminal, and never when NO_COLOR is set.
        """,
        options: watchOptions,
        run: runWatch
    )

    static func runWatch(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        var interval = 1.0
        if let text = args.value("interval") {
            interval = try NumberInput.decimal(text, for: "--interval", in: 0.1...3600, what: "a number of seconds")
        }
        let store = try context.queue()
        let signals: SignalWaker
        do { signals = try SignalWaker() } catch { throw .failure("cannot handle signals: \(error)") }
        let screen = Console.isTerminal(1)
        let keys = screen ? RawTerminalMode(fd: 0) : nil
        let style = Style.forStandardOutput()
        if screen { Console.out("\u{1B}[?1049h\u{1B}[?25l") }  // alternate screen, hidden cursor
        defer {
            keys?.restore()
            if screen { Console.out("\u{1B}[?25h\u{1B}[?1049l") }
        }
        while true {
            // Without the lock: a viewer refreshing every second should not queue behind workers; the
            // file is only ever replaced whole, so a read sees one complete version.
            let now = Timestamp.now()
            let view = try store.liveView(now: now)
            // A database store names its server once it has connected.
            let location = store.place
            let width = Console.width(1) ?? context.width
            var lines = watchLines(view, now: now, home: location, width: width, style: style, interactive: screen)
            if screen {
                lines = Array(lines.prefix(max(1, (Console.height(1) ?? 24) - 1)))
                Console.out("\u{1B}[H" + lines.map { $0 + "\u{1B}[K" }.joined(separator: "\n") + "\u{1B}[J")
            } else {
                Console.out(lines.joined(separator: "\n") + "\n\n")
            }
            let ready = waitForInput(keys == nil ? [signals.wakeFD] : [signals.wakeFD, 0], timeoutMilliseconds: Int(interval * 1000))
            signals.drain()
            if signals.stopRequestCount > 0 { return 0 }
            if ready.contains(0) {
                var keys = [UInt8](repeating: 0, count: 256)
                let n = Files.readAvailable(0, into: &keys) ?? 0
                if keys[..<n].contains(where: { $0 == UInt8(ascii: "q") || $0 == UInt8(ascii: "Q") }) { return 0 }
            }
        }
    }

    static func watchLines(_ view: LiveView, now: Timestamp, home: String, width: Int, style: Style, interactive: Bool) -> [String] {
        var lines: [String] = []
        let title = "queuectl \(home)  \(now.shortDisplay) UTC" + (interactive ? "  (q to quit)" : "")
        lines.append(style.bold(title))
        lines.append("")
        let overview = view.overview
        lines.append(JobState.allCases.map { style.state($0, "\($0.rawValue) \(overview.counts[$0] ?? 0)") }.joined(separator: "  ")
            + "  total \(overview.total)")
        if view.paused { lines.append(style.bold("PAUSED") + ": no worker claims a job until 'queuectl resume'") }
        for queue in view.queues { lines.append("  queue " + queue.line) }
        lines.append("")

        lines.append(style.bold("WORKERS"))
        if overview.workers.isEmpty {
            lines.append("  none running")
        } else {
            let rows = overview.workers.map { w -> [String] in
                let jobs = w.running.map { job in
                    job.id + (job.startedAt.map { " (\(describeDuration(milliseconds: now.milliseconds - $0.milliseconds)))" } ?? "")
                }
                return [String(w.record.process.pid), String(w.record.slots), w.record.startedAt.shortDisplay, jobs.joined(separator: ", ").ifEmpty("-")]
            }
            lines += Output.table(["PID", "SLOTS", "SINCE (UTC)", "RUNNING"], rows, flexible: 3, width: width - 2)
                .split(separator: "\n").map { "  " + $0 }
        }
        lines.append("")

        lines.append(style.bold("NEXT UP (scheduled and retrying)"))
        if overview.upcoming.isEmpty { lines.append("  nothing waiting for a time") }
        let upcomingRows = overview.upcoming.map { job in
            [job.id, job.state.rawValue, "in " + describeDuration(milliseconds: (job.runAt ?? now).milliseconds - now.milliseconds),
             job.state == .failed ? "run \(job.attempts + 1) of \(job.maxRuns): \(job.lastError ?? "")" : Output.oneLine(job.commandLine)]
        }
        if !upcomingRows.isEmpty {
            lines += Output.table(["ID", "STATE", "DUE", "DETAIL"], upcomingRows, flexible: 3, width: width - 2,
                                  decorate: [1: { style.state(JobState(rawValue: $0.trimmingWhitespace()) ?? .pending, $0) }])
                .split(separator: "\n").map { "  " + $0 }
        }
        lines.append("")

        let recent = overview.recent
        lines.append(style.bold("RECENT"))
        if recent.isEmpty { lines.append("  no finished runs yet") }
        let recentRows = recent.map { job in
            [job.finishedAt!.shortDisplay.suffix(8).description, job.id, job.state.rawValue,
             job.state == .completed ? "in " + describeDuration(milliseconds: job.durationMilliseconds ?? 0) : (job.lastError ?? "")]
        }
        if !recentRows.isEmpty {
            lines += Output.table(["AT", "ID", "STATE", "DETAIL"], recentRows, flexible: 3, width: width - 2,
                                  decorate: [2: { style.state(JobState(rawValue: $0.trimmingWhitespace()) ?? .pending, $0) }])
                .split(separator: "\n").map { "  " + $0 }
        }
        return lines
    }
}

/// ANSI colour, on only when standard output is a terminal and NO_COLOR is not set (no-color.org).
struct Style {
    let enabled: Bool

    static func forStandardOutput() -> Style {
        let noColor = Console.environment("NO_COLOR").map { !$0.isEmpty } ?? false
        return Style(enabled: Console.isTerminal(1) && !noColor && Console.environment("TERM") != "dumb")
    }

    private func paint(_ code: String, _ text: String) -> String { enabled ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }

    func bold(_ text: String) -> String { paint("1", text) }

    func state(_ state: JobState, _ text: String) -> String {
        switch state {
        case .pending: return paint("33", text)
        case .processing: return paint("36", text)
        case .completed: return paint("32", text)
        case .failed: return paint("35", text)
        case .dead: return paint("31", text)
        }
    }
}
