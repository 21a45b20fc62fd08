/// The command tree. Each command's spec and run live in its own file.
enum Commands {
    static let root = CommandSpec(
        name: "queuectl",
        summary: "A background job queue for shell commands, with retries, backoff and a dead letter queue.",
        discussion: """
          Jobs are shell commands. Enqueue them, run workers in a terminal until Ctrl+C, and check on them.
          Data lives in $QUEUECTL_HOME/data.json (default: ~/.queuectl).
        """,
        options: [.flag("version", "Show the version.")],
        subcommands: [enqueue, worker, status, list, dlq, config]
    )
}
