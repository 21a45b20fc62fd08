@preconcurrency import Glibc

/// An IP address to listen on, IPv4 (`127.0.0.1`) or IPv6 (`::1`, brackets optional), with a port.
/// Only numeric addresses: a name would need a resolver, and a listener should say exactly where it is.
package struct SocketAddress: Equatable, Hashable, Sendable, CustomStringConvertible {
    package enum Family: Sendable { case ipv4, ipv6 }

    package let family: Family
    /// The address in its canonical text form, without brackets (`inet_ntop`).
    package let host: String
    package var port: UInt16
    private let bytes: [UInt8]

    /// Parses a numeric address. Wraps `inet_pton(3)` and `inet_ntop(3)`.
    package init?(_ text: String, port: UInt16) {
        var text = Substring(text)
        if text.hasPrefix("["), text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, String(text), &v4) == 1 {
            family = .ipv4
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
        } else if !text.isEmpty, inet_pton(AF_INET6, String(text), &v6) == 1 {
            family = .ipv6
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            return nil
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let domain = family == .ipv4 ? AF_INET : AF_INET6
        let ok = bytes.withUnsafeBytes { raw in inet_ntop(domain, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil }
        host = ok ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : String(text)
        self.port = port
    }

    package static func loopback(_ family: Family, port: UInt16) -> SocketAddress {
        SocketAddress(family == .ipv4 ? "127.0.0.1" : "::1", port: port)!
    }

    /// `0.0.0.0` or `::`: every address of the machine.
    package var isWildcard: Bool { bytes.allSatisfy { $0 == 0 } }

    /// `127.x.x.x` or `::1`: reachable from this machine only.
    package var isLoopback: Bool { family == .ipv4 ? bytes[0] == 127 : bytes == Array(repeating: 0, count: 15) + [1] }

    /// The host as it appears in a URL or a `Host` header: `127.0.0.1`, `[::1]`.
    package var urlHost: String { family == .ipv6 ? "[\(host)]" : host }

    package var description: String { "\(urlHost):\(port)" }

    fileprivate func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        switch family {
        case .ipv4:
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &a.sin_addr) { $0.copyBytes(from: bytes) }
            return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        case .ipv6:
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &a.sin6_addr) { $0.copyBytes(from: bytes) }
            return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
    }
}

/// TCP sockets for a server that serves many clients from one thread: every socket is non-blocking
/// and close-on-exec, and nothing written to a peer that has gone raises SIGPIPE (`MSG_NOSIGNAL`).
package enum Sockets {
    /// A socket listening on `address`; port 0 takes a free one.
    /// Wraps `socket(2)`, `setsockopt(2)` (`SO_REUSEADDR`), `bind(2)`, `listen(2)`, `getsockname(2)`.
    package static func listen(on address: SocketAddress, backlog: Int32 = 128) throws(Errno) -> ListeningSocket {
        let domain = address.family == .ipv4 ? AF_INET : AF_INET6
        let socket = FileDescriptor(owning: try retryingOnInterrupt {
            Glibc.socket(domain, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        })
        var on: Int32 = 1
        _ = setsockopt(socket.rawValue, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        if address.family == .ipv6, !address.isWildcard {
            // A specific IPv6 address takes no IPv4 traffic anyway; say so, so the port is free for 127.0.0.1.
            _ = setsockopt(socket.rawValue, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &on, socklen_t(MemoryLayout<Int32>.size))
        }
        try retryingOnInterrupt { address.withSockaddr { bind(socket.rawValue, $0, $1) } }
        try retryingOnInterrupt { Glibc.listen(socket.rawValue, backlog) }
        var bound = sockaddr_in6()
        var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        try retryingOnInterrupt {
            withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket.rawValue, $0, &length) } }
        }
        var actual = address
        actual.port = UInt16(bigEndian: bound.sin6_port)  // sin_port and sin6_port are at the same offset
        return ListeningSocket(socket: socket, address: actual)
    }

    /// One waiting connection, non-blocking and close-on-exec, with Nagle's delay off (responses
    /// and events are written whole); nil when none is waiting. Wraps `accept(2)`, `fcntl(2)`.
    package static func accept(_ listener: Int32) throws(Errno) -> FileDescriptor? {
        while true {
            let fd = Glibc.accept(listener, nil, nil)
            if fd >= 0 {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                var on: Int32 = 1
                _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
                return FileDescriptor(owning: fd)
            }
            switch errno {
            case EINTR: continue
            // The peer gave up before it was accepted: nothing waits.
            case EAGAIN, EWOULDBLOCK, ECONNABORTED, EPROTO: return nil
            default: throw Errno.current
            }
        }
    }

    /// What a non-blocking read or write did.
    package enum Transfer: Equatable, Sendable {
        /// This many bytes moved.
        case moved(Int)
        /// Nothing can move now; poll first.
        case wouldBlock
        /// The peer closed its end (a read), or the connection is broken (reset, a write after the peer left).
        case closed
    }

    /// Reads what has arrived, up to `buffer`'s size. Wraps `recv(2)`.
    package static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Transfer {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n > 0 { return .moved(n) }
            if n == 0 { return .closed }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: return .closed
            }
        }
    }

    /// Writes as much of `bytes` as the socket takes now, never raising SIGPIPE. Wraps `send(2)` with `MSG_NOSIGNAL`.
    package static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Transfer {
        while true {
            let n = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return .moved(n) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: return .closed
            }
        }
    }

    /// This machine's host name. Wraps `gethostname(2)`.
    package static func hostName() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return nil }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? nil : name
    }
}

/// A listening socket and the address it got (its port, when port 0 was asked).
package final class ListeningSocket: Sendable {
    package let socket: FileDescriptor
    package let address: SocketAddress
    package var fd: Int32 { socket.rawValue }

    init(socket: consuming FileDescriptor, address: SocketAddress) {
        self.socket = socket
        self.address = address
    }
}

/// What `poll` is asked to wait for on a descriptor, and what it found.
package struct PollEvents: OptionSet, Sendable {
    package let rawValue: Int16
    package init(rawValue: Int16) { self.rawValue = rawValue }
    package static let readable = PollEvents(rawValue: Int16(POLLIN))
    package static let writable = PollEvents(rawValue: Int16(POLLOUT))
    /// Found only: the peer hung up, or the descriptor is in error or not open.
    package static let hangUp = PollEvents(rawValue: Int16(POLLHUP) | Int16(POLLERR) | Int16(POLLNVAL))
}

/// Waits until one of `entries` is ready as asked or `timeoutMilliseconds` pass (-1: no limit), and
/// returns what each one is ready for, in the same order (empty sets on a timeout or a signal).
/// Wraps `poll(2)`.
package func poll(_ entries: [(fd: Int32, events: PollEvents)], timeoutMilliseconds: Int) -> [PollEvents] {
    var fds = entries.map { pollfd(fd: $0.fd, events: $0.events.rawValue, revents: 0) }
    let n = Glibc.poll(&fds, nfds_t(fds.count), Int32(clamping: timeoutMilliseconds))
    guard n > 0 else { return Array(repeating: [], count: entries.count) }
    return fds.map { PollEvents(rawValue: $0.revents) }
}
