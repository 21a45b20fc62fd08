#!/usr/bin/env bash
# Builds the release binary, a fully static executable (no shared library loaded at start-up: it
# starts in about half the time of one that links the C and C++ libraries; README, Performance),
# and prints its path. Every script that wants the release binary gets it from here.
set -euo pipefail
cd "$(dirname "$0")/.."
flags=(-c release -Xswiftc -static-executable)
swift build "${flags[@]}" >&2
echo "$(swift build "${flags[@]}" --show-bin-path)/queuectl"
