import Testing
@testable import CLI

enum Parsed {
    case run(path: String, positionals: [String], values: [String: String], flags: Set<String>)
    case help(path: String)
    case version
    case error(String)
}

func parse(_ argv: [String]) -> Parsed {
    do {
        switch try Parser.parse(argv, root: Commands.root) {
        case .run(let path, let a): return .run(path: Parser.commandName(path), positionals: a.positionals, values: a.values, flags: a.flags)
        case .help(let path): return .help(path: Parser.commandName(path))
        case .version: return .version
        }
    } catch {
        return .error(error.message)
    }
}

func parse(_ line: String) -> Parsed { parse(line.split(separator: " ").map(String.init)) }

func expectRun(_ argv: [String], path: String, positionals: [String] = [], values: [String: String] = [:], flags: Set<String> = [],
               sourceLocation: SourceLocation = #_sourceLocation) {
    guard case let .run(p, pos, vals, fl) = parse(argv) else {
        Issue.record("\(argv) -> \(parse(argv))", sourceLocation: sourceLocation)
        return
    }
    #expect(p == path, sourceLocation: sourceLocation)
    #expect(pos == positionals, sourceLocation: sourceLocation)
    #expect(vals == values, sourceLocation: sourceLocation)
    #expect(fl == flags, sourceLocation: sourceLocation)
}

