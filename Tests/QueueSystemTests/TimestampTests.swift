import Foundation
import Glibc
import Testing
@testable import QueueSystem

@Suite struct TimestampFormatTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (1, "1970-01-01T00:00:00.001Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (1_762_252_200_000, "2025-11-04T10:30:00.000Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),       // leap day in a year divisible by 400
        (1_709_164_800_000, "2024-02-29T00:00:00.000Z"),
        (1_735_689_599_999, "2024-12-31T23:59:59.999Z"),     // year boundary
        (1_735_689_600_000, "2025-01-01T00:00:00.000Z"),
        (946_684_799_999, "1999-12-31T23:59:59.999Z"),
        (4_107_542_400_000, "2100-03-01T00:00:00.000Z"),     // 2100 is not a leap year
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        (-62_135_596_800_000, "0001-01-01T00:00:00.000Z"),
    ])
    func formats(ms: Int64, text: String) {
        #expect(Timestamp(milliseconds: ms).iso8601 == text)
        #expect(Timestamp(iso8601: text) == Timestamp(milliseconds: ms))
    }

    @Test func agreesWithFoundationsISO8601Formatter() {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let ms = Int64.random(in: 0...4_102_444_800_000, using: &generator)  // 1970 ... 2100
            let t = Timestamp(milliseconds: ms)
            #expect(t.iso8601 == f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000)), "\(ms)")
            #expect(Timestamp(iso8601: t.iso8601) == t)
        }
    }

    @Test func shortDisplay() {
        #expect(Timestamp(milliseconds: 1_762_252_200_250).shortDisplay == "2025-11-04 10:30:00")
    }

    @Test func addingSecondsRoundsUpToTheMillisecond() {
        let t = Timestamp(milliseconds: 1000)
        #expect(t.adding(seconds: 2).milliseconds == 3000)
        #expect(t.adding(seconds: 0.0001).milliseconds == 1001)
        #expect(t.adding(seconds: 0).milliseconds == 1000)
        #expect(t.adding(seconds: 3600).milliseconds == 3_601_000)
    }

    @Test func nowIsCloseToFoundationsNow() {
        let ours = Double(Timestamp.now().milliseconds) / 1000
        #expect(abs(ours - Date().timeIntervalSince1970) < 5)
    }

    /// A clock past year 9999 (or before year 0) gives the last (first) time the file can hold.
    @Test func theClockIsKeptToTheYearsTheReaderAccepts() {
        let year10000 = Int64(253_402_300_800)  // 10000-01-01T00:00:00Z in seconds
        #expect(Timestamp(clampingSeconds: year10000 + 86_400, nanoseconds: 5_000_000) == Timestamp.latest)
        #expect(Timestamp(clampingSeconds: year10000 - 1, nanoseconds: 999_999_999) == Timestamp.latest)
        #expect(Timestamp(clampingSeconds: .max, nanoseconds: 0) == Timestamp.latest)
        #expect(Timestamp(clampingSeconds: -62_167_219_201, nanoseconds: 0) == Timestamp.earliest)
        #expect(Timestamp(clampingSeconds: .min, nanoseconds: 0) == Timestamp.earliest)
        #expect(Timestamp(clampingSeconds: 1_762_252_200, nanoseconds: 250_000_000).milliseconds == 1_762_252_200_250)
    }

    /// Whatever time it is given, the writer writes no year the reader refuses.
    @Test func theWriterWritesOnlyYearsTheReaderAccepts() throws {
        let lastText = "9999-12-31T23:59:59.999Z", firstText = "0000-01-01T00:00:00.000Z"
        for (ms, text) in [(Timestamp.latest.milliseconds, lastText), (Timestamp.latest.milliseconds + 1, lastText),
                           (Int64(253_402_387_200_000), lastText), (Int64.max, lastText),
                           (Timestamp.earliest.milliseconds, firstText), (Timestamp.earliest.milliseconds - 1, firstText),
                           (Int64.min, firstText)] {
            let written = Timestamp(milliseconds: ms).iso8601
            #expect(written == text, "\(ms)")
            #expect(Timestamp(iso8601: written) != nil, "\(written) is not read back")
        }
    }

    @Test func ordering() {
        #expect(Timestamp(milliseconds: 1) < Timestamp(milliseconds: 2))
        #expect(!(Timestamp(milliseconds: 2) < Timestamp(milliseconds: 2)))
    }
}

