import Foundation
import Testing
import TestSupport

/// `dlq delete --all`, `dlq summary` and `dlq list --limit`.
@Suite struct DLQTests {
    /// Three dead jobs (two of one error, one of another) and a completed one.
    func queueWithDeadJobs() -> QueueSandbox {
        let q = QueueSandbox()
        q.fastRetries()
        q.ok("enqueue", #"{"id":"d1","command":"echo out; exit 3","max_retries":1}"#)
        q.ok("enqueue", #"{"id":"d2","command":"no-such-command-here","max_retries":1}"#)
        q.ok("enqueue", #"{"id":"d3","command":"exit 3","max_retries":1}"#)
        q.ok("enqueue", #"{"id":"fine","command":"true"}"#)
        #expect(q.run(["worker", "start", "--drain"]).status == 0)
        return q
    }

    @Test func deleteAllRemovesEveryDeadJobAndItsLogAndNothingElse() throws {
        let q = queueWithDeadJobs()
        #expect(FileManager.default.fileExists(atPath: q.home + "/logs/d1.log"))
        let before = q.dataBytes()
        for args in [["--all", "d1"], []] {
            let r = q.run(["dlq", "delete"] + args)
            #expect(r.status == 64, "\(args)")
            #expect(r.stderr.contains(args.isEmpty ? "missing argument <id> (or --all)" : "give job ids or --all, not both"))
        }
        #expect(q.dataBytes() == before)
        #expect(q.ok("dlq", "delete", "--all") == "d1\nd2\nd3\n")
        #expect(q.jobs().keys.sorted() == ["fine"])
        #expect(!FileManager.default.fileExists(atPath: q.home + "/logs/d1.log"))
        #expect(q.ok("dlq", "delete", "--all") == "", "an empty DLQ: nothing to do, not an error")
    }

    @Test func theSummaryGroupsDeadJobsByLastErrorTheCommonestFirst() throws {
        let q = queueWithDeadJobs()
        // Columns apart, spaces squeezed.
        let rows = q.ok("dlq", "summary").split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(rows == ["COUNT LAST ERROR JOBS", "2 exit 3 d1, d3", "1 exit 127: command not found d2"])
        let json = try JSONSerialization.jsonObject(with: Data(q.ok("dlq", "summary", "--json").utf8)) as! [[String: Any]]
        #expect(json.map { $0["last_error"] as? String } == ["exit 3", "exit 127: command not found"])
        #expect(json.map { $0["count"] as? Int } == [2, 1])
        #expect(json.map { $0["jobs"] as? [String] } == [["d1", "d3"], ["d2"]])
        q.ok("dlq", "delete", "--all")
        #expect(q.ok("dlq", "summary") == "The dead letter queue is empty.\n")
        #expect(q.ok("dlq", "summary", "--json") == "[]\n")
    }

    @Test func listTakesALimit() throws {
        let q = queueWithDeadJobs()
        let rows = q.ok("dlq", "list", "--limit", "2").split(separator: "\n").dropFirst()
        #expect(rows.map { $0.split(separator: " ").first } == ["d1", "d2"])
        let json = try JSONSerialization.jsonObject(with: Data(q.ok("dlq", "list", "--limit", "1", "--json").utf8)) as! [[String: Any]]
        #expect(json.map { $0["id"] as? String } == ["d1"])
        #expect(q.run(["dlq", "list", "--limit", "-1"]).status == 64)
    }
}
