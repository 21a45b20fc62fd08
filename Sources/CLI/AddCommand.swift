import JobManager
import QueueStorage
import QueueSystem

extension Commands {
    static let add = CommandSpec(
        name: "add",
        summary: "Add a shell command to the queue, typed as is: no JSON.",
        discussion: """
          The words after the options are joined with single spaces into one command line, exactly as
          they arrive (your shell has already removed its quotes), and run as '/bin/sh -c LINE':
          'queuectl add make test' runs 'make test'; 'queuectl add "sleep 5 && echo done"' runs
          'sleep 5 && echo done'. Options are read only before the command: 'queuectl add ls -la'
          passes '-la' to ls. With --from, each non-blank line of the file ('-': standard input) is
          one command, and all of them are added in one transaction, or none. Prints each new job's id.
        """,
        arguments: [
            ArgumentSpec(name: "command", help: "The command, then its arguments.", optional: true),
            ArgumentSpec(name: "arg", help: "More words of the command line.", optional: true, repeating: true),
        ],
        options: [.value("from", "path", "Read one command per line from a file, or '-' for standard input.")] + jobOptions,
        argumentsEndOptions: true,
        run: runAdd
    )

    static func runAdd(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let inputs: [JobInput]
        switch (args.positionals.isEmpty, args.value("from")) {
        case (true, nil): throw .usage("give the command to add, or --from <path> for one command per line")
        case (false, .some): throw .usage("give the command either as arguments or with --from, not both")
        case (false, nil):
            let input = JobInput(command: args.positionals.joined(separator: " "))
            do { try input.validate() } catch { throw .usage(error.message.replacingField("command")) }
            inputs = [input]
        case (true, let path?):
            inputs = try commandLines(try readInput(path), source: path == "-" ? "standard input" : path)
        }
        try enqueue(inputs, options: args, context)
        return 0
    }

    /// A file's bytes, or standard input's for `-`, within `maximumInputBytes`.
    static func readInput(_ path: String) throws(QueueError) -> [UInt8] {
        let bytes: [UInt8]?
        if path == "-" {
            do { bytes = try Console.readStandardInput(limit: maximumInputBytes) } catch {
                throw .failure("cannot read standard input: \(error)")
            }
            guard let bytes else { throw .usage("standard input is larger than \(maximumInputBytes >> 20) MiB") }
            return bytes
        }
        do { bytes = try Files.readAll(path) } catch { throw .usage("cannot read \(path): \(error)") }
        guard let bytes else { throw .usage("cannot read \(path): no such file") }
        return bytes
    }

    /// One command per line (a trailing CR dropped), blank lines skipped; every line is checked before
    /// any is added, and an error names its line.
    static func commandLines(_ bytes: [UInt8], source: String) throws(QueueError) -> [JobInput] {
        var inputs: [JobInput] = []
        for (number, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            var line = line
            if line.last == 0x0D { line = line.dropLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            guard let command = String(validating: line, as: UTF8.self) else {
                throw .usage("\(source), line \(number + 1): not valid UTF-8 text")
            }
            let input = JobInput(command: command)
            do { try input.validate() } catch {
                throw .usage("\(source), line \(number + 1): \(error.message.replacingField("command"))")
            }
            inputs.append(input)
        }
        if inputs.isEmpty { throw .usage("no commands in \(source)") }
        return inputs
    }
}

private extension String {
    /// "field 'command' is 70000 bytes" reads as "the command is 70000 bytes" where no JSON was given.
    func replacingField(_ name: String) -> String {
        hasPrefix("field '\(name)'") ? "the \(name)" + dropFirst("field '\(name)'".count) : self
    }
}
