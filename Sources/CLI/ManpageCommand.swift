import QueueStorage

extension Commands {
    static let manpage = CommandSpec(
        name: "manpage",
        summary: "Print the manual page, in roff, made from the commands' help texts.",
        discussion: """
          Read it with 'queuectl manpage | man -l -', or install it with Scripts/install.sh and read it
          with 'man queuectl'.
        """,
        run: runManpage
    )

    static func runManpage(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        context.print(Manpage.render(root))
        return 0
    }
}

/// queuectl(1), from the same command specs the help and the completion scripts come from.
enum Manpage {
    static func render(_ root: CommandSpec) -> String {
        var page = """
        .TH QUEUECTL 1 "" "queuectl \(CLI.version)" "User Commands"
        .SH NAME
        queuectl \\- \(text(root.summary))
        .SH SYNOPSIS
        .B queuectl
        .I command
        .RI [ options ]
        .RI [ arguments ]
        .SH DESCRIPTION
        \(paragraphs(root.discussion ?? ""))
        Every command answers
        .B \\-\\-help
        and
        .BR "queuectl help " \\fIcommand\\fR
        with the text of its section here.
        .SH OPTIONS

        """
        for option in root.options + [Parser.storeOption, Parser.helpOption] { page += optionItem(option) }
        page += ".SH COMMANDS\n"
        var queue: [[CommandSpec]] = root.subcommands.map { [root, $0] }
        while !queue.isEmpty {
            let path = queue.removeFirst()
            let command = path.last!
            if !command.subcommands.isEmpty {
                queue.insert(contentsOf: command.subcommands.map { path + [$0] }, at: 0)
                continue
            }
            if command.run == nil { continue }  // `help`, which the parser answers itself
            page += ".SS \"\(text(Parser.commandName(path)))\"\n"
            let usage = Parser.usageLine(path)
            let name = Parser.commandName(path)
            page += "\\fB\(text(name))\\fR\(text(usage.dropFirst(name.count)))\n.PP\n\(text(command.summary))\n"
            if let discussion = command.discussion { page += ".PP\n" + paragraphs(discussion) }
            for argument in command.arguments {
                page += ".TP\n.I \(text("<" + argument.name + ">"))\n\(text(argument.help))\n"
            }
            for option in command.options { page += optionItem(option) }
        }
        page += """
        .SH ENVIRONMENT
        .TP
        .B QUEUECTL_HOME
        The queue's directory (default: \\fI~/.queuectl\\fR). It must be an absolute path.
        .SH FILES
        .TP
        .I $QUEUECTL_HOME/data.json
        The whole queue: jobs (with any environment they were given), workers and config, in one JSON
        file, mode 0600, replaced atomically under a lock on
        .IR data.lock .
        .TP
        .I $QUEUECTL_HOME/logs/<id>.log
        Each job's output, every run under a header line.
        .TP
        .I $QUEUECTL_HOME/worker.log
        The event lines of workers started with
        .BR "worker start \\-\\-detach" .
        .SH EXIT STATUS
        0 on success, 1 when the operation failed (a job not found, a storage error), 64 for a usage
        error (a bad option, value or JSON), 124 when
        .B wait
        or
        .B worker stop \\-\\-wait
        timed out.
        .SH SEE ALSO
        .BR sh (1),
        .BR nohup (1),
        .BR systemctl (1)

        """
        return page
    }

    private static func optionItem(_ option: OptionSpec) -> String {
        var left = "\\fB" + text("--" + option.name) + "\\fR"
        if let short = option.short { left = "\\fB" + text("-\(short)") + "\\fR, " + left }
        if let value = option.valueName { left += " \\fI" + text("<" + value + ">") + "\\fR" }
        if option.repeats { left += " ..." }
        let help = option.help + (option.defaultText.map { " (default: \($0))" } ?? "")
        return ".TP\n\(left)\n\(text(help))\n"
    }

    /// A help text's lines joined into paragraphs (a blank line separates them), as roff text.
    private static func paragraphs(_ discussion: String) -> String {
        let lines = discussion.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: " ") }
        var out: [String] = []
        var current: [Substring] = []
        for line in lines + [""] {
            if line.isEmpty {
                if !current.isEmpty { out.append(text(current.joined(separator: " "))) }
                current = []
            } else {
                current.append(line)
            }
        }
        return out.joined(separator: "\n.PP\n") + "\n"
    }

    /// Text safe in roff: backslashes escaped, minus signs as such (so options can be searched and
    /// copied), and a line that would start with a control character made plain.
    static func text<S: StringProtocol>(_ plain: S) -> String {
        var out = ""
        for c in plain {
            switch c {
            case "\\": out += "\\e"
            case "-": out += "\\-"
            default: out.append(c)
            }
        }
        if out.hasPrefix(".") || out.hasPrefix("'") { out = "\\&" + out }
        return out
    }
}

private extension Substring {
    func trimmingCharacters(in set: Character) -> Substring {
        var s = self
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return s
    }
}
