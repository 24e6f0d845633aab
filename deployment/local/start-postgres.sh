#!/usr/bin/env bash
# Starts a PostgreSQL server for the multi-process topology and prints its DATABASE_URL.
#   deployment/local/start-postgres.sh [STATE_DIR]     (default ./.eventicket/local-pg)
# stdout: one line, `export DATABASE_URL=…` (so `eval "$(…)"` works); everything else: stderr.
# Runs the server as the `postgres` user when started as root (PostgreSQL refuses root).
set -euo pipefail

state=${1:-./.eventicket/local-pg}
mkdir -p "$state"
state=$(cd "$state" && pwd)
data="$state/data"

bindir=${PG_BINDIR:-}
if [ -z "$bindir" ] && command -v pg_config >/dev/null; then bindir=$(pg_config --bindir); fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    echo "PostgreSQL server programs (initdb, pg_ctl) not found." >&2
    echo "Install PostgreSQL 15+: apt-get install postgresql (Debian/Ubuntu) or brew install postgresql@15 (macOS)," >&2
    echo "or set PG_BINDIR to the folder that holds initdb and pg_ctl." >&2
    exit 1
fi

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

chmod 755 "$state"
if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$state"; fi

if [ ! -f "$data/PG_VERSION" ]; then
    echo "initialising $data" >&2
    as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-instructions >&2
fi
if [ -f "$data/postmaster.pid" ]; then
    echo "stopping the server left running in $data" >&2
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >&2 || true
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_owner "$bindir/pg_ctl" -D "$data" -l "$state/server.log" -w -t 60 \
    -o "-p $port -k $state -c listen_addresses=127.0.0.1 -c max_connections=200" start >&2
echo "$port" >"$state/port"

if ! as_owner "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = 'eventicket'" postgres | grep -q 1; then
    as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres eventicket >&2
fi
echo "PostgreSQL is running on 127.0.0.1:$port (log: $state/server.log)" >&2
echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$port/eventicket?sslmode=disable"
