import Foundation
import Testing
import TestSupport

/// Completion scripts, the manual page, install.sh, -V and demo.sh's quoting (issue 12, item 11).
@Suite struct ShellIntegrationTests {
    /// A program `Scripts/test.sh` installs when missing: nil (and, under CI, a failure) when absent.
    static func tool(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        let candidates: [String] = ["/usr/bin/\(name)", "/bin/\(name)", "/usr/local/bin/\(name)"]
        if let path = candidates.first(where: { access($0, X_OK) == 0 }) { return path }
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            Issue.record("\(name) is missing: Scripts/test.sh installs it", sourceLocation: sourceLocation)
        }
        return nil
    }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Runs `program args` with the sandbox's environment; its exit code and stdout (stderr appended).
    func shell(_ q: QueueSandbox, _ program: String, _ args: [String], env: [String: String] = [:]) -> (Int32, String, String) {
        let child = q.start(args, env: env, program: program)
        let status = child.wait()
        return (status, child.stdout(), child.stderr())
    }

    /// stdout of `queuectl args`, which must succeed.
    func output(_ q: QueueSandbox, _ args: [String]) -> String {
        let r = q.run(args)
        #expect(r.status == 0, "\(args): \(r)")
        return r.stdout
    }

    func write(_ text: String, to path: String) throws { try text.write(toFile: path, atomically: true, encoding: .utf8) }

    /// The subcommands of the group at `path`, as the binary's own help lists them (without `help`).
    func subcommands(_ q: QueueSandbox, _ path: [String]) -> [String] {
        let help = output(q, path + ["--help"])
        guard let section = help.components(separatedBy: "SUBCOMMANDS:\n").dropFirst().first else { return [] }
        return section.split(separator: "\n").prefix { !$0.drop { $0 == " " }.hasPrefix("See ") }
            .compactMap { $0.split(separator: " ").first.map(String.init) }.filter { $0 != "help" }
    }

    /// Every command the help names, walked down to each leaf.
    func commandPaths(_ q: QueueSandbox, under path: [String] = []) -> [[String]] {
        let names = subcommands(q, path)
        return names.isEmpty ? [path] : names.flatMap { commandPaths(q, under: path + [$0]) }
    }

    /// The long options a command's help lists.
    func helpOptions(_ q: QueueSandbox, _ path: [String]) -> Set<String> {
        let help = output(q, path + ["--help"])
        let section = help.components(separatedBy: "OPTIONS:\n")[1].components(separatedBy: "\n\n")[0]
        return Set(section.split(separator: "\n").compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("--") }.map(String.init)
        })
    }

    @Test func bashCompletesCommandsOptionsStatesAndJobIDs() throws {
        let q = QueueSandbox()
        q.ok("add", "--id", "alpha", "true")
        q.ok("add", "--id", "beta", "true")
        let script = q.root + "/queuectl.bash"
        try write(q.ok("completions", "bash"), to: script)
        let driver = """
        source \(script)
        complete -p queuectl
        t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _queuectl; echo "${COMPREPLY[*]}"; }
        t \(queuectlBinary) wor
        t \(queuectlBinary) worker ''
        t \(queuectlBinary) worker start --d
        t \(queuectlBinary) list --state p
        t \(queuectlBinary) list --state = f
        t \(queuectlBinary) show ''
        t \(queuectlBinary) dlq retry alpha ''
        t \(queuectlBinary) config set ''
        t \(queuectlBinary) config set max-retries ''
        t \(queuectlBinary) completions ''
        t \(queuectlBinary) add --c
        t \(queuectlBinary) add --cwd \(q.root)/hom
        t \(queuectlBinary) add echo --c
        t \(queuectlBinary) -
        """
        let (status, out, err) = shell(q, "/bin/bash", ["-c", driver])
        #expect(status == 0, "\(err)")
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count >= 15, "\(out)")
        guard lines.count >= 15 else { return }
        #expect(lines[0] == "complete -F _queuectl queuectl")
        #expect(lines[1] == "worker")
        #expect(lines[2] == subcommands(q, ["worker"]).joined(separator: " "))
        #expect(lines[2].hasPrefix("start stop"))
        #expect(lines[3] == "--drain --detach")
        #expect(lines[4] == "pending processing")
        #expect(lines[5] == "failed")
        #expect(lines[6] == "alpha beta")
        #expect(lines[7] == "alpha beta")
        #expect(lines[8].split(separator: " ").contains("max-retries") && lines[8].split(separator: " ").contains("worker-count"))
        #expect(lines[9] == "")
        #expect(lines[10] == "bash zsh fish")
        #expect(lines[11] == "--cwd --capture-env")
        #expect(lines[12] == "\(q.root)/home")
        #expect(lines[13] == "", "after add's command, its words are the command's own")
        #expect(lines[14] == "--version -V --interactive -i --help -h")
    }

    /// The scripts come from the specs, not a list: for every command the binary's help names, bash
    /// completes exactly the options its help lists.
    @Test func bashOffersEachCommandExactlyTheOptionsItsHelpLists() throws {
        let q = QueueSandbox()
        let script = q.root + "/queuectl.bash"
        try write(q.ok("completions", "bash"), to: script)
        let paths = commandPaths(q)
        #expect(paths.count > 20)
        #expect(paths.contains(["worker", "start"]) && paths.contains(["add"]) && paths.contains(["completions"]))
        var driver = "source \(script)\n"
        for path in paths {
            driver += "COMP_WORDS=(queuectl \(path.joined(separator: " ")) --); COMP_CWORD=\(path.count + 1); _queuectl; "
            driver += "echo \"${COMPREPLY[*]}\"\n"
        }
        let (status, out, err) = shell(q, "/bin/bash", ["-c", driver])
        #expect(status == 0, "\(err)")
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
        for (path, line) in zip(paths, lines) {
            #expect(Set(line.split(separator: " ").map(String.init)) == helpOptions(q, path), "\(path)")
        }
    }

    @Test func zshLoadsItsScriptAndCompletesTheSame() throws {
        guard let zsh = Self.tool("zsh") else { return }
        let q = QueueSandbox()
        q.ok("add", "--id", "alpha", "true")
        let script = q.root + "/_queuectl"
        try write(q.ok("completions", "zsh"), to: script)
        #expect(shell(q, zsh, ["-n", script]).0 == 0)
        // The completion system's functions stand in as printers: what the script asks them to offer.
        let driver = """
        compdef() { print -r -- "compdef $*" }
        compadd() { print -r -- "compadd ${(j: :)@}" }
        compset() { : }
        _describe() { print -r -- "describe ${(j: :)${(P)4}}" }
        _files() { print -r -- "files $*" }
        source \(script)
        t() { words=("$@"); CURRENT=${#words}; _queuectl }
        t \(queuectlBinary) worker ''
        t \(queuectlBinary) worker start --c
        t \(queuectlBinary) show ''
        t \(queuectlBinary) list --state=p
        t \(queuectlBinary) add --cwd /t
        """
        let (status, out, err) = shell(q, zsh, ["-f", "-c", driver])
        #expect(status == 0, "\(err)")
        var lines = out.split(separator: "\n").map(String.init)
        #expect(lines.count == 6, "\(out)")
        guard lines.count == 6 else { return }
        #expect(lines[1].hasPrefix("describe start:Run jobs in this terminal until Ctrl+C. stop:Ask every running worker of this queue to stop gracefully."))
        for name in subcommands(q, ["worker"]) { #expect(lines[1].contains(" \(name):") || lines[1].hasPrefix("describe \(name):"), "\(name)") }
        lines.remove(at: 1)
        #expect(lines == [
            "compdef _queuectl queuectl",
            "compadd -- --count -c --drain --detach --queue --store --help -h",
            "compadd -- alpha",
            "compadd -- pending processing completed failed dead",
            "files -/",
        ], "\(out)")
    }

    @Test func fishCompletesWithDescriptions() throws {
        guard let fish = Self.tool("fish") else { return }
        let q = QueueSandbox()
        q.ok("add", "--id", "alpha", "true")
        let script = q.root + "/queuectl.fish"
        try write(q.ok("completions", "fish"), to: script)
        let bin = URL(fileURLWithPath: queuectlBinary).deletingLastPathComponent().path
        let driver = """
        source \(script)
        complete -C 'queuectl worker '; echo ==
        complete -C 'queuectl worker start --d'; echo ==
        complete -C 'queuectl show '; echo ==
        complete -C 'queuectl list --state '
        """
        let (status, out, err) = shell(q, fish, ["--no-config", "-c", driver], env: ["PATH": "\(bin):/usr/bin:/bin"])
        #expect(status == 0, "\(err)")
        let parts = out.components(separatedBy: "==\n")
        #expect(parts.count == 4, "\(out)")
        guard parts.count == 4 else { return }
        #expect(parts[0].split(separator: "\n").map { String($0.split(separator: "\t")[0]) }.sorted() == subcommands(q, ["worker"]).sorted())
        #expect(parts[0].contains("start\tRun jobs in this terminal until Ctrl+C.\n"))
        #expect(parts[0].contains("stop\tAsk every running worker of this queue to stop gracefully.\n"))
        #expect(parts[1].hasPrefix("--detach\tRun in the background") && parts[1].contains("--drain\tExit once nothing runs"))
        #expect(parts[2] == "alpha\n")
        #expect(parts[3].split(separator: "\n").map { $0.split(separator: "\t")[0] } == ["completed", "dead", "failed", "pending", "processing"])
    }

    @Test func theManualPageRendersWithoutWarningsAndCoversEveryCommand() throws {
        guard let groff = Self.tool("groff"), let man = Self.tool("man") else { return }
        let q = QueueSandbox()
        let page = q.root + "/queuectl.1"
        try write(q.ok("manpage"), to: page)
        let (status, _, warnings) = shell(q, groff, ["-man", "-Tutf8", "-ww", "-z", page])
        #expect(status == 0)
        #expect(warnings.isEmpty, "\(warnings)")
        let (manStatus, text, manErr) = shell(q, man, ["-l", page], env: ["MANWIDTH": "100", "MAN_KEEP_FORMATTING": "", "PAGER": "cat"])
        #expect(manStatus == 0, "\(manErr)")
        let plain = text.replacing(/.\u{08}/, with: "")
        for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "ENVIRONMENT", "FILES", "EXIT STATUS"] {
            #expect(plain.contains("\n\(section)\n"), "\(section)")
        }
        for path in commandPaths(q) {
            #expect(plain.contains("queuectl " + path.joined(separator: " ")), "\(path)")
        }
        #expect(plain.contains("--detach"))
        #expect(plain.contains("--capture-env"))
        // groff justifies lines, putting its extra spaces on alternate sides line by line.
        #expect(plain.replacing(/\s+/, with: " ").contains("The words after the options are joined with single spaces"))
    }

    @Test func installPutsTheBinaryManPageCompletionsAndUnitUnderThePrefix() throws {
        let q = QueueSandbox()
        let prefix = q.root + "/prefix"
        let (status, out, err) = shell(q, "/bin/bash", [Self.repository + "/Scripts/install.sh", prefix],
                                       env: ["QUEUECTL_BIN": queuectlBinary, "HOME": q.root])
        #expect(status == 0, "\(out)\(err)")
        let share = prefix + "/share"
        let installed = prefix + "/bin/queuectl"
        #expect(access(installed, X_OK) == 0)
        let files = ["/man/man1/queuectl.1": ["manpage"], "/bash-completion/completions/queuectl": ["completions", "bash"],
                     "/zsh/site-functions/_queuectl": ["completions", "zsh"], "/fish/vendor_completions.d/queuectl.fish": ["completions", "fish"]]
        for (file, command) in files {
            #expect((try? String(contentsOfFile: share + file, encoding: .utf8)) == output(q, command), "\(file)")
        }
        let unit = try String(contentsOfFile: share + "/systemd/user/queuectl-worker.service", encoding: .utf8)
        #expect(unit.contains("\nExecStart=\(installed) worker start\n"))
        #expect(unit.contains("\nKillMode=mixed\n") && unit.contains("\nWantedBy=default.target\n"))
        // systemd's own check of the unit, where systemd is installed (it finds the man page too).
        let analyzers: [String] = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        if let analyze = analyzers.first(where: { access($0, X_OK) == 0 }) {
            let (verified, _, problems) = shell(q, analyze, ["verify", share + "/systemd/user/queuectl-worker.service"],
                                                env: ["MANPATH": share + "/man"])
            #expect(verified == 0, "\(problems)")
        }
    }

    @Test func dashVIsTheShortVersion() {
        let q = QueueSandbox()
        let short = q.run(["-V"]), long = q.run(["--version"])
        #expect(short.status == 0)
        #expect(short.stdout == long.stdout)
        #expect(short.stdout.hasPrefix("queuectl "))
    }

    /// demo.sh prints each command with its words quoted for the shell: read back by a shell, each
    /// line gives the very words that ran.
    @Test func demoQuotesEachCommandSoItCanBePasted() throws {
        let q = QueueSandbox()
        let words = ["enqueue", #"{"id":"x","command":"echo it's $HOME"}"#, "", "two words", "--env", "A=b c", "plain-1.2"]
        let driver = """
        source <(sed -n '/^quote()/,/^}/p' \(Self.repository)/Scripts/demo.sh)
        line=$(quote "$@")
        echo "$line"
        eval "printf '<%s>\\n' $line"
        """
        let (status, out, err) = shell(q, "/bin/bash", ["-c", driver, "demo"] + words)
        #expect(status == 0, "\(err)")
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.first == #"enqueue '{"id":"x","command":"echo it'\''s $HOME"}' '' 'two words' --env 'A=b c' plain-1.2"#)
        #expect(Array(lines.dropFirst()) == words.map { "<\($0)>" })
    }
}
