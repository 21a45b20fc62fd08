import QueueStorage
import QueueSystem

/// The tables, all named `queuectl_…` so that they can share a database with others. A job is kept
/// whole in `body`, in the data file's own JSON form (read by the same strict reader); the columns
/// beside it are copies of what claims, filters and counts look at, written with it every time.
/// Times are milliseconds since the epoch, by the server's clock (one clock for every host).
/// `queuectl_counts` keeps the jobs per queue and state, so `status` reads a few rows however many
/// jobs there are: each transaction that adds, changes or removes jobs adds what it changed of them
/// to its connection's stripe of the rows (its backend pid modulo 16), so concurrent workers rarely
/// wait on one another's counts. (Schema 1 kept them by statement triggers, whose PL/pgSQL every new
/// connection loaded and compiled at its first write: 3 ms of each command that wrote a job.)
enum Schema {
    /// The version `store init` creates; a database at a newer one is refused, as a newer data file
    /// is, and one at an older one until `store init` brings it up to this one.
    static let version = 2

    static let create = """
        CREATE TABLE queuectl_meta (
            one boolean PRIMARY KEY DEFAULT true CHECK (one),
            schema_version integer NOT NULL,
            next_seq bigint NOT NULL DEFAULT 1,
            config text NOT NULL,
            paused boolean NOT NULL DEFAULT false,
            paused_queues text[] NOT NULL DEFAULT '{}',
            runs bigint NOT NULL DEFAULT 0,
            failed_runs bigint NOT NULL DEFAULT 0,
            retries bigint NOT NULL DEFAULT 0,
            dlq_moves bigint NOT NULL DEFAULT 0
        );
        CREATE TABLE queuectl_jobs (
            id text PRIMARY KEY,
            seq bigint NOT NULL UNIQUE,
            state text NOT NULL CHECK (state IN ('pending', 'processing', 'completed', 'failed', 'dead')),
            priority integer NOT NULL,
            run_at bigint,
            queue text NOT NULL,
            after text[] NOT NULL DEFAULT '{}',
            dependency_died text,
            worker text,
            updated_at bigint NOT NULL,
            body text NOT NULL
        );
        CREATE INDEX queuectl_jobs_claim ON queuectl_jobs (priority DESC, seq) WHERE state IN ('pending', 'failed');
        CREATE INDEX queuectl_jobs_fifo ON queuectl_jobs (seq) WHERE state IN ('pending', 'failed');
        CREATE INDEX queuectl_jobs_due ON queuectl_jobs (run_at) WHERE state IN ('pending', 'failed') AND run_at IS NOT NULL;
        CREATE INDEX queuectl_jobs_state ON queuectl_jobs (state, seq);
        CREATE INDEX queuectl_jobs_updated ON queuectl_jobs (updated_at);
        CREATE INDEX queuectl_jobs_worker ON queuectl_jobs (worker) WHERE worker IS NOT NULL;
        CREATE INDEX queuectl_jobs_waiting ON queuectl_jobs (seq) WHERE cardinality(after) > 0 AND state IN ('pending', 'failed', 'processing');
        CREATE INDEX queuectl_jobs_died_with ON queuectl_jobs (seq) WHERE dependency_died IS NOT NULL AND state = 'dead';
        CREATE TABLE queuectl_workers (
            key text PRIMARY KEY,
            host text NOT NULL,
            pid integer NOT NULL,
            start_time bigint NOT NULL,
            pid_namespace bigint,
            slots integer NOT NULL,
            started_at bigint NOT NULL,
            renewed_at bigint NOT NULL,
            lease_until bigint NOT NULL
        );
        CREATE TABLE queuectl_counts (
            queue text NOT NULL,
            state text NOT NULL,
            stripe integer NOT NULL,
            n bigint NOT NULL,
            PRIMARY KEY (queue, state, stripe)
        );
        CREATE TABLE queuectl_logs (
            id text PRIMARY KEY,
            bytes bytea NOT NULL,
            total bigint NOT NULL
        );
        """

    /// From schema 1 to 2: the count triggers go, and the counts are taken again from the jobs. The
    /// settings row, which every transaction of queuectl reads first, is locked before anything: a
    /// transaction of an older queuectl still going is waited out, and one that starts after finds
    /// schema 2, which that queuectl refuses.
    static let upgradeTo2 = """
        LOCK TABLE queuectl_meta IN ACCESS EXCLUSIVE MODE;
        DROP TRIGGER queuectl_counts_insert ON queuectl_jobs;
        DROP TRIGGER queuectl_counts_update ON queuectl_jobs;
        DROP TRIGGER queuectl_counts_delete ON queuectl_jobs;
        DROP FUNCTION queuectl_count(), queuectl_count_inserted(), queuectl_count_deleted();
        \(recount);
        UPDATE queuectl_meta SET schema_version = 2;
        """

