import JobManager
import QueueStorage

/// An option a command takes: a flag (`--json`) or one with a value (`--count <n>`).
struct OptionSpec: Sendable {
    let name: String
    let short: Character?
    let valueName: String?
    let help: String
    let defaultText: String?
    /// A value option that may be given more than once; its values are `ParsedArguments.all(name)`.
    var repeats = false

    static func flag(_ name: String, short: Character? = nil, _ help: String) -> OptionSpec {
        OptionSpec(name: name, short: short, valueName: nil, help: help, defaultText: nil)
    }

    static func value(_ name: String, short: Character? = nil, _ valueName: String, _ help: String, default defaultText: String? = nil) -> OptionSpec {
        OptionSpec(name: name, short: short, valueName: valueName, help: help, defaultText: defaultText)
    }

    static func repeating(_ name: String, short: Character? = nil, _ valueName: String, _ help: String) -> OptionSpec {
        OptionSpec(name: name, short: short, valueName: valueName, help: help, defaultText: nil, repeats: true)
    }

    var usage: String { "--\(name)" + (valueName.map { " <\($0)>" } ?? "") + (repeats ? " ..." : "") }
}

/// A positional argument.
struct ArgumentSpec: Sendable {
    let name: String
    let help: String
    var optional = false
    var repeating = false

    var usage: String {
        let core = "<\(name)>" + (repeating ? " ..." : "")
        return optional ? "[\(core)]" : core
    }
}

/// What a command was given, after parsing.
struct ParsedArguments: Sendable {
    var positionals: [String] = []
    var values: [String: String] = [:]
    /// The values of options that may repeat, in the order given.
    var repeated: [String: [String]] = [:]
    var flags: Set<String> = []

    func has(_ flag: String) -> Bool { flags.contains(flag) }
    func value(_ name: String) -> String? { values[name] }
    func all(_ name: String) -> [String] { repeated[name] ?? [] }

    /// Words that parse back to these arguments, less the options in `excluded` (to run the same
    /// command again in another process).
    func words(excluding excluded: Set<String>) -> [String] {
        var words = flags.subtracting(excluded).sorted().map { "--\($0)" }
        for (name, value) in values.sorted(by: { $0.key < $1.key }) where !excluded.contains(name) { words.append("--\(name)=\(value)") }
        for (name, list) in repeated.sorted(by: { $0.key < $1.key }) where !excluded.contains(name) {
            words += list.map { "--\(name)=\($0)" }
        }
        return positionals.isEmpty ? words : words + ["--"] + positionals
    }
}

/// A command or a group of subcommands. A command's `run` gets its parsed arguments.
struct CommandSpec: Sendable {
    let name: String
    let summary: String
    var discussion: String? = nil
    var arguments: [ArgumentSpec] = []
    var options: [OptionSpec] = []
    var subcommands: [CommandSpec] = []
    /// Other names it answers to (`config show` for `config get`), kept out of help and completion.
    var aliases: [String] = []
    /// The subcommand a group runs when an option follows it directly (`worker --count 2`).
    var defaultSubcommand: String? = nil
    /// Options are read only before the first argument: the rest is a command line of its own
    /// (`queuectl add ls -la`), kept word for word.
    var argumentsEndOptions = false
    var run: (@Sendable (ParsedArguments, Context) throws(QueueError) -> Int32)? = nil
}

/// A usage error: the message plus the command it concerns, for the usage line and help pointer.
struct UsageError: Error {
    let message: String
    let path: [CommandSpec]
}

/// What `parse` found.
enum ParseResult {
    case run(path: [CommandSpec], arguments: ParsedArguments)
    case help(path: [CommandSpec])
    case version
}

enum Parser {
    static let helpOption = OptionSpec.flag("help", short: "h", "Show help information.")

