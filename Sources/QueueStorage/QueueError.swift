/// Every error the queue reports. `usage` errors are the caller's input (exit 64); `failure` errors
/// are operations that could not be done (exit 1). The message is lower-case and specific.
public struct QueueError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: Sendable { case usage, failure }
    public let kind: Kind
    public let message: String

    public static func usage(_ message: String) -> QueueError { QueueError(kind: .usage, message: message) }
    public static func failure(_ message: String) -> QueueError { QueueError(kind: .failure, message: message) }

    public var description: String { message }
}
