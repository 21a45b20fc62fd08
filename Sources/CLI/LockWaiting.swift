import QueueStorage
import QueueSystem

/// Commands that change the queue take its lock, and so `--lock-timeout`; read-only ones never wait.
extension Commands {
    static let lockTimeoutOption = OptionSpec.value(
        "lock-timeout", "seconds",
        "Give up (exit 1) if another process holds the queue lock this long; also $QUEUECTL_LOCK_TIMEOUT.",
        default: "wait as long as it takes")

    /// The lock timeout for this command: `--lock-timeout`, else `$QUEUECTL_LOCK_TIMEOUT`, else none.
    static func lockTimeout(_ args: ParsedArguments) throws(QueueError) -> Double? {
        if let text = args.value("lock-timeout") { return try lockSeconds(text, "--lock-timeout") }
        if let text = Console.environment("QUEUECTL_LOCK_TIMEOUT"), !text.isEmpty { return try lockSeconds(text, "QUEUECTL_LOCK_TIMEOUT") }
        return nil
    }

    private static func lockSeconds(_ text: String, _ name: String) throws(QueueError) -> Double {
        guard let seconds = Double(text), seconds.isFinite, seconds >= 0, text.first?.isNumber == true else {
            throw .usage("invalid value '\(text)' for \(name): expected a number of seconds")
        }
        return seconds
    }

    /// What a command waiting for the lock says once, after a second, on stderr.
    static func reportLockWait(_ holder: LockHolder?) {
        guard let holder else { return Console.err("waiting for the queue lock, held by another process\n") }
        let hint = holder.stopped ? " (stopped; 'kill -CONT \(holder.pid)' resumes it)" : ""
        Console.err("waiting for the queue lock, held by pid \(holder.pid)\(hint)\n")
    }
}

extension CommandSpec {
    /// This command with `--lock-timeout`: it changes the queue, so it takes the lock.
    var takingTheLock: CommandSpec {
        var command = self
        command.options.append(Commands.lockTimeoutOption)
        return command
    }

    var takesTheLock: Bool { options.contains { $0.name == Commands.lockTimeoutOption.name } }
}
