import JobManager
import QueueSystem

extension Throughput {
    /// Inline SVG: a bar per minute, finished below and failed stacked on it, scaled to the busiest
    /// minute; each bar's title says its minute and counts. Colours come from the style sheet.
    var svg: String {
        let peak = max(1, zip(finished, failed).map { $0 + $1 }.max() ?? 0)
        let height = 100.0, barWidth = 10.0
        let totalFinished = finished.reduce(0, +), totalFailed = failed.reduce(0, +)
        var out = "<svg class=\"chart\" viewBox=\"0 0 \(Int(barWidth) * Throughput.minutes) \(Int(height))\" preserveAspectRatio=\"none\" "
            + "role=\"img\" aria-label=\"Runs per minute in the last hour: \(totalFinished) finished, \(totalFailed) failed\">\n"
        out += "<line class=\"base\" x1=\"0\" y1=\"\(height - 0.5)\" x2=\"\(Int(barWidth) * Throughput.minutes)\" y2=\"\(height - 0.5)\"/>\n"
        func scaled(_ n: Int) -> Double { n == 0 ? 0 : max(1.5, (Double(n) / Double(peak) * (height - 6) * 10).rounded() / 10) }
        for i in 0..<Throughput.minutes where finished[i] + failed[i] > 0 {
            let x = Double(i) * barWidth + 1
            let ok = scaled(finished[i]), bad = scaled(failed[i])
            let minute = Timestamp(milliseconds: start.milliseconds + Int64(i) * 60_000).shortDisplay.suffix(8).prefix(5)
            out += "<g><title>\(minute) UTC: \(finished[i]) finished, \(failed[i]) failed</title>"
            if ok > 0 { out += "<rect class=\"ok\" x=\"\(x)\" y=\"\(height - ok)\" width=\"\(barWidth - 2)\" height=\"\(ok)\"/>" }
            if bad > 0 { out += "<rect class=\"bad\" x=\"\(x)\" y=\"\(height - ok - bad)\" width=\"\(barWidth - 2)\" height=\"\(bad)\"/>" }
            out += "</g>\n"
        }
        out += "</svg>\n"
        return out
    }
}
