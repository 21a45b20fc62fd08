import DLQManager
import JobManager
import QueueStorage
import QueueSystem

/// What an event stream sends.
enum StreamKind: Hashable, Sendable {
    /// `status` events carrying the JSON of `/api/status` (and `queuectl status --json`), for scripts.
    case status
    /// `view` events carrying the live part of a page, for the page's script.
    case view(Page)
}

/// How the dashboard answers one request.
enum Reply {
    case response(Response)
    /// The start of an event stream: its head is sent, then an event now and one each time what it
    /// carries changes.
    case stream(StreamKind)
}

/// The routes, over one queue: the pages, their live parts, the JSON endpoints and the two actions.
/// Every request passes the `Host` check first, and every POST the action guard, before any route
/// is looked at.
final class Site {
    let queue: any QueueStore
    /// The data file's store: the whole queue is read at once, and read again only once replaced.
    private let file: FileQueueStore?
    let hostCheck: HostCheck
    let actions: ActionGuard
    /// The most an action waits for the queue lock: one loop serves every client, so a lock held
    /// by a stopped process must not hold them all for longer.
    static let actionLockTimeout = 2.0
    /// `/api/jobs` without `limit`: enough for a script, and a bound on one response's size.
    static let defaultJobLimit = 1000
    /// The document last read from the data file, used again while the data file is that same
    /// file, and the status tally made from it.
    private var cached: Document?
    private var cachedTally: StatusReport.Tally?

    init(queue: any QueueStore, hostCheck: HostCheck, actions: ActionGuard) {
        self.queue = queue
        file = queue as? FileQueueStore
        self.hostCheck = hostCheck
        self.actions = actions
        queue.lockWaiting = LockWaiting(timeout: Site.actionLockTimeout)
    }

    func reply(to request: Request) -> Reply {
        guard hostCheck.allows(request.header("host")) else {
            return .response(.text("Forbidden: this dashboard does not answer to the host '\(request.header("host") ?? "")' "
                + "(only to its own addresses, as a defence against DNS rebinding)", status: 403))
        }
        if request.method == "POST" {
            if let refusal = actions.refusal(request) { return .response(.jsonError(403, refusal)) }
            return .response(post(request))
        }
        guard request.method == "GET" || request.method == "HEAD" else {
            var response = Response.text("Method Not Allowed", status: 405)
            response.extraHeaders.append(("Allow", "GET, HEAD, POST"))
            return .response(response)
        }
        guard let segments = request.segments else { return .response(.text("Bad Request: the path does not decode", status: 400)) }
        return get(segments, request)
    }

    // MARK: reading

    /// The jobs `scope` names (from the data file, every job), read without the lock, as the live
    /// view reads them; the data file's last read is used again while it is still that file.
    private func read(_ scope: JobScope) throws(QueueError) -> Document {
        guard let file else { return try queue.read(scope) }
        if let cached, !file.changed(since: cached) { return cached }
        cachedTally = nil
        let document = try file.read(scope)
        cached = document
        return document
    }

    /// `status --json`; from the data file, from the tally of this read of it.
    private func statusJSON() throws(QueueError) -> String {
        guard file != nil else { return try queue.status(listingUpTo: 0).report.json }
        let document = try read(.none)
        let tally = cachedTally ?? StatusReport.Tally(document)
        cachedTally = tally
        return StatusReport(tally, of: document, home: queue.home).json
    }

    /// `body` over the queue now; once more over a fresh read if the data file was changed in place
    /// under the mapping meanwhile (what `body` made of it may come from zeros).
    func reading<T>(_ body: () throws(QueueError) -> T) throws(QueueError) -> T {
        for _ in 0..<2 {
            let before = FileBytes.changesNoticed
            let result = try body()
            if FileBytes.changesNoticed == before { return result }
            cached = nil
            cachedTally = nil
        }
        throw file?.store.changedWhileRead() ?? .failure("the queue changed while it was read")
    }

