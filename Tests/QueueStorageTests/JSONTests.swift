import Foundation
import Testing
import QueueSystem
@testable import QueueStorage

/// Awkward strings: quotes, backslashes, every control character, unicode of all widths.
let awkwardStrings: [String] = [
    "",
    "plain",
    "say \"hi\"",
    "back\\slash \\\\ double",
    "\\\"",
    "line1\nline2\r\nline3",
    "tab\there",
    "\u{08}\u{0C}\u{0B}\u{1B}[31mred\u{1B}[0m",
    String((0..<32).map { Character(Unicode.Scalar(UInt8($0))) }),
    "nul\u{0}inside",
    "del\u{7F}",
    "slash / and </script>",
    "emoji 😀🎉👩‍👩‍👧‍👦 flags 🇫🇷",
    "CJK 中文 日本語 한국어",
    "combining e\u{301} a\u{308}\u{323} Z̤͔ͧ̑̓",
    "line sep \u{2028} para sep \u{2029}",
    "bom \u{FEFF} and max \u{10FFFF}",
    "echo 'it''s' && printf \"%s\\n\" \"$HOME\" | tr -d '\\t'",
    String(repeating: "long ", count: 5000),
]

func jsonText(_ s: String) -> [UInt8] {
    var w = JSONWriter()
    w.string(s)
    return w.bytes
}

@Suite struct JSONStringTests {
    @Test(arguments: awkwardStrings)
    func writerThenReaderRoundTrip(s: String) throws {
        let bytes = jsonText(s)
        #expect(try JSONValue.parse(bytes) == .string(s))
    }

    @Test(arguments: awkwardStrings)
    func writerOutputIsValidJSONForFoundation(s: String) throws {
        let bytes = jsonText(s)
        // Wrap in an array: every Foundation version accepts that as a top-level value.
        let wrapped = Data([UInt8(ascii: "[")] + bytes + [UInt8(ascii: "]")])
        let decoded = try JSONSerialization.jsonObject(with: wrapped) as? [String]
        #expect(decoded == [s])
        #expect(try JSONDecoder().decode([String].self, from: wrapped) == [s])
    }

    @Test(arguments: awkwardStrings)
    func foundationOutputDecodesWithOurReader(s: String) throws {
        let data = try JSONSerialization.data(withJSONObject: [s])
        #expect(try JSONValue.parse(Array(data)) == .array([.string(s)]))
        let encoded = try JSONEncoder().encode([s])
        #expect(try JSONValue.parse(Array(encoded)) == .array([.string(s)]))
    }

    @Test func writerEscapesOnlyWhatItMust() {
        #expect(String(decoding: jsonText("a\"b\\c\nd\u{1}"), as: UTF8.self) == #""a\"b\\c\nd\u0001""#)
        // Non-ASCII is written as raw UTF-8, not escaped.
        #expect(jsonText("é😀") == Array("\"é😀\"".utf8))
    }

    @Test func readerDecodesEveryEscape() throws {
        let text = #""\" \\ \/ \b \f \n \r \t \u0041 \u00e9 \u4e2d \ud83d\ude00 \u0000""#
        #expect(try JSONValue.parse(Array(text.utf8)) == .string("\" \\ / \u{08} \u{0C} \n \r \t A é 中 😀 \u{0}"))
        #expect(try JSONValue.parse(Array(#""\u00E9\uD83D\uDE00""#.utf8)) == .string("é😀"))  // upper-case hex
    }
}

