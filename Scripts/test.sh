#!/usr/bin/env bash
# Builds everything and runs every test: unit tests and end-to-end tests against the built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
swift test --skip-build "$@"
