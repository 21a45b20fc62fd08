/// What happens to a job after one of its runs ends.
package enum RetryDecision: Equatable, Sendable {
    case complete
    /// Failed with retries left: run again after this many seconds.
    case retry(afterSeconds: Double)
    /// Failed with no retries left: the dead letter queue.
    case dead
}

/// Exponential backoff: after the n-th failed run the job waits `min(maxBackoff, base ^ n)` seconds.
/// `maxRuns` (a job's `max_retries`) counts runs: a job runs at most `max(1, maxRuns)` times and
/// goes to the DLQ after its `maxRuns`-th failed run, as the earlier QueueCTL tools count it.
package struct RetryPolicy: Equatable, Sendable {
    package var maxRuns: Int
    package var backoffBase: Double
    package var maxBackoff: Double

    package init(maxRuns: Int, backoffBase: Double, maxBackoff: Double) {
        self.maxRuns = maxRuns
        self.backoffBase = backoffBase
        self.maxBackoff = maxBackoff
    }

    /// Seconds to wait after the `failedRuns`-th failed run (1 for the first).
    package func delay(afterFailedRuns failedRuns: Int) -> Double {
        // base ^ n by squaring, for a whole n and a base of at least 1 (so it only grows): once past
        // the cap, the cap is the answer.
        var result = 1.0, factor = backoffBase, n = max(0, failedRuns)
        while n > 0 {
            if n & 1 == 1 {
                result *= factor
                if !(result < maxBackoff) { return maxBackoff }
            }
            n >>= 1
            if n > 0 { factor *= factor }
        }
        return min(maxBackoff, result)
    }

    /// The decision after a run. `failedRuns` includes this run when it failed.
    package func decide(succeeded: Bool, failedRuns: Int) -> RetryDecision {
        if succeeded { return .complete }
        return failedRuns < max(1, maxRuns) ? .retry(afterSeconds: delay(afterFailedRuns: failedRuns)) : .dead
    }
}
