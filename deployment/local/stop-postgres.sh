#!/usr/bin/env bash
# Stops the server that start-postgres.sh started.  deployment/local/stop-postgres.sh [STATE_DIR]
set -euo pipefail

state=${1:-./.eventicket/local-pg}
data="$state/data"
bindir=${PG_BINDIR:-$(pg_config --bindir)}
[ -f "$data/postmaster.pid" ] || { echo "no server running in $data" >&2; exit 0; }
if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$bindir/pg_ctl" -D "$data" -m fast -w stop >&2
else
    "$bindir/pg_ctl" -D "$data" -m fast -w stop >&2
fi
