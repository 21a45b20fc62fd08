import JobManager
import QueueStorage
import QueueSystem

/// How the dashboard is started.
package struct DashboardOptions: Sendable {
    package static let defaultPort: UInt16 = 7878

    /// 0: any free port.
    package var port: UInt16
    /// Where to listen; nil: 127.0.0.1 and ::1 only.
    package var listen: SocketAddress?
    /// POST actions (retry, delete) with the start-up token; otherwise read-only.
    package var allowActions: Bool

    package init(port: UInt16 = DashboardOptions.defaultPort, listen: SocketAddress? = nil, allowActions: Bool = false) {
        self.port = port
        self.listen = listen
        self.allowActions = allowActions
    }
}

/// The dashboard's HTTP/1.1 server: one thread, one `poll` loop over non-blocking sockets. Every
/// request is bounded (see `RequestParser`), connections are kept alive, and a client that is slow
/// or silent only ever holds its own connection: nothing waits on a socket, a request head must
/// come within 10 s, a response must make progress within 30 s, and an event stream that is not
/// read skips events instead of growing.
package final class DashboardServer {
    /// Where it listens, with the ports it got.
    package let addresses: [SocketAddress]
    /// The token a POST must carry; nil when read-only.
    package let token: String?

    private let listeners: [ListeningSocket]
    private let site: Site
    private let signals: SignalWaker
    private var connections: [Connection] = []
    /// The latest event of each stream kind in use, and its version (bumped when it changes).
    private var latest: [StreamKind: (version: Int, bytes: [UInt8])] = [:]
    private var notifier: (any ChangeNotifier)?
    private var watchRetryAt: Int64 = 0
    private var queueChanged = false
    private var lastRefresh: Int64 = 0

    static let maximumConnections = 256
    static let headTimeout: Int64 = 10_000
    static let progressTimeout: Int64 = 30_000
    static let idleTimeout: Int64 = 30_000
    /// Event streams are refreshed this often (running times and due times move), and at most this
    /// soon after a change of the data file.
    static let refreshInterval: Int64 = 1000
    static let changeDelay: Int64 = 100
    static let heartbeatInterval: Int64 = 15_000
    /// Unsent bytes beyond which a stream gets no new event until its client reads.
    static let streamBacklog = 1 << 20

    /// Binds the listening sockets. On the default loopback pair, port 0 gives both the same free port.
    package init(queue: any QueueStore, options: DashboardOptions) throws(QueueError) {
        // Handlers for INT, TERM and HUP, and SIGPIPE ignored, before any socket exists.
        do { signals = try SignalWaker() } catch { throw .failure("cannot handle signals: \(error)") }
        var bound: [ListeningSocket] = []
        if let listen = options.listen {
            var address = listen
            address.port = options.port
            bound.append(try DashboardServer.bind(address))
        } else {
            var attempt = 0
            while true {
                attempt += 1
                let v4 = try DashboardServer.bind(.loopback(.ipv4, port: options.port))
                do {
                    bound = [v4, try Sockets.listen(on: .loopback(.ipv6, port: v4.address.port))]
                    break
                } catch {
                    // No IPv6 on this machine: 127.0.0.1 alone.
                    if error == .addressNotAvailable || error == .addressFamilyNotSupported {
                        bound = [v4]
                        break
                    }
                    // Port 0 gave a port that is free on 127.0.0.1 only: try another.
                    if options.port == 0, attempt < 5 { continue }
                    throw .failure("cannot listen on [::1]:\(v4.address.port): \(error); choose another port with --port")
                }
            }
        }
        listeners = bound
        addresses = bound.map(\.address)
        token = options.allowActions ? ActionGuard.newToken() : nil
        site = Site(queue: queue, hostCheck: HostCheck(port: addresses[0].port, listening: addresses, hostName: Sockets.hostName()),
                    actions: ActionGuard(token: token))
    }

    private static func bind(_ address: SocketAddress) throws(QueueError) -> ListeningSocket {
        do { return try Sockets.listen(on: address) } catch {
            throw .failure("cannot listen on \(address): \(error)" + (error == .addressInUse ? "; choose another port with --port" : ""))
        }
    }

    /// Serves until SIGINT, SIGTERM or SIGHUP. Children this process started (a browser opener) are
    /// reaped as they exit.
    package func run() {
        while signals.stopRequestCount == 0 {
            let now = monotonicMilliseconds()
            watchQueueIfItExists()
            var entries: [(fd: Int32, events: PollEvents)] = [(signals.wakeFD, .readable), (notifier?.descriptor ?? -1, .readable)]
            let accepting = connections.count < DashboardServer.maximumConnections
            for listener in listeners { entries.append((listener.fd, accepting ? .readable : [])) }
            let first = entries.count
            for c in connections { entries.append((c.fd, c.interest)) }

            let ready = poll(entries, timeoutMilliseconds: Int(max(0, nextDeadline(now) - now)))
            if !ready[0].isEmpty {
                signals.drain()
                _ = Processes.reapExitedChildren()
            }
            if let notifier, !ready[1].isEmpty, notifier.drain() { queueChanged = true }
            let clock = monotonicMilliseconds()
            for (i, c) in connections.enumerated() where !ready[first + i].isEmpty {
                if !ready[first + i].isDisjoint(with: [.readable, .hangUp]) { c.receive(now: clock) }
                service(c, now: clock)
            }
            if accepting {
                for (k, listener) in listeners.enumerated() where !ready[first - listeners.count + k].isEmpty {
                    accept(listener, now: clock)
                }
            }
            expire(now: clock)
            if connections.contains(where: { $0.stream != nil && !$0.closed }), clock >= refreshDue { refreshStreams(now: clock) }
            connections.removeAll { $0.closed }
        }
    }

    /// When the streams are next refreshed: soon after a change of the data file, else at the interval.
    private var refreshDue: Int64 {
        lastRefresh + (queueChanged ? DashboardServer.changeDelay : DashboardServer.refreshInterval)
    }

    /// Watches the queue for changes (the data file's replacement, once its folder exists; a
    /// database's notifications, once it answers).
    private func watchQueueIfItExists() {
        // Tried once a second while it fails: a server may take its connect timeout to refuse.
        guard notifier == nil, monotonicMilliseconds() >= watchRetryAt else { return }
        watchRetryAt = monotonicMilliseconds() + 1000
        guard let watching = try? site.queue.changeNotifier() else { return }
        notifier = watching
        // Whatever was written before the watch began is read at the next refresh.
        queueChanged = true
    }

    private func nextDeadline(_ now: Int64) -> Int64 {
        var next = now + 1000  // the watch on a queue folder not made yet is retried each second
        if connections.contains(where: { $0.stream != nil }) { next = min(next, refreshDue) }
        for c in connections { next = min(next, c.deadline) }
        return next
    }

    private func accept(_ listener: ListeningSocket, now: Int64) {
        for _ in 0..<64 where connections.count < DashboardServer.maximumConnections {
            guard let socket = try? Sockets.accept(listener.fd) else { return }
            connections.append(Connection(socket: socket, now: now))
        }
    }

    /// Sends what is pending, then answers the requests that have come, in order, while the
    /// answers go out at once (a client that does not read gets no further answer until it does).
    private func service(_ c: Connection, now: Int64) {
        var answered = 0
        while !c.closed {
            c.flush(now: now)
            if c.pendingOutput > 0 || c.closed { return }
            if c.closeWhenSent {
                c.close()
                return
            }
            guard c.stream == nil else { return }
            // A few at a time, so that one client pipelining many requests does not hold the others.
            guard answered < 16 else { return }
            switch RequestParser.parse(c.input[...]) {
            case .incomplete:
                if c.peerClosed { c.close() }
                return
            case .invalid(let status, let reason):
                c.queue(Response.text("\(Response.reason(status)): \(reason)", status: status).serialized(keepAlive: false))
                c.closeWhenSent = true
            case .request(let request, let consumed):
                c.input.removeFirst(consumed)
                c.requestStarted = c.input.isEmpty ? nil : now
                answer(request, on: c, now: now)
                answered += 1
            }
        }
    }

    private func answer(_ request: Request, on c: Connection, now: Int64) {
        let keepAlive = request.keepAlive && !c.peerClosed
        let head = request.method == "HEAD"
        switch site.reply(to: request) {
        case .response(let response):
            c.queue(response.serialized(keepAlive: keepAlive, headOnly: head))
            if !keepAlive { c.closeWhenSent = true }
        case .stream(let kind):
            let start = Response(status: 200, contentType: "text/event-stream; charset=utf-8", body: Array("retry: 2000\n\n".utf8))
            // It lasts as long as the connection, which is what ends it: no length, and no next request.
            c.queue(start.serialized(keepAlive: false, headOnly: head, length: false))
            if head {
                c.closeWhenSent = true
                return
            }
            c.stream = kind
            let event = current(kind)
            c.queue(event.bytes)
            c.streamVersion = event.version
            c.lastEvent = now
        }
    }

    /// The latest event of `kind`, made now if no stream had it yet.
    private func current(_ kind: StreamKind) -> (version: Int, bytes: [UInt8]) {
        if let event = latest[kind] { return event }
        let event = (version: 0, bytes: site.event(kind))
        latest[kind] = event
        return event
    }

    /// Makes each stream kind's event afresh and sends those that changed to their streams; a
    /// heartbeat comment to streams that have had nothing for a while.
    private func refreshStreams(now: Int64) {
        lastRefresh = now
        queueChanged = false
        let kinds = Set(connections.compactMap { $0.closed ? nil : $0.stream })
        latest = latest.filter { kinds.contains($0.key) }
        for kind in kinds {
            let bytes = site.event(kind)
            if let old = latest[kind], old.bytes == bytes { continue }
            latest[kind] = ((latest[kind]?.version ?? -1) + 1, bytes)
        }
        for c in connections where !c.closed {
            guard let kind = c.stream, let event = latest[kind] else { continue }
            if c.streamVersion != event.version, c.pendingOutput < DashboardServer.streamBacklog {
                c.queue(event.bytes)
                c.streamVersion = event.version
                c.lastEvent = now
            } else if now - c.lastEvent >= DashboardServer.heartbeatInterval, c.pendingOutput == 0 {
                c.queue(Array(": keep-alive\n\n".utf8))
                c.lastEvent = now
            }
            c.flush(now: now)
        }
    }

    /// Closes connections that have had their time: a request head not complete within 10 s (408),
    /// a response or stream not read for 30 s, a kept-alive connection idle for 30 s.
    private func expire(now: Int64) {
        for c in connections where !c.closed && now >= c.deadline {
            if c.pendingOutput == 0, c.requestStarted != nil, c.stream == nil {
                c.queue(Response.text("Request Timeout: the request did not arrive within 10 s", status: 408).serialized(keepAlive: false))
                c.flush(now: now)
            }
            c.close()
        }
    }
}

