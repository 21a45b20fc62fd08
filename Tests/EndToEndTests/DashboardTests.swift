import Foundation
import Testing
import TestSupport
@preconcurrency import Glibc

/// `queuectl dashboard` on a free port against a temporary queue home, spoken to with a plain
/// HTTP/1.1 client of the test's own (sockets through Glibc).
@Suite struct DashboardTests {
    @Test func theEndpointsCarryTheShapesOfTheJSONOutputs() throws {
        let q = QueueSandbox()
        q.fastRetries()
        q.ok("enqueue", #"{"id":"done","command":"echo hi"}"#)
        q.ok("enqueue", #"{"id":"doomed","command":"exit 2","max_retries":0}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        q.ok("enqueue", "--delay", "1h", #"{"id":"later","command":"./report.sh"}"#)
        let d = try DashboardProcess(q)

        let http = try HTTPClient(port: d.port)
        let status = try http.get("/api/status")
        #expect(status.status == 200)
        #expect(status.header("content-type") == "application/json")
        #expect(status.body == q.ok("status", "--json"), "the same bytes as status --json")
        #expect(try http.get("/api/jobs").body == q.ok("list", "--json"), "a second request on the same connection")
        #expect(try http.get("/api/jobs?state=dead").body == q.ok("list", "--state", "dead", "--json"))
        #expect(try http.get("/api/jobs?state=DEAD&limit=0").body == q.ok("list", "--state", "dead", "--limit", "0", "--json"))
        #expect(try http.get("/api/jobs?limit=2").body == q.ok("list", "--limit", "2", "--json"))
        #expect(try http.get("/api/jobs/done").body == q.ok("show", "done", "--json"))

        let badState = try http.get("/api/jobs?state=nope")
        #expect(badState.status == 400)
        #expect(badState.body.contains("unknown state 'nope'; expected one of: pending, processing, completed, failed, dead"))
        let badLimit = try http.get("/api/jobs?limit=0x10")
        #expect(badLimit.status == 400 && badLimit.body.contains("invalid value '0x10' for limit"))
        let unknown = try http.get("/api/jobs/nope")
        #expect(unknown.status == 404 && unknown.body.contains("no job with id 'nope'"))

        // The first paint already holds the counts and the ids, each linked to its job's page.
        let page = try http.get("/")
        #expect(page.status == 200 && page.header("content-type") == "text/html; charset=utf-8")
        #expect(page.body.contains(#"data-state="completed" data-count="1""#) && page.body.contains(#"data-state="dead" data-count="1""#))
        #expect(page.body.contains(#"data-state="pending" data-count="1""#) && page.body.contains(#"data-state="total" data-count="3""#))
        #expect(page.body.contains(#"href="/jobs/done""#) && page.body.contains(#"href="/jobs/later""#))
        #expect(page.body.contains("<svg class=\"chart\"") && page.body.contains("1 finished, 1 failed"), "the chart of the last hour")
        let job = try http.get("/jobs/done")
        #expect(job.status == 200 && job.body.contains("echo hi") && job.body.contains("=== queuectl: run 1 of 3"))
        #expect(!job.body.contains("\u{2410}"), "the log's stream marks (DLE) are not shown")
        #expect(try http.get("/jobs/nope").status == 404)
        let dlq = try http.get("/dlq")
        #expect(dlq.body.contains(#"data-key="exit 2""#) && dlq.body.contains(#"href="/jobs/doomed""#))
        #expect(try http.get("/static/dashboard.js").header("content-type") == "text/javascript; charset=utf-8")
        #expect(try http.get("/static/dashboard.css").header("content-type") == "text/css; charset=utf-8")
        #expect(try http.get("/nope").status == 404)
        let head = try http.send("HEAD /api/status HTTP/1.1\r\nHost: 127.0.0.1:\(d.port)\r\n\r\n", expectBody: false)
        #expect(head.status == 200 && head.body.isEmpty && head.header("content-length") == String(status.body.utf8.count))

        for response in [status, page, job, badState, unknown] {
            #expect(response.header("cache-control") == "no-store")
            #expect(response.header("x-content-type-options") == "nosniff")
            #expect(response.header("content-security-policy")?.contains("frame-ancestors 'none'") == true)
            #expect(!response.headers.keys.contains { $0.hasPrefix("access-control-") }, "no CORS header, ever")
        }
        #expect(d.stop() == 0, "Ctrl+C stops it with exit 0")
    }

    @Test func namedQueuesAreCountedApartAndAPauseIsSaid() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"a","command":"true"}"#)
        let d = try DashboardProcess(q)
        let http = try HTTPClient(port: d.port)
        #expect(!(try http.get("/").body.contains("<h2>Queues</h2>")), "one queue: no split")
        q.ok("enqueue", #"{"id":"b","command":"true","queue":"emails"}"#)
        q.ok("enqueue", #"{"id":"c","command":"true","queue":"emails"}"#)
        q.ok("pause", "--queue", "emails")
        let page = try http.get("/").body
        #expect(page.contains("<h2>Queues</h2>"))
        #expect(page.contains(#"<td><code>emails</code> <span class="state s-failed">paused</span></td><td>2</td>"#))
        #expect(page.contains("<td><code>default</code></td><td>1</td>"))
        #expect(!page.contains("class=\"banner\""))
        q.ok("pause")
        #expect(try http.get("/").body.contains("Paused: no worker claims a job"))
    }

    @Test func onlyItsOwnHostIsAnswered() throws {
        let q = QueueSandbox()
        let d = try DashboardProcess(q)
        let http = try HTTPClient(port: d.port)
        for host in ["127.0.0.1:\(d.port)", "localhost:\(d.port)", "localhost", "[::1]:\(d.port)", "LOCALHOST:\(d.port)"] {
            #expect(try http.get("/api/status", host: host).status == 200, "Host: \(host)")
        }
        for host in ["evil.example", "evil.example:\(d.port)", "127.0.0.1:\(d.port == 1 ? 2 : 1)", "127.0.0.1.evil.example",
                     "10.0.0.1:\(d.port)", "", "localhost:\(d.port)x"] {
            let r = try HTTPClient(port: d.port).get("/api/status", host: host)
            #expect(r.status == 403, "Host: \(host)")
            #expect(!r.body.contains("jobs"), "nothing of the queue")
        }
        let noHost = try HTTPClient(port: d.port).send("GET /api/status HTTP/1.0\r\n\r\n")
        #expect(noHost.status == 403, "no Host header")
        // IPv6 loopback is served too, under its own name.
        let v6 = try HTTPClient(port: d.port, ipv6: true).get("/api/status", host: "[::1]:\(d.port)")
        #expect(v6.status == 200)
    }

    @Test func aPostWithoutTheTokenIsRefusedBeforeRoutingAndChangesNothing() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"doomed","command":"exit 2","max_retries":0}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let before = q.dataBytes()
        let readOnly = try DashboardProcess(q)
        for path in ["/api/jobs/doomed/retry", "/api/jobs/doomed/delete", "/nope"] {
            let r = try HTTPClient(port: readOnly.port).post(path, headers: ["X-Queuectl-Token": "guess"])
            #expect(r.status == 403 && r.body.contains("read-only"), "\(path) on a read-only dashboard")
        }
        #expect(!(try HTTPClient(port: readOnly.port).get("/").body.contains("queuectl-token")), "no token when read-only")
        readOnly.stop()

        let d = try DashboardProcess(q, ["--allow-actions"])
        let token = try #require(d.token)
        #expect(token.count == 64)
        for (path, headers) in [("/api/jobs/doomed/retry", [:]), ("/nope", [:]), ("/api/jobs/doomed/delete", ["X-Queuectl-Token": (token.hasPrefix("0") ? "1" : "0") + token.dropFirst()]),
                                ("/", ["X-Queuectl-Token": ""]), ("/api/status", ["X-Queuectl-Token": token + "0"])] {
            let r = try HTTPClient(port: d.port).post(path, headers: headers)
            #expect(r.status == 403, "\(path) with \(headers)")
            #expect(r.body.contains("X-Queuectl-Token"))
        }
        #expect(q.dataBytes() == before, "nothing written")
        // With the token, routing comes next: an unknown path is a 404, a GET-only one refuses the POST.
        #expect(try HTTPClient(port: d.port).post("/nope", headers: ["X-Queuectl-Token": token]).status == 404)
        // The token is in the page, for its script, only when actions are allowed.
        #expect(try HTTPClient(port: d.port).get("/").body.contains(#"<meta name="queuectl-token" content="\#(token)">"#))
        let put = try HTTPClient(port: d.port).send("PUT /api/status HTTP/1.1\r\nHost: 127.0.0.1:\(d.port)\r\nContent-Length: 0\r\n\r\n")
        #expect(put.status == 405 && put.header("allow") == "GET, HEAD, POST")
    }

