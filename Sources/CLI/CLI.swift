import JobManager
import PostgresStore
import QueueStorage
import QueueSystem

/// The command line: parse everything first, then run; one place turns errors into messages and
/// exit codes (0 success, 1 failure, 64 usage).
package enum CLI {
    package static let version = "2.0.0"

    package static func main(_ arguments: [String]) -> Never {
        // A write past `ulimit -f` then fails with a message instead of killing the process silently.
        ProcessLimits.ignoreFileSizeSignal()
        exitProcess(run(Array(arguments.dropFirst())))
    }

    /// Runs one command line and returns its exit code.
    static func run(_ argv: [String]) -> Int32 {
        let root = Commands.root
        // Alone on a terminal, or with -i, the menu opens; alone in a script it must not wait for a person.
        if argv == ["-i"] || argv == ["--interactive"] { return run(["shell", "--menu"]) }
        if argv.isEmpty {
            if Console.isTerminal(0), Console.isTerminal(1) { return run(["shell", "--menu"]) }
            Console.err(usageErrorText(UsageError(
                message: "no command given ('queuectl' alone opens the menu only on a terminal; -i opens it anyway)", path: [root])))
            return 64
        }
        let result: ParseResult
        do {
            result = try Parser.parse(argv, root: root)
        } catch {
            Console.err(usageErrorText(error))
            return 64
        }
        switch result {
        case .version:
            Console.out("queuectl \(version)\n")
            return 0
        case .help(let path):
            Console.out(Parser.helpText(path))
            return 0
        case .run(let path, let arguments):
            let context = Context(path: path)
            do throws(QueueError) {
                if path.last!.takesTheLock { context.lockTimeout = try Commands.lockTimeout(arguments) }
                context.storeOption = arguments.value("store")
                let code = try path.last!.run!(arguments, context)
                if context.dataChangedWhileRead { throw changedWhileRead(context) }
                context.flush()
                return code
            } catch {
                var error = error
                // Whatever it printed or concluded may have come from zeros read in place of a truncated data file.
                if context.dataChangedWhileRead {
                    context.discard()
                    error = changedWhileRead(context)
                }
                context.flush()
                if error.kind == .usage {
                    Console.err(usageErrorText(UsageError(message: error.message, path: path)))
                    return 64
                }
                Console.err("Error: \(error.message)\n")
                return 1
            }
        }
    }

    /// The data file changed in place while this command read it (`FileBytes.changedUnderMapping`).
    private static func changedWhileRead(_ context: Context) -> QueueError {
        (try? context.store().changedWhileRead()) ?? .failure("the data file changed while it was read (truncated in place?)")
    }

    static func usageErrorText(_ error: UsageError) -> String {
        let name = Parser.commandName(error.path)
        return "Error: \(error.message)\nUsage: \(Parser.usageLine(error.path))\n  See '\(name) --help' for more information.\n"
    }
}

/// What a running command has: its output buffer and the queue.
final class Context {
    let path: [CommandSpec]
    private var output = ""
    /// How long a transaction waits for the lock before giving up; nil: as long as it takes.
    var lockTimeout: Double?
    /// `FileBytes.changesNoticed` when this command first read the queue through `read()` or
    /// `transaction()`. Commands that run for long (a worker, the live view, `wait`) read through a
    /// store of their own and handle a changed file themselves.
    private var changesBefore: Int?

    /// True if the data file changed in place under a mapping since this command first read it: what
    /// it made of the file may come from zeros.
    var dataChangedWhileRead: Bool { changesBefore.map { FileBytes.changesNoticed != $0 } ?? false }

    init(path: [CommandSpec]) { self.path = path }

    func print(_ line: String) {
        output += line
        output += "\n"
    }

    /// Forgets what was printed and not yet written.
    func discard() { output = "" }

    /// Writes what was printed so far (a worker flushes each event as it happens).
    func flush() {
        if !output.isEmpty { Console.out(output) }
        output = ""
    }

    /// `--store` as given; else `$QUEUECTL_STORE` chooses.
    var storeOption: String?

    /// The PostgreSQL connection string chosen by `--store` or `$QUEUECTL_STORE`, or nil for the data file.
    func postgresConnection() throws(QueueError) -> String? {
        let (text, name) = storeOption.map { ($0, "--store") } ?? (Console.environment("QUEUECTL_STORE") ?? "", "QUEUECTL_STORE")
        if text.isEmpty { return nil }
        // A libpq connection string: a URI, or keyword=value pairs.
        guard text.hasPrefix("postgresql://") || text.hasPrefix("postgres://") || text.contains("=") else {
            throw .usage("invalid value for \(name): expected a PostgreSQL connection string (postgresql://user@host/db, "
                + "or 'host=/run/postgresql dbname=queue'); unset it to use the data file")
        }
        return text
    }

    /// The data file's store, made once: its home is opened and checked once for the whole command.
    /// For what works on the data file itself (following a log file); with a PostgreSQL store chosen
    /// it says so rather than show another queue.
    func store() throws(QueueError) -> Store {
        if let cachedStore { return cachedStore }
        if try postgresConnection() != nil {
            throw .failure("'\(Parser.commandName(path))' works with the data file only, not with the PostgreSQL store "
                + "(unset QUEUECTL_STORE, or leave out --store, to use the data file)")
        }
        let store = Store(home: try QueueHome.fromEnvironment())
        cachedStore = store
        return store
    }

    private var cachedStore: Store?

    /// The queue's store, as the command works on it through `read` and `transaction`.
    func queue() throws(QueueError) -> any QueueStore {
        if let cachedQueue { return cachedQueue }
        let queue: any QueueStore
        if let conninfo = try postgresConnection() {
            queue = PostgresQueueStore(conninfo: conninfo, home: try QueueHome.fromEnvironment())
        } else {
            queue = FileQueueStore(try store())
        }
        cachedQueue = queue
        return queue
    }

    private var cachedQueue: (any QueueStore)?

    /// The queue as it is now, read without the lock: for commands that only look. Creates nothing.
    /// `scope`: the jobs the command looks at (a database store loads only those).
    func read(_ scope: JobScope) throws(QueueError) -> Document {
        if changesBefore == nil { changesBefore = FileBytes.changesNoticed }
        return try queue().read(scope)
    }

    /// What `status` shows, read without the lock.
    func status(listingUpTo limit: Int) throws(QueueError) -> QueueStatus {
        if changesBefore == nil { changesBefore = FileBytes.changesNoticed }
        return try queue().status(listingUpTo: limit)
    }

    /// A transaction on the jobs `scope` names; the store first recovers the jobs of workers that
    /// died, and afterwards settles the jobs waiting for one that died or came back.
    /// Waiting for the lock, it says after a second who holds it, and gives up after `lockTimeout`.
    /// With `onExistingJobs` (a command that acts on jobs already queued), a queue that does not
    /// exist is not created for a command that finds nothing to act on.
    func transaction<T>(_ scope: JobScope, onExistingJobs: Bool = false,
                        _ body: (inout Snapshot) throws(QueueError) -> T) throws(QueueError) -> T {
        let queue = try queue()
        queue.lockWaiting = LockWaiting(timeout: lockTimeout, report: Commands.reportLockWait)
        if changesBefore == nil { changesBefore = FileBytes.changesNoticed }
        return try queue.transaction(scope, onExistingJobs: onExistingJobs, body)
    }

    var stdoutIsTerminal: Bool { Console.isTerminal(1) }

    /// Columns for tables: the terminal's width, else `$COLUMNS`, else 120.
    var width: Int { Console.width(1) ?? Console.environment("COLUMNS").flatMap { Int($0) } ?? 120 }
}
