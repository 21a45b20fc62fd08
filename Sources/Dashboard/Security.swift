import QueueSystem

/// Which `Host` headers the dashboard answers: the defence against DNS rebinding, where a page of
/// another site points its own name at 127.0.0.1 and so reaches the dashboard as "same origin".
/// Such a request still names the other site in `Host`, so only names that cannot be another site's
/// are taken: `localhost`, the loopback and listening addresses, this machine's host name, and, when
/// listening on every address, any numeric address. A port, if given, must be the dashboard's.
struct HostCheck: Sendable {
    let port: UInt16
    let names: Set<String>
    let anyNumericAddress: Bool

    init(port: UInt16, listening: [SocketAddress], hostName: String?) {
        self.port = port
        var names: Set<String> = ["localhost", "127.0.0.1", "[::1]"]
        for address in listening { names.insert(address.urlHost.lowercased()) }
        if let hostName, listening.contains(where: { !$0.isLoopback }) { names.insert(hostName.lowercased()) }
        self.names = names
        anyNumericAddress = listening.contains(where: \.isWildcard)
    }

    func allows(_ header: String?) -> Bool {
        guard let header, !header.isEmpty else { return false }
        var host = Substring(header.lowercased())
        var portText: Substring?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            let rest = host[host.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return false }
                portText = rest.dropFirst()
            }
            host = host[...close]
        } else if let colon = host.lastIndex(of: ":") {
            portText = host[host.index(after: colon)...]
            host = host[..<colon]
        }
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  UInt16(portText) == port else { return false }
        }
        if host.hasSuffix("."), host.count > 1 { host = host.dropLast() }  // `localhost.` is `localhost`
        if names.contains(String(host)) { return true }
        return anyNumericAddress && SocketAddress(String(host), port: port) != nil
    }
}

/// Whether a request may change the queue: only with `--allow-actions`, only with the token printed
/// at start-up in `X-Queuectl-Token`, and never when the browser says it comes from another site
/// (`Sec-Fetch-Site`) or its `Origin` is another than the dashboard's. Nil: allowed; else the reason.
struct ActionGuard: Sendable {
    /// Nil when the dashboard is read-only.
    let token: String?

    func refusal(_ request: Request) -> String? {
        guard let token else { return "the dashboard is read-only; start it with --allow-actions to change the queue from it" }
        guard let given = request.header("x-queuectl-token"), constantTimeEqual(given, token) else {
            return "a request that changes the queue needs the token printed at start-up, in an X-Queuectl-Token header"
        }
        // A browser says where a request comes from; `none` is the user's own doing (the address bar).
        if let site = request.header("sec-fetch-site"), site != "same-origin", site != "none" {
            return "refused: the browser says this request comes from another site (Sec-Fetch-Site: \(site))"
        }
        if let origin = request.header("origin"), origin != "http://" + (request.header("host") ?? "").lowercased() {
            return "refused: the request comes from another origin (\(origin))"
        }
        return nil
    }

    /// Compares every byte, so the time taken tells nothing of how much of a guess was right.
    private func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }

    /// 32 random bytes in hex, from the system's generator (getrandom).
    static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in
            let n: UInt64 = generator.next()
            let hex = String(n, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }
}