@Suite struct TimestampParseTests {
    @Test(arguments: [
        ("2025-11-04T10:30:00Z", Int64(1_762_252_200_000)),
        ("2025-11-04T10:30:00z", 1_762_252_200_000),
        ("2025-11-04t10:30:00Z", 1_762_252_200_000),
        ("2025-11-04 10:30:00Z", 1_762_252_200_000),
        ("2025-11-04T10:30:00+00:00", 1_762_252_200_000),
        ("2025-11-04T10:30:00-00:00", 1_762_252_200_000),
        ("2025-11-04T16:00:00+05:30", 1_762_252_200_000),
        ("2025-11-04T16:00:00+0530", 1_762_252_200_000),
        ("2025-11-04T05:30:00-05:00", 1_762_252_200_000),
        ("2025-11-03T23:30:00-11:00", 1_762_252_200_000),    // a negative offset crossing the date
        ("2025-11-05T00:15:00+13:45", 1_762_252_200_000),
        ("2025-01-01T03:00:00+05:00", 1_735_682_400_000),
        ("2024-12-31T22:00:00-05:00", 1_735_700_400_000),    // a year boundary crossed by the offset
        ("2025-11-04T10:30:00.5Z", 1_762_252_200_500),
        ("2025-11-04T10:30:00.25Z", 1_762_252_200_250),
        ("2025-11-04T10:30:00.123Z", 1_762_252_200_123),
        ("2025-11-04T10:30:00.1239Z", 1_762_252_200_123),    // beyond milliseconds: truncated
        ("2025-11-04T10:30:00.123456789Z", 1_762_252_200_123),
        ("2025-11-04T10:30:00.000000000000001Z", 1_762_252_200_000),
        ("2024-02-29T12:00:00Z", 1_709_208_000_000),
        ("2000-02-29T00:00:00Z", 951_782_400_000),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999Z", -1),
        ("2025-11-04T23:59:59Z", 1_762_300_799_000),
    ])
    func parses(text: String, ms: Int64) {
        #expect(Timestamp(iso8601: text)?.milliseconds == ms, "\(text)")
    }

    @Test func agreesWithFoundationOnOffsets() {
        let f = ISO8601DateFormatter()
        for text in ["2025-11-04T16:00:00+05:30", "2025-03-01T00:00:00-08:00", "2024-02-29T23:59:59+14:00", "2023-12-31T23:59:59-12:00"] {
            let foundation = f.date(from: text).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
            #expect(Timestamp(iso8601: text)?.milliseconds == foundation, "\(text)")
        }
    }

    @Test(arguments: [
        "2025-02-29T00:00:00Z",    // not a leap year
        "2100-02-29T00:00:00Z",    // not a leap year either
        "2025-02-30T00:00:00Z",
        "2025-04-31T00:00:00Z",
        "2025-13-01T00:00:00Z",
        "2025-00-10T00:00:00Z",
        "2025-01-00T00:00:00Z",
        "2025-01-32T00:00:00Z",
        "2025-11-04T24:00:00Z",
        "2025-11-04T23:60:00Z",
        "2025-11-04T23:59:60Z",
        "2025-11-04T10:30:00",     // no zone
        "2025-11-04T10:30Z",       // no seconds
        "2025-11-04",
        "2025-11-04T10:30:00.Z",   // empty fraction
        "2025-11-04T10:30:00+24:00",
        "2025-11-04T10:30:00+05:60",
        "2025-11-04T10:30:00+5:30",
        "2025-11-04T10:30:00+05",
        "2025-11-04T10:30:00ZZ",
        "2025-11-04T10:30:00Z ",
        " 2025-11-04T10:30:00Z",
        "2025-1-04T10:30:00Z",
        "25-11-04T10:30:00Z",
        "2025/11/04T10:30:00Z",
        "2025-11-04X10:30:00Z",
        "",
        "yesterday",
        "2025-11-04T10:30:00,5Z",
    ])
    func rejects(text: String) {
        #expect(Timestamp(iso8601: text) == nil, "\(text) -> \(String(describing: Timestamp(iso8601: text)))")
    }
}
