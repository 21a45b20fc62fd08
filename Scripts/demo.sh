#!/usr/bin/env bash
# Walks through the whole flow with a release build in a temporary queue home, printing each
# command and what it shows. Nothing touches ~/.queuectl.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "Building a release binary..."
bin="$(bash Scripts/build-release.sh 2>/dev/null)"
export QUEUECTL_HOME="$(mktemp -d /tmp/queuectl-demo-XXXXXX)"
worker_pid=""
trap '[ -n "$worker_pid" ] && kill "$worker_pid" 2>/dev/null; rm -rf "$QUEUECTL_HOME"' EXIT

# Each command is printed as it would be typed, every word quoted for the shell where it needs it,
# so any line can be pasted as is.
quote() {
  local word out=()
  for word in "$@"; do
    if [[ -n $word && $word != *[!A-Za-z0-9_./:=@%+,-]* ]]; then out+=("$word")
    else out+=("'${word//\'/\'\\\'\'}'"); fi
  done
  printf '%s' "${out[*]}"
}
say() { printf '\n$ %s\n' "$(quote "$@")"; }
run() { say queuectl "$@"; "$bin" "$@"; }
show_failure() { say queuectl "$@"; "$bin" "$@" || echo "(exit code $?)"; }
wait_until_idle() {
  for _ in $(seq 1 300); do
    if "$bin" status --json | grep -q '"pending": 0, "processing": 0, "completed": [0-9]*, "failed": 0'; then return; fi
    sleep 0.1
  done
}

echo "Queue home: $QUEUECTL_HOME (a temporary one; to paste the commands below elsewhere, first:)"
say export "QUEUECTL_HOME=$QUEUECTL_HOME"
run config set max-retries 2
run config set backoff-base 1.5
run config get
run enqueue '{"id":"hello","command":"echo hello from queuectl"}'
run enqueue '{"id":"slow","command":"sleep 1 && echo slept"}'
run enqueue '{"id":"flaky","command":"exit 3"}'
run enqueue '{"id":"typo","command":"ech0 oops","max_retries":1}'
printf '\n$ printf %s | queuectl enqueue -\n' "$(quote '{"id":"batch-1","command":"true"}\n{"id":"batch-2","command":"date +%%s"}\n')"
printf '{"id":"batch-1","command":"true"}\n{"id":"batch-2","command":"date +%%s"}\n' | "$bin" enqueue -
run add --id plain --env GREETING=hi -- echo '$GREETING from a plain command line'
printf '\n$ printf %s | queuectl add --from -\n' "$(quote 'sleep 0.2\necho two\n')"
printf 'sleep 0.2\necho two\n' | "$bin" add --from -
show_failure enqueue '{"id":"bad","comand":"oops"}'
run list
printf '\n$ queuectl worker start --count 2 &   # its output, as it runs:\n'
"$bin" worker start --count 2 &
worker_pid=$!
wait_until_idle
run status
run worker stop --wait
wait "$worker_pid" || true
worker_pid=""
run logs plain
run list --state dead
run logs hello
run show flaky
run dlq list
run dlq retry flaky
run list --state pending
run status --json
run stats
run enqueue --delay 10m '{"id":"nightly","command":"echo report"}'
run show nightly
run cancel nightly
say queuectl worker start --detach
worker_pid="$("$bin" worker start --detach)"
echo "$worker_pid"
run status
run worker stop --wait
worker_pid=""
say tail -n 2 "$QUEUECTL_HOME/worker.log"
tail -n 2 "$QUEUECTL_HOME/worker.log"
printf '\n$ %s\n' 'source <(queuectl completions bash)'
echo "(completes commands, options, states and job ids: queuectl show <Tab> lists $("$bin" completions --job-ids | wc -l) ids)"
printf '\n$ %s\n' 'queuectl manpage | man -l -'
"$bin" manpage | head -n 3
printf '\nThe data file, %s/data.json, is plain JSON:\n' "$QUEUECTL_HOME"
head -c 600 "$QUEUECTL_HOME/data.json"; echo "..."
