import ConfigManager
import JobManager
import QueueStorage
import QueueSystem

/// The numbered menu: the earlier QueueCTL tools' numbers (1 status ... 9 settings, 0 to leave),
/// letters for the actions they did not have. Each action runs the same command the shell would, and
/// on a terminal waits for Enter before the menu comes back. A line that is not a choice runs as a
/// shell command.
struct Menu {
    let session: Session
    /// The session began here: 0 leaves it, instead of going back to the shell.
    let isHome: Bool

    private var editor: LineEditor { session.editor }

    private var text: String {
        """

        queuectl \(CLI.version)  \(session.home.directory)
          1  Status                          t  Live view (q to come back)
          2  List jobs                       s  Statistics
          3  Enqueue a job                   w  Workers: list, start another, stop one
          4  Start a worker                  d  Delete jobs from the DLQ
          5  Stop the workers                f  Failures in the DLQ by last error
          6  Dead letter queue (DLQ)
          7  Retry a job from the DLQ
          8  View the configuration
          9  Change a setting
          0  \(isHome ? "Exit" : "Back to the shell")
          Or type a command as in the shell ('help' lists them\(isHome ? ", 'shell' gives its prompt" : "")).

        """
    }

    /// Runs until the person leaves the menu: `.shell` or `.leave`.
    func run() -> Session.Next {
        while true {
            session.reapWorkers()
            Console.out(text)
            // 0 (or Ctrl+D) goes back to the shell, or out of a session that began here.
            switch ask("Choose (0-9 or a letter): ") {
            case nil: return isHome ? .leave : .shell
            case let choice?:
                switch choice.lowercased() {
                case "0": return isHome ? .leave : .shell
                case "1": show(["status"])
                case "2": listJobs()
                case "3": enqueue()
                case "4": startWorker()
                case "5": show(["worker", "stop"])
                case "6": show(["dlq", "list"])
                case "7": retryFromDLQ()
                case "8": viewConfig()
                case "9": changeSetting()
                case "t": session.run(["top"])
                case "s": show(["stats"])
                case "w": workers()
                case "d": deleteFromDLQ()
                case "f": show(["dlq", "summary"])
                case "": continue
                default:
                    if choice.count == 1 {
                        Console.err("Error: choose a number from 0 to 9 or one of t, s, w, d, f, not '\(choice)'\n")
                        continue
                    }
                    let next = session.execute(choice, inMenu: true)
                    if next != .stay { return next }
                    pause()
                }
            }
        }
    }

    // MARK: asking

    /// One answer, trimmed; nil if the person cancelled (Ctrl+C) or input ended (Ctrl+D).
    private func ask(_ question: String, initial: String = "", complete: ((String) -> Completion)? = nil) -> String? {
        switch editor.readLine(question, promptWhenPiped: true, initial: initial, complete: complete) {
        case .line(let answer): return answer.trimmingWhitespace()
        case .cancelled, .end: return nil
        }
    }

    /// Asks until `check` accepts the answer (it says why not, and the answer comes back to be
    /// fixed); nil if the person cancelled.
    private func ask<T>(_ question: String, complete: ((String) -> Completion)? = nil,
                        _ check: (String) throws(QueueError) -> T) -> T? {
        var answer = ""
        while true {
            guard let given = ask(question, initial: answer, complete: complete) else { return nil }
            do { return try check(given) } catch {
                Console.err("Error: \(error.message)\n")
                answer = given
            }
        }
    }

    /// Runs a command, then waits for Enter so its result can be read before the menu comes back.
    private func show(_ words: [String]) {
        session.run(words)
        pause()
    }

    private func pause() {
        guard editor.interactive else { return }
        _ = editor.readLine("\nPress Enter to continue...")
    }

    // MARK: the actions

    private func listJobs() {
        let states = JobState.allCases
        Console.out("\n  1  All\n" + states.enumerated().map { "  \($0.offset + 2)  \($0.element.rawValue.prefix(1).uppercased() + $0.element.rawValue.dropFirst())\n" }.joined()
            + "  0  Back\n")
        guard let words = ask("Which jobs (0-\(states.count + 1)): ", { (answer) throws(QueueError) -> [String] in
            let answer = answer.lowercased()
            if answer == "0" || answer.isEmpty { return [] }
            if answer == "1" || answer == "all" { return ["list"] }
            if let n = Int(answer), (2...(states.count + 1)).contains(n) { return ["list", "--state", states[n - 2].rawValue] }
            if let state = JobState(rawValue: answer) { return ["list", "--state", state.rawValue] }
            throw .usage("choose a number from 0 to \(states.count + 1), or a state (\(JobState.names))")
        }), !words.isEmpty else { return }
        show(words)
    }

