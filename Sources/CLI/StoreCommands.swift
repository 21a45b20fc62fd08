import JobManager
import PostgresStore
import QueueStorage

extension Commands {
    static let store = CommandSpec(
        name: "store",
        summary: "Set up the PostgreSQL store ('store init').",
        discussion: """
          With QUEUECTL_STORE (or --store) set to a PostgreSQL connection string, every command works on
          the queue in that database instead of the data file: workers on many hosts share one queue.
        """,
        subcommands: [storeInit]
    )

    static let storeInit = CommandSpec(
        name: "init",
        summary: "Create the queuectl tables in the PostgreSQL database, or bring them up to date.",
        discussion: "  Run it once, before the first command on a new database; again is harmless.",
        run: runStoreInit
    )

    static func runStoreInit(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        guard let store = try context.queue() as? PostgresQueueStore else {
            throw .usage("'store init' sets up a PostgreSQL store: give its connection string with --store or QUEUECTL_STORE "
                + "(the data file needs no setting up)")
        }
        context.print(try store.initialize())
        return 0
    }
}
