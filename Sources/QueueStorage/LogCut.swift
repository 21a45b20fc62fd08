import QueueSystem

extension LogFormat {
    /// What `bound` cuts out of `bytes`, keeping about `half` at each end, and what it puts in its place.
    package static func cut(_ bytes: [UInt8], keeping half: Int) -> (range: Range<Int>, insert: [UInt8]) {
        let segments = LogFormat.segments(bytes)
        // What a cut takes whole or not at all: texts of queuectl's own, marks, markers in unmarked text.
        var units: [Range<Int>] = []
        var markers: [(range: Range<Int>, count: Int)] = []
        var headers: [Range<Int>] = []
        for segment in segments {
            switch segment.channel {
            case .ours:
                units.append(segment.range)
                let text = bytes[segment.content]
                if let marker = LogFormat.markerCount(text) {
                    markers.append((segment.range, marker.count))
                } else if LogFormat.headerRun(text) != nil {
                    headers.append(segment.range)
                }
            case .stdout, .stderr:
                units.append(segment.range.lowerBound..<segment.content.lowerBound)
            case .unmarked:
                if segment.markLength > 0 { units.append(segment.range.lowerBound..<segment.content.lowerBound) }
                var i = segment.content.lowerBound
                while let newline = bytes[i..<segment.range.upperBound].firstIndex(of: 0x0A) {
                    if let marker = LogFormat.markerCount(bytes[newline..<segment.range.upperBound]) {
                        let range = newline..<newline + marker.length
                        units.append(range)
                        markers.append((range, marker.count))
                        i = range.upperBound
                    } else {
                        i = newline + 1
                    }
                }
            }
        }
        func segment(containing offset: Int) -> LogFormat.Segment? { segments.first { $0.range.contains(offset) } }
        /// True when `offset` falls between the two bytes of a doubled DLE in the job's output.
        func splitsEscape(_ offset: Int) -> Bool {
            guard let s = segment(containing: offset), s.channel == .stdout || s.channel == .stderr, offset > s.content.lowerBound else { return false }
            var run = 0
            while offset - run - 1 >= s.content.lowerBound, bytes[offset - run - 1] == LogFormat.escape { run += 1 }
            return run % 2 == 1
        }

        var range = min(half, bytes.count)..<max(half, bytes.count - half)
        var insert: [UInt8] = []
        var lengthened = 0
        for _ in 0..<8 {
            range = range.lowerBound..<min(bytes.count, max(range.upperBound, bytes.count - half + lengthened))
            var grew = true
            while grew {
                grew = false
                for unit in units where unit.overlaps(range) && (unit.lowerBound < range.lowerBound || unit.upperBound > range.upperBound) {
                    range = min(range.lowerBound, unit.lowerBound)..<max(range.upperBound, unit.upperBound)
                    grew = true
                }
                if splitsEscape(range.lowerBound) { range = range.lowerBound - 1..<range.upperBound; grew = true }
                if splitsEscape(range.upperBound) { range = range.lowerBound..<range.upperBound + 1; grew = true }
            }
            // How much output the cut stands for.
            var count = 0
            for s in segments where s.range.overlaps(range) {
                let content = s.content.clamped(to: range)
                switch s.channel {
                case .ours: count += markers.first { $0.range == s.range }?.count ?? content.count
                case .stdout, .stderr: count += LogFormat.decodedCount(bytes, content)
                case .unmarked:
                    count += content.count
                    for m in markers where content.contains(m.range.lowerBound) { count += m.count - m.range.count }
                }
            }
            var channel: LogFormat.Channel?
            var next: [UInt8] = []
            LogFormat.append(LogFormat.marker(cutting: count)[...], as: .ours, after: &channel, to: &next)
            // The kept end's run lost its header to the cut: it is said again, so the end is not read as
            // part of the run before the cut.
            let startsAHeader = headers.contains { $0.lowerBound == range.upperBound }
            if !startsAHeader, let header = headers.last(where: { range.contains($0.lowerBound) && $0.upperBound <= range.upperBound }) {
                LogFormat.append(bytes[header.lowerBound + 2..<header.upperBound], as: .ours, after: &channel, to: &next)
            }
            // The kept end goes on in the channel it was in, unless it starts with a mark of its own.
            if range.upperBound < bytes.count, let s = segment(containing: range.upperBound), range.upperBound > s.range.lowerBound {
                next += [LogFormat.escape, s.channel.mark]
            }
            insert = next
            // The marker and the stream mark are the bound's slack; a header said again is paid for by the cut.
            let owed = next.count - LogFormat.marker(cutting: count).count - 4
            if owed <= lengthened || range.upperBound == bytes.count { break }
            lengthened = owed
        }
        return (range, insert)
    }
}
