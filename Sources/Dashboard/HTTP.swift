import QueueStorage

/// One HTTP/1.1 request: its head, and the small body a request here may carry.
struct Request: Sendable {
    let method: String
    /// The path as sent, still percent-encoded (`/jobs/a%2Fb`): segments are split before decoding,
    /// so an encoded `/` stays inside its segment.
    let rawPath: String
    /// The query's parameters, decoded; the first of a repeated name wins.
    let query: [String: String]
    let minorVersion: Int
    /// Header names in lower case, in the order sent.
    let headers: [(name: String, value: String)]
    let body: [UInt8]

    /// The first value of header `name` (lower case).
    func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }

    /// Whether the connection stays open after the response: HTTP/1.1 unless `Connection: close`,
    /// HTTP/1.0 only with `Connection: keep-alive`.
    var keepAlive: Bool {
        let tokens = (header("connection") ?? "").lowercased().split(separator: ",").map { $0.trimmingSpaces() }
        return minorVersion >= 1 ? !tokens.contains("close") : tokens.contains("keep-alive")
    }

    /// The path's segments, each percent-decoded; nil if one does not decode.
    var segments: [String]? {
        var out: [String] = []
        for part in rawPath.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            guard let decoded = percentDecoded(part, plusIsSpace: false) else { return nil }
            out.append(decoded)
        }
        if out.last == "" { out.removeLast() }
        return out
    }
}

/// What the bytes received so far hold.
enum ParseOutcome: Sendable {
    /// Not a whole request yet.
    case incomplete
    /// A request, and how many bytes of the input it took.
    case request(Request, consumed: Int)
    /// Not a request this server takes: answer with `status` and close.
    case invalid(status: Int, reason: String)
}

/// Reads requests from a connection's bytes, with bounds on every part, so no client can make the
/// server hold more than a few kilobytes for it.
enum RequestParser {
    /// The request line and headers together.
    static let maximumHeadBytes = 16 * 1024
    static let maximumHeaders = 64
    /// No request here needs a body; a small one is read and ignored.
    static let maximumBodyBytes = 4 * 1024

    static func parse(_ whole: ArraySlice<UInt8>) -> ParseOutcome {
        // Line breaks before a request line are skipped (a client may send one after a body).
        let input = whole.drop { $0 == 0x0D || $0 == 0x0A }
        guard let headEnd = endOfHead(input) else {
            return input.count > maximumHeadBytes ? .invalid(status: 431, reason: "the request head is larger than 16 KiB") : .incomplete
        }
        if headEnd.head.count > maximumHeadBytes { return .invalid(status: 431, reason: "the request head is larger than 16 KiB") }
        // Split as bytes: "\r\n" is one Character to a String. Bytes beyond ASCII are not text we use;
        // they decode with replacement characters.
        let lines = headEnd.head.split(separator: 0x0A, omittingEmptySubsequences: false)
            .map { Substring(String(decoding: $0.last == 0x0D ? $0.dropLast() : $0, as: UTF8.self)) }
        let requestLine = lines[0]
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else {
            return .invalid(status: 400, reason: "malformed request line")
        }
        let minor: Int
        switch parts[2] {
        case "HTTP/1.1": minor = 1
        case "HTTP/1.0": minor = 0
        default: return .invalid(status: 505, reason: "only HTTP/1.0 and HTTP/1.1 are served")
        }
        let target = parts[1]
        guard target.hasPrefix("/"), !target.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) else {
            return .invalid(status: 400, reason: "the request target must be a path")
        }
        let pathEnd = target.firstIndex(of: "?") ?? target.endIndex
        guard let query = parseQuery(target[pathEnd...].dropFirst()) else { return .invalid(status: 400, reason: "malformed query") }

        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard headers.count < maximumHeaders else { return .invalid(status: 431, reason: "more than \(maximumHeaders) headers") }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                  line[..<colon].utf8.allSatisfy(isTokenByte) else {
                return .invalid(status: 400, reason: "malformed header line")
            }
            headers.append((line[..<colon].lowercased(), String(line[line.index(after: colon)...]).trimmingSpaces()))
        }
        let hosts = headers.filter { $0.name == "host" }
        if hosts.count > 1 { return .invalid(status: 400, reason: "more than one Host header") }
        if headers.contains(where: { $0.name == "transfer-encoding" }) {
            return .invalid(status: 501, reason: "request bodies with a Transfer-Encoding are not accepted")
        }
        let lengths = Set(headers.filter { $0.name == "content-length" }.map(\.value))
        var bodyLength = 0
        if let text = lengths.first {
            guard lengths.count == 1, !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                return .invalid(status: 400, reason: "malformed Content-Length")
            }
            guard text.count <= 9, let n = Int(text), n <= maximumBodyBytes else {
                return .invalid(status: 413, reason: "request bodies are limited to 4 KiB")
            }
            bodyLength = n
        }
        let bodyStart = headEnd.bodyStart
        guard input.endIndex - bodyStart >= bodyLength else { return .incomplete }
        let request = Request(method: String(parts[0]), rawPath: String(target[..<pathEnd]), query: query, minorVersion: minor,
                              headers: headers, body: Array(input[bodyStart..<(bodyStart + bodyLength)]))
        return .request(request, consumed: bodyStart + bodyLength - whole.startIndex)
    }

    /// The head's bytes (without the blank line) and where the body starts, once the blank line has come.
    private static func endOfHead(_ input: ArraySlice<UInt8>) -> (head: ArraySlice<UInt8>, bodyStart: Int)? {
        var i = input.startIndex
        let end = min(input.endIndex, input.startIndex + maximumHeadBytes + 4)
        while i < end {
            if input[i] == 0x0A {
                // "\n\n" or "\n\r\n" ends the head.
                if i + 1 < input.endIndex, input[i + 1] == 0x0A { return (input[input.startIndex..<i], i + 2) }
                if i + 2 < input.endIndex, input[i + 1] == 0x0D, input[i + 2] == 0x0A { return (input[input.startIndex..<i], i + 3) }
            }
            i += 1
        }
        return nil
    }

    private static func isTokenByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || "!#$%&'*+-.^_`|~".utf8.contains(b)
    }

    private static func parseQuery(_ text: Substring) -> [String: String]? {
        var query: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let name = pair.prefix { $0 != "=" }
            let value = pair.dropFirst(name.count + 1)
            guard let n = percentDecoded(name, plusIsSpace: true), let v = percentDecoded(value, plusIsSpace: true) else { return nil }
            if query[n] == nil { query[n] = v }
        }
        return query
    }
}