    /// What `page` is rendered from: on the data file, the whole queue; on a database, the jobs the
    /// page shows, and the overview's figures as the database counts them.
    private func context(_ page: Page) throws(QueueError) -> PageContext {
        let now = Timestamp.now()
        let document: Document
        var live: LiveView?, throughput: Throughput?
        var deadCount: Int?
        switch page {
        case .overview:
            document = try read(.none)
            if file == nil {
                live = try queue.liveView(now: now)
                throughput = try queue.throughput(now: now)
                deadCount = live?.overview.counts[.dead] ?? 0
            }
        case .dlq:
            document = try read(.state(.dead))
        case .job(let id):
            document = try read(.ids([id]))
            if file == nil { deadCount = try queue.status(listingUpTo: 0).report.counts[.dead] ?? 0 }
        }
        let home = queue.home, queue = self.queue
        return PageContext(
            document: document, live: live, throughput: throughput,
            deadCount: deadCount ?? document.jobs.indices(whereSummary: { $0.state == .dead }).count,
            now: now, home: home, place: (queue.place, file == nil ? "the store" : "the queue home"),
            readLog: { (id, maxBytes) throws(QueueError) in try queue.logTail(id, maxBytes: maxBytes) },
            logFiles: file != nil, actions: actions.token != nil)
    }

    // MARK: GET

    private func get(_ segments: [String], _ request: Request) -> Reply {
        if let page = Page(segments: segments) {
            let live = request.query["fragment"] == "live"
            do {
                let (html, found) = try reading { () throws(QueueError) -> (String, Bool) in
                    let context = try context(page)
                    var found = true
                    if case .job(let id) = page { found = context.document.index(of: id) != nil }
                    return (Pages.live(page, context), found)
                }
                return .response(.html(live ? html : Pages.frame(page, live: html, token: actions.token), status: found ? 200 : 404))
            } catch {
                return .response(.html(live ? problem(error) : Pages.frame(page, live: problem(error), token: actions.token), status: 500))
            }
        }
        switch segments {
        case ["static", "dashboard.css"]:
            return .response(Response(status: 200, contentType: "text/css; charset=utf-8", body: Array(Assets.css.utf8)))
        case ["static", "dashboard.js"]:
            return .response(Response(status: 200, contentType: "text/javascript; charset=utf-8", body: Array(Assets.script.utf8)))
        case ["api", "status"]:
            return .response(json { () throws(QueueError) in try statusJSON() })
        case ["api", "jobs"]:
            return .response(listJobs(request.query))
        case ["api", "events"]:
            guard let path = request.query["view"] else { return .stream(.status) }
            guard path.hasPrefix("/"), let segments = Request.segments(of: path), let page = Page(segments: segments) else {
                return .response(.jsonError(404, "no page '\(path)' to follow"))
            }
            return .stream(.view(page))
        default:
            if segments.count == 3, segments[0] == "api", segments[1] == "jobs" {
                let id = segments[2]
                do {
                    let body = try reading { () throws(QueueError) -> String? in
                        let document = try read(.ids([id]))
                        guard let i = document.index(of: id) else { return nil }
                        let job = document.jobs[i]
                        return Reports.jobJSON(job, explanation: JobManager.explanation(of: job, in: document, home: queue.home, now: Timestamp.now()))
                    }
                    return .response(body.map { .json($0) } ?? .jsonError(404, "no job with id '\(id)'"))
                } catch {
                    return .response(.jsonError(500, error.message))
                }
            }
            return .response(.text("Not Found", status: 404))
        }
    }

