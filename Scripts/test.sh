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
# The end-to-end tests once more against the release binary users install, a fully static executable
# (what differs there: no dynamic loader, so every C function must be linked, not looked up). The
# clock test is left out of this pass: faketime works by preloading a library, which a static
# executable never loads; it ran against the debug binary above.
if [ "$#" -eq 0 ]; then
    release="$(bash Scripts/build-release.sh)"
    QUEUECTL_BIN="$release" swift test --skip-build --filter EndToEndTests --skip ClockTests
fi
