import JobManager
import ConfigManager
import QueueStorage
import QueueSystem

extension Commands {
    static let shell = CommandSpec(
        name: "shell",
        summary: "An interactive prompt that takes the same commands as the command line.",
        discussion: """
          Type commands without 'queuectl': 'enqueue {"command":"echo hi"}', 'list --state failed',
          'dlq retry job1', 'config set max-retries 5'. Words are split as a shell would ('...', "..."
          and \\ quote); an unquoted word starting with '{' runs to the end of the line, so a job's
          JSON needs no quotes. Each command runs as on the command line, in a process of its own:
          Ctrl+C stops it ('wait', 'top', 'worker start --drain') and not the shell. 'worker start [N]'
          starts a worker in the background (its events go to $QUEUECTL_HOME/worker.log) and gives
          the prompt back; 'worker stop [<pid>]' stops them, or one. 'menu' offers the common actions
          by number; 'help' lists the commands; 'exit', 'quit' or Ctrl+D leaves, asking first about
          workers started here that still run. On a terminal, lines can be edited (arrows, Home, End,
          Ctrl+A/E/U/W/K), Up and Down go through the history ($QUEUECTL_HOME/history) and Tab
          completes commands, options and job ids. When standard input is not a terminal no prompt
          is printed, so a script can be piped in.
        """,
        options: [.flag("menu", "Start in the numbered menu (what 'queuectl' alone opens on a terminal).")],
        run: runShell
    )

    static func runShell(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        // The commands typed run in this process and find the store as this one did; a --store given
        // to 'shell' goes to them, and to the workers started from here, by the environment.
        if let conninfo = try context.postgresConnection() { Console.setEnvironment("QUEUECTL_STORE", conninfo) }
        let session = try Session(queue: try context.queue())
        session.run(startingIn: args.has("menu") ? .menu : .shell)
        return 0
    }

    /// Splits a line into words as a POSIX shell would for quoting ('...', "...", \), and takes an
    /// unquoted word that starts with '{' to the end of the line (a job's JSON, spaces and all).
    static func splitWords(_ line: String) throws(QueueError) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var chars = Array(line)[...]
        while let c = chars.popFirst() {
            switch c {
            case " ", "\t":
                if inWord { words.append(current); current = ""; inWord = false }
            case "{" where !inWord:
                words.append(String(c) + String(chars))
                return words
            case "'":
                inWord = true
                guard let end = chars.firstIndex(of: "'") else { throw .usage("unterminated ' quote") }
                current += String(chars[..<end])
                chars = chars[(end + 1)...]
            case "\"":
                inWord = true
                var closed = false
                while let d = chars.popFirst() {
                    if d == "\"" { closed = true; break }
                    if d == "\\", let next = chars.first, next == "\"" || next == "\\" || next == "$" || next == "`" {
                        current.append(chars.removeFirst())
                    } else {
                        current.append(d)
                    }
                }
                if !closed { throw .usage("unterminated \" quote") }
            case "\\":
                inWord = true
                if let next = chars.popFirst() { current.append(next) }
            default:
                inWord = true
                current.append(c)
            }
        }
        if inWord { words.append(current) }
        return words
    }
}

/// An interactive session: the shell prompt and the menu, the line editor they read with, and the
/// workers started from them in the background. Each command runs as this program in a process of
/// its own, in the foreground: the terminal's Ctrl+C reaches it and not the session, and whatever
/// it sets for itself (signal handlers, the terminal's mode) ends with it.
final class Session {
    enum Mode { case shell, menu }
    /// What a line typed at the shell prompt (or a command typed at the menu) leads to.
    enum Next { case stay, leave, menu, shell }

    /// The queue, as the commands typed here find it (the data file, or `QUEUECTL_STORE`'s database).
    let queue: any QueueStore
    var home: QueueHome { queue.home }
    let editor: LineEditor
    /// The terminal's settings when the session began, put back after every command.
    private let terminal: SavedTerminalSettings?
    /// Workers started here in the background, not yet seen to have ended.
    private(set) var workers: [Int32] = []

    init(queue: any QueueStore) throws(QueueError) {
        self.queue = queue
        editor = LineEditor(history: History(home: queue.home))
        terminal = SavedTerminalSettings(fd: 0)
        do { try SessionSignals.install() } catch { throw .failure("cannot handle Ctrl+C: \(error)") }
    }