/// Asserts that `text` is rejected and returns the error.
@discardableResult
func expectJSONError(_ bytes: [UInt8], containing words: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) -> JSONError? {
    do {
        let v = try JSONValue.parse(bytes)
        Issue.record("accepted \(String(decoding: bytes, as: UTF8.self).debugDescription) as \(v)", sourceLocation: sourceLocation)
        return nil
    } catch {
        #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
        if let words { #expect(error.message.contains(words), "message: \(error.message)", sourceLocation: sourceLocation) }
        return error
    }
}

@Suite struct JSONReaderTests {
    @Test func parsesAllValueKinds() throws {
        let text = #" { "a": [1, -2.5e+3, 0, -0, 1E-2], "b": {"c": null, "d": true, "e": false}, "f": "x" } "#
        let v = try JSONValue.parse(Array(text.utf8))
        #expect(v == .object([
            ("a", .array([.number("1"), .number("-2.5e+3"), .number("0"), .number("-0"), .number("1E-2")])),
            ("b", .object([("c", .null), ("d", .bool(true)), ("e", .bool(false))])),
            ("f", .string("x")),
        ]))
    }

    @Test func keepsObjectKeyOrder() throws {
        let v = try JSONValue.parse(Array(#"{"z":1,"a":2,"m":3}"#.utf8))
        guard case .object(let members) = v else { Issue.record("not an object"); return }
        #expect(members.map(\.0) == ["z", "a", "m"])
    }

    @Test func largeNumbersKeepTheirText() throws {
        for text in ["9223372036854775807", "-9223372036854775808", "123456789012345678901234567890", "1.7976931348623157e308", "5e-324"] {
            #expect(try JSONValue.parse(Array(text.utf8)) == .number(text))
        }
    }

    @Test func int64AndDoubleReaders() throws {
        func int(_ text: String) throws(JSONError) -> Int64 {
            try Array(text.utf8).withUnsafeBufferPointer { b in
                Result { () throws(JSONError) in var r = JSONReader(b); return try r.readInt64() }
            }.get()
        }
        func double(_ text: String) throws(JSONError) -> Double {
            try Array(text.utf8).withUnsafeBufferPointer { b in
                Result { () throws(JSONError) in var r = JSONReader(b); return try r.readDouble() }
            }.get()
        }
        #expect(try int("9223372036854775807") == Int64.max)
        #expect(try int("-9223372036854775808") == Int64.min)
        #expect(throws: JSONError.self) { try int("9223372036854775808") }
        #expect(throws: JSONError.self) { try int("1.0") }
        #expect(throws: JSONError.self) { try int("1e2") }
        #expect(try double("1.5") == 1.5)
        #expect(try double("1e2") == 100)
        #expect(throws: JSONError.self) { try double("1e400") }  // out of range, not inf
    }

    @Test func truncatedInput() {
        for text in ["", " ", "{", "[", "[1,", #"{"a""#, #"{"a":"#, #"{"a":1"#, #"{"a":1,"#, #""abc"#, #""ab\"#, #""\u12"#, "tru", "nul", "-", "1.", "1e", "1e+"] {
            let error = expectJSONError(Array(text.utf8))
            if let error { #expect(error.offset <= text.utf8.count) }
        }
        expectJSONError(Array("{".utf8), containing: "end of input")
        expectJSONError(Array(#""abc"#.utf8), containing: "unterminated")
    }

    @Test func trailingGarbage() {
        for text in ["1 2", "{} {}", "[] x", "true false", "nullx", "\"a\"b", "1x", "{}]", "[1]]"] {
            expectJSONError(Array(text.utf8))
        }
        expectJSONError(Array("{} {}".utf8), containing: "after")
    }

    @Test func leadingZerosAndBadNumbers() {
        for text in ["01", "-01", "00", "[007]", "+1", ".5", "1.e3", "0x10", "NaN", "Infinity", "-Infinity", "1_000"] {
            expectJSONError(Array(text.utf8))
        }
        expectJSONError(Array("01".utf8), containing: "leading zero")
    }

    @Test func loneSurrogates() {
        for text in [#""\ud800""#, #""\udc00""#, #""\ud800x""#, #""\ud800\u0041""#, #""\ud800\ud800""#, #""\ude00\ud83d""#] {
            expectJSONError(Array(text.utf8), containing: "surrogate")
        }
    }

    @Test func invalidUTF8() {
        let cases: [[UInt8]] = [
            [0x22, 0xFF, 0x22],                    // never valid
            [0x22, 0xC3, 0x22],                    // truncated sequence
            [0x22, 0xC0, 0xAF, 0x22],              // overlong '/'
            [0x22, 0xED, 0xA0, 0x80, 0x22],        // encoded surrogate
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // above U+10FFFF
            [0x22, 0x5C, 0x6E, 0xFF, 0x22],        // after an escape (slow path)
            [0x22, 0x80, 0x22],                    // lone continuation byte
        ]
        for bytes in cases { expectJSONError(bytes, containing: "UTF-8") }
    }

    @Test func rawControlCharactersAreRejected() {
        for b: UInt8 in [0x00, 0x01, 0x0A, 0x09, 0x1F] {
            expectJSONError([0x22, 0x61, b, 0x22], containing: "control")
            expectJSONError([0x22, 0x5C, 0x6E, b, 0x22], containing: "control")
        }
    }

    @Test func invalidEscapes() {
        for text in [#""\x""#, #""\a""#, #""\u12G4""#, #""\U0041""#, #""\'""#] { expectJSONError(Array(text.utf8)) }
    }

    @Test func duplicateKeys() {
        expectJSONError(Array(#"{"a":1,"a":2}"#.utf8), containing: "duplicate key")
        expectJSONError(Array(#"{"x":{"a":1,"b":2,"a":3}}"#.utf8), containing: "duplicate key")
        // The same key escaped differently is still the same key.
        expectJSONError(Array(#"{"a":1,"\u0061":2}"#.utf8), containing: "duplicate key")
    }

    @Test func structuralErrors() {
        for text in ["[1,]", #"{"a":1,}"#, "{1:2}", #"{"a" 1}"#, "[1 2]", "{,}", "[,]", "'a'", #"{"a":}"#] {
            expectJSONError(Array(text.utf8))
        }
    }

    @Test func depthIsLimitedButReasonableNestingWorks() throws {
        let ok = String(repeating: "[", count: 50) + String(repeating: "]", count: 50)
        _ = try JSONValue.parse(Array(ok.utf8))
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        expectJSONError(Array(deep.utf8), containing: "deep")
    }

    @Test func errorDescriptionCarriesOffset() {
        guard let e = expectJSONError(Array("[1, 2, x]".utf8)) else { return }
        #expect(e.offset == 7)
        #expect(e.description.contains("byte 7"))
    }

    @Test func whitespaceAroundValuesIsAllowed() throws {
        #expect(try JSONValue.parse(Array(" \t\r\n{ \"a\" : [ 1 , 2 ] }\n ".utf8)) == .object([("a", .array([.number("1"), .number("2")]))]))
    }

    @Test func writerValueRoundTrip() throws {
        let value = JSONValue.object([
            ("s", .string("q\"\\\n😀")), ("n", .number("-12.5e3")), ("a", .array([.null, .bool(true), .bool(false), .array([])])),
            ("o", .object([])), ("big", .number("123456789012345678901234567890")),
        ])
        var w = JSONWriter()
        w.value(value)
        #expect(try JSONValue.parse(w.bytes) == value)
        #expect(try JSONSerialization.jsonObject(with: Data(w.bytes)) is [String: Any])
    }

    @Test func writerDoubles() throws {
        func text(_ d: Double) -> String { var w = JSONWriter(); w.double(d); return String(decoding: w.bytes, as: UTF8.self) }
        #expect(text(2) == "2")
        #expect(text(3600) == "3600")
        #expect(text(0) == "0")
        #expect(text(1.5) == "1.5")
        #expect(text(-2) == "-2")
        for d in [0.1, 1.5, 1e15, 1e20, 123456.789, 1e-7, 31_536_000, 1_000_000, 2.5e-300, 1.7976931348623157e308] {
            let t = text(d)
            // Valid JSON that Foundation and we both read back to the same double.
            let foundation = try JSONSerialization.jsonObject(with: Data("[\(t)]".utf8)) as? [Double]
            #expect(foundation == [d], "\(t)")
            #expect(try JSONValue.parse(Array(t.utf8)) == .number(t))
            #expect(Double(t) == d)
        }
    }
}