    private func enqueue() {
        let config = (try? session.queue.read(.none))?.config ?? QueueConfig()
        guard let id = ask("Job id (empty for a generated one): ", { (answer) throws(QueueError) -> String in
            if !answer.isEmpty {
                try JobInput.validateID(answer)
                if (try? session.queue.read(.ids([answer])))?.index(of: answer) != nil {
                    throw .usage("a job with id '\(answer)' already exists")
                }
            }
            return answer
        }) else { return }
        guard let command = ask("Command: ", { (answer) throws(QueueError) -> String in
            try JobInput(command: answer).validate()
            return answer
        }) else { return }
        guard let retries = ask("Max retries (runs it gets; empty for the configured \(config.maxRetries)): ",
                                { (answer) throws(QueueError) -> Int? in
            answer.isEmpty ? nil : try NumberInput.integer(answer, for: "max retries", in: QueueConfig.maxRetriesRange)
        }) else { return }
        var w = JSONWriter()
        w.raw("{")
        if !id.isEmpty { w.key("id", first: true); w.string(id) }
        w.key("command", first: id.isEmpty); w.string(command)
        if let retries { w.key("max_retries"); w.int(retries) }
        w.raw("}")
        show(["enqueue", String(decoding: w.bytes, as: UTF8.self)])
    }

    private func startWorker() {
        let configured = (try? session.queue.read(.none))?.config.workerCount ?? QueueConfig().workerCount
        guard let slots = ask("Jobs it runs at once (empty for the configured \(configured)): ", { (answer) throws(QueueError) -> Int? in
            answer.isEmpty ? nil : try NumberInput.integer(answer, for: "jobs at once", in: QueueConfig.workerCountRange)
        }) else { return }
        session.startWorker(slots.map { ["--count", String($0)] } ?? [])
        pause()
    }

    private func retryFromDLQ() {
        guard let id = ask("Id of the dead job to retry: ", complete: deadIDs, { (answer) throws(QueueError) -> String in
            try checkDead(answer)
            return answer
        }), !id.isEmpty else { return }
        show(["dlq", "retry", id])
    }

    private func deleteFromDLQ() {
        guard let answer = ask("Ids of the dead jobs to delete, or 'all': ", complete: deadIDs, { (answer) throws(QueueError) -> [String] in
            if answer.lowercased() == "all" { return ["--all"] }
            let ids = answer.split(whereSeparator: \.isWhitespace).map(String.init)
            for id in ids { try checkDead(id) }
            return ids
        }), !answer.isEmpty else { return }
        if answer == ["--all"] {
            let count = (try? session.queue.read(.state(.dead))).map { $0.jobs.indices(whereSummary: { $0.state == .dead }).count } ?? 0
            guard count > 0 else {
                show(["dlq", "list"])
                return
            }
            guard let sure = ask("Delete all \(count) dead job\(count == 1 ? "" : "s") for good? [y/N] "),
                  ["y", "yes"].contains(sure.lowercased()) else { return }
        }
        show(["dlq", "delete"] + answer)
    }

    private func checkDead(_ id: String) throws(QueueError) {
        guard !id.isEmpty else { return }
        guard let document = try? session.queue.read(.ids([id])), let i = document.index(of: id) else {
            throw .usage("no job with id '\(id)'")
        }
        let state = document.jobs.summary(at: i).state
        if state != .dead { throw .usage("job '\(id)' is not in the DLQ (it is \(state.rawValue))") }
    }

    private func deadIDs(_ before: String) -> Completion {
        var start = before.count
        let characters = Array(before)
        while start > 0, !characters[start - 1].isWhitespace { start -= 1 }
        guard let document = try? session.queue.read(.state(.dead)) else { return Completion(start: start, candidates: []) }
        let ids = document.jobs.indices(whereSummary: { $0.state == .dead }).map { document.jobs.summary(at: $0).id }
        return Completion(start: start, candidates: ids.sorted())
    }

    private func viewConfig() {
        guard let key = ask("Key (empty for all): ", complete: configKeys, { (answer) throws(QueueError) -> String in
            if !answer.isEmpty { _ = try ConfigManager.key(answer) }
            return answer
        }) else { return }
        show(["config", "get"] + (key.isEmpty ? [] : [key]))
    }

    private func changeSetting() {
        session.run(["config", "get"])
        Console.out("\n")
        guard let key = ask("Key: ", complete: configKeys, { (answer) throws(QueueError) -> ConfigKey in try ConfigManager.key(answer) })
        else { return }
        guard let value = ask("Value for \(key.rawValue): ", { (answer) throws(QueueError) -> String in
            var scratch = QueueConfig()
            try ConfigManager.set(key, to: answer, in: &scratch)
            return answer
        }) else { return }
        show(["config", "set", key.rawValue, value])
    }

    private func configKeys(_ before: String) -> Completion {
        Completion(start: 0, candidates: ConfigKey.allCases.map(\.rawValue))
    }

    private func workers() {
        while true {
            session.run(["worker", "status"])
            Console.out("\n  1  Start another worker\n  2  Stop one worker\n  0  Back\n")
            guard let choice = ask("Choose (0-2): ") else { return }
            switch choice {
            case "0", "": return
            case "1": startWorker()
            case "2":
                guard let pid = ask("Pid of the worker to stop: ", complete: { _ in Completion(start: 0, candidates: session.workerPids()) },
                                    { (answer) throws(QueueError) -> String in answer })
                else { continue }
                if !pid.isEmpty { show(["worker", "stop", pid]) }
            default: Console.err("Error: choose 0, 1 or 2, not '\(choice)'\n")
            }
        }
    }
}
