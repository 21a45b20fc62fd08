import JobManager
import QueueStorage
import QueueSystem

enum Output {
    /// Left-aligned columns two spaces apart. The `flexible` column is cut with "..." so each row
    /// fits in `width`.
    /// `decorate` wraps a column's padded cells (colour), after widths are measured on plain text.
    static func table(_ headers: [String], _ rows: [[String]], flexible: Int? = nil, width: Int = .max,
                      decorate: [Int: (String) -> String] = [:]) -> String {
        // Each cell is measured once; a long list is mostly ASCII, whose width is its byte count.
        let measured = rows.map { $0.map { ($0, displayWidth($0)) } }
        var widths = headers.map(displayWidth)
        for row in measured { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.1) } }
        if let flexible {
            let others = widths.enumerated().filter { $0.offset != flexible }.map(\.element).reduce(0, +) + 2 * (headers.count - 1)
            widths[flexible] = max(headers[flexible].count, min(widths[flexible], width - others))
        }
        var out = ""
        func line(_ cells: [(String, Int)], header: Bool) {
            for (i, (cell, cellWidth)) in cells.enumerated() {
                var text = cell, textWidth = cellWidth
                if textWidth > widths[i] {
                    text = String(text.prefix(max(0, widths[i] - 3))) + "..."
                    textWidth = displayWidth(text)
                }
                if i < cells.count - 1 { text += String(repeating: " ", count: widths[i] - textWidth) }
                if i > 0 { out += "  " }
                out += header ? text : decorate[i].map { $0(text) } ?? text
            }
        }
        line(headers.map { ($0, displayWidth($0)) }, header: true)
        for row in measured {
            out += "\n"
            line(row, header: false)
        }
        return out
    }

    /// Characters as a terminal counts them: bytes for ASCII text, graphemes otherwise.
    static func displayWidth(_ text: String) -> Int {
        var text = text
        return text.withUTF8 { $0.allSatisfy { $0 < 0x80 } } ? text.utf8.count : text.count
    }

    static func duration(seconds: Double) -> String { describeDuration(milliseconds: Int64((seconds * 1000).rounded())) }

    /// One line of a multi-line string, for tables.
    static func oneLine(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) else { return text }
        return String(text.map { $0 == "\n" || $0 == "\r" || $0 == "\t" ? " " : $0 })
    }
}
