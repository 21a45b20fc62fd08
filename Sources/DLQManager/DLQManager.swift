import QueueStorage

/// The dead letter queue: jobs whose retries are used up. They stay until retried or deleted.
package enum DLQManager {
    package static func list(_ document: Document) -> [Job] {
        document.jobs.jobs { $0.state == .dead }.sorted { $0.sequence < $1.sequence }
    }

    /// Sends dead jobs back to pending with their attempts reset; their last error is kept for
    /// reference. All or none: an id that is unknown or not dead fails the lot.
    /// A job that died with its dependency comes back with that dependency's retry, not alone: one
    /// whose dependency is still dead (and not retried with it) or gone is refused, as it would only
    /// die again.
    package static func retry(_ ids: [String], in snapshot: inout Snapshot) throws(QueueError) -> [Job] {
        let indices = try deadIndices(ids, in: snapshot.document)
        for i in indices {
            let summary = snapshot.document.jobs.summary(at: i)
            guard let dependency = summary.dependencyDied else { continue }
            guard let d = snapshot.document.index(of: dependency) else {
                throw .failure("job '\(summary.id)' died with its dependency '\(dependency)', which was cancelled: it cannot run; "
                    + "remove it with 'queuectl dlq delete \(summary.id)'")
            }
            if snapshot.document.jobs.summary(at: d).state == .dead, !ids.contains(dependency) {
                throw .failure("job '\(summary.id)' died with its dependency '\(dependency)', which is still dead; "
                    + "retry '\(dependency)' and '\(summary.id)' comes back with it")
            }
        }
        for i in indices {
            snapshot.document.jobs[i].state = .pending
            snapshot.document.jobs[i].attempts = 0
            snapshot.document.jobs[i].runAt = nil
            snapshot.document.jobs[i].updatedAt = snapshot.now
        }
        return indices.map { snapshot.document.jobs[$0] }
    }

    /// Every dead job back to pending.
    /// Every dead job back to pending, but those whose dependency was cancelled: they can never run.
    package static func retryAll(in snapshot: inout Snapshot) throws(QueueError) -> [Job] {
        let document = snapshot.document
        let runnable = list(document).filter { $0.dependencyDied.map { document.index(of: $0) != nil } ?? true }
        return try retry(runnable.map(\.id), in: &snapshot)
    }

    /// Removes dead jobs for good. All or none, as for retry.
    package static func delete(_ ids: [String], in snapshot: inout Snapshot) throws(QueueError) -> [Job] {
        let indices = try deadIndices(ids, in: snapshot.document)
        let removed = indices.map { snapshot.document.jobs[$0] }
        let doomed = Set(removed.map(\.id))
        snapshot.document.jobs.removeAll { doomed.contains($0.id) }
        return removed
    }

    private static func deadIndices(_ ids: [String], in document: Document) throws(QueueError) -> [Int] {
        var indices: [Int] = []
        var seen: Set<String> = []
        for id in ids where seen.insert(id).inserted {
            guard let i = document.index(of: id) else { throw .failure("no job with id '\(id)'") }
            guard document.jobs.summary(at: i).state == .dead else {
                throw .failure("job '\(id)' is not in the DLQ (it is \(document.jobs.summary(at: i).state.rawValue))")
            }
            indices.append(i)
        }
        return indices
    }
}
