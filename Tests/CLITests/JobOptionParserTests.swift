import Testing
@testable import CLI

/// The parser's handling of `add` and of the job options it shares with `enqueue`.
@Suite struct JobOptionParserTests {
    @Test func addReadsOptionsOnlyBeforeTheCommand() {
        expectRun(["add", "--priority", "3", "ls", "-la", "--priority", "4", "-h"], path: "queuectl add",
                  positionals: ["ls", "-la", "--priority", "4", "-h"], values: ["priority": "3"])
        expectRun(["add", "--", "--version", "--"], path: "queuectl add", positionals: ["--version", "--"])
        expectRun(["add", "--from", "-"], path: "queuectl add", values: ["from": "-"])
        expectHelp(["add", "--help"], path: "queuectl add")
        expectError(["add", "--prioity", "3", "true"], "unknown option '--prioity'", "Did you mean '--priority'?")
    }

    @Test func otherCommandsStillTakeOptionsAfterArguments() {
        expectRun(["enqueue", "{}", "--priority", "2"], path: "queuectl enqueue", positionals: ["{}"], values: ["priority": "2"])
    }

    @Test func envRepeatsInOrderWhileOtherOptionsMayNot() throws {
        let parsed = try Parser.parse(["enqueue", "--env", "B=2", "--env=A=1", "{}"], root: Commands.root)
        guard case .run(_, let arguments) = parsed else { Issue.record("not parsed"); return }
        #expect(arguments.all("env") == ["B=2", "A=1"])
        expectError(["add", "--priority", "1", "--priority", "2", "true"], "option '--priority' given more than once")
        expectError(["add", "--env"], "missing value for option '--env <name=value>'")
    }

    @Test func addAndEnqueueShareEveryJobOption() {
        let names = Commands.jobOptions.map(\.name)
        #expect(Set(["id", "priority", "delay", "run-at", "timeout", "cwd", "max-retries", "env", "capture-env"]).isSubset(of: names))
        for command in [Commands.add, Commands.enqueue] {
            #expect(names.allSatisfy { name in command.options.contains { $0.name == name } }, "\(command.name)")
        }
    }

    @Test func dashCapitalVIsTheShortVersion() {
        guard case .version = parse(["-V"]) else { Issue.record("-V: \(parse(["-V"]))"); return }
        guard case .version = parse(["--version"]) else { Issue.record("--version"); return }
        expectError(["status", "-V"], "unknown option '-V'")
    }
}
