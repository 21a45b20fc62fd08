#!/usr/bin/env bash
# Builds everything and runs every test: unit tests and end-to-end tests against the built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
# The clock tests run a command under Debian's faketime (a clock set past year 9999). Tests install
# nothing themselves: it is installed here when missing, and under CI (CI=true) a test that finds it
# missing fails rather than being skipped.
# The shell-integration tests load the completion scripts in zsh and fish and render the manual
# page with groff and man, installed the same way. So are PostgreSQL's server and libpq for the
# PostgreSQL client's tests, which run against a throwaway cluster started below.
missing=()
command -v faketime >/dev/null 2>&1 || missing+=(faketime)
command -v zsh >/dev/null 2>&1 || missing+=(zsh)
command -v fish >/dev/null 2>&1 || missing+=(fish)
command -v groff >/dev/null 2>&1 || missing+=(groff-base)
command -v man >/dev/null 2>&1 || missing+=(man-db)
# (grep reads all of ldconfig's list: with -q it stops at the match, and ldconfig's SIGPIPE then
# fails the pipeline under pipefail, now and then.)
has_libpq() { { ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null | grep 'libpq\.so\.5 ' >/dev/null; }
has_postgres_server() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -x "$(pg_config --bindir 2>/dev/null)/initdb" ]; }
has_postgres_server || missing+=(postgresql)
has_libpq || missing+=(libpq5)
if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing ${missing[*]} for the clock, shell-integration and PostgreSQL tests" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null 2>&1 \
        || echo "warning: could not install ${missing[*]}; the tests that need them will be skipped (failed under CI)" >&2
fi
# The dashboard's real-browser test (Scripts/browser-test.sh) needs Debian's chromium, installed here
# the same way; under CI a missing browser fails the run, elsewhere the test is skipped with a note.
if [ "$#" -eq 0 ] && ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing chromium for the dashboard's browser test" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
        || echo "warning: could not install chromium; the browser test will be skipped (failed under CI)" >&2
fi
# The PostgreSQL client's tests (Tests/PostgresStoreTests) reach the cluster through
# QUEUECTL_TEST_POSTGRES, set for every run below; the cluster is stopped and removed on any exit.
# Under CI a server that cannot be had fails the run; elsewhere those tests are skipped with a note.
postgres_dir="$(mktemp -d)"
chmod 755 "$postgres_dir"  # the server runs as postgres when we are root
trap 'bash Scripts/postgres.sh stop "$postgres_dir" >/dev/null || echo "warning: the test cluster in $postgres_dir was not stopped" >&2' EXIT
trap 'exit 130' INT TERM HUP
if has_libpq && conninfo="$(bash Scripts/postgres.sh start "$postgres_dir")"; then
    export QUEUECTL_TEST_POSTGRES="$conninfo"
elif [ "${CI:-}" = true ]; then
    echo "error: PostgreSQL (apt-get install postgresql libpq5) is needed for the PostgreSQL tests; under CI that is a failure" >&2
    exit 1
else
    echo "note: no PostgreSQL test cluster (apt-get install postgresql libpq5); the PostgreSQL tests are skipped" >&2
fi
swift build --build-tests
swift test --skip-build "$@"
# The end-to-end tests once more against the release binary users install, a fully static executable
# (what differs there: no dynamic loader, so every C function must be linked, not looked up). The
# clock test is left out of this pass: faketime works by preloading a library, which a static
# executable never loads; it ran against the debug binary above.
if [ "$#" -eq 0 ]; then
    release="$(bash Scripts/build-release.sh)"
    QUEUECTL_BIN="$release" swift test --skip-build --filter EndToEndTests --skip ClockTests
    # The dashboard in headless Chromium, against the release binary; screenshots go to .build/browser-test.
    code=0
    QUEUECTL_BIN="$release" bash Scripts/browser-test.sh || code=$?
    if [ "$code" -eq 2 ]; then
        if [ "${CI:-}" = true ]; then
            echo "error: chromium is missing, so the dashboard's browser test cannot run; under CI that is a failure" >&2
            exit 1
        fi
        echo "note: chromium is not installed; the dashboard's browser test was skipped (apt-get install chromium)" >&2
    elif [ "$code" -ne 0 ]; then
        exit "$code"
    fi
    # And once more on the PostgreSQL store, in a schema of its own on the test cluster.
    if [ "$code" -eq 0 ] && [ -n "${QUEUECTL_TEST_POSTGRES:-}" ]; then
        psql "$QUEUECTL_TEST_POSTGRES" -qc "CREATE SCHEMA browser_test"
        QUEUECTL_BIN="$release" QUEUECTL_STORE="$QUEUECTL_TEST_POSTGRES options=-csearch_path=browser_test" \
            bash Scripts/browser-test.sh .build/browser-test-postgres
    fi
fi
