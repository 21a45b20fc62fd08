import QueueStorage
import QueueSystem

extension JobManager {
    /// Cancels every job of `ids` (see `cancel`), or none: an unknown id, or one that is completed
    /// or dead, fails the lot before anything changes.
    package static func cancel(_ ids: [String], in snapshot: inout Snapshot) throws(QueueError) -> [CancelResult] {
        let ids = unique(ids)
        for id in ids {
            let state = snapshot.document.jobs.summary(at: try index(id, in: snapshot.document)).state
            if let refusal = cancelRefusal(id, state) { throw refusal }
        }
        var results: [CancelResult] = []
        for id in ids { results.append(try cancel(id, in: &snapshot)) }
        return results
    }

    /// The ids of the jobs in `state`, in enqueue order, for `cancel --state`.
    package static func ids(in state: JobState, of document: Document) -> [String] {
        list(document, state: state).map(\.id)
    }

    /// Asks the workers of the running jobs `ids` to end their runs (as a timeout would) and record
    /// them dead with "killed"; the jobs, their history and their logs stay. All or none: an id that
    /// is unknown or not running fails the lot. A job already being killed is asked again, harmlessly.
    package static func kill(_ ids: [String], in snapshot: inout Snapshot) throws(QueueError) -> [Job] {
        let ids = unique(ids)
        var indices: [Int] = []
        for id in ids {
            let i = try index(id, in: snapshot.document)
            let summary = snapshot.document.jobs.summary(at: i)
            switch summary.state {
            case .processing:
                if summary.cancelRequested {
                    throw .failure("job '\(id)' is being cancelled; it is removed when its run ends")
                }
            case .pending, .failed:
                throw .failure("job '\(id)' is \(summary.state.rawValue), not running; 'queuectl cancel \(id)' removes a job that waits")
            case .completed, .dead:
                throw .failure("job '\(id)' is \(summary.state.rawValue), not running; there is nothing to kill")
            }
            indices.append(i)
        }
        for i in indices {
            snapshot.document.jobs[i].killRequested = true
            snapshot.document.jobs[i].updatedAt = snapshot.now
        }
        return indices.map { snapshot.document.jobs[$0] }
    }

    /// `kill` of every running job (none when nothing runs); jobs being cancelled are left to that.
    package static func killAll(in snapshot: inout Snapshot) throws(QueueError) -> [Job] {
        let running = snapshot.document.jobs.indices(whereSummary: { $0.state == .processing && !$0.cancelRequested })
            .map { snapshot.document.jobs.summary(at: $0).id }
        return try kill(running, in: &snapshot)
    }

    /// `ids` without repeats, in the order given.
    static func unique(_ ids: [String]) -> [String] {
        var seen: Set<String> = []
        return ids.filter { seen.insert($0).inserted }
    }
}
