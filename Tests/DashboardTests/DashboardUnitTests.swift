import JobManager
import QueueStorage
import QueueSystem
import Testing
@testable import Dashboard

/// The request reader: whole requests, partial ones, pipelined ones, and every bound.
@Suite struct RequestParserTests {
    func parse(_ text: String) -> ParseOutcome { RequestParser.parse(Array(text.utf8)[...]) }

    @Test func aRequestIsReadWithItsHeadersQueryAndBody() throws {
        let text = "POST /api/jobs/a%2Fb/retry?x=1&state=dead+x&x=2 HTTP/1.1\r\nHost: 127.0.0.1:7878\r\nX-Queuectl-Token:  abc \r\n"
            + "Content-Length: 3\r\n\r\nxyzGET / HTTP/1.1\r\n"
        guard case .request(let r, let consumed) = parse(text) else { Issue.record("not read"); return }
        #expect(r.method == "POST" && r.minorVersion == 1 && r.keepAlive)
        #expect(r.segments == ["api", "jobs", "a/b", "retry"], "an encoded slash stays in its segment")
        #expect(r.query == ["x": "1", "state": "dead x"], "the first of a repeated name")
        #expect(r.header("x-queuectl-token") == "abc" && r.header("host") == "127.0.0.1:7878")
        #expect(r.body == Array("xyz".utf8))
        #expect(consumed == text.utf8.count - "GET / HTTP/1.1\r\n".utf8.count, "the next request is left for later")
    }

    @Test func partsOfARequestAreIncompleteUntilTheyHaveAllCome() {
        for text in ["", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: x\r\n", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"] {
            guard case .incomplete = parse(text) else { Issue.record("\(text) is not incomplete"); continue }
        }
    }

    @Test func keepAliveFollowsTheVersionAndTheConnectionHeader() throws {
        func keepAlive(_ text: String) -> Bool? {
            if case .request(let r, _) = parse(text) { return r.keepAlive }
            return nil
        }
        #expect(keepAlive("GET / HTTP/1.1\r\n\r\n") == true)
        #expect(keepAlive("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n") == false)
        #expect(keepAlive("GET / HTTP/1.0\r\n\r\n") == false)
        #expect(keepAlive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") == true)
        #expect(keepAlive("\r\nGET / HTTP/1.1\n\n") == true, "a stray line break first, bare line feeds")
    }

    @Test func whatIsNotARequestHereIsRefusedWithItsStatus() {
        let cases: [(String, Int)] = [
            ("GET / HTTP/2.0\r\n\r\n", 505), ("get / HTTP/1.1\r\n\r\n", 400), ("GET  / HTTP/1.1\r\n\r\n", 400),
            ("GET http://x/ HTTP/1.1\r\n\r\n", 400), ("GET /a\u{7F} HTTP/1.1\r\n\r\n", 400), ("GET /?a=%zz HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400), ("GET / HTTP/1.1\r\n folded\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
            ("POST / HTTP/1.1\r\nContent-Length: 4097\r\n\r\n", 413), ("POST / HTTP/1.1\r\nContent-Length: 99999999999999\r\n\r\n", 413),
            ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400), ("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 17_000), 431),
            ("GET / HTTP/1.1\r\n" + String(repeating: "X: y\r\n", count: 65) + "\r\n", 431),
        ]
        for (text, status) in cases {
            guard case .invalid(let got, _) = parse(text) else { Issue.record("accepted: \(text.prefix(60))"); continue }
            #expect(got == status, "\(text.prefix(60))")
        }
    }

    @Test func percentCodingRoundTripsAnyText() {
        for text in ["plain", "a/b?c#d e&f=g", "<img src=x>\"'", "naïve ✓", "%41"] {
            #expect(percentDecoded(Substring(percentEncoded(text)), plusIsSpace: false) == text)
        }
        #expect(percentEncoded("a-b.c_d~e") == "a-b.c_d~e")
        #expect(percentDecoded("%00", plusIsSpace: false) == nil && percentDecoded("%FF", plusIsSpace: false) == nil)
    }
}

@Suite struct SecurityTests {
    let loopback = [SocketAddress.loopback(.ipv4, port: 7878), .loopback(.ipv6, port: 7878)]