    /// The counts taken again from the jobs.
    static let recount = "DELETE FROM queuectl_counts; INSERT INTO queuectl_counts (queue, state, stripe, n) "
        + "SELECT queue, state, 0, count(*) FROM queuectl_jobs GROUP BY queue, state"

    /// Whether the counts are not the jobs' (a row of `queuectl_jobs` changed by hand), as SQL.
    static let countsAreOff = """
        SELECT EXISTS ((SELECT queue, state, sum(n) FROM queuectl_counts GROUP BY queue, state HAVING sum(n) <> 0
            EXCEPT SELECT queue, state, count(*) FROM queuectl_jobs GROUP BY queue, state)
          UNION ALL (SELECT queue, state, count(*) FROM queuectl_jobs GROUP BY queue, state
            EXCEPT SELECT queue, state, sum(n) FROM queuectl_counts GROUP BY queue, state HAVING sum(n) <> 0)) AS off
        """

    /// Adds to a row of `queuectl_counts` what is inserted into it again (SQL after the `INSERT`).
    static let addToCount = "ON CONFLICT (queue, state, stripe) DO UPDATE SET n = queuectl_counts.n + EXCLUDED.n"

    /// This connection's stripe of `queuectl_counts`, as SQL.
    static let stripe = "pg_backend_pid() % 16"

    /// The `updated_at` column of a job: for a job that has finished a run and waits for none
    /// (completed, failed, dead), when that run finished, which the worker's retention and the live
    /// view's last finished runs order by, as JobManager does by `finished_at`; else when it last
    /// changed. (An `edit` of a finished job changes its `updated_at` in the body, not when it finished.)
    static func updatedAt(of job: Job) -> Timestamp {
        switch job.state {
        case .completed, .failed, .dead: return job.finishedAt ?? job.updatedAt
        case .pending, .processing: return job.updatedAt
        }
    }

    /// Milliseconds since the epoch by the server's clock, as SQL.
    static let serverNow = "(extract(epoch from clock_timestamp()) * 1000)::bigint"

    /// Jobs that wait for a dependency that died or is gone, and jobs that died with a dependency
    /// that is no longer dead: JobManager settles them (on `j`; the partial indexes above keep this
    /// to the jobs that have dependencies at all).
    static let unsettled = """
        (j.state IN ('pending', 'failed') AND cardinality(j.after) > 0 AND EXISTS (SELECT 1 FROM unnest(j.after) AS a(id) \
        WHERE NOT EXISTS (SELECT 1 FROM queuectl_jobs d WHERE d.id = a.id AND d.state <> 'dead'))) \
        OR (j.state = 'dead' AND j.dependency_died IS NOT NULL AND EXISTS \
        (SELECT 1 FROM queuectl_jobs d WHERE d.id = j.dependency_died AND d.state <> 'dead'))
        """

    /// A claimable job's dependencies have all completed (on `j`).
    static let dependenciesMet = "(cardinality(j.after) = 0 OR NOT EXISTS (SELECT 1 FROM unnest(j.after) AS a(id) "
        + "WHERE NOT EXISTS (SELECT 1 FROM queuectl_jobs d WHERE d.id = a.id AND d.state = 'completed')))"

    /// The channel a change to the jobs is announced on, as SQL: one per jobs table (its oid), since
    /// a channel belongs to the whole database and queues kept apart by schema would wake each other.
    /// The payload is the changer's worker key, or empty for a command.
    static let channel = "'queuectl_jobs_' || 'queuectl_jobs'::regclass::oid"

    /// Listens on `channel`, which `LISTEN` takes only as a name.
    static let listen = "DO $$ BEGIN EXECUTE format('LISTEN %I', \(channel)); END $$"

    /// Before the key, for a worker's change that makes no job claimable (its claims, runs that
    /// completed with nothing waiting for them, or died; with no limit on jobs running at once):
    /// other workers need not look, while `wait`, `top` and `logs -f` still do. Should one be missed,
    /// a worker's look once a second finds it.
    static let quietPrefix = "quiet "
}
