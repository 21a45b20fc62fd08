#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, reached only through a Unix socket in its own directory.
#   postgres.sh start DIR   makes a cluster in DIR (absent or empty), starts it, creates the database
#                           queuectl_test and prints one line: the libpq connection string for it.
#   postgres.sh stop DIR    stops that cluster and removes DIR.
# As root the server runs as the postgres user (initdb refuses root): DIR's parents must then be
# searchable by postgres. fsync and the other durability settings keep their defaults, so what the
# tests see is what a real server does.
set -euo pipefail

usage() { echo "usage: $0 start DIR | stop DIR" >&2; exit 64; }
[ "$#" -eq 2 ] || usage
command="$1"
dir="$2"
# Written first by start; stop removes only a directory that has it.
marker=.queuectl-test-cluster

# The server's programs: pg_config's bindir when it has initdb (pg_config may come from libpq-dev of
# another version), else the newest of Debian's /usr/lib/postgresql/*/bin.
bindir() {
    local candidate
    candidate="$(pg_config --bindir 2>/dev/null || true)"
    if [ -n "$candidate" ] && [ -x "$candidate/initdb" ]; then echo "$candidate"; return 0; fi
    for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$candidate/initdb" ]; then echo "$candidate"; return 0; fi
    done
    return 1
}

# Runs a command as the user that owns the cluster: postgres when we are root, else ourselves.
as_owner() {
    if [ "$(id -u)" != 0 ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u postgres -- "$@"
    else
        su postgres -s /bin/sh -c '"$0" "$@"' -- "$@"
    fi
}

# A libpq connection-string value, quoted when it holds a space, a quote or a backslash.
conninfo_value() {
    case "$1" in
        *[[:space:]\'\\]*) local v="${1//\\/\\\\}"; printf "'%s'" "${v//\'/\\\'}" ;;
        *) printf '%s' "$1" ;;
    esac
}

case "$command" in
start)
    bin="$(bindir)" || { echo "error: PostgreSQL's server programs are not installed (apt-get install postgresql)" >&2; exit 1; }
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd -P)"
    if [ -n "$(ls -A "$dir")" ]; then echo "error: $dir is not empty" >&2; exit 1; fi
    touch "$dir/$marker"
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || { echo "error: there is no postgres user to run the server as" >&2; exit 1; }
        chown postgres "$dir"
        as_owner test -x "$dir" -a -w "$dir" \
            || { echo "error: the postgres user cannot reach $dir: each of its parents must be searchable (chmod o+x)" >&2; exit 1; }
    fi
    log="$dir/server.log"
    if ! as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-locale >"$dir/initdb.log" 2>&1; then
        echo "error: initdb failed:" >&2; cat "$dir/initdb.log" >&2; exit 1
    fi
    # Reached by its socket in $dir alone: no TCP port, so clusters side by side never collide.
    socket_dir="${dir//\'/\'\'}"
    printf "listen_addresses = ''\nunix_socket_directories = '%s'\n" "$socket_dir" >>"$dir/data/postgresql.conf"
    if ! as_owner "$bin/pg_ctl" -D "$dir/data" -l "$log" -w start >/dev/null; then
        echo "error: the server did not start:" >&2; cat "$log" >&2; exit 1
    fi
    "$bin/createdb" -h "$dir" -U postgres queuectl_test
    echo "host=$(conninfo_value "$dir") dbname=queuectl_test user=postgres"
    ;;
stop)
    [ -e "$dir" ] || exit 0
    # Empty: a start that failed before it made anything.
    if [ -d "$dir" ] && [ -z "$(ls -A "$dir")" ]; then rmdir "$dir"; exit 0; fi
    [ -e "$dir/$marker" ] || { echo "error: $dir is not a cluster made by $0 start" >&2; exit 1; }
    if [ -e "$dir/data/postmaster.pid" ]; then
        bin="$(bindir)"
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    fi
    rm -rf "$dir"
    ;;
*) usage ;;
esac
