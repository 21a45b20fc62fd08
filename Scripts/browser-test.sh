#!/usr/bin/env bash
# The dashboard in a real browser: starts a temporary queue home with a few jobs, a worker and
# `queuectl dashboard --allow-actions`, loads the page in headless Chromium over the DevTools
# protocol (a client of its own below, Python standard library only), and checks that the counts
# and job ids are on the first paint, that a job enqueued afterwards appears without a reload, and
# that a Retry button in the DLQ view sends its action. Saves screenshots (wide, 360 px, dark, a
# job, the DLQ) to OUTDIR. Everything it starts is stopped and its temporary folder removed.
# Usage: Scripts/browser-test.sh [OUTDIR] (default .build/browser-test; Tests/Browser to refresh the
# README's screenshots). QUEUECTL_BIN picks the binary (default: the debug build); QUEUECTL_STORE, if
# set, the store (an empty PostgreSQL schema: `store init` is run first). Exit 0 passed, 1 failed,
# 2 no browser found.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${QUEUECTL_BIN:-$PWD/.build/debug/queuectl}"
out="${1:-.build/browser-test}"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [ -z "$browser" ]; then
    echo "browser-test: no chromium found (Debian: apt-get install chromium)" >&2
    exit 2
fi
mkdir -p "$out"
exec python3 - "$bin" "$browser" "$out" <<'PY'
import base64, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.parse, urllib.request

BIN, BROWSER, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
ROOT = tempfile.mkdtemp(prefix="queuectl-browser-")
HOME = os.path.join(ROOT, "home")
ENV = dict(os.environ, QUEUECTL_HOME=HOME, NO_COLOR="1")
started = []  # (Popen, the signal that stops it), stopped in reverse order at the end


class Failure(Exception):
    pass


def q(*args):
    return subprocess.run([BIN, *args], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True).stdout


def status():
    return json.loads(q("status", "--json"))


