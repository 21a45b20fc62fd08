import Testing
@testable import RetryPolicy

@Suite struct RetryPolicyDelayTests {
    let standard = RetryPolicy(maxRuns: 3, backoffBase: 2, maxBackoff: 3600)

    @Test(arguments: [
        (1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (5, 32.0), (6, 64.0), (7, 128.0),
        (8, 256.0), (9, 512.0), (10, 1024.0), (11, 2048.0),
    ])
    func base2Table(failedRuns: Int, expected: Double) {
        #expect(standard.delay(afterFailedRuns: failedRuns) == expected)
    }

    @Test func capIsAppliedAtAndAboveMaxBackoff() {
        // 2^12 = 4096 > 3600: capped. Every later run stays at the cap.
        #expect(standard.delay(afterFailedRuns: 12) == 3600)
        for n in 12...200 { #expect(standard.delay(afterFailedRuns: n) == 3600, "n = \(n)") }
        let exact = RetryPolicy(maxRuns: 3, backoffBase: 2, maxBackoff: 8)
        #expect(exact.delay(afterFailedRuns: 3) == 8)  // equal to the cap: not reduced
        #expect(exact.delay(afterFailedRuns: 4) == 8)
        #expect(exact.delay(afterFailedRuns: 2) == 4)
    }

    @Test func zeroMaxBackoffMeansNoDelay() {
        let p = RetryPolicy(maxRuns: 3, backoffBase: 2, maxBackoff: 0)
        for n in 1...10 { #expect(p.delay(afterFailedRuns: n) == 0) }
    }

    @Test func fractionalBase() {
        let p = RetryPolicy(maxRuns: 5, backoffBase: 1.5, maxBackoff: 3600)
        #expect(abs(p.delay(afterFailedRuns: 1) - 1.5) < 1e-12)
        #expect(abs(p.delay(afterFailedRuns: 2) - 2.25) < 1e-12)
        #expect(abs(p.delay(afterFailedRuns: 3) - 3.375) < 1e-12)
        #expect(abs(p.delay(afterFailedRuns: 4) - 5.0625) < 1e-12)
    }

    @Test func baseOneIsAlwaysOneSecond() {
        let p = RetryPolicy(maxRuns: 5, backoffBase: 1, maxBackoff: 3600)
        for n in [1, 2, 10, 1000, Int.max] { #expect(p.delay(afterFailedRuns: n) == 1) }
    }

    @Test(arguments: [64, 1024, 1_000_000, Int(Int32.max), Int.max])
    func overflowGivesTheCapNeverInfOrNaN(failedRuns: Int) {
        for base in [2.0, 10.0, 1.5, 1_000_000.0] {
            let p = RetryPolicy(maxRuns: 3, backoffBase: base, maxBackoff: 3600)
            let d = p.delay(afterFailedRuns: failedRuns)
            #expect(d.isFinite)
            #expect(!d.isNaN)
            #expect(d == 3600, "base \(base), runs \(failedRuns) -> \(d)")
        }
    }

    @Test func delayGrowsMonotonicallyUpToTheCap() {
        var previous = 0.0
        for n in 1...100 {
            let d = standard.delay(afterFailedRuns: n)
            #expect(d >= previous)
            #expect(d <= 3600)
            previous = d
        }
    }
}

@Suite struct RetryPolicyDecisionTests {
    @Test func successCompletesWhateverTheAttempts() {
        let p = RetryPolicy(maxRuns: 3, backoffBase: 2, maxBackoff: 3600)
        for n in [0, 1, 3, 4, 100] { #expect(p.decide(succeeded: true, failedRuns: n) == .complete) }
        let none = RetryPolicy(maxRuns: 0, backoffBase: 2, maxBackoff: 3600)
        #expect(none.decide(succeeded: true, failedRuns: 0) == .complete)
    }

    @Test func maxRunsThree_runsOneAndTwoRetry_runThreeIsDead() {
        let p = RetryPolicy(maxRuns: 3, backoffBase: 2, maxBackoff: 3600)
        #expect(p.decide(succeeded: false, failedRuns: 1) == .retry(afterSeconds: 2))
        #expect(p.decide(succeeded: false, failedRuns: 2) == .retry(afterSeconds: 4))  // the last retry
        #expect(p.decide(succeeded: false, failedRuns: 3) == .dead)
        #expect(p.decide(succeeded: false, failedRuns: 4) == .dead)
    }

    @Test func maxRunsZeroOrOne_firstFailureIsDead() {
        for runs in [0, 1] {
            let p = RetryPolicy(maxRuns: runs, backoffBase: 2, maxBackoff: 3600)
            #expect(p.decide(succeeded: false, failedRuns: 1) == .dead)
        }
    }

    @Test func retryDelayIsCappedToo() {
        let p = RetryPolicy(maxRuns: 50, backoffBase: 2, maxBackoff: 10)
        #expect(p.decide(succeeded: false, failedRuns: 3) == .retry(afterSeconds: 8))
        #expect(p.decide(succeeded: false, failedRuns: 4) == .retry(afterSeconds: 10))
        #expect(p.decide(succeeded: false, failedRuns: 49) == .retry(afterSeconds: 10))
        #expect(p.decide(succeeded: false, failedRuns: 50) == .dead)
    }

    @Test func totalRunsAllowedIsMaxRunsButAtLeastOne() {
        for maxRuns in 0...10 {
            let p = RetryPolicy(maxRuns: maxRuns, backoffBase: 2, maxBackoff: 3600)
            var runs = 0
            var failed = 0
            while true {
                runs += 1
                failed += 1
                if p.decide(succeeded: false, failedRuns: failed) == .dead { break }
                #expect(runs < 100)
            }
            #expect(runs == max(1, maxRuns))
        }
    }
}