    @Test func onlyTheDashboardsOwnNamesAndPortPassTheHostCheck() {
        let check = HostCheck(port: 7878, listening: loopback, hostName: "box")
        for host in ["127.0.0.1:7878", "localhost:7878", "localhost", "LocalHost.:7878", "[::1]:7878", "[::1]", "127.0.0.1"] {
            #expect(check.allows(host), "\(host)")
        }
        for host in [nil, "", "evil.example", "evil.example:7878", "127.0.0.1:7879", "127.0.0.1:", "localhost:78780", "[::1]x",
                     "box:7878", "10.0.0.1:7878", "127.0.0.2:7878", "localhost.evil.example", "[::1"] {
            #expect(!check.allows(host), "\(host ?? "no Host")")
        }
        let everywhere = HostCheck(port: 80, listening: [SocketAddress("0.0.0.0", port: 80)!], hostName: "box")
        for host in ["10.0.0.1", "box", "BOX:80", "[fe80::1]", "localhost"] { #expect(everywhere.allows(host), "\(host)") }
        for host in ["evil.example", "10.0.0.1:81", "box.evil.example"] { #expect(!everywhere.allows(host), "\(host)") }
    }

    func post(_ headers: [(String, String)]) -> Request {
        Request(method: "POST", rawPath: "/api/jobs/x/retry", query: [:], minorVersion: 1,
                headers: [("host", "127.0.0.1:7878")] + headers.map { ($0.0.lowercased(), $0.1) }, body: [])
    }

    @Test func anActionNeedsTheTokenAndTheSameOrigin() {
        let token = ActionGuard.newToken()
        #expect(token.count == 64 && token.allSatisfy(\.isHexDigit) && token != ActionGuard.newToken())
        let guardian = ActionGuard(token: token)
        #expect(guardian.refusal(post([("X-Queuectl-Token", token)])) == nil)
        #expect(guardian.refusal(post([("X-Queuectl-Token", token), ("Sec-Fetch-Site", "same-origin"), ("Origin", "http://127.0.0.1:7878")])) == nil)
        #expect(guardian.refusal(post([("X-Queuectl-Token", token), ("Sec-Fetch-Site", "none")])) == nil)
        for headers in [[], [("X-Queuectl-Token", String(token.dropLast()))], [("X-Queuectl-Token", token.uppercased())],
                        [("X-Queuectl-Token", token), ("Sec-Fetch-Site", "cross-site")],
                        [("X-Queuectl-Token", token), ("Sec-Fetch-Site", "same-site")],
                        [("X-Queuectl-Token", token), ("Origin", "http://localhost:7878")]] {
            #expect(guardian.refusal(post(headers)) != nil, "\(headers)")
        }
        #expect(ActionGuard(token: nil).refusal(post([("X-Queuectl-Token", token)]))?.contains("read-only") == true)
    }
}

@Suite struct RenderingTests {
    @Test func escapingLeavesNoMarkupAndShowsControlCharacters() {
        #expect(esc("plain text, ünïcode ✓") == "plain text, ünïcode ✓")
        #expect(esc(#"<a href="x" onclick='y'>&amp;</a>"#) == "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;")
        #expect(esc("tab\tline\nesc\u{1B}[0m bell\u{07} del\u{7F} cr\r") == "tab\tline\nesc\u{241B}[0m bell\u{2407} del\u{2421} cr\u{240D}")
        #expect(jobLink("a\"/b") == #"<a class="id" href="/jobs/a%22%2Fb">a&quot;/b</a>"#)
    }

    func document(_ jobs: [Job]) -> Document {
        var d = Document()
        d.jobs = JobTable(jobs)
        return d
    }

    func job(_ id: String, _ state: JobState, finishedAt: Int64?) -> Job {
        var j = Job(id: id, command: "true", maxRetries: 1, sequence: 1, now: Timestamp(milliseconds: 0))
        j.state = state
        j.finishedAt = finishedAt.map { Timestamp(milliseconds: $0) }
        return j
    }

    @Test func throughputCountsEachMinuteOfTheLastHourFromTheLastRuns() {
        let now: Int64 = 1_800_000_000_000 + 30_000  // half a minute into a minute
        let minute: Int64 = 60_000
        let d = document([
            job("a", .completed, finishedAt: now), job("b", .completed, finishedAt: now - 30_000), job("c", .failed, finishedAt: now - 1),
            job("d", .dead, finishedAt: now - minute), job("e", .pending, finishedAt: now - 59 * minute),  // a retried failure
            job("f", .completed, finishedAt: now - 30_000 - 59 * minute - 1),  // just before the first minute shown
            job("g", .processing, finishedAt: nil), job("h", .pending, finishedAt: nil),
        ])
        let t = Throughput(d, now: Timestamp(milliseconds: now))
        #expect(t.start.milliseconds == now - 30_000 - 59 * minute)
        #expect(t.finished[59] == 2 && t.failed[59] == 1)
        #expect(t.failed[58] == 1 && t.failed[0] == 1)
        #expect(t.finished.reduce(0, +) == 2 && t.failed.reduce(0, +) == 3)
        let svg = t.svg
        #expect(svg.hasPrefix("<svg class=\"chart\"") && svg.contains("2 finished, 3 failed"))
        #expect(svg.split(separator: "<rect", omittingEmptySubsequences: false).count - 1 == 4, "a bar for each count that is not zero")
    }

    /// A log as a worker writes it: each piece marked with its stream, queuectl's lines with theirs.
    @Test func aMarkedLogIsShownWithoutItsMarksAndItsRunsAreFound() {
        var log: [UInt8] = [], current: LogFormat.Channel?
        func add(_ text: String, _ channel: LogFormat.Channel) { LogFormat.append(Array(text.utf8)[...], as: channel, after: &current, to: &log) }
        add("=== queuectl: run 1 of 3, started 2026-01-01T00:00:00.000Z ===\n", .ours)
        add("out \u{10} line\n", .stdout)
        add("err line\n", .stderr)
        add("=== queuectl: exit 1 after 0.5s ===\n", .ours)
        add("=== queuectl: restart 1, run 1 of 3, started 2026-01-01T00:02:00.000Z ===\n", .ours)
        add("again\n", .stdout)
        #expect(log.contains(0x01) && log.contains(0x02), "the streams are marked")
        let view = LogView(bytes: log, size: log.count)
        #expect(view.text == "=== queuectl: run 1 of 3, started 2026-01-01T00:00:00.000Z ===\nout \u{10} line\nerr line\n"
            + "=== queuectl: exit 1 after 0.5s ===\n=== queuectl: restart 1, run 1 of 3, started 2026-01-01T00:02:00.000Z ===\nagain\n")
        #expect(view.runs == [LogView.Run(number: "1 of 3", started: "2026-01-01T00:00:00.000Z", outcome: "exit 1 after 0.5s"),
                              LogView.Run(number: "1 of 3", started: "2026-01-01T00:02:00.000Z", outcome: nil)])
    }

