import QueueStorage
import QueueSystem

/// What the live views show of the queue at one moment: `top` draws it in a terminal, the dashboard
/// in a page. Jobs are picked by their summaries; only those shown are decoded.
package struct QueueOverview: Sendable {
    package struct Worker: Sendable {
        package let record: WorkerRecord
        /// The jobs it runs, in the table's order.
        package let running: [Job]

        package init(record: WorkerRecord, running: [Job]) {
            self.record = record
            self.running = running
        }
    }

    package let counts: [JobState: Int]
    package let total: Int
    /// Every registered worker, in the records' order.
    package let workers: [Worker]
    /// Waiting jobs held back by their `run_at` (scheduled, or failed and backing off), soonest first.
    package let upcoming: [Job]
    /// The most recently finished runs, newest first.
    package let recent: [Job]

    /// From what a store found itself.
    package init(counts: [JobState: Int], total: Int, workers: [Worker], upcoming: [Job], recent: [Job]) {
        self.counts = counts
        self.total = total
        self.workers = workers
        self.upcoming = upcoming
        self.recent = recent
    }

    package init(_ document: Document, now: Timestamp, upcoming upcomingLimit: Int = 5, recent recentLimit: Int = 8) {
        let jobs = document.jobs
        counts = JobManager.counts(document)
        total = jobs.count

        var running: [Int32: [Job]] = [:]
        for job in jobs.jobs({ $0.state == .processing }) { if let w = job.worker { running[w.pid, default: []].append(job) } }
        workers = document.workers.map { Worker(record: $0, running: running[$0.process.pid] ?? []) }

        // Soonest first; among equal times, in the table's order.
        let waiting = jobs.indices(whereSummary: { ($0.state == .pending || $0.state == .failed) && !$0.isRunnable(at: now) })
        let soonest = waiting.map { (index: $0, at: jobs.summary(at: $0).runAt ?? now) }
            .sorted { ($0.at, $0.index) < ($1.at, $1.index) }
        upcoming = soonest.prefix(upcomingLimit).map { jobs[$0.index] }

        var newest: [Int] = []
        for i in jobs.indices {
            let summary = jobs.summary(at: i)
            guard summary.state != .processing, summary.finishedAt.milliseconds != 0 else { continue }
            let at = newest.firstIndex { summary.finishedAt > jobs.summary(at: $0).finishedAt } ?? newest.count
            guard at < recentLimit else { continue }
            newest.insert(i, at: at)
            if newest.count > recentLimit { newest.removeLast() }
        }
        recent = newest.map { jobs[$0] }
    }
}

/// What `top` shows: the overview, the pause, and the counts per queue.
package struct LiveView: Sendable {
    package let overview: QueueOverview
    package let paused: Bool
    package let queues: [QueueCounts]

    package init(overview: QueueOverview, paused: Bool, queues: [QueueCounts]) {
        self.overview = overview
        self.paused = paused
        self.queues = queues
    }

    package init(_ document: Document, now: Timestamp) {
        self.init(overview: QueueOverview(document, now: now), paused: document.paused, queues: QueueCounts.of(document))
    }
}