def until(what, condition, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise Failure(f"gave up after {seconds}s waiting for {what}")


def start(argv, stop, **kw):
    p = subprocess.Popen(argv, env=ENV, start_new_session=True, **kw)
    started.append((p, stop))
    return p


class DevTools:
    """The Chrome DevTools protocol over one WebSocket (RFC 6455), client side: masked text frames out, frames in."""

    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._read()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise Failure(f"DevTools refused the WebSocket: {head[:200]!r}")
        self.next_id = 0

    def _read(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise Failure("DevTools closed the connection")
        return chunk

    def _exact(self, n):
        while len(self.buffer) < n:
            self.buffer += self._read()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _send(self, text):
        data = text.encode()
        head = bytearray([0x81])
        n = len(data)
        if n < 126:
            head.append(0x80 | n)
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        self.sock.sendall(bytes(head) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _message(self):
        parts = []
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self._exact(2), "big")
            elif n == 127:
                n = int.from_bytes(self._exact(8), "big")
            payload = self._exact(n)
            opcode = b0 & 0x0F
            if opcode == 8:
                raise Failure("DevTools closed the WebSocket")
            if opcode in (0, 1, 2):
                parts.append(payload)
                if b0 & 0x80:
                    return json.loads(b"".join(parts))

    def call(self, method, **params):
        self.next_id += 1
        self._send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = self._message()
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise Failure(f"{method}: {message['error']}")
                return message.get("result", {})

    def js(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise Failure(f"script failed: {expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def open(self, url):
        self.call("Page.navigate", url=url)
        until(f"{url} to load", lambda: self.js("document.readyState === 'complete' && location.href") == url)

    def size(self, width, height, mobile=False):
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile)

    def screenshot(self, name, width, mobile=False):
        """The whole page at `width` CSS pixels, as OUT/name."""
        self.size(width, 800, mobile)
        time.sleep(0.2)  # a layout pass at the new width
        height = int(self.js("Math.ceil(document.documentElement.scrollHeight)"))
        self.size(width, height, mobile)
        time.sleep(0.2)
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        if len(data) < 10_000 or not data.startswith(b"\x89PNG"):
            raise Failure(f"the screenshot {name} is not a picture of a page ({len(data)} bytes)")
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        print(f"  saved {os.path.join(OUT, name)} ({width} px wide, {len(data) // 1024} KiB)")


def check(what, condition):
    if not condition:
        raise Failure(what)
    print(f"  ok: {what}")


def main():
    # On a database store (QUEUECTL_STORE set), its tables first.
    if os.environ.get("QUEUECTL_STORE"):
        q("store", "init")
    # A queue with something in every section: finished runs, a retry waiting, dead jobs, a scheduled
    # job, and a worker running one.
    q("config", "set", "backoff-base", "300")
    for job in [
        {"id": "build-docs", "command": "echo 'rendering 42 pages'; echo done"},
        {"id": "resize-images", "command": "for i in 1 2 3; do echo \"image $i: 1920x1080 -> 640x360\"; done"},
        {"id": "backup-db", "command": "echo 'dumped 12,431 rows'"},
        {"id": "send-digest", "command": "true"},
        {"id": "sync-mirror", "command": "echo synced"},
        {"id": "flaky-api", "command": "echo 'GET /health: 503' >&2; exit 3", "max_retries": 3},
        {"id": "import-csv", "command": "echo 'row 17: bad date'; exit 2", "max_retries": 0},
        {"id": "old-upload", "command": "upload-to-tape --fast", "max_retries": 0},
    ]:
        q("enqueue", json.dumps(job))
    q("enqueue", "--delay", "2h", json.dumps({"id": "nightly-report", "command": "./make-report.sh --all"}))
    q("worker", "start", "--count", "4", "--drain")
    start([BIN, "worker", "start", "--count", "2"], signal.SIGTERM, stdout=subprocess.DEVNULL)
    q("enqueue", json.dumps({"id": "video-encode", "command": "echo 'frame 1 of 900'; sleep 300"}))
    until("the worker to run video-encode", lambda: "video-encode" in json.dumps(status()["workers"]))

    dashboard = start([BIN, "dashboard", "--port", "0", "--allow-actions"], signal.SIGINT, stdout=subprocess.PIPE, text=True)
    first = dashboard.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+/", first)
    if not match:
        raise Failure(f"the dashboard did not print its address: {first!r}")
    url = match.group(0)
    print(f"dashboard at {url}")

    profile = os.path.join(ROOT, "profile")
    chrome = start([BROWSER, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                    "--no-default-browser-check", "--disable-extensions", "--disable-background-networking", "--disable-sync",
                    "--disable-component-update", "--mute-audio", "--hide-scrollbars", "--remote-debugging-port=0",
                    f"--user-data-dir={profile}", "about:blank"],
                   signal.SIGTERM, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = os.path.join(profile, "DevToolsActivePort")
    until("Chromium's DevTools port", lambda: os.path.exists(port_file) and open(port_file).read().count("\n") >= 1)
    devtools_port = int(open(port_file).read().split()[0])
    targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{devtools_port}/json/list", timeout=10))
    page = next(t for t in targets if t["type"] == "page")
    tab = DevTools(page["webSocketDebuggerUrl"])
    tab.call("Page.enable")
    tab.call("Runtime.enable")
    tab.size(1280, 900)

    print("first paint:")
    tab.open(url)
    counts = status()["jobs"]
    shown = tab.js("Object.fromEntries([...document.querySelectorAll('[data-state]')].map(e => [e.dataset.state, +e.dataset.count]))")
    check(f"the counts shown are the queue's ({counts})", shown == counts)
    for id in ["video-encode", "flaky-api", "nightly-report", "build-docs"]:
        check(f"job {id} is linked to its page", tab.js(f"!!document.querySelector('a[href=\"/jobs/{id}\"]')"))
    check("the throughput chart is drawn", tab.js("document.querySelectorAll('svg.chart rect').length") >= 1)
    until("the page to say it is live (event stream open)", lambda: tab.js("document.getElementById('conn').textContent") == "live")
    print("  ok: the page is live")

    print("live update:")
    tab.js("window.notReloaded = true")
    q("enqueue", "--delay", "30m", json.dumps({"id": "added-later", "command": "echo hello from the browser test"}))
    until("the new job to appear", lambda: tab.js("!!document.querySelector('a[href=\"/jobs/added-later\"]')"), seconds=10)
    check("the new job appeared without a reload", tab.js("window.notReloaded === true"))
    check("the pending count went up", tab.js("+document.querySelector('[data-state=pending]').dataset.count") == counts["pending"] + 1)

    print("screenshots:")
    tab.screenshot("dashboard.png", 1280)
    tab.screenshot("dashboard-narrow.png", 360, mobile=True)
    tab.call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "dark"}])
    tab.screenshot("dashboard-dark.png", 1280)
    tab.call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "light"}])
    tab.open(url + "jobs/import-csv")
    check("the job page shows its log", "row 17: bad date" in tab.js("document.querySelector('pre.log').textContent"))
    tab.screenshot("job.png", 1000)
    tab.open(url + "dlq")
    check("the DLQ groups its jobs by last error",
          tab.js("[...document.querySelectorAll('details.group code.err')].map(e => e.textContent).sort().join('|')")
          == "exit 127: command not found|exit 2")
    tab.screenshot("dlq.png", 1000)

    print("action:")
    until("the DLQ view to be live", lambda: tab.js("document.getElementById('conn').textContent") == "live")
    tab.js("document.querySelector('button[data-action=\"/api/jobs/import-csv/retry\"]').click()")
    until("the notice that the retry was sent", lambda: tab.js("document.getElementById('notice').textContent").startswith("Sent back"), seconds=10)
    # Retried, the job runs once more (and, failing again, goes back to the DLQ): its log has a second run.
    until("import-csv to run again", lambda: q("logs", "import-csv").count("=== queuectl: run") == 2)
    print("  ok: the Retry button retried import-csv")


code = 0
try:
    main()
    print("browser test passed")
except Failure as failure:
    print(f"browser test FAILED: {failure}", file=sys.stderr)
    code = 1
finally:
    # In reverse order: the browser, the dashboard (SIGINT, as Ctrl+C), then the worker (SIGTERM twice:
    # the second terminates its running job, and it exits once that job's process group is gone).
    for p, sig in reversed(started):
        try:
            if p.poll() is None:
                os.killpg(p.pid, sig)
                if p.args[1:3] == ["worker", "start"]:
                    time.sleep(0.5)
                    os.killpg(p.pid, sig)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
            os.killpg(p.pid, signal.SIGKILL)  # whatever else is left in its session's group (browser helpers)
        except ProcessLookupError:
            pass
    shutil.rmtree(ROOT, ignore_errors=True)
sys.exit(code)
PY
