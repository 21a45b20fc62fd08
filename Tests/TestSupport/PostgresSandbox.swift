import Foundation

/// The throwaway server `Scripts/test.sh` started (`$QUEUECTL_TEST_POSTGRES`, a libpq connection
/// string), or nil when there is none.
package let testPostgres: String? = {
    guard let text = ProcessInfo.processInfo.environment["QUEUECTL_TEST_POSTGRES"], !text.isEmpty else { return nil }
    return text
}()

/// Under CI a missing server is a failure, never a skip.
package let postgresRequired = ProcessInfo.processInfo.environment["CI"] == "true"

/// A schema of its own on the test server: one test's queue. Its connection string sets the
/// `search_path` to it, so the `queuectl_…` tables a store creates go there and tests run side by
/// side. The schema is dropped when the sandbox goes.
package final class PostgresSandbox: @unchecked Sendable {
    package let schema: String
    /// The server's connection string with this schema as the search path.
    package let conninfo: String
    private let server: String

    package init() {
        guard let server = testPostgres else { fatalError("PostgresSandbox needs QUEUECTL_TEST_POSTGRES") }
        self.server = server
        schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        conninfo = server + " options=-csearch_path=\(schema)"
        try! psql("CREATE SCHEMA \(schema)")
    }

    deinit { _ = try? psql("DROP SCHEMA \(schema) CASCADE") }

    /// Runs SQL on the server with `psql` (in this sandbox's schema), and returns what it printed
    /// (unaligned, tuples only).
    @discardableResult
    package func sql(_ statement: String) throws -> String { try psql("SET search_path TO \(schema); " + statement) }

    @discardableResult
    private func psql(_ statement: String) throws -> String { try runPSQL(server, statement) }
}

/// Runs SQL with `psql` on `conninfo` (unaligned, tuples only, giving up connecting after 5 s) and
/// returns what it printed; throws with psql's error output when it fails.
package func runPSQL(_ conninfo: String, _ statement: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["psql", conninfo, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", statement]
    var environment = ProcessInfo.processInfo.environment
    environment["PGCONNECT_TIMEOUT"] = "5"
    p.environment = environment
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errors = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        throw NSError(domain: "psql", code: Int(p.terminationStatus),
                      userInfo: [NSLocalizedDescriptionKey: String(decoding: errors, as: UTF8.self)])
    }
    return String(decoding: data, as: UTF8.self)
}
