import DLQManager
import JobManager
import QueueStorage
import QueueSystem

/// A page of the dashboard. Each is a frame around a live part: the server renders both for the
/// first paint, and the page's script replaces the live part as the queue changes.
enum Page: Hashable, Sendable {
    case overview
    case dlq
    case job(String)

    /// The page a path names (segments decoded), if any.
    init?(segments: [String]) {
        switch segments.count {
        case 0: self = .overview
        case 1 where segments[0] == "dlq": self = .dlq
        case 2 where segments[0] == "jobs" && !segments[1].isEmpty: self = .job(segments[1])
        default: return nil
        }
    }

    var path: String {
        switch self {
        case .overview: return "/"
        case .dlq: return "/dlq"
        case .job(let id): return jobPath(id)
        }
    }

    /// The class of its `main`, for the layout.
    var kind: String {
        switch self {
        case .overview: return "overview"
        case .dlq: return "dlq"
        case .job: return "job"
        }
    }

    var title: String {
        switch self {
        case .overview: return "queuectl"
        case .dlq: return "Dead letter queue · queuectl"
        case .job(let id): return "\(id) · queuectl"
        }
    }
}

/// What a page is rendered from, read for it.
struct PageContext {
    /// The jobs the page shows, each with the jobs it depends on (from the data file, every job),
    /// and the settings and workers.
    let document: Document
    /// The overview's figures as a database store counts them; nil: counted from `document`, which
    /// then holds every job.
    var live: LiveView?
    var throughput: Throughput?
    /// Jobs in the DLQ, for the header's badge.
    let deadCount: Int
    let now: Timestamp
    let home: QueueHome
    /// Where the queue is, in the header: the queue home, or the server.
    let place: (text: String, title: String)
    /// At most the last `maxBytes` of a job's log and its whole size; a database store's comes
    /// from the database.
    let readLog: (_ id: String, _ maxBytes: Int) throws(QueueError) -> (bytes: [UInt8], size: Int)?
    /// The logs are files in the queue home, whose paths the job page shows.
    let logFiles: Bool
    /// Started with `--allow-actions`: retry and delete buttons are shown.
    let actions: Bool
}

enum Pages {
    /// The whole page: the frame, with `live` (from `live(_:_:)`) in it.
    static func frame(_ page: Page, live: String, token: String?) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="color-scheme" content="light dark">
        \(token.map { "<meta name=\"queuectl-token\" content=\"\(esc($0))\">\n" } ?? "")<title>\(esc(page.title))</title>
        <link rel="icon" href="data:,">
        <link rel="stylesheet" href="/static/dashboard.css">
        <script src="/static/dashboard.js" defer></script>
        </head>
        <body data-view="\(esc(page.path))">
        <div id="live">
        \(live)</div>
        <footer class="foot"><span id="conn" class="conn">static</span> · \(token == nil ? "read-only" : "actions allowed")</footer>
        <p id="notice" class="notice" role="status" hidden></p>
        </body>
        </html>

