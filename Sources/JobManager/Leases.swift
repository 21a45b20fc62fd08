import QueueStorage
import QueueSystem

/// What a command can tell of a registered worker. One in this PID namespace is judged by its pid
/// and start time; one in another (a container sharing the queue folder) cannot be, since its pid
/// means another process here or none: it renews a heartbeat lease, and counts as alive until the
/// lease runs out.
package enum WorkerLiveness: Equatable, Sendable {
    case alive
    case gone
    /// In another PID namespace, its lease renewed this long ago.
    case leased(renewedMillisecondsAgo: Int64)
    /// On another host (a database store), its lease in the database renewed this long ago.
    case remote(renewedMillisecondsAgo: Int64)
    /// In another PID namespace, its lease run out (nil: no lease was found).
    case leaseExpired(renewedMillisecondsAgo: Int64?)

    package var isAlive: Bool {
        switch self {
        case .alive, .leased, .remote: return true
        case .gone, .leaseExpired: return false
        }
    }

    /// For `status` and `show`: nil for a worker judged by its pid.
    package var description: String? {
        switch self {
        case .alive, .gone: return nil
        case .leased(let ago): return "in another PID namespace; alive by its lease, renewed \(describeDuration(milliseconds: ago)) ago"
        case .remote(let ago): return "on another host or PID namespace; alive by its lease in the database, renewed \(describeDuration(milliseconds: ago)) ago"
        case .leaseExpired(let ago?): return "in another PID namespace; its lease ran out \(describeDuration(milliseconds: ago)) after its last renewal"
        case .leaseExpired(nil): return "in another PID namespace; it holds no lease"
        }
    }
}

/// The heartbeat a worker renews: a file in the queue's `leases` folder holding the boot clock's
/// reading (milliseconds since boot, the same for every namespace and unmoved by changes of the
/// wall clock) at its last renewal, and the lease it renewed for: a judge allows the longer of that
/// and the config's, so lowering `lease-seconds` takes no live worker's jobs before it has renewed.
package enum Lease {
    /// How often a worker renews its lease: a third of it, so two renewals can be missed.
    package static func renewalMilliseconds(_ config: QueueConfig) -> Int64 { Int64(config.leaseSeconds * 1000 / 3) }

    /// The renewal's bytes, `<boot ms> <lease ms>`: fixed widths, so a shorter number never leaves
    /// digits of a longer one.
    package static func contents(at bootMilliseconds: Int64, leaseMilliseconds: Int64) -> [UInt8] {
        func padded(_ n: Int64) -> String {
            let digits = String(n)
            return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
        }
        return Array((padded(bootMilliseconds) + " " + padded(leaseMilliseconds) + "\n").utf8)
    }

    /// The boot clock reading at the lease's last renewal and the lease it was renewed for (nil if
    /// the file does not say), or nil when there is no readable lease.
    static func lastRenewal(of worker: WorkerRecord, in home: QueueHome) -> (at: Int64, lease: Int64?)? {
        guard let bytes = home.readLease(for: worker) else { return nil }
        let fields = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isWhitespace)
        guard let at = fields.first.flatMap({ Int64($0) }) else { return nil }
        return (at, fields.dropFirst().first.flatMap { Int64($0) })
    }
}

extension JobManager {
    package static func liveness(of worker: WorkerRecord, home: QueueHome?, config: QueueConfig) -> WorkerLiveness {
        // A database store judges every worker by its lease, this host's too: one whose lease ran
        // out is gone, alive or not (frozen, or cut off from the server; it fences itself).
        if let lease = worker.databaseLease, lease.expired { return .leaseExpired(renewedMillisecondsAgo: lease.renewedMillisecondsAgo) }
        if worker.isInThisNamespace { return worker.process.isAlive ? .alive : .gone }
        if let lease = worker.databaseLease {
            return lease.expired ? .leaseExpired(renewedMillisecondsAgo: lease.renewedMillisecondsAgo)
                                 : .remote(renewedMillisecondsAgo: lease.renewedMillisecondsAgo)
        }
        guard let home, let renewed = Lease.lastRenewal(of: worker, in: home) else { return .leaseExpired(renewedMillisecondsAgo: nil) }
        let ago = bootClockMilliseconds() - renewed.at
        let lease = max(Int64(config.leaseSeconds * 1000), renewed.lease ?? 0)
        return ago < lease ? .leased(renewedMillisecondsAgo: ago) : .leaseExpired(renewedMillisecondsAgo: ago)
    }
}
