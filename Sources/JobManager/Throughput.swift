import QueueStorage
import QueueSystem

/// Runs finished per minute over the last hour, from each job's last run as the store keeps it: a
/// completed job counts as finished in the minute it finished, a failed, dead or retried one as
/// failed. Earlier runs of a job that was retried are not kept, so neither are they counted here.
package struct Throughput: Equatable, Sendable {
    package static let minutes = 60

    /// Oldest minute first; the last is the current minute.
    package var finished = [Int](repeating: 0, count: Throughput.minutes)
    package var failed = [Int](repeating: 0, count: Throughput.minutes)
    /// The start of the first minute shown.
    package let start: Timestamp

    /// Empty, for the hour that ends in the minute of `now`.
    package init(now: Timestamp) {
        start = Timestamp(milliseconds: (now.milliseconds.floorDivided(by: 60_000) - Int64(Throughput.minutes) + 1) * 60_000)
    }

    package init(_ document: Document, now: Timestamp) {
        self.init(now: now)
        for i in document.jobs.indices {
            let summary = document.jobs.summary(at: i)
            // Zero: not finished (or claimed again since).
            guard summary.state != .processing, summary.finishedAt.milliseconds != 0 else { continue }
            count(finishedAt: summary.finishedAt, completed: summary.state == .completed)
        }
    }

    /// Counts a run that ended at `at`, if that is within the hour shown.
    package mutating func count(finishedAt at: Timestamp, completed: Bool, runs: Int = 1) {
        let slot = Int(at.milliseconds.floorDivided(by: 60_000) - start.milliseconds / 60_000)
        guard slot >= 0, slot < Throughput.minutes else { return }
        if completed { finished[slot] += runs } else { failed[slot] += runs }
    }
}

extension Int64 {
    /// Division rounding toward minus infinity, so times before 1970 fall in the right minute too.
    package func floorDivided(by d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}