        """
    }

    /// The part of `page` that changes with the queue.
    static func live(_ page: Page, _ context: PageContext) -> String {
        let main: String
        switch page {
        case .overview: main = overview(context)
        case .dlq: main = dlq(context)
        case .job(let id): main = job(id, context)
        }
        return header(page, context) + "<main class=\"\(page.kind)\">\n" + main + "</main>\n"
    }

    private static func header(_ page: Page, _ context: PageContext) -> String {
        let dead = context.deadCount
        func link(_ target: Page, _ text: String) -> String {
            "<a href=\"\(esc(target.path))\"\(target == page ? " aria-current=\"page\"" : "")>\(text)</a>"
        }
        return "<header class=\"top\"><a class=\"brand\" href=\"/\">queuectl</a>"
            + "<span class=\"home\" title=\"\(esc(context.place.title))\">\(esc(context.place.text))</span><nav>"
            + link(.overview, "Overview") + link(.dlq, "DLQ <span class=\"badge\(dead > 0 ? " hot" : "")\">\(dead)</span>")
            + "</nav></header>\n"
    }

    // MARK: the overview

    private static func overview(_ context: PageContext) -> String {
        let (document, now) = (context.document, context.now)
        let live = context.live ?? LiveView(document, now: now)
        let view = live.overview
        var out = live.paused
            ? "<p class=\"banner\">Paused: no worker claims a job until <code>queuectl resume</code>; running jobs go on.</p>\n" : ""
        out += countCards(view.counts, total: view.total) + queueTable(live.queues)

        let throughput = context.throughput ?? Throughput(document, now: now)
        let first = throughput.start.shortDisplay.suffix(8).prefix(5)
        out += "<section class=\"panel\"><h2>Throughput <small>runs finished per minute, last hour</small></h2>\n"
            + throughput.svg
            + "<div class=\"axis\"><span>\(first)</span><span>now</span></div>\n"
            + "<p class=\"legend\"><span class=\"key ok\"></span>finished \(throughput.finished.reduce(0, +))"
            + " <span class=\"key bad\"></span>failed \(throughput.failed.reduce(0, +))"
            + " <span class=\"muted\">(peak \(zip(throughput.finished, throughput.failed).map { $0 + $1 }.max() ?? 0) a minute)</span></p></section>\n"

        out += "<section class=\"panel\"><h2>Workers</h2>\n"
        if view.workers.isEmpty {
            out += "<p class=\"empty\">No workers are running. Start one with <code>queuectl worker start</code>.</p>\n"
        } else {
            let rows = view.workers.map { w -> [String] in
                let liveness = JobManager.liveness(of: w.record, home: context.home, config: document.config)
                let note = liveness.isAlive ? liveness.description.map { " <span class=\"muted\">(\(esc($0)))</span>" } ?? ""
                    : " <span class=\"state s-dead\">gone</span>"
                let running = w.running.map { job in
                    jobLink(job.id) + (job.startedAt.map { " <span class=\"muted\">\(esc(describeDuration(milliseconds: now.milliseconds - $0.milliseconds)))</span>" } ?? "")
                }
                return [String(w.record.process.pid) + note, String(w.record.slots), esc(w.record.startedAt.shortDisplay),
                        running.isEmpty ? "<span class=\"muted\">idle</span>" : running.joined(separator: ", ")]
            }
            out += table(["PID", "SLOTS", "SINCE (UTC)", "RUNNING"], rows, classes: [2: "wide"])
        }
        out += "</section>\n"

        out += "<section class=\"panel half\"><h2>Next up <small>scheduled and retrying</small></h2>\n"
        if view.upcoming.isEmpty {
            out += "<p class=\"empty\">Nothing is waiting for a time.</p>\n"
        } else {
            let rows = view.upcoming.map { job -> [String] in
                let due = job.runAt ?? now
                let detail = job.state == .failed ? "run \(job.attempts + 1) of \(job.maxRuns): \(job.lastError ?? "")" : job.commandLine
                return [jobLink(job.id), stateBadge(job.state.rawValue),
                        "<span title=\"\(esc(due.iso8601))\">in \(esc(describeDuration(milliseconds: due.milliseconds - now.milliseconds)))</span>",
                        esc(detail)]
            }
            out += table(["ID", "STATE", "DUE", "DETAIL"], rows, classes: [1: "wide", 3: "wrap"])
        }
        out += "</section>\n"

        out += "<section class=\"panel half\"><h2>Recent <small>finished runs, newest first</small></h2>\n"
        if view.recent.isEmpty {
            out += "<p class=\"empty\">No finished runs yet.</p>\n"
        } else {
            let rows = view.recent.map { job -> [String] in
                let at = job.finishedAt ?? now
                let detail = job.state == .completed ? "in " + describeDuration(milliseconds: job.durationMilliseconds ?? 0) : job.lastError ?? ""
                return ["<span title=\"\(esc(at.iso8601))\">\(esc(String(at.shortDisplay.suffix(8))))</span>", jobLink(job.id),
                        stateBadge(job.state.rawValue), esc(detail)]
            }
            out += table(["AT", "ID", "STATE", "DETAIL"], rows, classes: [0: "wide", 3: "wrap"])
        }
        out += "</section>\n"
        return out
    }

    /// The jobs per state, as cards; `queueTable` splits them by queue.
    private static func countCards(_ counts: [JobState: Int], total: Int) -> String {
        var out = "<section class=\"counts\" aria-label=\"Jobs per state\">\n"
        for state in JobState.allCases {
            let n = counts[state] ?? 0
            let card = "<span class=\"n\">\(n)</span><span class=\"l\">\(state.rawValue)</span>"
            out += state == .dead
                ? "<a class=\"count s-dead\" href=\"/dlq\" data-state=\"dead\" data-count=\"\(n)\">\(card)</a>\n"
                : "<div class=\"count s-\(state.rawValue)\" data-state=\"\(state.rawValue)\" data-count=\"\(n)\">\(card)</div>\n"
        }
        out += "<div class=\"count total\" data-state=\"total\" data-count=\"\(total)\"><span class=\"n\">\(total)</span><span class=\"l\">total</span></div>\n"
        return out + "</section>\n"
    }

    /// Jobs per state in each named queue, when there is more than the default one or one is paused.
    private static func queueTable(_ queues: [QueueCounts]) -> String {
        guard !queues.isEmpty else { return "" }
        let rows = queues.map { queue -> [String] in
            let paused = queue.paused ? " <span class=\"state s-failed\">paused</span>" : ""
            return ["<code>\(esc(queue.name))</code>\(paused)"] + JobState.allCases.map { String(queue.counts[$0] ?? 0) } + [String(queue.total)]
        }
        return "<section class=\"panel\"><h2>Queues</h2>\n"
            + table(["QUEUE"] + JobState.allCases.map { $0.rawValue.uppercased() } + ["TOTAL"], rows) + "</section>\n"
    }

    // MARK: a job

    private static func job(_ id: String, _ context: PageContext) -> String {
        guard let index = context.document.index(of: id) else {
            return "<h1>No job <code>\(esc(id))</code></h1>\n<p class=\"empty\">There is no job with this id: it may have been "
                + "cancelled, deleted or pruned. <a href=\"/\">Back to the overview</a>.</p>\n"
        }
        let job = context.document.jobs[index]
        let explanation = JobManager.explanation(of: job, in: context.document, home: context.home, now: context.now)
        var log: LogView?
        var logError: String?
        do {
            log = try context.readLog(job.id, LogView.scannedBytes).map { LogView(bytes: $0.bytes, size: $0.size) }
        } catch {
            logError = error.message
        }
        var out = "<h1>Job <code>\(esc(job.id))</code> \(stateBadge(job.state.rawValue))</h1>\n"
            + "<p class=\"why\">\(esc(explanation))</p>\n"
        if context.actions, job.state == .failed || job.state == .dead {
            out += "<div class=\"actions\">" + actionButtons(job) + "</div>\n"
        }

        let fields = JobManager.fields(of: job, explanation: explanation, logPath: log == nil || !context.logFiles ? nil : context.home.logPath(for: job.id))
        out += "<section class=\"panel\"><h2>Details</h2>\n<dl class=\"fields\">\n"
        for field in fields where field.label != "why" {
            let value = field.label == "command" || field.label == "cwd" || field.label == "log"
                ? "<code>\(esc(field.value))</code>" : field.label == "state" ? stateBadge(field.value) : esc(field.value)
            out += "<dt>\(esc(field.label))</dt><dd>\(value)</dd>\n"
        }
        out += "</dl></section>\n"

        out += "<section class=\"panel\"><h2>Runs <small>\(job.attempts) failed of at most \(job.maxRuns)</small></h2>\n"
        // The runs the log records (a run that printed nothing has no log of its own), else the last
        // run as the job records it.
        var runs = log?.runs ?? []
        if runs.isEmpty, let started = job.startedAt { runs = [lastRun(job, started: started)] }
        if runs.isEmpty {
            out += "<p class=\"empty\">It has not run yet.</p>\n"
        } else {
            let rows = runs.enumerated().map { i, run -> [String] in
                let outcome = run.outcome ?? (i == runs.count - 1 && job.state == .processing ? "running" : "(its end is not in the log)")
                return [esc(run.number), esc(run.started), esc(outcome)]
            }
            out += table(["RUN", "STARTED (UTC)", "RESULT"], rows, classes: [2: "wrap"])
            if log?.runsIncomplete == true { out += "<p class=\"muted\">Only the runs in the log's last MiB are listed.</p>\n" }
        }
        out += "</section>\n"

        out += "<section class=\"panel\"><h2>Log" + (job.state == .processing ? " <small class=\"following\">following</small>" : "") + "</h2>\n"
        if let logError {
            out += "<p class=\"error\">\(esc(logError))</p>\n"
        } else if let log {
            if log.hidden > 0 {
                out += "<p class=\"muted\">The last \(log.size - log.hidden) of \(log.size) bytes; "
                    + "<code>queuectl logs \(esc(job.id))</code> prints it all.</p>\n"
            }
            out += "<pre class=\"log\" data-size=\"\(log.size)\">\(esc(log.text))</pre>\n"
        } else {
            out += "<p class=\"empty\">No output yet.</p>\n"
        }
        return out + "</section>\n"
    }

    /// The last run from the job's own fields, for a job whose runs printed nothing.
    private static func lastRun(_ job: Job, started: Timestamp) -> LogView.Run {
        // `attempts` counts failed runs: a failed last run is the attempts-th, any other the next one.
        let failedLast = job.state == .failed || job.state == .dead || (job.state == .pending && job.finishedAt != nil)
        let number = max(1, failedLast ? job.attempts : job.attempts + 1)
        var outcome: String?
        if job.state != .processing {
            let after = job.durationMilliseconds.map { " after \(describeDuration(milliseconds: $0))" } ?? ""
            outcome = (job.state == .completed ? "exit 0" : job.lastError ?? job.exitCode.map { "exit \($0)" } ?? "failed") + after
        }
        return LogView.Run(number: "\(number) of \(job.maxRuns)", started: started.iso8601, outcome: outcome)
    }

    /// Retry for a failed or dead job; delete for a dead one. The page's script sends them as POSTs
    /// carrying the token.
    private static func actionButtons(_ job: Job) -> String {
        let base = "/api/jobs/" + percentEncoded(job.id)
        var out = "<button type=\"button\" data-action=\"\(esc(base))/retry\">"
            + (job.state == .dead ? "Retry" : "Retry now") + "</button>"
        if job.state == .dead {
            out += " <button type=\"button\" class=\"danger\" data-action=\"\(esc(base))/delete\" "
                + "data-confirm=\"\(esc("Delete job \(job.id) for good?"))\">Delete</button>"
        }
        return out
    }

    // MARK: the DLQ

    /// Rows shown per group of the DLQ; `queuectl dlq list` has them all.
    static let rowsPerGroup = 100

    private static func dlq(_ context: PageContext) -> String {
        let jobs = DLQManager.list(context.document)
        var out = "<h1>Dead letter queue <small>\(jobs.count) job\(jobs.count == 1 ? "" : "s")</small></h1>\n"
        if jobs.isEmpty { return out + "<p class=\"empty\">The dead letter queue is empty.</p>\n" }
        if !context.actions {
            out += "<p class=\"muted\">Read-only: start the dashboard with <code>--allow-actions</code> to retry or delete "
                + "jobs from here, or use <code>queuectl dlq retry</code>.</p>\n"
        }
        // Grouped by last error, the largest group first (then the one whose first job died first).
        var groups: [String: [Job]] = [:]
        var order: [String] = []
        for job in jobs {
            let key = job.lastError ?? "(no error recorded)"
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(job)
        }
        order = order.enumerated().sorted { (groups[$0.element]!.count, -$0.offset) > (groups[$1.element]!.count, -$1.offset) }.map(\.element)
        for key in order {
            let members = groups[key]!
            out += "<details class=\"group\" data-key=\"\(esc(key))\" open><summary><code class=\"err\">\(esc(key))</code> "
                + "<span class=\"muted\">\(members.count) job\(members.count == 1 ? "" : "s")</span></summary>\n"
            let rows = members.prefix(rowsPerGroup).map { job -> [String] in
                var row = [jobLink(job.id), String(job.attempts), esc(job.updatedAt.shortDisplay), "<code>\(esc(job.commandLine))</code>"]
                if context.actions { row.append(actionButtons(job)) }
                return row
            }
            out += table(["ID", "RUNS", "DIED (UTC)", "COMMAND"] + (context.actions ? [""] : []), rows, classes: [2: "wide", 3: "wrap"])
            if members.count > rowsPerGroup {
                out += "<p class=\"muted\">and \(members.count - rowsPerGroup) more; <code>queuectl dlq list</code> lists them all.</p>\n"
            }
            out += "</details>\n"
        }
        return out
    }
}