/// One client connection and what is pending on it.
private final class Connection {
    private var socket: FileDescriptor?
    let fd: Int32
    var input: [UInt8] = []
    private var output: [UInt8] = []
    private var sent = 0
    /// Set once it carries an event stream.
    var stream: StreamKind?
    var streamVersion = -1
    var lastEvent: Int64 = 0
    var closeWhenSent = false
    /// The client has closed its end (it may still read, after a shutdown of its writing).
    var peerClosed = false
    /// When the first byte of a request not yet complete arrived.
    var requestStarted: Int64?
    /// The last byte moved either way.
    private var lastProgress: Int64
    private var answeredAny = false

    init(socket: consuming FileDescriptor, now: Int64) {
        fd = socket.rawValue
        self.socket = consume socket
        lastProgress = now
    }

    var closed: Bool { socket == nil }
    var pendingOutput: Int { output.count - sent }

    func close() { socket = nil }

    /// What to poll for: writing while something is pending; reading while nothing is (one request
    /// is answered before the next is read), and always on a stream, to see the client leave.
    var interest: PollEvents {
        var events: PollEvents = pendingOutput > 0 ? .writable : []
        if stream != nil || (pendingOutput == 0 && !closeWhenSent && !peerClosed) { events.insert(.readable) }
        return events
    }

