/// Text made safe for HTML, in content and in double-quoted attribute values alike: `&`, `<`, `>`,
/// `"` and `'` become entities, and control characters other than tab and line feed are shown as
/// their Unicode pictures (`␛` for ESC), so no job field or log can add markup or hide text.
/// Every string from the queue goes through here on its way into a page.
func esc(_ text: String) -> String {
    let needsWork = text.utf8.contains { ($0 < 0x20 && $0 != 0x09 && $0 != 0x0A) || $0 == 0x7F || "&<>\"'".utf8.contains($0) }
    guard needsWork else { return text }
    var out = ""
    out.reserveCapacity(text.utf8.count + 16)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        case "\t", "\n": out.unicodeScalars.append(scalar)
        case "\u{7F}": out += "\u{2421}"
        default:
            if scalar.value < 0x20 {
                out.unicodeScalars.append(Unicode.Scalar(0x2400 + scalar.value)!)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out
}

/// The page of a job, as a link's target: the id percent-encoded, so an id with `/`, `?` or `#`
/// (possible in a hand-edited data file) still names its own page.
func jobPath(_ id: String) -> String { "/jobs/" + percentEncoded(id) }

/// A link to the job's page, its id as the text.
func jobLink(_ id: String) -> String { "<a class=\"id\" href=\"\(esc(jobPath(id)))\">\(esc(id))</a>" }

/// A table: headers, then rows of cells already HTML (escape what goes in them). `classes` names a
/// column's class, for cells that may wrap (`wrap`) or are hidden on a narrow screen (`wide`).
func table(_ headers: [String], _ rows: [[String]], classes: [Int: String] = [:]) -> String {
    func cls(_ i: Int) -> String { classes[i].map { " class=\"\($0)\"" } ?? "" }
    var out = "<div class=\"table\"><table>\n<thead><tr>"
    for (i, h) in headers.enumerated() { out += "<th\(cls(i))>\(esc(h))</th>" }
    out += "</tr></thead>\n<tbody>\n"
    for row in rows {
        out += "<tr>"
        for (i, cell) in row.enumerated() { out += "<td\(cls(i))>\(cell)</td>" }
        out += "</tr>\n"
    }
    return out + "</tbody></table></div>\n"
}

/// A job state as a coloured badge.
func stateBadge(_ state: String) -> String { "<span class=\"state s-\(esc(state))\">\(esc(state))</span>" }
