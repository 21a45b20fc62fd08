#!/usr/bin/env bash
# Builds the release binary (a fully static executable: nothing to install beside it, and the
# fastest start-up) and installs it with its manual page, its bash, zsh and fish completions and a
# systemd user unit for a worker, under PREFIX (default: ~/.local):
#   PREFIX/bin/queuectl
#   PREFIX/share/man/man1/queuectl.1
#   PREFIX/share/bash-completion/completions/queuectl
#   PREFIX/share/zsh/site-functions/_queuectl
#   PREFIX/share/fish/vendor_completions.d/queuectl.fish
#   PREFIX/share/systemd/user/queuectl-worker.service  (ExecStart pointing at PREFIX/bin/queuectl)
# Usage: Scripts/install.sh [PREFIX]. With QUEUECTL_BIN set, installs that binary instead of building.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-$HOME/.local}"
case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac
bin="${QUEUECTL_BIN:-$(bash Scripts/build-release.sh)}"
share="$prefix/share"
mkdir -p "$prefix/bin" "$share/man/man1" "$share/bash-completion/completions" "$share/zsh/site-functions" \
    "$share/fish/vendor_completions.d" "$share/systemd/user"
install -m 755 "$bin" "$prefix/bin/queuectl"
q="$prefix/bin/queuectl"
"$q" manpage > "$share/man/man1/queuectl.1"
"$q" completions bash > "$share/bash-completion/completions/queuectl"
"$q" completions zsh > "$share/zsh/site-functions/_queuectl"
"$q" completions fish > "$share/fish/vendor_completions.d/queuectl.fish"
sed "s|^ExecStart=%h/.local/bin/queuectl |ExecStart=$q |" Scripts/queuectl-worker.service > "$share/systemd/user/queuectl-worker.service"
chmod 644 "$share/man/man1/queuectl.1" "$share/bash-completion/completions/queuectl" "$share/zsh/site-functions/_queuectl" \
    "$share/fish/vendor_completions.d/queuectl.fish" "$share/systemd/user/queuectl-worker.service"
echo "installed $q, its manual page, completions and $share/systemd/user/queuectl-worker.service"
case ":$PATH:" in *":$prefix/bin:"*) ;; *) echo "note: $prefix/bin is not on your PATH" ;; esac
case "$share" in
    "$HOME/.local/share") ;;
    *) echo "note: systemd --user, bash-completion and man look in ~/.local/share and /usr/{local/,}share; for another PREFIX, link the files there" ;;
esac
