/// Every error the queue reports. `usage` errors are the caller's input (exit 64); `failure` errors
/// are operations that could not be done (exit 1), `lockTimedOut` among them: the queue lock was not
/// free within the time the caller would wait, and `leaseLost`: a worker's lease ran out and its jobs
/// were given to others. The message is lower-case and specific.
package struct QueueError: Error, CustomStringConvertible, Equatable, Sendable {
    package enum Kind: Sendable { case usage, failure, lockTimedOut, leaseLost }
    package let kind: Kind
    package let message: String

    package static func usage(_ message: String) -> QueueError { QueueError(kind: .usage, message: message) }
    package static func failure(_ message: String) -> QueueError { QueueError(kind: .failure, message: message) }
    package static func leaseLost(_ message: String) -> QueueError { QueueError(kind: .leaseLost, message: message) }

    package var description: String { message }
}
