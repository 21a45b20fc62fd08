#!/usr/bin/env bash
# Measures queuectl's speed and memory with a release build against fresh temporary queue homes and
# prints a table: figure, median, min, max, runs. Usage: Scripts/bench.sh [runs] [loop runs]
# (defaults 11 and 5). Takes about two and a half minutes on 2 cores, a minute of it for the
# PostgreSQL store. Needs python3 (standard library only) to time and to seed files, and times
# task-spooler's `tsp` beside queuectl when it is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-11}"
loop_runs="${2:-5}"
# The shell-loop figures compare queuectl with task-spooler (Debian's task-spooler, binary tsp). It is
# installed here when missing and this is a root shell with apt-get; otherwise its rows are left out.
if ! command -v tsp >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing task-spooler to compare with" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq task-spooler; } >/dev/null 2>&1 \
        || echo "note: could not install task-spooler; its rows are left out" >&2
fi
command -v tsp >/dev/null 2>&1 || echo "note: task-spooler (tsp) is not installed; its rows are left out" >&2
# The PostgreSQL store's figures run against a throwaway cluster (Scripts/postgres.sh, durable
# settings), started here and stopped on any exit. Its server, libpq and psql (which seeds the
# tables) are installed the same way when missing; without them its rows are left out.
# (grep reads all of ldconfig's list: with -q it would stop at the match, and ldconfig's SIGPIPE
# then fails the pipeline under pipefail.)
has_libpq() { { ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null | grep 'libpq\.so\.5 ' >/dev/null; }
has_postgres_server() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -x "$(pg_config --bindir 2>/dev/null)/initdb" ]; }
has_postgres() { has_libpq && has_postgres_server && command -v psql >/dev/null 2>&1; }
if ! has_postgres && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing postgresql and libpq5 to measure the PostgreSQL store" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql libpq5; } >/dev/null 2>&1 \
        || echo "note: could not install postgresql and libpq5; the PostgreSQL rows are left out" >&2
fi
bin="$(bash Scripts/build-release.sh 2>/dev/null)"
conninfo=""
if has_postgres; then
    postgres_dir="$(mktemp -d)"
    chmod 755 "$postgres_dir"  # the server runs as postgres when we are root
    trap 'bash Scripts/postgres.sh stop "$postgres_dir" >/dev/null || echo "warning: the bench cluster in $postgres_dir was not stopped" >&2' EXIT
    trap 'exit 130' INT TERM HUP
    conninfo="$(bash Scripts/postgres.sh start "$postgres_dir")" \
        || echo "note: the PostgreSQL cluster did not start; the PostgreSQL rows are left out" >&2
else
    echo "note: PostgreSQL (postgresql, libpq5, psql) is not installed; the PostgreSQL rows are left out" >&2
fi
python3 - "$bin" "$runs" "$loop_runs" "$conninfo" <<'PY'
import json, os, re, resource, selectors, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

BIN, RUNS, LOOP_RUNS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
PG = sys.argv[4]  # the throwaway cluster's connection string; empty: no PostgreSQL rows
TSP = shutil.which("tsp")
LOAD_BEFORE = os.getloadavg()
ROOT = tempfile.mkdtemp(prefix="queuectl-bench-")
rows = []

homes = 0
def home(name):
    # A new directory each time, all removed at the end: deleting a run's files right before the
    # next run would time the file system's handling of just-deleted inodes, not queuectl (ext4
    # without a journal skips inodes deleted in the last minute when it creates a file).
    global homes
    homes += 1
    return os.path.join(ROOT, f"{name}-{homes}")

def env(h, store=None):
    """The data file in h; with `store` (a connection string), the PostgreSQL store, h holding only logs."""
    e = dict(os.environ, QUEUECTL_HOME=h)
    e.pop("QUEUECTL_STORE", None)
    if store:
        e["QUEUECTL_STORE"] = store
    return e

def run(h, *args, stdin=None, store=None):
    subprocess.run([BIN, *args], env=env(h, store), input=stdin, stdout=subprocess.DEVNULL, check=True)

