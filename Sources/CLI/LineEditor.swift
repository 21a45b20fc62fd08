import QueueStorage
import QueueSystem

/// A key as the line editor sees it, decoded from what the terminal sends.
enum Key: Equatable {
    /// Printable text: one key, or several pasted at once.
    case text(String)
    case enter, tab, backspace, delete
    case left, right, wordLeft, wordRight, home, end, up, down
    /// Ctrl+ a letter that edits: a, b, c, d, e, f, k, l, n, p, u, w.
    case control(Character)
    /// Alt+Backspace: the word before the cursor, as Ctrl+W.
    case deleteWordBefore
    /// Escape alone, or a sequence the editor does not use.
    case ignored
}

/// Turns the bytes a terminal sends into keys: control characters, escape sequences (ESC [ … and
/// ESC O …, with the variants terminals use for Home, End and Delete), UTF-8 text. A sequence or
/// a character split across reads is kept until the rest comes; `flush()` ends a lone Escape.
struct KeyDecoder {
    private var pending: [UInt8] = []

    /// True while the bytes so far may be the start of a longer sequence.
    var hasPending: Bool { !pending.isEmpty }

    mutating func feed(_ bytes: [UInt8]) -> [Key] {
        pending += bytes
        var keys: [Key] = []
        var text: [UInt8] = []
        func endText() {
            if !text.isEmpty { keys.append(.text(String(decoding: text, as: UTF8.self))) }
            text = []
        }
        var i = 0
        scan: while i < pending.count {
            let b = pending[i]
            if b >= 0x20 && b != 0x7F {
                // A UTF-8 character whose last bytes have not come yet waits for them.
                let length = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
                if i + length > pending.count { break scan }
                text += pending[i..<(i + length)]
                i += length
                continue
            }
            endText()
            if b == 0x1B {
                guard let (key, used) = Self.escapeSequence(pending[(i + 1)...]) else { break scan }
                keys.append(key)
                i += 1 + used
                continue
            }
            keys.append(Self.control(b))
            i += 1
        }
        endText()
        pending.removeFirst(i)
        return keys
    }

    /// What is left when nothing more comes: a lone Escape, or the start of a sequence cut short.
    mutating func flush() -> [Key] {
        defer { pending = [] }
        return pending.isEmpty ? [] : [.ignored]
    }

    private static func control(_ b: UInt8) -> Key {
        switch b {
        case 0x0D, 0x0A: return .enter
        case 0x09: return .tab
        case 0x7F, 0x08: return .backspace
        case 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0B, 0x0C, 0x0E, 0x10, 0x15, 0x17:
            return .control(Character(Unicode.Scalar(b + 0x60)))
        default: return .ignored
        }
    }

    /// The key an escape sequence stands for and how many bytes after the ESC it took, or nil if
    /// `rest` may be the start of one that has not all come yet.
    private static func escapeSequence(_ rest: ArraySlice<UInt8>) -> (Key, Int)? {
        guard let first = rest.first else { return nil }
        switch first {
        case UInt8(ascii: "["):
            // CSI: parameter bytes 0x30-0x3F, intermediate bytes 0x20-0x2F, one final byte 0x40-0x7E.
            var j = rest.startIndex + 1
            while j < rest.endIndex, (0x20...0x3F).contains(rest[j]) { j += 1 }
            guard j < rest.endIndex else { return nil }
            let parameters = String(decoding: rest[(rest.startIndex + 1)..<j], as: UTF8.self)
            let used = j - rest.startIndex + 1
            guard (0x40...0x7E).contains(rest[j]) else { return (.ignored, used) }
            let modified = parameters.hasSuffix(";5") || parameters.hasSuffix(";3")  // Ctrl or Alt with the arrow
            switch rest[j] {
            case UInt8(ascii: "A"): return (.up, used)
            case UInt8(ascii: "B"): return (.down, used)
            case UInt8(ascii: "C"): return (modified ? .wordRight : .right, used)
            case UInt8(ascii: "D"): return (modified ? .wordLeft : .left, used)
            case UInt8(ascii: "H"): return (.home, used)
            case UInt8(ascii: "F"): return (.end, used)
            case UInt8(ascii: "~"):
                switch parameters {
                case "1", "7": return (.home, used)
                case "4", "8": return (.end, used)
                case "3": return (.delete, used)
                default: return (.ignored, used)
                }
            default: return (.ignored, used)
            }
        case UInt8(ascii: "O"):
            guard rest.count > 1 else { return nil }
            let keys: [UInt8: Key] = [UInt8(ascii: "A"): .up, UInt8(ascii: "B"): .down, UInt8(ascii: "C"): .right,
                                      UInt8(ascii: "D"): .left, UInt8(ascii: "H"): .home, UInt8(ascii: "F"): .end]
            return (keys[rest[rest.startIndex + 1]] ?? .ignored, 2)
        case UInt8(ascii: "b"): return (.wordLeft, 1)
        case UInt8(ascii: "f"): return (.wordRight, 1)
        case 0x7F, 0x08: return (.deleteWordBefore, 1)
        default: return (.ignored, 1)
        }
    }
}

