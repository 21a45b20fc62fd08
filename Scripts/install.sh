#!/usr/bin/env bash
# Builds the release binary (a fully static executable: nothing to install beside it, and the
# fastest start-up) and installs it as PREFIX/queuectl. Usage: Scripts/install.sh [PREFIX]
# (default: ~/.local/bin)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-$HOME/.local/bin}"
bin="$(bash Scripts/build-release.sh)"
mkdir -p "$prefix"
install -m 755 "$bin" "$prefix/queuectl"
echo "installed $prefix/queuectl"
case ":$PATH:" in *":$prefix:"*) ;; *) echo "note: $prefix is not on your PATH" ;; esac
