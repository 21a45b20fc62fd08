import QueueSystem

/// Ending one run: ask its process group to stop (SIGTERM), wait the grace period, kill the group
/// (SIGKILL), and keep killing until the group is empty, since a member can fork while a signal goes
/// round. The run is over only when the group is gone; the worker decides that, not this type.
struct Teardown: Equatable, Sendable {
    /// Why the run is being ended; it decides how the run is recorded.
    enum Reason: Equatable, Sendable {
        /// Over its timeout (seconds): a failed run, retried by the policy.
        case timedOut(Double)
        /// Cancelled while running: removed when it ends.
        case cancelled
        /// `kill` asked for it: recorded dead ("killed") when it ends.
        case killed
        /// The worker's second stop request: back to pending without using an attempt.
        case shutdown
    }

    /// A kill that comes during a timeout's teardown takes it over, timers and all.
    var reason: Reason
    /// When the group gets SIGKILL (again).
    private(set) var killAt: Int64
    private(set) var killed = false

    /// Time between two SIGKILLs to a group that is not empty yet.
    static let killRepeatMilliseconds: Int64 = 500

    /// Begins at `now`: the caller sends SIGTERM.
    init(_ reason: Reason, at now: Int64, grace: Int64) {
        self.reason = reason
        killAt = now + grace
    }

    /// The signal due at `now`, if any: SIGKILL once the grace period is over, then every
    /// `killRepeatMilliseconds` while the group lives.
    mutating func signalDue(at now: Int64) -> ProcessSignal? {
        guard now >= killAt else { return nil }
        killed = true
        killAt = now + Teardown.killRepeatMilliseconds
        return .kill
    }
}