    /// Taken by every command, like `--help`, and kept out of usage lines and completion: the store is
    /// usually chosen once, with `$QUEUECTL_STORE`.
    static let storeOption = OptionSpec.value(
        "store", "conninfo",
        "Use the queue in this PostgreSQL database (a libpq connection string) instead of the data file; also $QUEUECTL_STORE.",
        default: "the data file")

    /// Parses `argv` (without the program name) against `root`. Everything is checked before anything runs.
    static func parse(_ argv: [String], root: CommandSpec) throws(UsageError) -> ParseResult {
        var path = [root]
        var rest = argv[...]
        // `--store` before the command's name (`queuectl --store … status`), taken as given after it.
        var storeGivenBefore: [String] = []
        // Descend into subcommands.
        while !path.last!.subcommands.isEmpty {
            let group = path.last!
            if let word = rest.first, word == "--store" || word.hasPrefix("--store=") {
                let taken = word == "--store" ? 2 : 1
                guard rest.count >= taken else {
                    throw UsageError(message: "missing value for option '--store <\(storeOption.valueName!)>'", path: path)
                }
                storeGivenBefore += rest.prefix(taken)
                rest = rest.dropFirst(taken)
                continue
            }
            guard let word = rest.first else {
                if path.count == 1 { return .help(path: path) }
                throw UsageError(message: "missing subcommand; expected one of: \(group.subcommands.map(\.name).joined(separator: ", "))", path: path)
            }
            if word == "-h" || word == "--help" { return .help(path: path) }
            if path.count == 1, word == "--version" || word == "-V" { return .version }
            if path.count == 1, word == "help" {
                return .help(path: try resolve(Array(rest.dropFirst()), root: root))
            }
            if word.hasPrefix("-"), word != "--version", let name = group.defaultSubcommand,
               let sub = group.subcommands.first(where: { $0.name == name }) {
                path.append(sub)
                continue
            }
            guard let sub = group.subcommands.first(where: { $0.name == word || $0.aliases.contains(word) }) else {
                let known = group.subcommands.map(\.name)
                if word.hasPrefix("-") {
                    throw UsageError(message: "unknown option '\(word)'", path: path)
                }
                let hint = closestMatch(word, among: known).map { " Did you mean '\($0)'?" } ?? ""
                throw UsageError(message: "unknown command '\(word)'.\(hint) Expected one of: \(known.joined(separator: ", "))", path: path)
            }
            path.append(sub)
            rest = rest.dropFirst()
        }
        rest = (storeGivenBefore + rest)[...]
        let command = path.last!
        let options = command.options + [storeOption]
        var parsed = ParsedArguments()
        var onlyPositionals = false
        while let word = rest.first {
            rest = rest.dropFirst()
            // `-1` is a value (config set max-retries -1 must say the value is out of range), never an option.
            let negativeNumber = word.count > 1 && word.dropFirst().first!.isNumber
            if onlyPositionals || word == "-" || !word.hasPrefix("-") || negativeNumber {
                parsed.positionals.append(word)
                if command.argumentsEndOptions { onlyPositionals = true }
                continue
            }
            if word == "--" { onlyPositionals = true; continue }
            if word == "-h" || word == "--help" { return .help(path: path) }
            var name: String
            var inlineValue: String?
            if word.hasPrefix("--") {
                name = String(word.dropFirst(2))
                if let eq = name.firstIndex(of: "=") {
                    inlineValue = String(name[name.index(after: eq)...])
                    name = String(name[..<eq])
                }
                guard let spec = options.first(where: { $0.name == name }) else {
                    let hint = closestMatch(name, among: options.map(\.name)).map { " Did you mean '--\($0)'?" } ?? ""
                    throw UsageError(message: "unknown option '--\(name)'.\(hint)", path: path)
                }
                name = spec.name
            } else {
                let letter = word.dropFirst()
                guard letter.count == 1, let spec = options.first(where: { $0.short == letter.first }) else {
                    throw UsageError(message: "unknown option '\(word)'", path: path)
                }
                name = spec.name
            }
            let spec = options.first { $0.name == name }!
            if spec.valueName == nil {
                if inlineValue != nil { throw UsageError(message: "option '--\(name)' takes no value", path: path) }
                parsed.flags.insert(name)
                continue
            }
            if !spec.repeats, parsed.values[name] != nil { throw UsageError(message: "option '--\(name)' given more than once", path: path) }
            let value: String
            if let inlineValue {
                value = inlineValue
            } else if let next = rest.first {
                value = next
                rest = rest.dropFirst()
            } else {
                throw UsageError(message: "missing value for option '--\(name) <\(spec.valueName!)>'", path: path)
            }
            if spec.repeats { parsed.repeated[name, default: []].append(value) } else { parsed.values[name] = value }
        }
        try checkPositionals(parsed.positionals, command: command, path: path)
        return .run(path: path, arguments: parsed)
    }