    /// Runs the session until the person leaves (or input ends).
    func run(startingIn first: Mode) {
        if editor.interactive, first == .shell {
            Console.out("queuectl \(CLI.version) shell. Type 'help' for commands, 'menu' for a menu, 'exit' to leave.\n")
        }
        var mode = first
        while true {
            let next: Next
            switch mode {
            case .shell: next = shellLoop()
            case .menu: next = Menu(session: self, isHome: first == .menu).run()
            }
            switch next {
            case .leave:
                if leave() { return }
            case .menu: mode = .menu
            case .shell, .stay: mode = .shell
            }
        }
    }

    private func shellLoop() -> Next {
        while true {
            reapWorkers()
            switch editor.readLine("queuectl> ", remember: true, complete: complete) {
            case .end: return .leave
            case .cancelled: continue
            case .line(let line):
                let next = execute(line, inMenu: false)
                // Lines typed by a person, not a piped script's.
                if editor.interactive { editor.history?.add(line) }
                if next != .stay { return next }
            }
        }
    }

    /// Runs one line as the shell does: its own words (`exit`, `menu`, ...), `worker start` in the
    /// background, anything else as a command.
    func execute(_ line: String, inMenu: Bool) -> Next {
        let words: [String]
        do { words = try Commands.splitWords(line) } catch {
            Console.err("Error: \(error.message)\n")
            return .stay
        }
        guard let first = words.first else { return .stay }
        switch first {
        case "exit", "quit": return .leave
        case "menu", "-i", "--interactive": return .menu
        case "shell":
            if inMenu { return .shell }
            Console.err("Error: already in the shell\n")
        case "help" where words.count == 1:
            run(["help"])
            Console.out("\nIn the shell also: menu (the common actions by number), exit (or quit, or Ctrl+D).\n")
        default:
            // A worker typed here runs in the background, as the earlier shells ran theirs; one that
            // drains runs in the foreground, as on the command line.
            if case .run(let path, let arguments)? = try? Parser.parse(words, root: Commands.root),
               path.map(\.name) == ["queuectl", "worker", "start"], !arguments.has("drain") {
                startWorker(arguments.words(excluding: ["detach", "store"]))
            } else {
                run(words)
            }
        }
        return .stay
    }

    /// Runs `queuectl words` in the foreground and returns its exit code.
    @discardableResult
    func run(_ words: [String]) -> Int32 {
        let pid: Int32
        do { pid = try Processes.spawnThisProgram(words) } catch {
            Console.err("Error: cannot run '\(words.joined(separator: " "))': \(error)\n")
            return 1
        }
        let status = Processes.waitForChild(pid)
        // A program killed while its terminal was raw (the live view) leaves it so; the session puts it back.
        terminal?.restore()
        _ = SessionSignals.takeInterrupt()
        switch status {
        case .exited(let code)?: return code
        case .signaled(let signal)?:
            // The terminal showed ^C; the prompt goes on the next line.
            Console.out(signal == ProcessSignal.interrupt.rawValue ? "\n" : "(\(words[0]) was killed by signal \(signal))\n")
            return 128 + signal
        case nil: return 1
        }
    }

    // MARK: workers in the background

    /// Starts `queuectl worker start <arguments>` in the background, detached from the terminal,
    /// as `worker start --detach` does, and says so once it has registered, or what stopped it.
    func startWorker(_ arguments: [String]) {
        let pid: Int32
        do { pid = try Commands.startDetachedWorker(arguments, Context(path: [Commands.root])) } catch {
            Console.err("Error: \(error.message)\n")
            return
        }
        workers.append(pid)
        guard let record = (try? queue.read(.none))?.workers.first(where: { $0.process.pid == pid }) else { return }
        let slots = "\(record.slots) slot\(record.slots == 1 ? "" : "s")"
        Console.out("worker \(pid) started in the background with \(slots); its events go to \(home.directory)/\(Commands.workerLogName)\n")
    }

    /// Forgets the workers started here that have ended (and reaps them).
    func reapWorkers() {
        workers.removeAll { Processes.reapIfExited($0) != nil || Processes.state(of: $0) == .gone }
    }

