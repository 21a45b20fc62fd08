/// The command tree. Each command's spec and run live in its own file.
enum Commands {
    static let root = CommandSpec(
        name: "queuectl",
        summary: "A background job queue for shell commands, with retries, backoff and a dead letter queue.",
        discussion: """
          Jobs are shell commands. Enqueue them, run workers in a terminal until Ctrl+C, and check on them.
          Data lives in $QUEUECTL_HOME/data.json (default: ~/.queuectl).
        """,
        options: [.flag("version", short: "V", "Show the version."),
                  .flag("interactive", short: "i", "Open the menu (what 'queuectl' alone does on a terminal).")],
        subcommands: [enqueue.takingTheLock, add.takingTheLock, worker, status, top, list, show, logs, output, wait, retry.takingTheLock,
                      cancel.takingTheLock, kill.takingTheLock, restart.takingTheLock, edit.takingTheLock, prune.takingTheLock,
                      pause.takingTheLock, resume.takingTheLock, stats, dlq, config, set.takingTheLock, shell, dashboard, completions,
                      manpage, store, help]
    )

    /// Listed so the root help shows it; the parser answers `help <command>` itself.
    static let help = CommandSpec(
        name: "help",
        summary: "Show help for a command, e.g. 'queuectl help worker start'.",
        arguments: [ArgumentSpec(name: "command", help: "The command to explain.", optional: true, repeating: true)]
    )
}
