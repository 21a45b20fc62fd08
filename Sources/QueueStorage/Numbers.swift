/// The one reader of numbers a person types: every command-line option and every `config set`
/// value goes through it, so `0x10` cannot be 16 in one place and an error in another.
///
/// Plain decimal only: ASCII digits, with one `.` and more digits where a fraction makes sense, and
/// a leading `-` only where negatives are allowed. Hex (`0x10`), `inf`, `nan`, exponents (`1e3`), a
/// leading `+`, spaces and empty text are refused, with a message naming the option and what it takes.
package enum NumberInput {
    /// Whether `text` is plain decimal: `-`? digits (`.` digits)?, each part as allowed.
    package static func isPlainDecimal(_ text: String, fraction: Bool, negative: Bool) -> Bool {
        var bytes = Substring(text).utf8[...]
        if negative, bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        let whole = bytes.prefix(while: isDigit)
        guard !whole.isEmpty else { return false }
        bytes = bytes.dropFirst(whole.count)
        if fraction, bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            let digits = bytes.prefix(while: isDigit)
            guard !digits.isEmpty else { return false }
            bytes = bytes.dropFirst(digits.count)
        }
        return bytes.isEmpty
    }

    /// An integer in `range` for `name` (`--count`, `max-retries`). A leading `-` is accepted only
    /// when `range` holds negatives (a negative number is out of range, not malformed).
    package static func integer(_ text: String, for name: String, in range: ClosedRange<Int>) throws(QueueError) -> Int {
        guard isPlainDecimal(text, fraction: false, negative: true) else {
            throw .usage("invalid value '\(text)' for \(name): expected an integer \(span(range))")
        }
        // Plain digits too many for an Int are out of range too.
        guard let value = Int(text), range.contains(value), range.lowerBound < 0 || !text.hasPrefix("-") else {
            throw .usage("invalid value \(text) for \(name): must be \(bounds(range))")
        }
        return value
    }

    /// A number in `range` for `name`, a fraction allowed (`2.5`); `what` says what it is, for the
    /// message ("a number of seconds"). A leading `-` is accepted only when `range` holds negatives.
    package static func decimal(_ text: String, for name: String, in range: ClosedRange<Double>,
                               what: String = "a number") throws(QueueError) -> Double {
        guard isPlainDecimal(text, fraction: true, negative: true) else {
            throw .usage("invalid value '\(text)' for \(name): expected \(what) in plain decimal (like 30 or 2.5) \(span(range))")
        }
        guard let value = Double(text), value.isFinite, range.contains(value), range.lowerBound < 0 || !text.hasPrefix("-") else {
            throw .usage("invalid value \(text) for \(name): must be \(bounds(range))")
        }
        return value
    }

    /// `90`, `30s`, `5m`, `2h`, `1d` as seconds: a whole number with an optional unit. Nil otherwise.
    package static func durationSeconds(_ text: String) -> Double? {
        var digits = text
        var unit: Double = 1
        switch digits.last {
        case "s": unit = 1; digits.removeLast()
        case "m": unit = 60; digits.removeLast()
        case "h": unit = 3600; digits.removeLast()
        case "d": unit = 86_400; digits.removeLast()
        default: break
        }
        guard isPlainDecimal(digits, fraction: false, negative: false), let n = Double(digits), n.isFinite else { return nil }
        return n * unit
    }

    /// The range in words: `from 1 to 256` (or `between 1 and 256`), `>= 0` when it has no top.
    private static func span(_ range: ClosedRange<Int>, _ from: String = "from", _ to: String = "to") -> String {
        range.upperBound == .max ? ">= \(range.lowerBound)" : "\(from) \(range.lowerBound) \(to) \(range.upperBound)"
    }

    private static func bounds(_ range: ClosedRange<Int>) -> String { span(range, "between", "and") }

    private static func span(_ range: ClosedRange<Double>, _ from: String = "from", _ to: String = "to") -> String {
        func text(_ value: Double) -> String {  // 3600, not 3600.0
            var w = JSONWriter()
            w.double(value)
            return String(decoding: w.bytes, as: UTF8.self)
        }
        return range.upperBound == .greatestFiniteMagnitude ? ">= \(text(range.lowerBound))"
            : "\(from) \(text(range.lowerBound)) \(to) \(text(range.upperBound))"
    }

    private static func bounds(_ range: ClosedRange<Double>) -> String { span(range, "between", "and") }
}
