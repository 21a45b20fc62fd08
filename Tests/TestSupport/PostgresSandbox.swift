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

/// What turns tables that queuectl made at schema 2 back into schema 1's, as a queuectl before
/// schema 2 left them (its counts kept by these statement triggers), to test the way up from there.
package let backToSchema1 = """
        CREATE FUNCTION queuectl_count() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO queuectl_counts (queue, state, stripe, n)
            SELECT c.queue, c.state, pg_backend_pid() % 16, sum(c.n) FROM (
                SELECT queue, state, 1 AS n FROM queuectl_added
                UNION ALL SELECT queue, state, -1 FROM queuectl_removed
            ) c GROUP BY c.queue, c.state HAVING sum(c.n) <> 0
            ON CONFLICT (queue, state, stripe) DO UPDATE SET n = queuectl_counts.n + EXCLUDED.n;
            RETURN NULL;
        END $$;
        CREATE FUNCTION queuectl_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO queuectl_counts (queue, state, stripe, n)
            SELECT queue, state, pg_backend_pid() % 16, count(*) FROM queuectl_added GROUP BY queue, state
            ON CONFLICT (queue, state, stripe) DO UPDATE SET n = queuectl_counts.n + EXCLUDED.n;
            RETURN NULL;
        END $$;
        CREATE FUNCTION queuectl_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO queuectl_counts (queue, state, stripe, n)
            SELECT queue, state, pg_backend_pid() % 16, -count(*) FROM queuectl_removed GROUP BY queue, state
            ON CONFLICT (queue, state, stripe) DO UPDATE SET n = queuectl_counts.n + EXCLUDED.n;
            RETURN NULL;
        END $$;
        CREATE TRIGGER queuectl_counts_insert AFTER INSERT ON queuectl_jobs REFERENCING NEW TABLE AS queuectl_added
            FOR EACH STATEMENT EXECUTE FUNCTION queuectl_count_inserted();
        CREATE TRIGGER queuectl_counts_update AFTER UPDATE ON queuectl_jobs
            REFERENCING OLD TABLE AS queuectl_removed NEW TABLE AS queuectl_added
            FOR EACH STATEMENT EXECUTE FUNCTION queuectl_count();
        CREATE TRIGGER queuectl_counts_delete AFTER DELETE ON queuectl_jobs REFERENCING OLD TABLE AS queuectl_removed
            FOR EACH STATEMENT EXECUTE FUNCTION queuectl_count_deleted();
        UPDATE queuectl_meta SET schema_version = 1;
        """

/// The counts `status` reads, beside the jobs counted one by one: the same text when they agree.
package let countsBesideJobs = (
    counts: "SELECT string_agg(queue || ' ' || state || ' ' || n, ', ' ORDER BY queue, state) FROM "
        + "(SELECT queue, state, sum(n) AS n FROM queuectl_counts GROUP BY queue, state HAVING sum(n) <> 0) c",
    jobs: "SELECT string_agg(queue || ' ' || state || ' ' || n, ', ' ORDER BY queue, state) FROM "
        + "(SELECT queue, state, count(*) AS n FROM queuectl_jobs GROUP BY queue, state) j")