    @Test func runsAreReadFromTheLogsHeadersAndFooters() {
        let log = """
            === queuectl: run 1 of 3, started 2026-01-01T00:00:00.000Z ===
            some output
            === queuectl: exit 1 after 0.5s ===
            [queuectl: 100 bytes of output cut here]
            === queuectl: run 2 of 3, started 2026-01-01T00:01:00.000Z ===
            still running

            """
        let view = LogView(bytes: Array(log.utf8), size: log.utf8.count)
        #expect(view.runs == [LogView.Run(number: "1 of 3", started: "2026-01-01T00:00:00.000Z", outcome: "exit 1 after 0.5s"),
                              LogView.Run(number: "2 of 3", started: "2026-01-01T00:01:00.000Z", outcome: nil)])
        #expect(view.hidden == 0 && view.text == log && !view.runsIncomplete)
        // Only the end is shown, from a line's start.
        let long = String(repeating: "0123456789abcdef\n", count: 5000)
        let tail = LogView(bytes: Array(long.utf8), size: 1_000_000)
        #expect(tail.text.utf8.count <= LogView.shownBytes && tail.text.hasPrefix("0123456789abcdef\n"))
        #expect(tail.hidden == 1_000_000 - tail.text.utf8.count && tail.runsIncomplete)
    }
}