/// `%41` as `A`; nil for a bad escape, bytes that are not UTF-8, or a NUL.
func percentDecoded(_ text: Substring, plusIsSpace: Bool) -> String? {
    var bytes: [UInt8] = []
    var utf8 = text.utf8[...]
    func hex(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x41...0x46: return b - 0x41 + 10
        case 0x61...0x66: return b - 0x61 + 10
        default: return nil
        }
    }
    while let b = utf8.popFirst() {
        if b == 0x25 {
            guard let h = utf8.popFirst().flatMap(hex), let l = utf8.popFirst().flatMap(hex) else { return nil }
            bytes.append(h << 4 | l)
        } else {
            bytes.append(plusIsSpace && b == 0x2B ? 0x20 : b)
        }
    }
    guard !bytes.contains(0), let decoded = String(validating: bytes, as: UTF8.self) else { return nil }
    return decoded
}

/// Every byte but the unreserved ones (`A-Z a-z 0-9 - . _ ~`) as `%XX`: safe in a path segment, a
/// query value and an HTML attribute alike.
func percentEncoded(_ text: String) -> String {
    let digits = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    for b in text.utf8 {
        let unreserved = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E
        if unreserved { out.append(b) } else { out += [0x25, digits[Int(b >> 4)], digits[Int(b & 0xF)]] }
    }
    return String(decoding: out, as: UTF8.self)
}

/// A response, before its head is written.
struct Response: Sendable {
    var status: Int
    var contentType: String
    var body: [UInt8]
    var extraHeaders: [(String, String)] = []

    static func html(_ text: String, status: Int = 200) -> Response {
        Response(status: status, contentType: "text/html; charset=utf-8", body: Array(text.utf8))
    }

    static func json(_ text: String, status: Int = 200) -> Response {
        Response(status: status, contentType: "application/json", body: Array((text + "\n").utf8))
    }

    /// `{"error": "..."}`
    static func jsonError(_ status: Int, _ message: String) -> Response {
        var w = JSONWriter()
        w.raw("{\"error\": "); w.string(message); w.raw("}")
        return json(String(decoding: w.bytes, as: UTF8.self), status: status)
    }

    static func text(_ text: String, status: Int) -> Response {
        Response(status: status, contentType: "text/plain; charset=utf-8", body: Array((text + "\n").utf8))
    }

    /// Sent with every response: nothing is cached, nothing sniffed, the page framed nowhere, and
    /// scripts, styles and connections only from the dashboard itself. No CORS header, ever.
    static let securityHeaders: [(String, String)] = [
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            + "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
    ]

    /// The head and (unless `headOnly`) the body, as bytes to send. `length: false` leaves out the
    /// Content-Length, for an event stream that lasts as long as the connection.
    func serialized(keepAlive: Bool, headOnly: Bool = false, length: Bool = true) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(Response.reason(status))\r\nContent-Type: \(contentType)\r\n"
        if length { head += "Content-Length: \(body.count)\r\n" }
        head += keepAlive ? "Connection: keep-alive\r\n" : "Connection: close\r\n"
        for (name, value) in Response.securityHeaders + extraHeaders { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        return headOnly ? Array(head.utf8) : Array(head.utf8) + body
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 413: return "Content Too Large"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    func trimmingSpaces() -> String {
        let isSpace = { (c: Character) in c == " " || c == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
