import Testing
import QueueStorage

/// The one reader of numbers typed on the command line or given to `config set`.
@Suite struct NumberInputTests {
    @Test(arguments: [("0", 0), ("7", 7), ("007", 7), ("256", 256), ("-5", -5), ("-1000", -1000)])
    func integers(text: String, value: Int) throws {
        #expect(try NumberInput.integer(text, for: "--n", in: -1000...1000) == value)
    }

    @Test(arguments: ["", " ", " 5", "5 ", "+5", "0x10", "0X10", "0b1", "0o7", "1e3", "1E3", "1.5", "1.", ".5", "inf", "nan",
                      "--5", "-", "5-", "1_000", "١", "５", "99999999999999999999", "-1001", "1001"])
    func refusedIntegers(text: String) {
        #expect(throws: QueueError.self, "'\(text)'") { try NumberInput.integer(text, for: "--n", in: -1000...1000) }
    }

    @Test func aNegativeIsOutOfRangeWhereNoneIsAllowed() {
        do {
            _ = try NumberInput.integer("-1", for: "max-retries", in: 0...1000)
            Issue.record("accepted")
        } catch {
            #expect(error.kind == .usage)
            #expect(error.message == "invalid value -1 for max-retries: must be between 0 and 1000")
        }
        #expect(throws: QueueError.self) { try NumberInput.integer("-0", for: "--limit", in: 0...Int.max) }
    }

    @Test(arguments: [("0", 0.0), ("2.5", 2.5), ("30", 30), ("0.001", 0.001), ("31536000", 31_536_000)])
    func decimals(text: String, value: Double) throws {
        #expect(try NumberInput.decimal(text, for: "--timeout", in: 0...31_536_000) == value)
    }

    @Test(arguments: ["", " 1", "1 ", "+1", "-1", "0x10", "0x1p4", "1e3", "1E-3", "inf", "Infinity", "-inf", "nan", "NaN", ".5", "5.",
                      "1..5", "1.2.3", "1,5", "31536000.5", String(repeating: "9", count: 400)])
    func refusedDecimals(text: String) {
        #expect(throws: QueueError.self, "'\(text)'") { try NumberInput.decimal(text, for: "--timeout", in: 0...31_536_000) }
    }

    @Test func messagesNameTheOptionAndWhatItTakes() {
        do { _ = try NumberInput.decimal("0x10", for: "--timeout", in: 0...3600, what: "a number of seconds"); Issue.record("accepted") } catch {
            #expect(error.message == "invalid value '0x10' for --timeout: expected a number of seconds in plain decimal (like 30 or 2.5) from 0 to 3600")
        }
        do { _ = try NumberInput.integer("0x2", for: "--count", in: 1...256); Issue.record("accepted") } catch {
            #expect(error.message == "invalid value '0x2' for --count: expected an integer from 1 to 256")
        }
        do { _ = try NumberInput.integer("x", for: "--limit", in: 0...Int.max); Issue.record("accepted") } catch {
            #expect(error.message == "invalid value 'x' for --limit: expected an integer >= 0")
        }
    }

    @Test(arguments: [("90", 90.0), ("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86_400)])
    func durations(text: String, seconds: Double) {
        #expect(NumberInput.durationSeconds(text) == seconds)
    }

    @Test(arguments: ["", "m", "1.5m", "+5m", "-5m", "0x10m", "1e3s", " 5m", "5 m", "5w", "inf"])
    func refusedDurations(text: String) {
        #expect(NumberInput.durationSeconds(text) == nil, "'\(text)'")
    }
}