/// The line being edited and the cursor in it, with the editing operations.
struct EditBuffer: Equatable {
    var characters: [Character] = []
    /// Characters before the cursor.
    var cursor = 0

    var text: String { String(characters) }

    init(_ text: String = "") {
        characters = Array(text)
        cursor = characters.count
    }

    mutating func insert(_ text: String) {
        let new = Array(text)
        characters.insert(contentsOf: new, at: cursor)
        cursor += new.count
    }

    mutating func backspace() {
        guard cursor > 0 else { return }
        characters.remove(at: cursor - 1)
        cursor -= 1
    }

    mutating func deleteForward() {
        guard cursor < characters.count else { return }
        characters.remove(at: cursor)
    }

    mutating func left() { cursor = max(0, cursor - 1) }
    mutating func right() { cursor = min(characters.count, cursor + 1) }
    mutating func home() { cursor = 0 }
    mutating func end() { cursor = characters.count }

    /// To the start of the word before the cursor (words are runs of letters and digits).
    mutating func wordLeft() {
        while cursor > 0, !Self.isWordCharacter(characters[cursor - 1]) { cursor -= 1 }
        while cursor > 0, Self.isWordCharacter(characters[cursor - 1]) { cursor -= 1 }
    }

    mutating func wordRight() {
        while cursor < characters.count, !Self.isWordCharacter(characters[cursor]) { cursor += 1 }
        while cursor < characters.count, Self.isWordCharacter(characters[cursor]) { cursor += 1 }
    }

    /// Ctrl+U: everything before the cursor.
    mutating func deleteToStart() {
        characters.removeFirst(cursor)
        cursor = 0
    }

    /// Ctrl+K: everything from the cursor on.
    mutating func deleteToEnd() { characters.removeLast(characters.count - cursor) }

    /// Ctrl+W: the word before the cursor up to the space before it, and the spaces after it, as in
    /// a Unix terminal.
    mutating func deleteWordBefore() {
        var start = cursor
        while start > 0, characters[start - 1].isWhitespace { start -= 1 }
        while start > 0, !characters[start - 1].isWhitespace { start -= 1 }
        characters.removeSubrange(start..<cursor)
        cursor = start
    }

    /// Puts `replacement` in place of the characters from `start` to the cursor.
    mutating func replace(from start: Int, with replacement: String) {
        characters.replaceSubrange(start..<cursor, with: Array(replacement))
        cursor = start + replacement.count
    }

    private static func isWordCharacter(_ c: Character) -> Bool { c.isLetter || c.isNumber }
}

/// Columns a character takes on a terminal: 0 for combining marks, 2 for wide East Asian
/// characters and emoji, 1 otherwise.
func terminalColumns(_ c: Character) -> Int {
    guard let scalar = c.unicodeScalars.first else { return 0 }
    if scalar.value < 0x300 { return 1 }
    if scalar.properties.generalCategory == .nonspacingMark || scalar.properties.generalCategory == .enclosingMark { return 0 }
    if scalar.properties.isEmojiPresentation { return 2 }
    switch scalar.value {
    case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
         0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x20000...0x3FFFD:
        return 2
    default: return 1
    }
}

/// What Tab offers for the word before the cursor: candidates for the characters from `start`.
struct Completion: Equatable {
    let start: Int
    let candidates: [String]
}

/// The lines typed in the shell, across sessions: `$QUEUECTL_HOME/history`, one line per entry,
/// private (0600), the newest `limit` kept. Lines that start with a space are not kept, nor a line
/// the same as the one before. The file is written only in a queue directory that exists.
final class History {
    static let fileName = "history"
    static let limit = 1000
    /// A line longer than this (a pasted job) is not kept.
    static let longestLine = 16 << 10