    @Test func crossSiteRequestsAreRefusedEvenWithTheTokenAndActionsWork() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"doomed","command":"exit 2","max_retries":0}"#)
        q.ok("enqueue", #"{"id":"gone","command":"exit 3","max_retries":0}"#)
        q.ok("enqueue", #"{"id":"fine","command":"true"}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        let d = try DashboardProcess(q, ["--allow-actions"])
        let token = try #require(d.token)
        let before = q.dataBytes()
        for extra in [["Sec-Fetch-Site": "cross-site"], ["Sec-Fetch-Site": "same-site"], ["Origin": "http://evil.example"],
                      ["Origin": "null"], ["Origin": "http://127.0.0.1:\(d.port == 1 ? 2 : 1)"]] {
            let r = try HTTPClient(port: d.port).post("/api/jobs/doomed/retry", headers: ["X-Queuectl-Token": token].merging(extra) { $1 })
            #expect(r.status == 403, "\(extra)")
        }
        #expect(q.dataBytes() == before, "nothing written")

        // The page's own request: same origin.
        let sameOrigin = ["X-Queuectl-Token": token, "Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1:\(d.port)"]
        let retried = try HTTPClient(port: d.port).post("/api/jobs/doomed/retry", headers: sameOrigin)
        #expect(retried.status == 200 && retried.body.contains(#""id": "doomed""#) && retried.body.contains(#""state": "pending""#))
        #expect(q.state(of: "doomed") == "pending")
        #expect(q.jobs()["doomed"]?["attempts"] as? Int == 0)
        // curl and scripts send no Sec-Fetch-Site: the token is enough.
        let deleted = try HTTPClient(port: d.port).post("/api/jobs/gone/delete", headers: ["X-Queuectl-Token": token])
        #expect(deleted.status == 200 && q.jobs()["gone"] == nil)
        let afterActions = q.dataBytes()
        let conflict = try HTTPClient(port: d.port).post("/api/jobs/fine/retry", headers: ["X-Queuectl-Token": token])
        #expect(conflict.status == 409 && conflict.body.contains("job 'fine' is completed; only a failed or dead job can be retried"))
        let notDead = try HTTPClient(port: d.port).post("/api/jobs/doomed/delete", headers: ["X-Queuectl-Token": token])
        #expect(notDead.status == 409 && notDead.body.contains("not in the DLQ"))
        #expect(try HTTPClient(port: d.port).post("/api/jobs/nope/retry", headers: ["X-Queuectl-Token": token]).status == 404)
        #expect(q.dataBytes() == afterActions, "a refused action writes nothing")
    }

    @Test func hostileIdsCommandsAndOutputCannotAddMarkup() throws {
        let q = QueueSandbox()
        q.ok("enqueue", #"{"id":"plain","command":"printf '<script>alert(3)</script>\\033[31m'; exit 1","max_retries":0}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        // A hand-edited data file: ids and fields that enqueue would never accept.
        let hostileID = #"<img src=x onerror=alert(1)>"'&/?#"#
        var document = try q.document()
        var jobs = document["jobs"] as! [[String: Any]]
        var job = jobs[0]
        job["id"] = hostileID
        job["seq"] = 2
        job["command"] = "</pre></code><script>alert(2)</script>\u{1B}[2J"
        job["last_error"] = "<b onclick=x>bold</b>"
        jobs.append(job)
        document["jobs"] = jobs
        document["next_seq"] = 3
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: q.dataPath))
        #expect(q.run(["status"]).status == 0, "queuectl reads the file")

        let d = try DashboardProcess(q)
        let http = try HTTPClient(port: d.port)
        let encoded = "%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%22%27%26%2F%3F%23"
        let pages = [try http.get("/"), try http.get("/dlq"), try http.get("/jobs/" + encoded), try http.get("/jobs/plain"),
                     try http.get("/?fragment=live"), try http.get("/jobs/\(encoded)?fragment=live")]
        for page in pages {
            #expect(page.status == 200)
            for raw in ["<script>alert", "<img", "<b ", "</pre></code>", "onerror=alert(1)>", "\u{1B}"] {
                #expect(!page.body.contains(raw), "\(raw) is escaped")
            }
        }
        #expect(pages[1].body.contains("&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;/?#"), "the id shown as text")
        #expect(pages[1].body.contains(#"href="/jobs/\#(encoded)""#), "and linked to its own page")
        #expect(pages[1].body.contains("&lt;b onclick=x&gt;bold&lt;/b&gt;"))
        #expect(pages[2].body.contains("&lt;/pre&gt;&lt;/code&gt;&lt;script&gt;alert(2)&lt;/script&gt;\u{241B}[2J"), "ESC shown as ␛")
        #expect(pages[3].body.contains("&lt;script&gt;alert(3)&lt;/script&gt;\u{241B}[31m"), "the log is escaped too")
        #expect(try http.get("/api/jobs/" + encoded).body.contains(#""last_error": "<b onclick=x>bold</b>""#), "JSON stays JSON")
        // The events carry the same escaped live part.
        let stream = try HTTPClient(port: d.port)
        try stream.write("GET /api/events?view=%2Fdlq HTTP/1.1\r\nHost: 127.0.0.1:\(d.port)\r\n\r\n")
        let event = try stream.readUntil("\n\n", after: "event: view")
        #expect(event.contains("data: ") && event.contains("&lt;img src=x") && !event.contains("<img"))
    }

    @Test func aSlowOrSilentClientStallsNoOne() throws {
        let q = QueueSandbox()
        // About 6 MB as a list: more than the sockets between the two hold.
        let filler = String(repeating: "to make the list big ", count: 14)
        let lines = (0..<10_000).map { #"{"id":"job-number-\#($0)","command":"echo \#(filler)\#($0)"}"# }
        q.ok("enqueue", "-", stdin: lines.joined(separator: "\n") + "\n")
        let d = try DashboardProcess(q)
        // Silent: half a request head, then nothing.
        let silent = try HTTPClient(port: d.port)
        try silent.write("GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:\(d.port)\r\nX-Slow: ")
        // Slow: asks for a large response and an event stream, and reads neither.
        let slow = try HTTPClient(port: d.port, receiveBuffer: 4096)
        try slow.write("GET /api/jobs?limit=10000 HTTP/1.1\r\nHost: 127.0.0.1:\(d.port)\r\n\r\n")
        let unread = try HTTPClient(port: d.port)
        try unread.write("GET /api/events?view=%2F HTTP/1.1\r\nHost: 127.0.0.1:\(d.port)\r\n\r\n")
        // Meanwhile, others are answered at once.
        for _ in 0..<5 {
            let started = Date()
            let r = try HTTPClient(port: d.port).get("/api/status")
            #expect(r.status == 200 && r.body.contains(#""pending": 10000"#))
            #expect(Date().timeIntervalSince(started) < 2, "answered while the others hang")
        }
        // The slow one still gets all of its response once it reads.
        let big = try slow.readResponse()
        #expect(big.status == 200 && big.body.components(separatedBy: "\n").count == 10_003, "[, a line per job, ], and the final newline")
        // Bounds: a head that never ends past 16 KiB, and a body too large, are refused and the connection closed.
        let huge = try HTTPClient(port: d.port)
        try huge.write("GET / HTTP/1.1\r\nHost: 127.0.0.1:\(d.port)\r\nX-Big: " + String(repeating: "a", count: 20_000))
        #expect(try huge.readResponse().status == 431)
        #expect(huge.readToEnd() == "", "closed after the answer")
        let body = try HTTPClient(port: d.port).send("POST /x HTTP/1.1\r\nHost: 127.0.0.1:\(d.port)\r\nContent-Length: 100000\r\n\r\n")
        #expect(body.status == 413)
        let chunked = try HTTPClient(port: d.port).send("POST /x HTTP/1.1\r\nHost: 127.0.0.1:\(d.port)\r\nTransfer-Encoding: chunked\r\n\r\n")
        #expect(chunked.status == 501)
        #expect(try HTTPClient(port: d.port).send("GET http://evil/ HTTP/1.1\r\nHost: 127.0.0.1:\(d.port)\r\n\r\n").status == 400)
        // Pipelined requests are answered in order on one connection.
        let pipelined = try HTTPClient(port: d.port)
        try pipelined.write(["/api/jobs/job-number-1", "/api/jobs/job-number-2"].map { "GET \($0) HTTP/1.1\r\nHost: 127.0.0.1:\(d.port)\r\n\r\n" }.joined())
        #expect(try pipelined.readResponse().body.contains(#""id": "job-number-1""#))
        #expect(try pipelined.readResponse().body.contains(#""id": "job-number-2""#))
    }

    @Test func eventsComeWhenTheQueueChanges() throws {
        let q = QueueSandbox()
        let d = try DashboardProcess(q)
        let status = try HTTPClient(port: d.port)
        try status.write("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:\(d.port)\r\n\r\n")
        let head = try status.readUntil("\r\n\r\n")
        #expect(head.hasPrefix("HTTP/1.1 200 OK") && head.contains("Content-Type: text/event-stream"))
        let first = try status.readUntil("\n\n", after: "event: status")
        #expect(first.contains(#"data: {"jobs": {"pending": 0, "processing": 0, "completed": 0, "failed": 0, "dead": 0, "total": 0}"#))
        let view = try HTTPClient(port: d.port)
        try view.write("GET /api/events?view=%2F HTTP/1.1\r\nHost: 127.0.0.1:\(d.port)\r\n\r\n")
        _ = try view.readUntil("\n\n", after: "event: view")

        // The queue folder did not exist when the dashboard started: it is watched once it does.
        q.ok("enqueue", "--delay", "1h", #"{"id":"arrived","command":"true"}"#)
        let next = try status.readUntil("\n\n", after: "event: status")
        #expect(next.contains(#""pending": 1"#) && next.contains(#""total": 1"#))
        let page = try view.readUntil("\n\n", after: "event: view")
        #expect(page.contains(#"href="/jobs/arrived""#) && page.contains(#"data-state="pending" data-count="1""#))

        q.ok("enqueue", #"{"id":"second","command":"true"}"#)
        #expect(try status.readUntil("\n\n", after: "event: status").contains(#""pending": 2"#))
        #expect(try HTTPClient(port: d.port).get("/api/events?view=%2Fnope").status == 404)
    }

    @Test func badOptionsAreRefusedAndABusyPortIsSaid() throws {
        let q = QueueSandbox()
        for args in [["--port", "70000"], ["--port", "0x10"], ["--listen", "example.com"], ["--listen", "300.1.1.1"], ["--bogus"]] {
            let r = q.run(["dashboard"] + args)
            #expect(r.status == 64, "\(args): \(r)")
            #expect(r.stderr.hasPrefix("Error: "))
        }
        let d = try DashboardProcess(q)
        let busy = q.run(["dashboard", "--port", String(d.port)])
        #expect(busy.status == 1 && busy.stderr.contains("cannot listen on 127.0.0.1:\(d.port)") && busy.stderr.contains("--port"))
        let open = try DashboardProcess(q, ["--listen", "0.0.0.0"])
        #expect(open.child.stderr().contains("warning: listening on 0.0.0.0"))
        // On every address, any numeric address is a host it answers to (no name can be rebound to it).
        #expect(try HTTPClient(port: open.port).get("/api/status", host: "10.1.2.3:\(open.port)").status == 200)
        #expect(try HTTPClient(port: open.port).get("/api/status", host: "evil.example:\(open.port)").status == 403)
        #expect(q.ok("dashboard", "--help").contains("--allow-actions"))
    }
}

/// A `queuectl dashboard --port 0` started for a test, and what it printed: its port and token.
final class DashboardProcess {
    let child: Child
    let port: UInt16
    let token: String?

    convenience init(_ q: QueueSandbox, _ options: [String] = []) throws {
        try self.init(options) { q.start($0) }
    }

    /// Started by `start`, given the command's arguments (another store's queue).
    init(_ options: [String] = [], start: ([String]) -> Child) throws {
        let child = start(["dashboard", "--port", "0"] + options)
        self.child = child
        var out = ""
        let started = eventually(within: 10) {
            out = child.stdout()
            return out.contains("(Ctrl+C to stop)") && out.contains("\n") && (out.contains("read-only") || out.contains("X-Queuectl-Token: "))
        }
        try #require(started, "the dashboard did not start: \(out) \(child.stderr())")
        let address = try #require(out.firstMatch(of: /http:\/\/(127\.0\.0\.1|\[::1\]|0\.0\.0\.0):(\d+)\//))
        port = try #require(UInt16(address.2))
        token = out.firstMatch(of: /X-Queuectl-Token: ([0-9a-f]+)/).map { String($0.1) }
    }

    private var stopped: Int32??

    /// Ctrl+C, and its exit code (once: the pid is not signalled again after it was reaped).
    @discardableResult
    func stop() -> Int32? {
        if let stopped { return stopped }
        child.signal(SIGINT)
        let code = child.wait(seconds: 5)
        stopped = .some(code)
        return code
    }

    deinit { stop() }
}

/// One HTTP/1.1 response as read by `HTTPClient`.
struct HTTPResponse {
    let status: Int
    /// Lower-case names.
    let headers: [String: String]
    let body: String
    func header(_ name: String) -> String? { headers[name] }
}

struct HTTPError: Error, CustomStringConvertible {
    let description: String
}

/// A client connection: writes bytes as given, reads responses by their Content-Length (or to the
/// end). Every read waits at most 10 s.
final class HTTPClient {
    let fd: Int32
    let port: UInt16
    private var buffer: [UInt8] = []

    /// `receiveBuffer`: a small one makes a client that does not read hold up its sender sooner.
    init(port: UInt16, ipv6: Bool = false, receiveBuffer: Int32? = nil) throws {
        self.port = port
        fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        let result: Int32
        if ipv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            inet_pton(AF_INET6, "::1", &address.sin6_addr)
            result = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            result = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard result == 0 else { throw HTTPError(description: "cannot connect to port \(port): errno \(errno)") }
    }

    deinit { close(fd) }

    func write(_ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw HTTPError(description: "send failed: errno \(errno)") }
            sent += n
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &chunk, chunk.count, 0)
        if n < 0 { throw HTTPError(description: "no answer within 10 s (errno \(errno))") }
        if n == 0 { throw HTTPError(description: "the server closed the connection") }
        buffer += chunk[..<n]
    }

    /// Reads until `marker` has come (after `after`, if given) and returns the text up to and with it.
    func readUntil(_ marker: String, after: String? = nil) throws -> String {
        while true {
            let text = String(decoding: buffer, as: UTF8.self)
            var searchFrom = text.startIndex
            if let after {
                if let start = text.range(of: after) { searchFrom = start.lowerBound } else { try fill(); continue }
            }
            if let end = text.range(of: marker, range: searchFrom..<text.endIndex) {
                let consumed = text[..<end.upperBound]
                buffer.removeFirst(consumed.utf8.count)
                return String(text[searchFrom..<end.upperBound])
            }
            try fill()
        }
    }

    func readResponse(expectBody: Bool = true) throws -> HTTPResponse {
        let head = try readUntil("\r\n\r\n")
        let lines = head.components(separatedBy: "\r\n")
        guard let statusText = lines.first?.split(separator: " ").dropFirst().first, let status = Int(statusText) else {
            throw HTTPError(description: "not a response: \(head)")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() where line.contains(":") {
            let name = line.prefix { $0 != ":" }
            headers[name.lowercased()] = line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)
        }
        var body: [UInt8] = []
        if expectBody, let length = headers["content-length"].flatMap({ Int($0) }) {
            while buffer.count < length { try fill() }
            body = Array(buffer[..<length])
            buffer.removeFirst(length)
        }
        return HTTPResponse(status: status, headers: headers, body: String(decoding: body, as: UTF8.self))
    }

    /// Everything until the server closes (empty if it closes at once).
    func readToEnd() -> String {
        while (try? fill()) != nil {}
        defer { buffer = [] }
        return String(decoding: buffer, as: UTF8.self)
    }

    func send(_ request: String, expectBody: Bool = true) throws -> HTTPResponse {
        try write(request)
        return try readResponse(expectBody: expectBody)
    }

    func get(_ path: String, host: String? = nil) throws -> HTTPResponse {
        try send("GET \(path) HTTP/1.1\r\nHost: \(host ?? "127.0.0.1:\(port)")\r\n\r\n")
    }

    func post(_ path: String, headers: [String: String]) throws -> HTTPResponse {
        let extra = headers.map { "\($0.key): \($0.value)\r\n" }.joined()
        return try send("POST \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\(extra)Content-Length: 0\r\n\r\n")
    }
}
