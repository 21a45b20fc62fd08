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
          JSON needs no quotes. 'menu' offers the common actions by number; 'help' lists the
          commands; 'exit', 'quit' or Ctrl+D leaves. An error never ends the shell. When standard
          input is not a terminal no prompt is printed, so a script can be piped in.
        """,
        run: runShell
    )

    static func runShell(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let interactive = Console.isTerminal(0)
        let reader = LineReader(fd: 0)
        if interactive {
            Console.out("queuectl \(CLI.version) shell. Type 'help' for commands, 'menu' for a menu, 'exit' to leave.\n")
        }
        while true {
            if interactive { Console.out("queuectl> ") }
            guard let line = reader.readLine() else {
                if interactive { Console.out("\n") }
                return 0
            }
            let words: [String]
            do { words = try splitWords(line) } catch {
                Console.err("Error: \(error.message)\n")
                continue
            }
            guard let first = words.first else { continue }
            switch first {
            case "exit", "quit": return 0
            case "menu": runMenu(reader)
            case "shell": Console.err("Error: already in the shell\n")
            case "help" where words.count == 1:
                _ = CLI.run(["help"])
                Console.out("\nIn the shell also: menu (the common actions by number), exit (or quit, or Ctrl+D).\n")
            default: _ = CLI.run(words)
            }
        }
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

    static let menuText = """

        Menu
          1) Show status
          2) List jobs by state
          3) Enqueue a job
          4) List the dead letter queue
          5) Retry a job from the dead letter queue
          6) View the configuration
          7) Change a setting
          0) Back to the shell

        """

    /// The numbered menu. Each action runs the same command the shell would.
    static func runMenu(_ reader: LineReader) {
        func ask(_ question: String) -> String? {
            Console.out(question)
            let answer = reader.readLine()?.trimmingWhitespace()
            if !Console.isTerminal(0) { Console.out("\n") }
            return answer
        }
        while true {
            Console.out(menuText)
            guard let choice = ask("Choose 0-7: ") else { return }
            switch choice {
            case "0", "": return
            case "1": _ = CLI.run(["status"])
            case "2":
                guard let state = ask("State (\(JobState.names); empty for all): ") else { return }
                _ = CLI.run(state.isEmpty ? ["list"] : ["list", "--state", state])
            case "3":
                guard let command = ask("Command: ") else { return }
                guard let id = ask("Id (empty to generate one): ") else { return }
                guard let retries = ask("Max retries (empty for the configured default): ") else { return }
                var w = JSONWriter()
                w.raw("{"); w.key("command", first: true); w.string(command)
                if !id.isEmpty { w.key("id"); w.string(id) }
                if !retries.isEmpty {
                    do throws(QueueError) {
                        w.key("max_retries"); w.int(try NumberInput.integer(retries, for: "max retries", in: QueueConfig.maxRetriesRange))
                    } catch {
                        Console.err("Error: \(error.message)\n")
                        continue
                    }
                }
                w.raw("}")
                _ = CLI.run(["enqueue", String(decoding: w.bytes, as: UTF8.self)])
            case "4": _ = CLI.run(["dlq", "list"])
            case "5":
                guard let id = ask("Id of the dead job to retry: ") else { return }
                _ = CLI.run(["dlq", "retry", id])
            case "6": _ = CLI.run(["config", "get"])
            case "7":
                guard let key = ask("Key (\(ConfigKey.names)): ") else { return }
                guard let value = ask("Value: ") else { return }
                _ = CLI.run(["config", "set", key, value])
            default: Console.err("Error: choose a number from 0 to 7, not '\(choice)'\n")
            }
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[first...last])
    }
}
