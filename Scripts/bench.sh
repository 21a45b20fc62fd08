#!/usr/bin/env bash
# Measures queuectl's speed and memory with a release build against fresh temporary queue homes and
# prints a table: figure, median, min, max, runs. Usage: Scripts/bench.sh [runs]   (default 11)
# Takes a few minutes on 2 cores. Needs python3 (standard library only) to time and to seed files.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-11}"
swift build -c release --static-swift-stdlib >/dev/null
bin="$(swift build -c release --static-swift-stdlib --show-bin-path)/queuectl"
exec python3 - "$bin" "$runs" <<'PY'
import json, os, resource, shutil, statistics, subprocess, sys, tempfile, time

BIN, RUNS = sys.argv[1], int(sys.argv[2])
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

def env(h):
    e = dict(os.environ, QUEUECTL_HOME=h)
    return e

def run(h, *args, stdin=None):
    subprocess.run([BIN, *args], env=env(h), input=stdin, stdout=subprocess.DEVNULL, check=True)

def seed(h, pending=0, completed=0):
    """Writes a data file in queuectl's own format (the worker and enqueue would take minutes)."""
    os.makedirs(h, mode=0o700, exist_ok=True)
    t = "2026-01-01T00:00:00.000Z"
    def jobs():  # generated, not kept: this process stays small (see the RSS figure below)
        for i in range(completed):
            yield {"id": f"done-{i}", "command": f"echo finished job number {i}", "state": "completed", "attempts": 0,
                   "max_retries": 3, "priority": 0, "seq": i + 1, "created_at": t, "updated_at": t,
                   "exit_code": 0, "started_at": t, "finished_at": t, "duration_ms": 12, "cwd": "/tmp"}
        for i in range(pending):
            yield {"id": f"todo-{i}", "command": "true", "state": "pending", "attempts": 0, "max_retries": 3,
                   "priority": 0, "seq": completed + i + 1, "created_at": t, "updated_at": t, "cwd": "/tmp"}
    config = {"max_retries": 3, "backoff_base": 2, "max_backoff": 3600, "worker_count": 1, "job_timeout": 0,
              "max_log_bytes": 1048576, "keep_completed": 0}
    stats = {"runs": 0, "failed_runs": 0, "retries": 0, "dlq_moves": 0}
    path = os.path.join(h, "data.json")
    with open(path, "w") as f:
        f.write('{\n  "version": 1,\n  "next_seq": %d,\n  "config": %s,\n  "stats": %s,\n  "workers": [],\n  "jobs": ['
                % (completed + pending + 1, json.dumps(config), json.dumps(stats)))
        for i, job in enumerate(jobs()):
            f.write(("\n    " if i == 0 else ",\n    ") + json.dumps(job))
        f.write("\n  ]\n}\n" if completed + pending else "]\n}\n")
    os.chmod(path, 0o600)
    run(h, "status")  # checks the file decodes

def record(figure, samples, unit, target):
    rows.append((figure, statistics.median(samples), min(samples), max(samples), len(samples), unit, target))
    print(f"  {figure}: median {statistics.median(samples):.1f} {unit}", file=sys.stderr)

def timed(h, *args, n=RUNS):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        run(h, *args)
        out.append((time.perf_counter() - t) * 1000)
    return out

for size, target_ms in [(1000, 6), (10000, 12), (100000, 80)]:
    h = home(f"oneshot-{size}")
    seed(h, completed=size)
    record(f"status, {size:,} jobs", timed(h, "status"), "ms", f"<= {target_ms} ms")
    record(f"enqueue, {size:,} jobs", timed(h, "enqueue", '{"command":"true"}'), "ms", f"<= {target_ms} ms")
    if size == 100000:  # the reading commands on the largest file, for reference
        record("list --limit 20, 100,000 jobs", timed(h, "list", "--limit", "20"), "ms", "-")
        record("list, all 100,000 rows", timed(h, "list", n=3), "ms", "-")
        record("stats, 100,000 jobs", timed(h, "stats", n=3), "ms", "-")

def drain(completed, n=3):
    rates = []
    for _ in range(n):
        h = home(f"drain-{completed}")
        seed(h, pending=1000, completed=completed)
        t = time.perf_counter()
        run(h, "worker", "start", "--count", "4", "--drain")
        rates.append(1000 / (time.perf_counter() - t))
    return rates

record("drain 1,000 true jobs, --count 4, empty file", drain(0), "jobs/s", ">= 800 jobs/s")
record("drain 1,000 true jobs, --count 4, 10,000 completed", drain(10000), "jobs/s", ">= 400 jobs/s")

h = home("latency")
seed(h)
worker = subprocess.Popen([BIN, "worker", "start"], env=env(h), stdout=subprocess.DEVNULL)
time.sleep(0.5)
latencies = []
for i in range(RUNS * 2):
    mark = os.path.join(h, f"started-{i}")
    t = time.time_ns()
    run(h, "enqueue", json.dumps({"command": f"date +%s%N > {mark}"}))
    deadline = time.time() + 10
    while not (os.path.exists(mark) and os.path.getsize(mark) > 0) and time.time() < deadline:
        time.sleep(0.001)
    latencies.append((int(open(mark).read()) - t) / 1e6)
    time.sleep(0.05)
worker.send_signal(2)
worker.wait()
record("enqueue-to-start latency, idle worker", latencies, "ms", "<= 50 ms")

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

shutil.rmtree(ROOT, ignore_errors=True)
print(f"\nqueuectl bench, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, release build with --static-swift-stdlib\n")
print("| figure | median | min | max | runs | target |")
print("|---|---|---|---|---|---|")
for figure, med, lo, hi, n, unit, target in rows:
    print(f"| {figure} | {med:.1f} {unit} | {lo:.1f} | {hi:.1f} | {n} | {target} |")
PY