    private let home: QueueHome
    private(set) var entries: [String] = []
    private var toldFailure = false

    init(home: QueueHome) {
        self.home = home
        entries = (try? read()) ?? []
    }

    private func read() throws -> [String] {
        guard let directory = try home.open(create: false), let bytes = try directory.readFile(Self.fileName) else { return [] }
        return bytes.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }.suffix(Self.limit).map { $0 }
    }

    func add(_ line: String) {
        guard !line.allSatisfy(\.isWhitespace), !line.hasPrefix(" "), line.utf8.count <= Self.longestLine,
              !line.contains(where: { $0.isNewline }) else { return }
        if entries.last != line { entries.append(line) }
        if entries.count > Self.limit { entries.removeFirst(entries.count - Self.limit) }
        // What other sessions added meanwhile is kept: the file is read again, and this line added to it.
        do {
            guard let directory = try home.open(create: false) else { return }
            var lines = try read()
            if lines.last != line { lines.append(line) }
            let bytes = Array(lines.suffix(Self.limit).joined(separator: "\n").utf8) + [0x0A]
            try AtomicFile.replace(in: directory, name: Self.fileName, with: bytes, mode: 0o600)
        } catch {
            if !toldFailure { Console.err("warning: cannot save the shell history in \(home.directory)/\(Self.fileName): \(error)\n") }
            toldFailure = true
        }
    }
}

/// Reads a line from the terminal with editing keys, history and Tab completion, written for this
/// program. Where the terminal cannot do it (standard input or output not a terminal, TERM unset or
/// `dumb`), lines are read as the terminal gives them.
final class LineEditor {
    /// Standard input is a terminal: prompts are shown, Ctrl+C means something.
    let interactive: Bool
    /// The terminal can do the editing.
    let editing: Bool
    let history: History?
    private let plain = LineReader(fd: 0)
    private var decoder = KeyDecoder()
    /// Keys that came after an Enter (typed ahead, or pasted lines), for the next line.
    private var typedAhead: [Key] = []

    init(history: History?) {
        self.history = history
        interactive = Console.isTerminal(0)
        let term = Console.environment("TERM") ?? ""
        editing = interactive && Console.isTerminal(1) && !term.isEmpty && term != "dumb"
    }

    /// One line. `remember`: a command line, which Up and Down go through the history for (the caller
    /// adds it to the history once it has run: the first command may create the queue directory
    /// the history is kept in). `promptWhenPiped`: show the prompt
    /// (and end the line after the answer) even when standard input is not a terminal, so a piped
    /// session reads as a dialogue. `initial`: text already in the line, to be fixed (where the
    /// terminal can edit).
    func readLine(_ prompt: String, remember: Bool = false, promptWhenPiped: Bool = false, initial: String = "",
                  complete: ((String) -> Completion)? = nil) -> LineRead {
        // Ctrl+C pressed since the last line, before this one could be read (the terminal showed ^C).
        if interactive, SessionSignals.takeInterrupt() {
            Console.out("\n")
            return .cancelled
        }
        let result: LineRead
        if editing, let mode = RawTerminalMode(fd: 0, for: .lineEditing) {
            result = edit(prompt, initial: initial, history: remember ? history?.entries ?? [] : [], complete: complete)
            mode.restore()
        } else {
            if interactive || promptWhenPiped { Console.out(prompt) }
            result = plain.next(cancelOnInterrupt: interactive)
            // Ctrl+C and Ctrl+D leave the cursor after the prompt (^C, or nothing, shown there).
            if interactive, result == .cancelled || result == .end { Console.out("\n") }
            if !interactive, promptWhenPiped { Console.out("\n") }
        }
        return result
    }

