import QueueSystem

/// A parsed JSON value, for small inputs such as a job given on the command line. The data file
/// itself is decoded straight into its types by `JSONReader`, without building these.
package enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// The number's text as written, so integers beyond Double's precision are not rounded.
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Keys in their order of appearance.
    case object([(String, JSONValue)])

    package static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// A word for the value's type, for error messages.
    package var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// Parses one complete JSON text.
    package static func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(JSONError) in
                // A UTF-8 byte order mark, as some editors write, is skipped (RFC 8259 allows it).
                let bom = buffer.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
                var reader = JSONReader(UnsafeBufferPointer(rebasing: buffer[bom...]))
                let value = try reader.readValue(depth: 0)
                try reader.expectEnd()
                return value
            }
        }.get()
    }
}

package struct JSONError: Error, Equatable, CustomStringConvertible, Sendable {
    package let message: String
    package let offset: Int
    /// False for errors about the whole document (a newer version), where a byte offset helps no one.
    package var pointsAtByte = true
    package var description: String { pointsAtByte ? "\(message) at byte \(offset)" : message }
}

/// A pull parser over UTF-8 bytes (RFC 8259). It never builds a tree unless asked to.
package struct JSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    package internal(set) var offset = 0
    static let maximumDepth = 64

    package init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    package func error(_ message: String) -> JSONError { JSONError(message: message, offset: offset) }

    mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x09, 0x0A, 0x0D: offset += 1
            default: return
            }
        }
    }

    /// The next significant byte, without consuming it.
    package mutating func peek() -> UInt8? {
        skipWhitespace()
        return offset < bytes.count ? bytes[offset] : nil
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(JSONError) {
        guard peek() == byte else { throw error(peek() == nil ? "unexpected end of input, expected \(what)" : "expected \(what)") }
        offset += 1
    }

    package mutating func expectEnd() throws(JSONError) {
        if peek() != nil { throw error("unexpected text after the JSON value") }
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard offset + count <= bytes.count else { return false }
        for i in 0..<count where bytes[offset + i] != word.utf8Start[i] { return false }
        offset += count
        return true
    }

    /// Consumes `null` if it comes next.
    package mutating func readNull() -> Bool {
        guard peek() == UInt8(ascii: "n") else { return false }
        return literal("null")
    }

    package mutating func readBool() throws(JSONError) -> Bool {
        _ = peek()
        if literal("true") { return true }
        if literal("false") { return false }
        throw error("expected true or false")
    }

    /// Checks a string as `readString` would, without building it when it has no escapes.
    package mutating func skipString() throws(JSONError) {
        if rawStringWithoutEscapes() == nil { _ = try readString() }
    }

    /// A string that must be an ISO 8601 time, parsed without building a String.
    package mutating func readTimestamp() throws(JSONError) -> Timestamp? {
        let start = offset
        if let raw = rawStringWithoutEscapes() {
            if let t = Timestamp(iso8601Bytes: raw) { return t }
            offset = start
            return nil
        }
        return Timestamp(iso8601: try readString())
    }

    package mutating func readString() throws(JSONError) -> String {
        try expect(UInt8(ascii: "\""), "a string")
        let start = offset
        // Fast path: no escapes.
        while offset < bytes.count {
            let b = bytes[offset]
            if b == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<offset])
                guard let s = String(validating: slice, as: UTF8.self) else {
                    offset = start
                    throw error("string is not valid UTF-8")
                }
                offset += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw error("control character in string") }
            offset += 1
        }
        var utf8 = Array(UnsafeBufferPointer(rebasing: bytes[start..<offset]))
        while offset < bytes.count {
            let b = bytes[offset]
            if b == UInt8(ascii: "\"") {
                offset += 1
                guard let s = String(validating: utf8, as: UTF8.self) else {
                    offset = start
                    throw error("string is not valid UTF-8")
                }
                return s
            }
            if b < 0x20 { throw error("control character in string") }
            if b != UInt8(ascii: "\\") {
                utf8.append(b)
                offset += 1
                continue
            }
            offset += 1
            guard offset < bytes.count else { break }
            let escape = bytes[offset]
            offset += 1
            switch escape {
            case UInt8(ascii: "\""): utf8.append(0x22)
            case UInt8(ascii: "\\"): utf8.append(0x5C)
            case UInt8(ascii: "/"): utf8.append(0x2F)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard literal("\\u") else { throw error("unpaired surrogate in string") }
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate in string") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw error("unpaired surrogate in string")
                }
                utf8.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
            default:
                offset -= 1
                throw error("invalid escape in string")
            }
        }
        throw error("unterminated string")
    }

    private mutating func hex4() throws(JSONError) -> UInt32 {
        guard offset + 4 <= bytes.count else { throw error("invalid \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[offset]
            let digit: UInt32
            switch b {
            case 0x30...0x39: digit = UInt32(b - 0x30)
            case 0x41...0x46: digit = UInt32(b - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(b - 0x61 + 10)
            default: throw error("invalid \\u escape")
            }
            value = value << 4 | digit
            offset += 1
        }
        return value
    }

    /// The text of a number, checked against JSON's grammar.
    package mutating func readNumberText() throws(JSONError) -> String {
        _ = peek()
        let start = offset
        func digits() -> Int {
            let s = offset
            while offset < bytes.count, bytes[offset] >= 0x30, bytes[offset] <= 0x39 { offset += 1 }
            return offset - s
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        let intStart = offset
        let intDigits = digits()
        guard intDigits > 0 else { offset = start; throw error("expected a number") }
        if intDigits > 1, bytes[intStart] == 0x30 { offset = start; throw error("number has a leading zero") }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
            offset += 1
            guard digits() > 0 else { throw error("expected digits after the decimal point") }
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
            offset += 1
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") { offset += 1 }
            guard digits() > 0 else { throw error("expected digits in the exponent") }
        }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
    }

    /// An integer that fits in Int64 and is written without fraction or exponent, read digit by digit.
    package mutating func readInt64() throws(JSONError) -> Int64 {
        _ = peek()
        let start = offset
        var i = offset
        let negative = i < bytes.count && bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        let digitsStart = i
        var value: Int64 = 0
        var overflow = false
        while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 {
            let digit = Int64(bytes[i] - 0x30)
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? times10.subtractingReportingOverflow(digit) : times10.addingReportingOverflow(digit)
            overflow = overflow || o1 || o2
            value = next
            i += 1
        }
        let followedByFraction = i < bytes.count && (bytes[i] == UInt8(ascii: ".") || bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E"))
        if i == digitsStart || overflow || followedByFraction || (i - digitsStart > 1 && bytes[digitsStart] == 0x30) {
            // The slow path gives the precise message (not a number, leading zero, not an integer).
            let text = try readNumberText()
            offset = start
            throw error("expected an integer, found \(text)")
        }
        offset = i
        return value
    }

    package mutating func readInt() throws(JSONError) -> Int { Int(try readInt64()) }

    package mutating func readDouble() throws(JSONError) -> Double {
        let start = offset
        let text = try readNumberText()
        guard let value = Double(text), value.isFinite else { offset = start; throw error("number out of range: \(text)") }
        return value
    }

    /// Reads an object, calling `body` with each key; `body` must consume the value.
    /// A key that appears twice is an error.
    package mutating func readObject(_ body: (inout JSONReader, String) throws(JSONError) -> Void) throws(JSONError) {
        // Objects here are small: a list finds a repeated key faster than hashing every key.
        var seen: [String] = []
        try readObjectKeys { (reader, keyBytes, keyOffset) throws(JSONError) in
            let key = String(decoding: keyBytes, as: UTF8.self)
            if seen.contains(key) {
                reader.offset = keyOffset
                throw reader.error("duplicate key \"\(key)\"")
            }
            seen.append(key)
            try body(&reader, key)
        }
    }

    /// Reads an object, handing `body` each key as UTF-8 bytes (valid only during the call) and the
    /// key's offset; `body` must consume the value and is responsible for repeated keys.
    package mutating func readObjectKeys(
        _ body: (inout JSONReader, UnsafeBufferPointer<UInt8>, Int) throws(JSONError) -> Void
    ) throws(JSONError) {
        try expect(UInt8(ascii: "{"), "an object")
        if peek() == UInt8(ascii: "}") { offset += 1; return }
        while true {
            guard peek() == UInt8(ascii: "\"") else { throw error(peek() == nil ? "unexpected end of input, expected a key" : "expected a key") }
            let keyOffset = offset
            if let raw = rawStringWithoutEscapes() {
                try expect(UInt8(ascii: ":"), "':'")
                try body(&self, raw, keyOffset)
            } else {
                let key = try readString()
                try expect(UInt8(ascii: ":"), "':'")
                let bytes = Array(key.utf8)
                try bytes.withUnsafeBufferPointer { buffer in
                    Result { () throws(JSONError) in try body(&self, buffer, keyOffset) }
                }.get()
            }
            switch peek() {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "}"): offset += 1; return
            case nil: throw error("unexpected end of input, expected ',' or '}'")
            default: throw error("expected ',' or '}'")
            }
        }
    }

    /// If the string at the cursor has no escapes and is valid UTF-8, consumes it and returns its
    /// bytes (without quotes); otherwise leaves the cursor where it was and returns nil.
    mutating func rawStringWithoutEscapes() -> UnsafeBufferPointer<UInt8>? {
        guard peek() == UInt8(ascii: "\"") else { return nil }
        let start = offset + 1
        guard var end = firstSpecialStringByte(in: bytes, from: start) else { return nil }
        if bytes[end] != UInt8(ascii: "\"") {
            // Non-ASCII text up to the closing quote is fine if it is valid UTF-8; a backslash or a
            // control character sends the string to the careful path.
            guard let quote = QueueSystem.firstIndex(of: 0x22, in: bytes, from: end) else { return nil }
            let rest = UnsafeBufferPointer(rebasing: bytes[end..<quote])
            if rest.contains(where: { $0 == UInt8(ascii: "\\") || $0 < 0x20 }) { return nil }
            if String(validating: UnsafeBufferPointer(rebasing: bytes[start..<quote]), as: UTF8.self) == nil { return nil }
            end = quote
        }
        offset = end + 1
        return UnsafeBufferPointer(rebasing: bytes[start..<end])
    }

    /// Reads an array, calling `body` once per element; `body` must consume it.
    package mutating func readArray(_ body: (inout JSONReader, Int) throws(JSONError) -> Void) throws(JSONError) {
        try expect(UInt8(ascii: "["), "an array")
        if peek() == UInt8(ascii: "]") { offset += 1; return }
        var index = 0
        while true {
            try body(&self, index)
            index += 1
            switch peek() {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "]"): offset += 1; return
            case nil: throw error("unexpected end of input, expected ',' or ']'")
            default: throw error("expected ',' or ']'")
            }
        }
    }

    package mutating func readValue(depth: Int) throws(JSONError) -> JSONValue {
        guard depth < JSONReader.maximumDepth else { throw error("nested too deeply") }
        switch peek() {
        case nil: throw error("unexpected end of input, expected a value")
        case UInt8(ascii: "{"):
            var members: [(String, JSONValue)] = []
            try readObject { (reader, key) throws(JSONError) in members.append((key, try reader.readValue(depth: depth + 1))) }
            return .object(members)
        case UInt8(ascii: "["):
            var elements: [JSONValue] = []
            try readArray { (reader, _) throws(JSONError) in elements.append(try reader.readValue(depth: depth + 1)) }
            return .array(elements)
        case UInt8(ascii: "\""): return .string(try readString())
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool(try readBool())
        case UInt8(ascii: "n"):
            guard readNull() else { throw error("expected a value") }
            return .null
        default: return .number(try readNumberText())
        }
    }
}

