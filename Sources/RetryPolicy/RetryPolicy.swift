/// What happens to a job after one of its runs ends.
package enum RetryDecision: Equatable, Sendable {
    case complete
    /// Failed with retries left: run again after this many seconds.
    case retry(afterSeconds: Double)
    /// Failed with no retries left: the dead letter queue.
    case dead
}

/// Exponential backoff: after the n-th failed run the job waits `min(maxBackoff, base ^ n)` seconds.
/// `maxRetries` counts retries after the first run, so a job runs at most `1 + maxRetries` times.
package struct RetryPolicy: Equatable, Sendable {
    package var maxRetries: Int
    package var backoffBase: Double
    package var maxBackoff: Double

    package init(maxRetries: Int, backoffBase: Double, maxBackoff: Double) {
        self.maxRetries = maxRetries
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
        return failedRuns <= maxRetries ? .retry(afterSeconds: delay(afterFailedRuns: failedRuns)) : .dead
    }
}