def seed(h, pending=0, completed=0, chain=False):
    """Writes a data file in queuectl's own format (the worker and enqueue would take minutes)."""
    os.makedirs(h, mode=0o700, exist_ok=True)
    t = "2026-01-01T00:00:00.000Z"
    def jobs():  # generated, not kept: this process stays small (see the RSS figure below)
        for i in range(completed):
            yield {"id": f"done-{i}", "command": f"echo finished job number {i}", "state": "completed", "attempts": 0,
                   "max_retries": 3, "priority": 0, "seq": i + 1, "created_at": t, "updated_at": t,
                   "exit_code": 0, "started_at": t, "finished_at": t, "duration_ms": 12, "cwd": "/tmp"}
        for i in range(pending):
            job = {"id": f"todo-{i}", "command": "true", "state": "pending", "attempts": 0, "max_retries": 3,
                   "priority": 0, "seq": completed + i + 1, "created_at": t, "updated_at": t, "cwd": "/tmp"}
            if chain and i > 0:
                job["after"] = [f"todo-{i - 1}"]
            yield job
    config = {"max_retries": 3, "backoff_base": 2, "max_backoff": 3600, "worker_count": 1, "job_timeout": 0,
              "max_log_bytes": 1048576, "keep_completed": 0}
    stats = {"runs": 0, "failed_runs": 0, "retries": 0, "dlq_moves": 0}
    path = os.path.join(h, "data.json")
    with open(path, "w") as f:
        f.write('{\n  "version": 2,\n  "next_seq": %d,\n  "config": %s,\n  "stats": %s,\n  "workers": [],\n  "jobs": ['
                % (completed + pending + 1, json.dumps(config), json.dumps(stats)))
        for i, job in enumerate(jobs()):
            f.write(("\n    " if i == 0 else ",\n    ") + json.dumps(job))
        f.write("\n  ]\n}\n" if completed + pending else "]\n}\n")
    os.chmod(path, 0o600)
    run(h, "status")  # checks the file decodes

def record(figure, samples, unit, target, digits=1):
    rows.append((figure, statistics.median(samples), min(samples), max(samples), len(samples), unit, target, digits))
    print(f"  {figure}: median {statistics.median(samples):.{digits}f} {unit}", file=sys.stderr)

def timed(h, *args, n=RUNS, stdin=None, store=None):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        run(h, *args, stdin=stdin, store=store)
        out.append((time.perf_counter() - t) * 1000)
    return out

def status_json(h, store=None):
    out = subprocess.run([BIN, "status", "--json"], env=env(h, store), stdout=subprocess.PIPE, check=True).stdout
    return json.loads(out)

def psql(store, *statements):
    """Runs each statement by itself (VACUUM takes no transaction block); returns what they print."""
    command = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", store]
    for statement in statements:
        command += ["-c", statement]
    return subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True).stdout.strip()

databases = 0
def database():
    """A new database with queuectl's tables, and a new home for its runs' logs, as home() gives a new
    file: (home, connection string)."""
    global databases
    databases += 1
    name = f"bench_{databases}"
    psql(PG, f"CREATE DATABASE {name}")
    h = home("postgres")
    os.makedirs(h, mode=0o700)
    store = f"{PG} dbname={name}"  # a keyword given twice: libpq takes the last
    run(h, "store", "init", store=store)
    return h, store

# Start-up: what every one-shot command pays before it reads a byte of the queue.
h = home("startup")
os.makedirs(h, mode=0o700)
record("start-up: --version", timed(h, "--version", n=51), "ms", "-", 2)
record("start-up: status, empty queue", timed(h, "status", n=51), "ms", "-", 2)

for size, target_ms in [(1000, 6), (10000, 12), (100000, 80)]:
    h = home(f"oneshot-{size}")
    seed(h, completed=size)
    record(f"status, {size:,} jobs", timed(h, "status"), "ms", f"<= {target_ms} ms")
    record(f"enqueue, {size:,} jobs", timed(h, "enqueue", '{"command":"true"}'), "ms", f"<= {target_ms} ms")
    if size == 100000:  # the reading commands on the largest file, for reference
        record("list --limit 20, 100,000 jobs", timed(h, "list", "--limit", "20"), "ms", "-")
        record("list, all 100,000 rows", timed(h, "list", n=3), "ms", "-")
        record("stats, 100,000 jobs", timed(h, "stats", n=3), "ms", "-")