/// Appends JSON text to a byte buffer.
package struct JSONWriter {
    package var bytes: [UInt8] = []
    package init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    package mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    package mutating func string(_ value: String) {
        bytes.append(0x22)
        var value = value
        value.withUTF8 { utf8 in
            var runStart = 0
            for (i, b) in utf8.enumerated() where b < 0x20 || b == 0x22 || b == 0x5C {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i]))
                runStart = i + 1
                switch b {
                case 0x22: raw("\\\"")
                case 0x5C: raw("\\\\")
                case 0x0A: raw("\\n")
                case 0x0D: raw("\\r")
                case 0x09: raw("\\t")
                case 0x08: raw("\\b")
                case 0x0C: raw("\\f")
                default:
                    raw("\\u00")
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    bytes.append(hex[Int(b >> 4)])
                    bytes.append(hex[Int(b & 0xF)])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(0x22)
    }

    package mutating func int<I: BinaryInteger>(_ value: I) {
        guard let v = Int64(exactly: value) else { bytes.append(contentsOf: String(value).utf8); return }
        if v < 0 {
            guard v != .min else { bytes.append(contentsOf: String(v).utf8); return }
            bytes.append(UInt8(ascii: "-"))
        }
        var magnitude = v.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[19 - count] = UInt8(48 + magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[(20 - count)...]))
        }
    }

    /// A finite double; whole numbers are written without a fraction (`2`, not `2.0`).
    package mutating func double(_ value: Double) {
        if value.rounded() == value, abs(value) < 1e15 {
            int(Int64(value))
        } else {
            bytes.append(contentsOf: String(value).utf8)
        }
    }

    package mutating func bool(_ value: Bool) { value ? raw("true") : raw("false") }

    /// A time as an ISO 8601 string.
    package mutating func timestamp(_ value: Timestamp) {
        bytes.append(0x22)
        value.appendISO8601(to: &bytes)
        bytes.append(0x22)
    }

    /// `"key": ` with the given separator before it (the caller writes the first key without one).
    package mutating func key(_ name: StaticString, first: Bool = false) {
        if !first { raw(", ") }
        bytes.append(0x22)
        raw(name)
        raw("\": ")
    }

    /// Writes any JSON value, compactly.
    package mutating func value(_ value: JSONValue) {
        switch value {
        case .null: raw("null")
        case .bool(let b): bool(b)
        case .number(let text): bytes.append(contentsOf: text.utf8)
        case .string(let s): string(s)
        case .array(let elements):
            bytes.append(0x5B)
            for (i, e) in elements.enumerated() {
                if i > 0 { raw(", ") }
                self.value(e)
            }
            bytes.append(0x5D)
        case .object(let members):
            bytes.append(0x7B)
            for (i, (k, v)) in members.enumerated() {
                if i > 0 { raw(", ") }
                string(k)
                raw(": ")
                self.value(v)
            }
            bytes.append(0x7D)
        }
    }
}

/// The index of the first byte at or after `start` that ends a JSON string or needs a closer look in
/// one: a quote, a backslash, a control character or a non-ASCII byte; nil if there is none. Eight
/// bytes at a time, with the usual "has a byte less than n" and "has a zero byte" word tricks: they
/// can flag bytes above a true match but never below one, so the lowest flag is exact.
func firstSpecialStringByte(in bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
    guard let base = bytes.baseAddress else { return nil }
    let raw = UnsafeRawPointer(base)
    let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
    var i = start
    while i + 8 <= bytes.count {
        let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        let quotes = w ^ (ones &* 0x22), backslashes = w ^ (ones &* 0x5C)
        let flagged = (((w &- ones &* 0x20) & ~w) | w | ((quotes &- ones) & ~quotes) | ((backslashes &- ones) & ~backslashes)) & highs
        if flagged != 0 { return i + flagged.trailingZeroBitCount / 8 }
        i += 8
    }
    while i < bytes.count {
        let b = bytes[i]
        if b < 0x20 || b >= 0x80 || b == 0x22 || b == 0x5C { return i }
        i += 1
    }
    return nil
}