    /// When it is closed if nothing happens (`DashboardServer.expire`).
    var deadline: Int64 {
        if pendingOutput > 0 { return lastProgress + DashboardServer.progressTimeout }
        if stream != nil { return .max }
        if let requestStarted { return requestStarted + DashboardServer.headTimeout }
        return lastProgress + (answeredAny ? DashboardServer.idleTimeout : DashboardServer.headTimeout)
    }

    func queue(_ bytes: [UInt8]) {
        answeredAny = true
        output += bytes
    }

    /// Reads what has arrived, up to what one request may hold; a stream's input is read and dropped.
    /// At most 64 KiB a wake, so a client that sends without end takes its turn like the others.
    func receive(now: Int64) {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        for _ in 0..<4 where !closed {
            let limit = RequestParser.maximumHeadBytes + RequestParser.maximumBodyBytes + 4
            guard stream != nil || input.count <= limit else { return }
            let result = buffer.withUnsafeMutableBytes { Sockets.receive(fd, into: $0) }
            switch result {
            case .moved(let n):
                lastProgress = now
                if stream == nil {
                    if input.isEmpty { requestStarted = now }
                    input += buffer[..<n]
                }
            case .wouldBlock:
                return
            case .closed:
                peerClosed = true
                // Nothing more will come: a stream ends, and a connection with no whole request left.
                if stream != nil || input.isEmpty { close() }
                return
            }
        }
    }

    /// Writes what the socket takes now.
    func flush(now: Int64) {
        while pendingOutput > 0, !closed {
            let result = output.withUnsafeBytes { Sockets.send(fd, UnsafeRawBufferPointer(rebasing: $0[sent...])) }
            switch result {
            case .moved(let n):
                sent += n
                lastProgress = now
            case .wouldBlock:
                return
            case .closed:
                close()
                return
            }
        }
        if sent > 0 {
            output = []
            sent = 0
        }
    }
}
