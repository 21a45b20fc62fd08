import ConfigManager
import JobManager
import QueueStorage

extension Commands {
    static let config = CommandSpec(
        name: "config",
        summary: "Read or change the queue's settings.",
        discussion: "  Keys (either spelling, 'max-retries' or 'max_retries'):\n"
            + ConfigKey.allCases.map { "    \($0.rawValue.padding(16))\($0.summary)" }.joined(separator: "\n")
            + "\n  Also accepted: job_timeout_seconds, max_backoff_seconds, lock_lease_seconds (as job-timeout,\n"
            + "  max-backoff, lease-seconds). 'queuectl set KEY VALUE' is 'config set'.",
        subcommands: [configGet, configSet.takingTheLock]
    )

    static let configGet = CommandSpec(
        name: "get",
        summary: "Print one setting's value, or all of them ('config show' and 'config list' too).",
        arguments: [ArgumentSpec(name: "key", help: "One of: \(ConfigKey.names).", optional: true)],
        options: [.flag("json", "Print a JSON object with snake_case keys.")],
        aliases: ["show", "list"],
        run: runConfigGet
    )

    /// `queuectl set KEY VALUE`, as the earlier QueueCTL shell spelled it.
    static let set = CommandSpec(
        name: "set",
        summary: "Change a setting (as 'queuectl config set').",
        arguments: configSet.arguments,
        run: runConfigSet
    )

    static let configSet = CommandSpec(
        name: "set",
        summary: "Change a setting. The value is checked before anything is saved.",
        arguments: [
            ArgumentSpec(name: "key", help: "One of: \(ConfigKey.names)."),
            ArgumentSpec(name: "value", help: "The new value."),
        ],
        run: runConfigSet
    )

    static func runConfigGet(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        if let name = args.positionals.first.flatMap(ConfigManager.queueLimitName) {
            let limit = try context.read(.none).config.queueMaxRunning[name] ?? 0
            guard args.has("json") else {
                context.print(String(limit))
                return 0
            }
            var w = JSONWriter()
            w.raw("{\"queue_max_running\": {"); w.string(name); w.raw(": "); w.int(limit); w.raw("}}")
            context.print(String(decoding: w.bytes, as: UTF8.self))
            return 0
        }
        let key = try args.positionals.first.map { (k) throws(QueueError) in try ConfigManager.key(k) }
        let config = try context.read(.none).config
        let keys = key.map { [$0] } ?? ConfigKey.allCases
        if args.has("json") {
            var w = JSONWriter()
            w.raw("{")
            for (i, k) in keys.enumerated() {
                if i > 0 { w.raw(", ") }
                w.string(k.snakeCase); w.raw(": ")
                w.bytes.append(contentsOf: ConfigManager.value(k, in: config).utf8)
            }
            if key == nil, !config.queueMaxRunning.isEmpty {
                w.raw(", \"queue_max_running\": {")
                for (i, (name, limit)) in config.queueMaxRunning.sorted(by: { $0.key < $1.key }).enumerated() {
                    if i > 0 { w.raw(", ") }
                    w.string(name); w.raw(": "); w.int(limit)
                }
                w.raw("}")
            }
            w.raw("}")
            context.print(String(decoding: w.bytes, as: UTF8.self))
        } else if let key {
            context.print(ConfigManager.text(key, in: config))
        } else {
            let queueRows = config.queueMaxRunning.sorted(by: { $0.key < $1.key }).map { name, limit in
                ["queue.\(name).max-running", String(limit), "jobs of queue '\(name)' running at once across every worker"]
            }
            context.print(Output.table(["KEY", "VALUE", "MEANING"],
                                       keys.map { [$0.rawValue, ConfigManager.text($0, in: config), $0.summary] } + queueRows))
        }
        return 0
    }

    static func runConfigSet(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let text = args.positionals[1]
        if let name = ConfigManager.queueLimitName(args.positionals[0]) {
            try JobManager.validateQueueName(name, "queue")
            var check = QueueConfig()
            try ConfigManager.setQueueLimit(name, to: text, in: &check)
            let limit = try context.transaction(.none) { (s) throws(QueueError) in
                try ConfigManager.setQueueLimit(name, to: text, in: &s.document.config)
                return s.document.config.queueMaxRunning[name] ?? 0
            }
            context.print("queue.\(name).max-running = \(limit)")
            return 0
        }
        let key = try ConfigManager.key(args.positionals[0])
        // A bad value is refused before the queue is opened (or created).
        var check = QueueConfig()
        try ConfigManager.set(key, to: text, in: &check)
        let value = try context.transaction(.none) { (s) throws(QueueError) in
            try ConfigManager.set(key, to: text, in: &s.document.config)
            return ConfigManager.text(key, in: s.document.config)
        }
        context.print("\(key.rawValue) = \(value)")
        return 0
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self + " " : self + String(repeating: " ", count: width - count) }
}
