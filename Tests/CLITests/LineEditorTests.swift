import Testing
@testable import CLI

@Suite struct KeyDecoderTests {
    private func keys(_ chunks: [String]) -> [Key] {
        var decoder = KeyDecoder()
        return chunks.flatMap { decoder.feed(Array($0.utf8)) }
    }

    @Test func controlKeysAndTextArriveAsKeys() {
        #expect(keys(["ab\u{01}\u{05}\u{15}\u{17}\u{0B}\u{03}\u{04}\t\r\n\u{7F}\u{08}"])
            == [.text("ab"), .control("a"), .control("e"), .control("u"), .control("w"), .control("k"), .control("c"), .control("d"),
                .tab, .enter, .enter, .backspace, .backspace])
    }

    @Test func everySpellingOfTheArrowsHomeEndAndDeleteIsKnown() {
        #expect(keys(["\u{1B}[A\u{1B}[B\u{1B}[C\u{1B}[D\u{1B}OA\u{1B}OD"]) == [.up, .down, .right, .left, .up, .left])
        #expect(keys(["\u{1B}[H\u{1B}[F\u{1B}OH\u{1B}OF\u{1B}[1~\u{1B}[4~\u{1B}[7~\u{1B}[8~"])
            == [.home, .end, .home, .end, .home, .end, .home, .end])
        #expect(keys(["\u{1B}[3~\u{1B}[1;5C\u{1B}[1;5D\u{1B}b\u{1B}f\u{1B}\u{7F}"])
            == [.delete, .wordRight, .wordLeft, .wordLeft, .wordRight, .deleteWordBefore])
        #expect(keys(["\u{1B}[5~\u{1B}[200~x"]) == [.ignored, .ignored, .text("x")], "unknown sequences are dropped whole")
    }

    @Test func aSequenceOrACharacterSplitAcrossReadsWaitsForItsRest() {
        #expect(keys(["\u{1B}", "[", "1;5", "C"]) == [.wordRight])
        let e = Array("é".utf8), han = Array("漢".utf8)
        var decoder = KeyDecoder()
        #expect(decoder.feed([e[0]]) == [])
        #expect(decoder.hasPending)
        #expect(decoder.feed([e[1], han[0], han[1]]) == [.text("é")])
        #expect(decoder.feed([han[2]]) == [.text("漢")])
        #expect(!decoder.hasPending)
    }

    @Test func aLoneEscapeIsFlushedAsNothing() {
        var decoder = KeyDecoder()
        #expect(decoder.feed([0x1B]) == [])
        #expect(decoder.flush() == [.ignored])
        #expect(decoder.feed(Array("x".utf8)) == [.text("x")])
    }
}

@Suite struct EditBufferTests {
    @Test func insertingAndDeletingAroundTheCursor() {
        var b = EditBuffer("echo wrld")
        b.left(); b.left(); b.left()
        b.insert("o")
        #expect(b.text == "echo world")
        b.home(); b.deleteForward()
        #expect(b.text == "cho world" && b.cursor == 0)
        b.end(); b.backspace()
        #expect(b.text == "cho worl" && b.cursor == 8)
        b.left(); b.left(); b.left(); b.left(); b.left()
        b.deleteToEnd()
        #expect(b.text == "cho")
        b.insert("!"); b.left()
        b.deleteToStart()
        #expect(b.text == "!" && b.cursor == 0)
    }

    @Test func ctrlWDeletesBackToTheSpaceBeforeTheWordAsATerminalDoes() {
        var b = EditBuffer("list --state pend  ")
        b.deleteWordBefore()
        #expect(b.text == "list --state ")
        b.deleteWordBefore()
        #expect(b.text == "list ")
        b = EditBuffer("a b")
        b.home()
        b.deleteWordBefore()
        #expect(b.text == "a b", "nothing before the cursor")
    }

    @Test func wordsAreRunsOfLettersAndDigits() {
        var b = EditBuffer("dlq retry job-12")
        b.wordLeft()
        #expect(b.cursor == 14)
        b.wordLeft(); b.wordLeft()
        #expect(b.cursor == 4)
        b.wordRight()
        #expect(b.cursor == 9)
    }

    @Test func aCompletionReplacesTheWordBeforeTheCursor() {
        var b = EditBuffer("dlq re tail")
        b.cursor = 6
        b.replace(from: 4, with: "retry ")
        #expect(b.text == "dlq retry  tail" && b.cursor == 10)
    }

    @Test func wideAndCombiningCharactersTakeTheColumnsATerminalGivesThem() {
        #expect(terminalColumns("a") == 1)
        #expect(terminalColumns("漢") == 2)
        #expect(terminalColumns("\u{301}") == 0)
        #expect(terminalColumns("é") == 1)
    }
}