# `add` and `enqueue` add one job the same way once parsed: the same transaction, the same write.
# Taken in turn on the same file, so a busy moment of the machine falls on both alike.
h = home("add-vs-enqueue")
seed(h, completed=1000)
adds, enqueues = [], []
for _ in range(RUNS * 2):
    enqueues += timed(h, "enqueue", '{"command":"echo one job"}', n=1)
    adds += timed(h, "add", "echo", "one", "job", n=1)
record("enqueue one job (JSON), 1,000 jobs, in turn with add", enqueues, "ms", "-")
record("add one job (plain words), 1,000 jobs, in turn with enqueue", adds, "ms", "-")
record("add / enqueue, one job (same round)", [a / e for a, e in zip(adds, enqueues)], "x", "0.9 to 1.1", 2)

# `enqueue -`: 10,000 jobs from standard input, added in one transaction to an empty queue; the data
# file and PostgreSQL in turn in each round.
TEN_THOUSAND = b'{"command":"true"}\n' * 10000
stdin_file, stdin_pg = [], []
for _ in range(RUNS):
    h = home("enqueue-stdin")
    seed(h)
    stdin_file += timed(h, "enqueue", "-", n=1, stdin=TEN_THOUSAND)
    if PG:
        h, store = database()
        stdin_pg += timed(h, "enqueue", "-", n=1, stdin=TEN_THOUSAND, store=store)
record("enqueue - of 10,000 jobs, empty file", stdin_file, "ms", "-")
if PG:
    record("PostgreSQL: enqueue - of 10,000 jobs, empty tables", stdin_pg, "ms", "-")

def drain(completed, n=3, slots=4, chain=False):
    rates = []
    for _ in range(n):
        h = home(f"drain-{completed}")
        seed(h, pending=1000, completed=completed, chain=chain)
        t = time.perf_counter()
        run(h, "worker", "start", "--count", str(slots), "--drain")
        rates.append(1000 / (time.perf_counter() - t))
    return rates

record("drain 1,000 true jobs, --count 4, empty file", drain(0), "jobs/s", ">= 800 jobs/s")
record("drain 1,000 true jobs, --count 4, 10,000 completed", drain(10000), "jobs/s", ">= 400 jobs/s")
# A chain, each job --after the one before: claimed one at a time however many slots, and each
# claim checks the dependencies. The bar: within 1.5 times a plain drain at one slot.
plain, chained = [], []
for _ in range(3):
    plain += drain(0, n=1, slots=1)
    chained += drain(0, n=1, chain=True)
record("drain 1,000 true jobs, --count 1, empty file", plain, "jobs/s", "-")
record("drain a chain of 1,000 (each --after the previous), --count 4", chained, "jobs/s", "-")
record("chain drain time / plain drain time at one slot", [p / c for p, c in zip(plain, chained)], "x", "<= 1.5", 2)

# PostgreSQL's drain beside the data file's, in turn in each round: 1,000 jobs at 4 slots, by one
# worker process and by two with 2 slots each (4 slots still: what differs is only that two
# processes share the tables). The bar: within 1.2 times the data file's drain time.
if PG:
    THOUSAND = b'{"command":"true","cwd":"/tmp"}\n' * 1000  # the jobs seed() writes

    def pg_drain(processes, slots):
        h, store = database()
        run(h, "enqueue", "-", stdin=THOUSAND, store=store)
        t = time.perf_counter()
        workers = [subprocess.Popen([BIN, "worker", "start", "--count", str(slots), "--drain"], env=env(h, store),
                                    stdout=subprocess.DEVNULL) for _ in range(processes)]
        if any([w.wait() for w in workers]):
            raise SystemExit("bench: a PostgreSQL worker failed")
        rate = 1000 / (time.perf_counter() - t)
        jobs = status_json(h, store)["jobs"]
        if jobs["completed"] != 1000:
            raise SystemExit(f"bench: the PostgreSQL drain left jobs unrun: {jobs}")
        return rate

    file_drains, pg_one, pg_two = [], [], []
    for _ in range(5):
        file_drains += drain(0, n=1)
        pg_one.append(pg_drain(1, 4))
        pg_two.append(pg_drain(2, 2))
    record("drain 1,000 true jobs, --count 4, empty file, in turn with PostgreSQL", file_drains, "jobs/s", "-")
    record("PostgreSQL: drain 1,000 true jobs, one worker --count 4", pg_one, "jobs/s", "-")
    record("PostgreSQL: drain 1,000 true jobs, two workers --count 2 each", pg_two, "jobs/s", "-")
    record("PostgreSQL / data file drain time, one worker (same round)", [f / p for f, p in zip(file_drains, pg_one)], "x", "<= 1.2", 2)
    record("PostgreSQL / data file drain time, two workers (same round)", [f / p for f, p in zip(file_drains, pg_two)], "x", "<= 1.2", 2)