    /// Before the session ends: workers started here that still run are stopped or left running,
    /// as the person says; with no one to ask, they are left running. False: the person chose to
    /// stay (Ctrl+C at the question).
    func leave() -> Bool {
        reapWorkers()
        guard !workers.isEmpty else { return true }
        let list = workers.map(String.init).joined(separator: ", ")
        let one = workers.count == 1
        let stopHint = "'queuectl worker stop' stops \(one ? "it" : "them"); events go to \(home.directory)/\(Commands.workerLogName)"
        guard editor.interactive else {
            Console.err("leaving \(one ? "worker" : "workers") \(list) running in the background; \(stopHint)\n")
            return true
        }
        Console.out("\(one ? "A worker" : "\(workers.count) workers") started here \(one ? "is" : "are") still running (pid \(list)).\n")
        while true {
            switch editor.readLine("Stop \(one ? "it" : "them") before leaving? Running jobs finish first. [Y/n] ") {
            case .cancelled: return false
            case .end:
                Console.out("left running; \(stopHint)\n")
                return true
            case .line(let answer):
                switch answer.trimmingWhitespace().lowercased() {
                case "", "y", "yes":
                    for pid in workers where Processes.signal(pid, .terminate) {
                        Console.out("asked worker \(pid) to stop\n")
                    }
                    return true
                case "n", "no":
                    Console.out("left running; \(stopHint)\n")
                    return true
                default: Console.err("Answer y (stop them) or n (leave them running).\n")
                }
            }
        }
    }

    // MARK: completion

    /// Tab at the shell prompt: command and subcommand names, options, states, config keys, worker
    /// pids and job ids (dead ones for the DLQ's commands).
    func complete(_ before: String) -> Completion {
        let characters = Array(before)
        var start = characters.count
        while start > 0, !characters[start - 1].isWhitespace { start -= 1 }
        let earlier = String(characters[..<start]).split(whereSeparator: \.isWhitespace).map(String.init)
        // Inside quotes or a job's JSON there is nothing to offer.
        if before.contains(where: { $0 == "{" || $0 == "'" || $0 == "\"" }) { return Completion(start: start, candidates: []) }
        let word = String(characters[start...])
        return Completion(start: start, candidates: candidates(after: earlier, typing: word).sorted())
    }

    private func candidates(after words: [String], typing word: String) -> [String] {
        var path = [Commands.root]
        var rest = words[...]
        let forHelp = rest.first == "help"
        if forHelp { rest = rest.dropFirst() }
        while let next = rest.first, let sub = path.last!.subcommands.first(where: { $0.name == next || $0.aliases.contains(next) }) {
            path.append(sub)
            rest = rest.dropFirst()
        }
        let command = path.last!
        if !command.subcommands.isEmpty {
            guard rest.isEmpty else { return [] }
            return command.subcommands.map(\.name) + (path.count == 1 && !forHelp ? ["exit", "quit", "menu"] : [])
        }
        if forHelp { return [] }
        let options = command.options + [Parser.helpOption]
        if word.hasPrefix("-") { return options.map { "--" + $0.name } }
        // Which positional is being typed, or which option's value.
        var positionals = 0
        var valueOf: OptionSpec?
        for earlier in rest {
            if valueOf != nil {
                valueOf = nil
            } else if let option = options.first(where: { "--" + $0.name == earlier }) {
                if option.valueName != nil { valueOf = option }
            } else if !earlier.hasPrefix("-") {
                positionals += 1
            }
        }
        if let valueOf { return valueOf.name == "state" ? JobState.allCases.map(\.rawValue) : [] }
        guard let last = command.arguments.last else { return [] }
        let argument = positionals < command.arguments.count ? command.arguments[positionals] : last.repeating ? last : nil
        switch argument?.name {
        case "id":
            let deadOnly = path.count > 2 && path[1].name == "dlq"
            guard let document = try? queue.read(deadOnly ? .state(.dead) : .all) else { return [] }
            return document.jobs.indices(whereSummary: { !deadOnly || $0.state == .dead }).map { document.jobs.summary(at: $0).id }
        case "key": return ConfigKey.allCases.map(\.rawValue)
        case "pid": return workerPids()
        default: return []
        }
    }

    /// The live workers of this queue, for Tab.
    func workerPids() -> [String] {
        guard let document = try? queue.read(.none) else { return [] }
        return document.workers.filter { $0.isInThisNamespace && $0.process.isAlive }.map { String($0.process.pid) }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[first...last])
    }
}
