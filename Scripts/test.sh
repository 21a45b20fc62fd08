#!/usr/bin/env bash
# Builds everything and runs every test: unit tests and end-to-end tests against the built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
# The clock tests run a command under Debian's faketime (a clock set past year 9999). Tests install
# nothing themselves: it is installed here when missing, and under CI (CI=true) a test that finds it
# missing fails rather than being skipped.
if ! command -v faketime >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing faketime for the clock tests" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime; } >/dev/null 2>&1 \
        || echo "warning: could not install faketime; the clock test that needs it will be skipped (failed under CI)" >&2
fi
swift build --build-tests
swift test --skip-build "$@"