def latency(h, store=None):
    """From the start of an enqueue to its job's start, and how long of it the enqueue command took."""
    worker = subprocess.Popen([BIN, "worker", "start"], env=env(h, store), stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    latencies, commands = [], []
    for i in range(RUNS * 2):
        mark = os.path.join(h, f"started-{i}")
        t = time.time_ns()
        run(h, "enqueue", json.dumps({"command": f"date +%s%N > {mark}"}), store=store)
        commands.append((time.time_ns() - t) / 1e6)
        deadline = time.time() + 10
        while not (os.path.exists(mark) and os.path.getsize(mark) > 0) and time.time() < deadline:
            time.sleep(0.001)
        latencies.append((int(open(mark).read()) - t) / 1e6)
        time.sleep(0.05)
    worker.send_signal(2)
    worker.wait()
    return latencies, commands

h = home("latency")
seed(h)
record("enqueue-to-start latency, idle worker", latency(h)[0], "ms", "<= 50 ms")
if PG:
    latencies, commands = latency(*database())
    record("PostgreSQL: enqueue-to-start latency, idle worker", latencies, "ms", "< 20 ms")
    # What of it is the enqueue command's own: loading libpq, connecting, its transaction, exiting.
    record("PostgreSQL: the enqueue command alone, in that loop", commands, "ms", "-")

# `status` with 1,000,000 finished jobs in the table, seeded in SQL (a worker would take many
# minutes) in the very form queuectl writes: the body of a job that enqueue and a worker made here,
# with its id, number, command and times changed, and their count as queuectl keeps it, checked
# against status; `show` reads a seeded job back with queuectl's strict reader.
if PG:
    h, store = database()
    run(h, "enqueue", '{"command":"true"}', store=store)
    run(h, "worker", "start", "--drain", store=store)
    made = psql(store, "SELECT body FROM queuectl_jobs", "DELETE FROM queuectl_jobs", "DELETE FROM queuectl_counts")
    sample = json.loads(made)
    if json.dumps(sample) != made or sample["state"] != "completed":
        raise SystemExit(f"bench: a finished job's body is not in the form this bench writes: {made}")
    t = "2026-01-01T00:00:00.000Z"
    changed = dict(id="@ID@", command="echo finished job number @N@", seq="@SEQ@", created_at=t, updated_at=t,
                   started_at=t, finished_at=t, duration_ms=12, cwd="/tmp")
    if not changed.keys() <= sample.keys():
        raise SystemExit(f"bench: a finished job's body lacks some of {sorted(changed)}: {made}")
    sample.update(changed)
    body = (json.dumps(sample).replace("%", "%%").replace("@ID@", "done-%1$s").replace("@N@", "%1$s")
            .replace('"@SEQ@"', "%2$s"))
    million = 1000000
    psql(store, "INSERT INTO queuectl_jobs (id, seq, state, priority, queue, updated_at, body) "
         f"SELECT 'done-' || i, i + 1, 'completed', 0, 'default', 1767225600000, format($b${body}$b$, i, i + 1) "
         f"FROM generate_series(0, {million - 1}) AS i",
         f"UPDATE queuectl_meta SET next_seq = {million + 1}",
         f"INSERT INTO queuectl_counts (queue, state, stripe, n) VALUES ('default', 'completed', 0, {million})",
         "VACUUM ANALYZE queuectl_jobs")
    jobs = status_json(h, store)["jobs"]
    if jobs["completed"] != million or jobs["total"] != million:
        raise SystemExit(f"bench: status counts {jobs} after seeding {million:,} finished jobs")
    run(h, "show", f"done-{million - 1}", store=store)
    record("PostgreSQL: status, 1,000,000 finished jobs", timed(h, "status", store=store), "ms", "< 50 ms")
    record("PostgreSQL: list --limit 20, 1,000,000 finished jobs", timed(h, "list", "--limit", "20", store=store), "ms", "-")

# The figure a script user meets first: a shell loop that enqueues 1,000 jobs one by one, each
# enqueue a process of its own whose job is on disk (fsynced) when it returns. The loop alone; the
# same loop while a worker with 4 slots runs them, timed until every job has run; and task-spooler's
# same loop (its queue lives in its server's memory, never on disk), until every job has run. The
# three go in turn in each round, so a busy moment of the machine falls on all of them alike, and
# the ratios are taken within each round.
LOOP = 'for i in $(seq 1000); do "$Q" enqueue \'{"command":"true"}\' >/dev/null; done'
TSP_LOOP = 'for i in $(seq 1000); do tsp true >/dev/null; done; tsp -w'

def until(condition, what, seconds=60, pause=0.005):
    deadline = time.time() + seconds
    while not condition():
        if time.time() > deadline:
            raise SystemExit(f"bench: gave up after {seconds}s waiting for {what}")
        time.sleep(pause)

def enqueue_loop(with_worker):
    h = home("loop-worker" if with_worker else "loop")
    e = dict(env(h), Q=BIN)
    worker = None
    if with_worker:
        worker = subprocess.Popen([BIN, "worker", "start", "--count", "4"], env=e, stdout=subprocess.DEVNULL)
        until(lambda: os.path.exists(os.path.join(h, "data.json")) and status_json(h)["workers"], "the worker to register")
    t = time.perf_counter()
    subprocess.run(["/bin/sh", "-c", LOOP], env=e, check=True)
    if worker:
        # Polled only once the loop is over: no job can be done before it is enqueued, and a poll
        # during the loop would take a core from what is measured.
        def all_run():
            jobs = status_json(h)["jobs"]
            if jobs["failed"] or jobs["dead"]:
                raise SystemExit(f"bench: jobs failed in the shell-loop run: {jobs}")
            return jobs["completed"] == 1000
        until(all_run, "all 1,000 jobs to run")
    elapsed = time.perf_counter() - t
    if worker:
        worker.send_signal(signal.SIGINT)
        worker.wait()
    return elapsed

def tsp_loop():
    d = tempfile.mkdtemp(dir=ROOT, prefix="tsp-")
    # Its own server, socket and output files; keeps every finished job listed, so they can be counted.
    e = dict(os.environ, TS_SOCKET=os.path.join(d, "socket"), TMPDIR=d, TS_MAXFINISHED="2000")
    subprocess.run(["tsp", "-S", "4"], env=e, check=True)
    try:
        t = time.perf_counter()
        subprocess.run(["/bin/sh", "-c", TSP_LOOP], env=e, stdout=subprocess.DEVNULL, check=True)
        # `tsp -w` waits for the last job added only; one added before it may still run in another slot.
        def all_run():
            listed = subprocess.run(["tsp", "-l"], env=e, stdout=subprocess.PIPE, text=True, check=True).stdout
            states = [line.split()[1] for line in listed.splitlines()[1:] if line.strip()]
            return len(states) == 1000 and all(state == "finished" for state in states)
        until(all_run, "task-spooler's 1,000 jobs to run")
        return time.perf_counter() - t
    finally:
        subprocess.run(["tsp", "-K"], env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

alone, with_worker, spooler = [], [], []
for _ in range(LOOP_RUNS):
    alone.append(enqueue_loop(False))
    with_worker.append(enqueue_loop(True))
    if TSP:
        spooler.append(tsp_loop())
record("1,000 enqueues from a shell loop, no worker", alone, "s", "-", 2)
record("the same loop, worker --count 4 running, until all have run", with_worker, "s", "-", 2)
record("with worker / without (same round)", [w / a for w, a in zip(with_worker, alone)], "x", "<= 1.3", 2)
if TSP:
    record("task-spooler: the same loop (tsp -S 4), until all have run", spooler, "s", "-", 2)
    record("with worker / task-spooler (same round)", [w / t for w, t in zip(with_worker, spooler)], "x", "<= 2", 2)

peaks = []
for _ in range(3):
    h = home("rss")
    seed(h, pending=10, completed=100000)
    # posix_spawn, not fork: a forked child's peak RSS would start at this Python process's size.
    devnull = os.open(os.devnull, os.O_WRONLY)
    pid = os.posix_spawn(BIN, [BIN, "worker", "start", "--count", "4", "--drain"], env(h),
                         file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
    os.close(devnull)
    _, status, usage = os.wait4(pid, 0)
    peaks.append(usage.ru_maxrss / 1024)
record("worker peak RSS, 100,000 jobs", peaks, "MB", "<= 30 MB")

# The dashboard on 100,000 jobs: requests per second for /api/status from a load generator of its
# own, bounded (8 keep-alive connections over loopback, one request in flight on each, 4,000
# requests a run), and the dashboard's memory with 50 event streams open, as 50 open pages would
# hold (each gets the page's live part, about once a second while something in it changes).
def dashboard_load(port, connections=8, total=4000):
    request = f"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    selector, buffers, sent, done = selectors.DefaultSelector(), {}, 0, 0
    for _ in range(connections):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        selector.register(s, selectors.EVENT_READ)
        buffers[s] = b""
    t = time.perf_counter()
    for s in buffers:
        s.send(request)
        sent += 1
    while done < total:
        for key, _ in selector.select(timeout=10):
            s = key.fileobj
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit("bench: the dashboard closed a connection")
            buffers[s] += chunk
            while b"\r\n\r\n" in buffers[s]:
                head, rest = buffers[s].split(b"\r\n\r\n", 1)
                length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
                if len(rest) < length:
                    break
                buffers[s] = rest[length:]
                done += 1
                if sent < total:
                    s.send(request)
                    sent += 1
    elapsed = time.perf_counter() - t
    for s in buffers:
        s.close()
    return total / elapsed

h = home("dashboard")
seed(h, completed=100000)
board = subprocess.Popen([BIN, "dashboard", "--port", "0"], env=env(h), stdout=subprocess.PIPE, text=True)
port = int(re.search(r"127\.0\.0\.1:(\d+)", board.stdout.readline()).group(1))
dashboard_load(port, total=200)  # the first request reads the file
record("dashboard: /api/status, 100,000 jobs, 8 connections", [dashboard_load(port) for _ in range(RUNS)], "req/s", "-", 0)
streams = []
for _ in range(50):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET /api/events?view=%2F HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    streams.append(s)
def drain_streams(seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        for key, _ in streams_selector.select(timeout=0.1):
            key.fileobj.recv(1 << 20)
streams_selector = selectors.DefaultSelector()
for s in streams:
    s.setblocking(False)
    streams_selector.register(s, selectors.EVENT_READ)
rss = []
for _ in range(RUNS):
    drain_streams(0.5)
    rss.append(int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{board.pid}/status").read()).group(1)) / 1024)
record("dashboard RSS, 50 open event streams, 100,000 jobs", rss, "MB", "-")
for s in streams:
    s.close()
board.send_signal(signal.SIGINT)
board.wait()

PG_VERSION = PG and psql(PG, "SHOW server_version").split()[0]
shutil.rmtree(ROOT, ignore_errors=True)
load = lambda l: " / ".join(f"{x:.2f}" for x in l)
print(f"\nqueuectl bench, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, release build, fully static;"
      f" load average (1/5/15 min) {load(LOAD_BEFORE)} before, {load(os.getloadavg())} after"
      + ("" if TSP else "; task-spooler not installed, its rows left out")
      + (f"; PostgreSQL {PG_VERSION}, a throwaway cluster with fsync on" if PG else "; no PostgreSQL, its rows left out") + "\n")
print("| figure | median | min | max | runs | target |")
print("|---|---|---|---|---|---|")
for figure, med, lo, hi, n, unit, target, d in rows:
    print(f"| {figure} | {med:.{d}f} {unit} | {lo:.{d}f} | {hi:.{d}f} | {n} | {target} |")
PY
