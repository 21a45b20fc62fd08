import QueueStorage

/// The dead letter queue: jobs whose retries are used up. They stay until retried or deleted.
package enum DLQManager {
    package static func list(_ document: Document) -> [Job] {
        document.jobs.jobs { $0.state == .dead }.sorted { $0.sequence < $1.sequence }
    }

    /// Sends dead jobs back to pending with their attempts reset; their last error is kept for
    /// reference. All or none: an id that is unknown or not dead fails the lot.
    package static func retry(_ ids: [String], in snapshot: inout Snapshot) throws(QueueError) -> [Job] {
        let indices = try deadIndices(ids, in: snapshot.document)
        for i in indices {
            snapshot.document.jobs[i].state = .pending
            snapshot.document.jobs[i].attempts = 0
            snapshot.document.jobs[i].runAt = nil
            snapshot.document.jobs[i].updatedAt = snapshot.now
        }
        return indices.map { snapshot.document.jobs[$0] }
    }

    /// Every dead job back to pending.
    package static func retryAll(in snapshot: inout Snapshot) throws(QueueError) -> [Job] {
        try retry(list(snapshot.document).map(\.id), in: &snapshot)
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