    /// `?state=&limit=`, as `list --state --limit --json`.
    private func listJobs(_ query: [String: String]) -> Response {
        var state: JobState?
        if let text = query["state"], !text.isEmpty {
            guard let s = JobState(rawValue: text.lowercased()) else {
                return .jsonError(400, "unknown state '\(text)'; expected one of: \(JobState.names)")
            }
            state = s
        }
        var limit = Site.defaultJobLimit
        if let text = query["limit"], !text.isEmpty {
            do { limit = try NumberInput.integer(text, for: "limit", in: 0...Int.max) } catch { return .jsonError(400, error.message) }
        }
        return json { () throws(QueueError) in Reports.jobsJSON(JobManager.list(try read(.first(limit, state: state)), state: state, limit: limit)) }
    }

    private func json(_ body: () throws(QueueError) -> String) -> Response {
        do { return .json(try reading(body)) } catch { return .jsonError(500, error.message) }
    }

    /// The live part of a page when the queue cannot be read: the reason, in words.
    private func problem(_ error: QueueError) -> String {
        "<main><h1>The queue cannot be read</h1>\n<p class=\"error\">\(esc(error.message))</p></main>\n"
    }

    // MARK: events

    /// The event a stream of `kind` would send now, as bytes: `event:` and one `data:` line per line.
    func event(_ kind: StreamKind) -> [UInt8] {
        var name = "status", data: String
        switch kind {
        case .status:
            do { data = try reading { () throws(QueueError) in try statusJSON() } } catch {
                name = "error"
                var w = JSONWriter()
                w.raw("{\"error\": "); w.string(error.message); w.raw("}")
                data = String(decoding: w.bytes, as: UTF8.self)
            }
        case .view(let page):
            name = "view"
            do { data = try reading { () throws(QueueError) in Pages.live(page, try context(page)) } } catch { data = problem(error) }
        }
        var out = "event: \(name)\n"
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) { out += "data: \(line)\n" }
        return Array((out + "\n").utf8)
    }

    // MARK: POST

    private func post(_ request: Request) -> Response {
        guard let segments = request.segments, segments.count == 4, segments[0] == "api", segments[1] == "jobs",
              segments[3] == "retry" || segments[3] == "delete" else {
            return .jsonError(404, "no action at \(request.rawPath); the actions are POST /api/jobs/<id>/retry and /api/jobs/<id>/delete")
        }
        let id = segments[2], retry = segments[3] == "retry"
        do {
            guard try reading({ () throws(QueueError) in try read(.ids([id])).index(of: id) != nil }) else {
                return .jsonError(404, "no job with id '\(id)'")
            }
        } catch {
            return .jsonError(500, error.message)
        }
        do {
            // As every command that takes the lock: jobs of dead workers are recovered first. A refusal
            // is thrown, so that nothing is written.
            let job = try queue.transaction(.ids([id]), onExistingJobs: true) { (s) throws(QueueError) -> Job in
                guard let i = s.document.index(of: id) else { throw .usage("no job with id '\(id)'") }
                let state = s.document.jobs.summary(at: i).state
                switch (retry, state) {
                case (true, .dead): return try DLQManager.retry([id], in: &s)[0]
                case (true, .failed): return try JobManager.retryNow(id, in: &s)
                case (true, _): throw .usage("job '\(id)' is \(state.rawValue); only a failed or dead job can be retried")
                case (false, .dead): return try DLQManager.delete([id], in: &s)[0]
                case (false, _): throw .usage("job '\(id)' is \(state.rawValue), not in the DLQ; only dead jobs are deleted here")
                }
            }
            var w = JSONWriter()
            DocumentCodec.writeJob(job, to: &w)
            return .json(String(decoding: w.bytes, as: UTF8.self))
        } catch {
            switch error.kind {
            case .usage: return .jsonError(409, error.message)
            case .lockTimedOut: return .jsonError(503, error.message)
            case .failure, .leaseLost: return .jsonError(500, error.message)
            }
        }
    }
}

extension Request {
    /// The segments of a path given as a value (`?view=/jobs/a%2Fb`), each percent-decoded.
    static func segments(of path: String) -> [String]? {
        Request(method: "GET", rawPath: path, query: [:], minorVersion: 1, headers: [], body: []).segments
    }
}