    /// The command named by `words` (for `help <command>`).
    static func resolve(_ words: [String], root: CommandSpec) throws(UsageError) -> [CommandSpec] {
        var path = [root]
        let names = words.filter { $0 != "--help" && $0 != "-h" }
        // `help --help`: the help command's own help.
        if names.isEmpty, !words.isEmpty, let help = root.subcommands.first(where: { $0.name == "help" }) { return [root, help] }
        for word in names {
            guard let sub = path.last!.subcommands.first(where: { $0.name == word || $0.aliases.contains(word) }) else {
                throw UsageError(message: "no help for unknown command '\(words.joined(separator: " "))'", path: path)
            }
            path.append(sub)
        }
        return path
    }

    private static func checkPositionals(_ given: [String], command: CommandSpec, path: [CommandSpec]) throws(UsageError) {
        let required = command.arguments.filter { !$0.optional }.count
        let unlimited = command.arguments.contains { $0.repeating }
        if given.count < required {
            let missing = command.arguments[given.count]
            throw UsageError(message: "missing argument <\(missing.name)>", path: path)
        }
        if !unlimited, given.count > command.arguments.count {
            throw UsageError(message: "unexpected argument '\(given[command.arguments.count])'", path: path)
        }
    }

    // MARK: help

    static func commandName(_ path: [CommandSpec]) -> String { path.map(\.name).joined(separator: " ") }

    static func usageLine(_ path: [CommandSpec]) -> String {
        let command = path.last!
        var parts = [commandName(path)]
        if !command.subcommands.isEmpty {
            parts.append("<subcommand>")
        } else {
            parts += command.options.map { "[\($0.usage)]" }
            parts += command.arguments.map(\.usage)
        }
        return parts.joined(separator: " ")
    }

    static func helpText(_ path: [CommandSpec]) -> String {
        let command = path.last!
        var text = "OVERVIEW: \(command.summary)\n"
        if let discussion = command.discussion { text += "\n" + discussion + "\n" }
        text += "\nUSAGE: \(usageLine(path))\n"
        func row(_ left: String, _ right: String) -> String {
            let padded = left.count < 24 ? left + String(repeating: " ", count: 24 - left.count) : left + "\n" + String(repeating: " ", count: 26)
            return "  " + padded + right + "\n"
        }
        if !command.arguments.isEmpty {
            text += "\nARGUMENTS:\n"
            for a in command.arguments { text += row("<\(a.name)>", a.help) }
        }
        text += "\nOPTIONS:\n"
        for o in command.options + (command.run == nil ? [] : [storeOption]) + [helpOption] {
            let left = (o.short.map { "-\($0), " } ?? "") + o.usage
            text += row(left, o.help + (o.defaultText.map { " (default: \($0))" } ?? ""))
        }
        if !command.subcommands.isEmpty {
            text += "\nSUBCOMMANDS:\n"
            for s in command.subcommands { text += row(s.name, s.summary) }
            let group = path.dropFirst().map { " " + $0.name }.joined()
            text += "\n  See '\(path[0].name) help\(group) <subcommand>' for detailed help.\n"
        }
        return text
    }
}
