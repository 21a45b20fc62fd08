#!/usr/bin/env bash
# Builds a release binary (static Swift standard library: faster start-up, no runtime to install)
# and installs it as PREFIX/queuectl. Usage: Scripts/install.sh [PREFIX]   (default: ~/.local/bin)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-$HOME/.local/bin}"
swift build -c release --static-swift-stdlib
mkdir -p "$prefix"
install -m 755 "$(swift build -c release --static-swift-stdlib --show-bin-path)/queuectl" "$prefix/queuectl"
echo "installed $prefix/queuectl"
case ":$PATH:" in *":$prefix:"*) ;; *) echo "note: $prefix is not on your PATH" ;; esac
