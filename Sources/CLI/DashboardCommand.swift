import Dashboard
import QueueStorage
import QueueSystem

extension Commands {
    static let dashboard = CommandSpec(
        name: "dashboard",
        summary: "Serve a web dashboard of the queue until Ctrl+C.",
        discussion: """
          The page shows what 'queuectl top' shows, kept live: counts per state, workers and their jobs,
          what is scheduled or retrying, the latest finished runs and a chart of the last hour; each job
          has a page with its fields, runs and log; the DLQ has one too. The same data is served as
          JSON (/api/status, /api/jobs?state=&limit=, /api/jobs/<id>) and as server-sent events
          (/api/events). It listens on 127.0.0.1 and ::1 only, unless --listen says otherwise, and
          answers only requests whose Host is one of its own addresses. It is read-only unless started
          with --allow-actions: then retry and delete are POST requests carrying the token it prints.
        """,
        options: [
            .value("port", short: "p", "port", "The port to listen on; 0 takes a free one.", default: String(DashboardOptions.defaultPort)),
            .value("listen", "address", "Listen on this IP address instead of loopback (0.0.0.0 or :: for all)."),
            .flag("open", "Open the page in a browser (xdg-open)."),
            .flag("allow-actions", "Allow retrying and deleting jobs from the page."),
        ],
        run: runDashboard
    )

    static func runDashboard(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        var options = DashboardOptions(allowActions: args.has("allow-actions"))
        if let text = args.value("port") {
            options.port = UInt16(try NumberInput.integer(text, for: "--port", in: 0...65535))
        }
        if let text = args.value("listen") {
            guard let address = SocketAddress(text, port: options.port) else {
                throw .usage("invalid value '\(text)' for --listen: expected an IP address such as 127.0.0.1, 0.0.0.0, ::1 or ::")
            }
            options.listen = address
        }
        let queue = try context.queue()
        let database = try context.postgresConnection() != nil
        // A database that cannot be reached, or has no queue yet, is said before anything listens; a
        // data file not made yet is simply an empty queue.
        if database { _ = try queue.read(.none) }
        let server = try DashboardServer(queue: queue, options: options)
        // On every address, the page is opened through loopback.
        let urls = server.addresses.map { "http://\(($0.isWildcard ? SocketAddress.loopback($0.family, port: $0.port) : $0).urlHost):\($0.port)/" }
        if let listen = options.listen, !listen.isLoopback {
            Console.err("warning: listening on \(listen.urlHost): anyone who can reach this machine on port \(server.addresses[0].port) "
                + "can read the queue (job commands, logs, errors)" + (options.allowActions ? ", and with the token, retry and delete jobs" : "")
                + "; the dashboard has no login\n")
        }
        context.print("queuectl dashboard for \(queue.place) at \(urls[0])"
            + (urls.count > 1 ? " (and \(urls.dropFirst().joined(separator: ", ")))" : "") + " (Ctrl+C to stop)")
        if let token = server.token {
            context.print("actions allowed: POST requests need the header X-Queuectl-Token: \(token)")
        } else {
            context.print("read-only (start with --allow-actions to retry and delete jobs from the page)")
        }
        context.flush()
        if args.has("open") { openInBrowser(urls[0]) }
        server.run()
        return 0
    }

    /// Starts `xdg-open URL`, which the server's loop reaps when it exits; says so if there is none.
    private static func openInBrowser(_ url: String) {
        let path = (Console.environment("PATH") ?? "/usr/bin:/bin").split(separator: ":")
        guard path.contains(where: { Files.canEnter($0 + "/xdg-open") }) else {
            Console.err("no xdg-open on PATH to start a browser with; open \(url) yourself\n")
            return
        }
        do {
            _ = try Processes.spawnShell("exec xdg-open \"$QUEUECTL_DASHBOARD_URL\"", directory: nil,
                                         environment: ["QUEUECTL_DASHBOARD_URL": url], output: nil)
        } catch {
            Console.err("could not start xdg-open: \(error); open \(url) yourself\n")
        }
    }
}
