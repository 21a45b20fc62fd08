@preconcurrency import Glibc

/// A point in time as milliseconds since the Unix epoch, written as ISO 8601 UTC with milliseconds
/// (`2026-11-24T08:00:00.250Z`).
package struct Timestamp: Comparable, Hashable, Sendable, CustomStringConvertible {
    package var milliseconds: Int64
    package init(milliseconds: Int64) { self.milliseconds = milliseconds }

    /// The wall clock now, kept within `earliest...latest`: a clock set past year 9999 (or before
    /// year 0) gives the nearest time the data file can hold, so nothing written from it is refused
    /// when read back. Wraps `clock_gettime(CLOCK_REALTIME)`.
    package static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(clampingSeconds: Int64(ts.tv_sec), nanoseconds: Int64(ts.tv_nsec))
    }

    /// `seconds` and `nanoseconds` since the epoch as a time within `earliest...latest`.
    init(clampingSeconds seconds: Int64, nanoseconds: Int64) {
        let limit = Timestamp.latest.milliseconds / 1000 + 1
        let bounded = Swift.min(Swift.max(seconds, -limit), limit)  // keeps the product below from overflowing
        self.init(milliseconds: bounded * 1000 + nanoseconds / 1_000_000)
        self = clamped
    }

    /// This time kept within `earliest...latest`, the times the data file can hold.
    package var clamped: Timestamp {
        Timestamp(milliseconds: Swift.min(Swift.max(milliseconds, Timestamp.earliest.milliseconds), Timestamp.latest.milliseconds))
    }

    package static func < (a: Timestamp, b: Timestamp) -> Bool { a.milliseconds < b.milliseconds }

    /// The times this tool reads and writes: years 0000 to 9999, the four-digit years of ISO 8601.
    package static let earliest = Timestamp(milliseconds: daysFromCivil(year: 0, month: 1, day: 1) * 86_400_000)
    package static let latest = Timestamp(milliseconds: daysFromCivil(year: 10_000, month: 1, day: 1) * 86_400_000 - 1)

    /// This time plus `seconds`, kept within `earliest...latest` (a year-10000 time could not be read back).
    package func adding(seconds: Double) -> Timestamp {
        let delta = (seconds * 1000).rounded(.up)
        let target = delta.isNaN ? Double(milliseconds) : Double(milliseconds) + delta
        let bounded = min(max(target, Double(Timestamp.earliest.milliseconds)), Double(Timestamp.latest.milliseconds))
        return Timestamp(milliseconds: Int64(bounded))
    }

    /// `2026-11-24T08:00:00.250Z`
    package var iso8601: String {
        var bytes: [UInt8] = []
        appendISO8601(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the ISO 8601 form as UTF-8, without building a String (the data file's hot path).
    /// A time outside `earliest...latest` is written as the nearest one inside, so the writer never
    /// writes a year the reader refuses.
    package func appendISO8601(to bytes: inout [UInt8]) {
        let (seconds, millis) = clamped.milliseconds.floorDivMod(1000)
        let (days, secondOfDay) = seconds.floorDivMod(86_400)
        let (year, month, day) = civil(fromDays: days)
        func digits(_ value: Int64, _ width: Int) {
            var divisor: Int64 = 1
            for _ in 1..<width { divisor *= 10 }
            if value >= divisor * 10 { bytes.append(contentsOf: String(value).utf8); return }
            while divisor > 0 {
                bytes.append(UInt8(48 + (value / divisor) % 10))
                divisor /= 10
            }
        }
        digits(year, 4); bytes.append(45); digits(month, 2); bytes.append(45); digits(day, 2); bytes.append(84)
        digits(secondOfDay / 3600, 2); bytes.append(58); digits(secondOfDay / 60 % 60, 2); bytes.append(58)
        digits(secondOfDay % 60, 2); bytes.append(46); digits(millis, 3); bytes.append(90)
    }

    /// `2026-11-24 08:00:00` (UTC, to the second) for tables.
    package var shortDisplay: String {
        let full = iso8601
        return String(full.prefix(10)) + " " + String(full.dropFirst(11).prefix(8))
    }

    package var description: String { iso8601 }

    /// Parses ISO 8601 with a zone: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM|±HHMM)`.
    /// A space may stand for the `T`. Returns nil for anything else, or for an impossible date.
    package init?(iso8601 text: String) {
        var text = text
        guard let value = text.withUTF8({ Timestamp(iso8601Bytes: $0) }) else { return nil }
        self = value
    }

    /// Parses ISO 8601 from UTF-8 bytes, as `init?(iso8601:)` does.
    package init?(iso8601Bytes b: UnsafeBufferPointer<UInt8>) {
        if let canonical = Timestamp(canonical: b) {
            self = canonical
            return
        }
        var i = 0
        func number(_ digits: Int) -> Int64? {
            guard i + digits <= b.count else { return nil }
            var value: Int64 = 0
            for k in i..<(i + digits) {
                guard b[k] >= 48, b[k] <= 57 else { return nil }
                value = value * 10 + Int64(b[k] - 48)
            }
            i += digits
            return value
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect(45), let month = number(2), expect(45), let day = number(2) else { return nil }
        guard i < b.count, b[i] == 84 || b[i] == 32 || b[i] == 116 else { return nil }
        i += 1
        guard let hour = number(2), expect(58), let minute = number(2), expect(58), let second = number(2) else { return nil }
        var millis: Int64 = 0
        if i < b.count, b[i] == 46 {  // fraction
            i += 1
            var scale: Int64 = 100
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                millis += Int64(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        guard i < b.count else { return nil }
        var offsetSeconds: Int64 = 0
        if b[i] == 90 || b[i] == 122 {  // Z
            i += 1
        } else if b[i] == 43 || b[i] == 45 {  // + or -
            let sign: Int64 = b[i] == 45 ? -1 : 1
            i += 1
            guard let oh = number(2) else { return nil }
            _ = expect(58)
            guard let om = number(2), oh <= 23, om <= 59 else { return nil }
            offsetSeconds = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == b.count, (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
              hour <= 23, minute <= 59, second <= 59 else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        // A zone offset can carry a time past year 9999 or before year 0000, where it could not be written.
        guard (Timestamp.earliest.milliseconds...Timestamp.latest.milliseconds).contains(seconds * 1000 + millis) else { return nil }
        self.milliseconds = seconds * 1000 + millis
    }
}

extension Timestamp {
    /// The form this tool writes, `2026-11-24T08:00:00.250Z` (24 bytes), read without the general
    /// parser's steps: most times in a data file are in it. Anything else returns nil.
    init?(canonical b: UnsafeBufferPointer<UInt8>) {
        guard b.count == 24, let base = b.baseAddress, b[4] == 45, b[7] == 45,
              let timeOfDay = Timestamp.canonicalTimeOfDay(base + 10) else { return nil }
        var bad = false
        let year = decimal(base, 4, &bad), month = decimal(base + 5, 2, &bad), day = decimal(base + 8, 2, &bad)
        guard !bad, (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        self.init(milliseconds: daysFromCivil(year: year, month: month, day: day) * 86_400_000 + timeOfDay)
    }

    /// The last 14 bytes of the canonical form, `THH:MM:SS.mmmZ`, as milliseconds since midnight; nil
    /// if they are not that. (The data file's reader checks a date once and then only this part.)
    @inlinable  // called for every time in a data file, from QueueStorage
    package static func canonicalTimeOfDay(_ p: UnsafePointer<UInt8>) -> Int64? {
        guard p[0] == UInt8(ascii: "T"), p[3] == UInt8(ascii: ":"), p[6] == UInt8(ascii: ":"),
              p[9] == UInt8(ascii: "."), p[13] == UInt8(ascii: "Z") else { return nil }
        var bad = false
        let hour = decimal(p + 1, 2, &bad), minute = decimal(p + 4, 2, &bad), second = decimal(p + 7, 2, &bad)
        let millis = decimal(p + 10, 3, &bad)
        guard !bad, hour <= 23, minute <= 59, second <= 59 else { return nil }
        return ((hour * 60 + minute) * 60 + second) * 1000 + millis
    }
}

/// The number written by `count` ASCII digits at `p`; sets `bad` if one of them is not a digit.
/// Straight-line, with no early exit: it runs for every time in a data file.
@inlinable @inline(__always)
func decimal(_ p: UnsafePointer<UInt8>, _ count: Int, _ bad: inout Bool) -> Int64 {
    var value: Int64 = 0
    for k in 0..<count {
        let digit = p[k] &- 0x30
        if digit > 9 { bad = true }
        value = value * 10 + Int64(digit)
    }
    return value
}

/// Milliseconds since the machine booted, suspend included: one clock for every process of this
/// boot, whatever its namespace, and one that a change of the wall clock does not move. Wraps
/// `CLOCK_BOOTTIME`.
package func bootClockMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_BOOTTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// A monotonic clock reading in milliseconds, for durations and deadlines. Wraps `CLOCK_MONOTONIC`.
package func monotonicMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

private func isLeap(_ y: Int64) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

private func daysIn(month: Int64, year: Int64) -> Int64 {
    switch month {
    case 2: return isLeap(year) ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
}

// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
private func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
}

private func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
}

extension Int64 {
    fileprivate func floorDivMod(_ d: Int64) -> (Int64, Int64) {
        let q = self >= 0 ? self / d : (self - d + 1) / d
        return (q, self - q * d)
    }
}
