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

/// `90`, `30s`, `5m`, `2h`, `1d` as seconds: a whole number with an optional unit. Nil otherwise.
public func durationSeconds(_ text: String) -> Double? {
    var digits = Substring(text)
    var unit: Double = 1
    switch digits.last {
    case "s": unit = 1; digits.removeLast()
    case "m": unit = 60; digits.removeLast()
    case "h": unit = 3600; digits.removeLast()
    case "d": unit = 86_400; digits.removeLast()
    default: break
    }
    guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Double(digits) else { return nil }
    return n * unit
}