@discardableResult
func expectError(_ argv: [String], _ words: String..., sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    guard case .error(let message) = parse(argv) else {
        Issue.record("\(argv) was accepted: \(parse(argv))", sourceLocation: sourceLocation)
        return nil
    }
    for w in words { #expect(message.contains(w), "\(argv): \(message)", sourceLocation: sourceLocation) }
    return message
}

func expectHelp(_ argv: [String], path: String, sourceLocation: SourceLocation = #_sourceLocation) {
    guard case .help(let p) = parse(argv) else {
        Issue.record("\(argv) -> \(parse(argv))", sourceLocation: sourceLocation)
        return
    }
    #expect(p == path, sourceLocation: sourceLocation)
}

@Suite struct ParserDescentTests {
    /// `--store` is taken before the command's name as after it, and still only once.
    @Test func theStoreMayComeBeforeTheCommand() {
        let db = "host=/run/pg dbname=q"
        expectRun(["--store", db, "status"], path: "queuectl status", values: ["store": db])
        expectRun(["--store=\(db)", "dlq", "list", "--json"], path: "queuectl dlq list", values: ["store": db], flags: ["json"])
        expectRun(["worker", "--store", db, "--count", "2"], path: "queuectl worker start", values: ["store": db, "count": "2"])
        expectRun(["--store", db, "add", "echo", "--store"], path: "queuectl add", positionals: ["echo", "--store"], values: ["store": db])
        expectError(["--store", db, "status", "--store", db], "option '--store' given more than once")
        expectError(["--store"], "missing value for option '--store <conninfo>'")
    }

    @Test func subcommands() {
        expectRun(["status"], path: "queuectl status")
        expectRun(["worker", "start"], path: "queuectl worker start")
        expectRun(["worker", "stop", "--wait"], path: "queuectl worker stop", flags: ["wait"])
        expectRun(["dlq", "list", "--json"], path: "queuectl dlq list", flags: ["json"])
        expectRun(["dlq", "retry", "a", "b"], path: "queuectl dlq retry", positionals: ["a", "b"])
        expectRun(["dlq", "retry", "--all"], path: "queuectl dlq retry", flags: ["all"])
        expectRun(["dlq", "delete", "x"], path: "queuectl dlq delete", positionals: ["x"])
        expectRun(["config", "get"], path: "queuectl config get")
        expectRun(["config", "get", "max_retries", "--json"], path: "queuectl config get", positionals: ["max_retries"], flags: ["json"])
        expectRun(["config", "set", "max-retries", "5"], path: "queuectl config set", positionals: ["max-retries", "5"])
        expectRun(["enqueue", #"{"command":"echo hi"}"#], path: "queuectl enqueue", positionals: [#"{"command":"echo hi"}"#])
    }

    @Test func noArgumentsShowsTheRootHelp() {
        expectHelp([], path: "queuectl")
    }

    @Test func groupWithoutSubcommandIsAnError() {
        expectError(["worker"], "missing subcommand", "start", "stop")
        expectError(["dlq"], "list", "retry", "delete")
        expectError(["config"], "get", "set")
    }

    @Test func unknownCommandSuggestsTheNearest() {
        expectError(["stauts"], "unknown command 'stauts'", "Did you mean 'status'?")
        expectError(["enqeue"], "Did you mean 'enqueue'?")
        expectError(["worker", "strat"], "Did you mean 'start'?")
        expectError(["dlq", "retyr"], "Did you mean 'retry'?")
        let m = expectError(["frobnicate"], "unknown command")
        #expect(m?.contains("Did you mean") == false)
    }

    @Test func unknownOptionBeforeASubcommand() {
        expectError(["--json", "list"], "unknown option '--json'")
        expectError(["-x"], "unknown option")
        expectError(["dlq", "--json"], "unknown option '--json'")
    }
}

@Suite struct ParserOptionTests {
    @Test func optionValueForms() {
        expectRun(["worker", "start", "--count", "3"], path: "queuectl worker start", values: ["count": "3"])
        expectRun(["worker", "start", "--count=3"], path: "queuectl worker start", values: ["count": "3"])
        expectRun(["worker", "start", "-c", "3"], path: "queuectl worker start", values: ["count": "3"])
        expectRun(["list", "-s", "dead", "-n", "5", "--json"], path: "queuectl list", values: ["state": "dead", "limit": "5"], flags: ["json"])
        expectRun(["list", "--state=failed", "--limit=2"], path: "queuectl list", values: ["state": "failed", "limit": "2"])
    }

    @Test func valuesThatLookOdd() {
        // An '=' inside the value, an empty inline value, a value starting with '-'.
        expectRun(["list", "--state=a=b"], path: "queuectl list", values: ["state": "a=b"])
        expectRun(["list", "--state="], path: "queuectl list", values: ["state": ""])
        expectRun(["worker", "start", "--count", "-1"], path: "queuectl worker start", values: ["count": "-1"])
        expectRun(["enqueue", "--file", "-"], path: "queuectl enqueue", values: ["file": "-"])
    }

    @Test func optionsMayComeBeforeOrAfterPositionals() {
        expectRun(["config", "get", "--json", "max-retries"], path: "queuectl config get", positionals: ["max-retries"], flags: ["json"])
        expectRun(["enqueue", "--file", "job.json"], path: "queuectl enqueue", values: ["file": "job.json"])
    }

    @Test func doubleDashEndsOptions() {
        expectRun(["dlq", "retry", "--", "--all", "-x", "--help"], path: "queuectl dlq retry", positionals: ["--all", "-x", "--help"])
        expectRun(["dlq", "delete", "a", "--", "-b"], path: "queuectl dlq delete", positionals: ["a", "-b"])
        expectRun(["config", "set", "--", "max-retries", "5"], path: "queuectl config set", positionals: ["max-retries", "5"])
        expectRun(["dlq", "retry", "--all", "--"], path: "queuectl dlq retry", flags: ["all"])
    }

    @Test func singleDashIsAPositional() {
        expectRun(["enqueue", "-"], path: "queuectl enqueue", positionals: ["-"])
    }

    @Test func flagGivenAValueIsRejected() {
        expectError(["list", "--json=true"], "--json", "takes no value")
        expectError(["worker", "stop", "--wait=1"], "--wait", "takes no value")
        expectError(["dlq", "retry", "--all=yes"], "takes no value")
    }

    @Test func repeatedValueOptionIsRejected() {
        expectError(["worker", "start", "--count", "3", "--count", "4"], "--count", "more than once")
        expectError(["worker", "start", "-c", "3", "--count=3"], "more than once")
        expectError(["list", "--state", "dead", "-s", "failed"], "more than once")
    }

    @Test func missingOptionValue() {
        expectError(["worker", "start", "--count"], "missing value", "--count")
        expectError(["worker", "start", "-c"], "missing value")
        expectError(["list", "--state"], "missing value", "--state")
    }

    @Test func unknownOptionGetsAHint() {
        expectError(["list", "--jsn"], "unknown option '--jsn'", "Did you mean '--json'?")
        expectError(["list", "--stat", "dead"], "Did you mean '--state'?")
        expectError(["worker", "start", "--cont", "2"], "Did you mean '--count'?")
        expectError(["worker", "stop", "--wiat"], "Did you mean '--wait'?")
        expectError(["dlq", "retry", "--al"], "Did you mean '--all'?")
        let m = expectError(["status", "--verbose"], "unknown option '--verbose'")
        #expect(m?.contains("--json") != true || m?.contains("Did you mean") == true)
        expectError(["list", "-z"], "unknown option '-z'")
        expectError(["list", "-sj"], "unknown option")
    }

    @Test func optionOfAnotherCommandIsUnknown() {
        expectError(["status", "--count", "2"], "unknown option '--count'")
        expectError(["enqueue", "--json", "{}"], "unknown option '--json'")
    }
}

@Suite struct ParserPositionalTests {
    @Test func missingPositionals() {
        expectError(["config", "set"], "missing argument <key>")
        expectError(["config", "set", "max-retries"], "missing argument <value>")
    }

    @Test func extraPositionals() {
        expectError(["config", "set", "max-retries", "5", "6"], "unexpected argument '6'")
        expectError(["config", "get", "a", "b"], "unexpected argument 'b'")
        expectError(["status", "a", "b"], "unexpected argument 'b'")
        expectError(["worker", "start", "4", "5"], "unexpected argument '5'")
        expectError(["enqueue", "{}", "{}"], "unexpected argument")
        expectError(["list", "dead"], "unexpected argument 'dead'")
    }

    @Test func repeatingPositionals() {
        let ids = (0..<50).map { "id\($0)" }
        expectRun(["dlq", "retry"] + ids, path: "queuectl dlq retry", positionals: ids)
        expectRun(["dlq", "retry"], path: "queuectl dlq retry")  // optional: --all or ids is checked by the command
    }
}

@Suite struct ParserHelpTests {
    @Test func helpFlagsAnywhere() {
        expectHelp(["--help"], path: "queuectl")
        expectHelp(["-h"], path: "queuectl")
        expectHelp(["worker", "--help"], path: "queuectl worker")
        expectHelp(["worker", "start", "--help"], path: "queuectl worker start")
        expectHelp(["worker", "start", "-h"], path: "queuectl worker start")
        expectHelp(["worker", "start", "--count", "2", "--help"], path: "queuectl worker start")
        expectHelp(["config", "set", "--help"], path: "queuectl config set")            // required positionals missing: still help
        expectHelp(["config", "set", "a", "b", "c", "--help"], path: "queuectl config set")
        expectHelp(["list", "--help", "--state", "dead"], path: "queuectl list")
        expectHelp(["dlq", "-h"], path: "queuectl dlq")
    }

    @Test func helpAfterDoubleDashIsAPositional() {
        expectRun(["dlq", "delete", "--", "--help"], path: "queuectl dlq delete", positionals: ["--help"])
    }

    @Test func helpCommand() {
        expectHelp(["help"], path: "queuectl")
        expectHelp(["help", "enqueue"], path: "queuectl enqueue")
        expectHelp(["help", "worker"], path: "queuectl worker")
        expectHelp(["help", "worker", "start"], path: "queuectl worker start")
        expectHelp(["help", "config", "set"], path: "queuectl config set")
        expectHelp(["help", "dlq", "retry"], path: "queuectl dlq retry")
        expectError(["help", "bogus"], "bogus")
        expectError(["help", "worker", "run"], "worker run")
    }

    @Test func version() {
        guard case .version = parse(["--version"]) else { Issue.record("\(parse(["--version"]))"); return }
        #expect(CLI.version.split(separator: ".").count == 3)
    }

    /// Every command in the tree, with its path.
    static func allPaths() -> [[CommandSpec]] {
        var result: [[CommandSpec]] = []
        func walk(_ path: [CommandSpec]) {
            result.append(path)
            for s in path.last!.subcommands { walk(path + [s]) }
        }
        walk([Commands.root])
        return result
    }

    @Test func everyCommandHasHelpWithTheStandardSections() {
        let paths = Self.allPaths()
        #expect(paths.count >= 14)
        for path in paths {
            let text = Parser.helpText(path)
            let name = Parser.commandName(path)
            #expect(text.hasPrefix("OVERVIEW: "), "\(name)")
            #expect(text.contains("\nUSAGE: \(name)"), "\(name)")
            #expect(text.contains("\nOPTIONS:\n"), "\(name)")
            #expect(text.contains("-h, --help"), "\(name)")
            let command = path.last!
            for option in command.options { #expect(text.contains("--\(option.name)"), "\(name) lacks --\(option.name)") }
            for argument in command.arguments { #expect(text.contains("<\(argument.name)>"), "\(name) lacks <\(argument.name)>") }
            for sub in command.subcommands { #expect(text.contains(sub.name), "\(name) lacks \(sub.name)") }
            if !command.subcommands.isEmpty { #expect(text.contains("SUBCOMMANDS:"), "\(name)") }
            if !command.arguments.isEmpty { #expect(text.contains("ARGUMENTS:"), "\(name)") }
            // Each reachable command answers --help and 'help <command>' with that same text.
            if path.count > 1 {
                let words = path.dropFirst().map(\.name)
                if name != "queuectl help" {
                    expectHelp(words + ["--help"], path: name)
                }
                expectHelp(["help"] + words, path: name)
            }
        }
    }

    @Test func everyLeafCommandRuns() {
        for path in Self.allPaths() where path.last!.subcommands.isEmpty && path.last!.name != "help" {
            #expect(path.last!.run != nil, "\(Parser.commandName(path)) has no run")
        }
    }

    @Test func rootHelpListsEveryCommand() {
        let text = Parser.helpText([Commands.root])
        for name in ["enqueue", "worker", "status", "list", "dlq", "config", "help"] { #expect(text.contains(name)) }
        #expect(text.contains("--version"))
    }

    @Test func usageLines() {
        let paths = Self.allPaths()
        let start = paths.first { Parser.commandName($0) == "queuectl worker start" }!
        #expect(Parser.usageLine(start).hasPrefix("queuectl worker start ") && Parser.usageLine(start).contains("[--count <n>]"))
        let set = paths.first { Parser.commandName($0) == "queuectl config set" }!
        #expect(Parser.usageLine(set) == "queuectl config set [--lock-timeout <seconds>] <key> <value>")
        let retry = paths.first { Parser.commandName($0) == "queuectl dlq retry" }!
        #expect(Parser.usageLine(retry).contains("[<id> ...]"))
        #expect(Parser.usageLine([Commands.root]) == "queuectl <subcommand>")
    }

    @Test func usageErrorTextHasErrorUsageAndHelpPointer() {
        let text = CLI.usageErrorText(UsageError(message: "bad thing", path: [Commands.root, Commands.list]))
        #expect(text.hasPrefix("Error: bad thing\n"))
        #expect(text.contains("Usage: queuectl list"))
        #expect(text.contains("queuectl list --help"))
    }
}

/// The spellings the earlier QueueCTL tools taught their users.
@Suite struct ParserSeedSpellingTests {
    @Test func workerWithAnOptionIsWorkerStart() {
        expectRun(["worker", "--count", "2"], path: "queuectl worker start", values: ["count": "2"])
        expectRun(["worker", "-c", "2", "--drain"], path: "queuectl worker start", values: ["count": "2"], flags: ["drain"])
        // Help still asks for the group's help, and a bare `worker` still names its subcommands.
        guard case .help = parse(["worker", "--help"]) else { Issue.record("worker --help did not ask for help"); return }
        expectError(["worker"], "missing subcommand")
    }

    @Test func workerStartTakesTheCountAsAPositional() {
        expectRun(["worker", "start", "3"], path: "queuectl worker start", positionals: ["3"])
    }

    @Test func configShowAndListAreConfigGet() {
        expectRun(["config", "show"], path: "queuectl config get")
        expectRun(["config", "list", "--json"], path: "queuectl config get", flags: ["json"])
    }

    @Test func setAtTheTopLevelIsConfigSet() {
        expectRun(["set", "max-retries", "5"], path: "queuectl set", positionals: ["max-retries", "5"])
    }

    @Test func statusAndWorkerStatusTakeWhatTheyShow() {
        expectRun(["status", "job1"], path: "queuectl status", positionals: ["job1"])
        expectRun(["worker", "status"], path: "queuectl worker status")
    }
}