    private func edit(_ prompt: String, initial: String, history: [String], complete: ((String) -> Completion)?) -> LineRead {
        var buffer = EditBuffer(initial)
        var scroll = 0
        var place = history.count  // in the history; history.count is the line being typed
        var draft = EditBuffer()
        var lastWasTab = false
        func render() {
            let width = max(20, Console.width(1) ?? 80)
            let promptColumns = Output.displayWidth(prompt)
            let room = max(8, width - promptColumns - 1)
            let columns = buffer.characters.map(terminalColumns)
            // The part shown scrolls sideways so that the cursor is always in it.
            scroll = min(scroll, buffer.cursor)
            while columns[scroll..<buffer.cursor].reduce(0, +) > room { scroll += 1 }
            var end = scroll, used = 0
            while end < columns.count, used + columns[end] <= room { used += columns[end]; end += 1 }
            let toCursor = promptColumns + columns[scroll..<buffer.cursor].reduce(0, +)
            Console.out("\r" + prompt + String(buffer.characters[scroll..<end]) + "\u{1B}[K\r" + (toCursor > 0 ? "\u{1B}[\(toCursor)C" : ""))
        }
        func finish(_ suffix: String) {
            buffer.end()
            render()
            Console.out(suffix)
        }
        render()
        while true {
            var keys = typedAhead
            typedAhead = []
            if keys.isEmpty {
                // After a lone Escape nothing more comes: wait a moment before taking it as one.
                if decoder.hasPending, waitForInput([0], timeoutMilliseconds: 50).isEmpty {
                    keys = decoder.flush()
                } else {
                    switch readInput(0) {
                    case .bytes(let bytes): keys = decoder.feed(bytes)
                    case .interrupted: keys = [.control("c")]
                    case .end:
                        finish("\n")
                        return .end
                    }
                }
            }
            for (k, key) in keys.enumerated() {
                let tab = key == .tab
                defer { lastWasTab = tab }
                switch key {
                case .text(let text): buffer.insert(text)
                case .enter:
                    typedAhead = Array(keys[(k + 1)...])
                    finish("\n")
                    return .line(buffer.text)
                case .control("c"):
                    finish("^C\n")
                    return .cancelled
                case .control("d"):
                    if buffer.characters.isEmpty {
                        finish("\n")
                        return .end
                    }
                    buffer.deleteForward()
                case .backspace: buffer.backspace()
                case .delete: buffer.deleteForward()
                case .left, .control("b"): buffer.left()
                case .right, .control("f"): buffer.right()
                case .home, .control("a"): buffer.home()
                case .end, .control("e"): buffer.end()
                case .wordLeft: buffer.wordLeft()
                case .wordRight: buffer.wordRight()
                case .control("u"): buffer.deleteToStart()
                case .control("k"): buffer.deleteToEnd()
                case .control("w"), .deleteWordBefore: buffer.deleteWordBefore()
                case .control("l"): Console.out("\u{1B}[H\u{1B}[2J")
                case .up, .control("p"):
                    guard place > 0 else { continue }
                    if place == history.count { draft = buffer }
                    place -= 1
                    buffer = EditBuffer(history[place])
                case .down, .control("n"):
                    guard place < history.count else { continue }
                    place += 1
                    buffer = place == history.count ? draft : EditBuffer(history[place])
                case .tab:
                    guard let complete else { continue }
                    let completion = complete(String(buffer.characters[..<buffer.cursor]))
                    let typed = String(buffer.characters[completion.start..<buffer.cursor])
                    let matches = completion.candidates.filter { $0.hasPrefix(typed) }
                    if matches.count == 1 {
                        buffer.replace(from: completion.start, with: matches[0] + " ")
                    } else if let common = commonPrefix(matches), common.count > typed.count {
                        buffer.replace(from: completion.start, with: common)
                    } else if matches.isEmpty {
                        Console.out("\u{07}")
                    } else if lastWasTab {
                        Console.out("\n" + columnsText(matches, width: Console.width(1) ?? 80) + "\n")
                    } else {
                        Console.out("\u{07}")
                    }
                default: continue
                }
            }
            render()
        }
    }

    private func commonPrefix(_ words: [String]) -> String? {
        guard var prefix = words.first.map(Array.init) else { return nil }
        for word in words.dropFirst() {
            let w = Array(word)
            var n = 0
            while n < prefix.count, n < w.count, prefix[n] == w[n] { n += 1 }
            prefix = Array(prefix[..<n])
        }
        return String(prefix)
    }

    /// Candidates in columns across the terminal, as shells list them; at most 100 of them.
    private func columnsText(_ words: [String], width: Int) -> String {
        let shown = words.prefix(100)
        let cell = (shown.map(Output.displayWidth).max() ?? 0) + 2
        let perLine = max(1, width / cell)
        var lines: [String] = []
        for start in stride(from: 0, to: shown.count, by: perLine) {
            let row = shown[start..<min(start + perLine, shown.count)]
            lines.append(row.map { $0.padding(cell) }.joined().trimmingWhitespace())
        }
        if words.count > shown.count { lines.append("... and \(words.count - shown.count) more") }
        return lines.joined(separator: "\n")
    }
}
