#!/usr/bin/env bash
# Runs EvenTicket as separate processes on one machine: PostgreSQL, then `migrate`, then
# 1 `serve`, ORCHESTRATORS × `orchestrator` and WORKERS × `worker`. Ctrl-C (or SIGTERM) stops
# them gracefully, then PostgreSQL.
#   PORT=8080 ORCHESTRATORS=1 WORKERS=1 STATE_DIR=./.eventicket/topology deployment/local/run-topology.sh
# With METRICS_PORT=P, the processes serve GET /metrics on P, P+1, … in start order.
# EVENTICKET_BIN names a built executable; otherwise the script builds the release one.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
port=${PORT:-8080}
orchestrators=${ORCHESTRATORS:-1}
workers=${WORKERS:-1}
state=${STATE_DIR:-$root/.eventicket/topology}
metrics_port=${METRICS_PORT:-}
mkdir -p "$state/logs"

bin=${EVENTICKET_BIN:-}
if [ -z "$bin" ]; then
    (cd "$root" && swift build -c release --product eventicket >&2)
    bin="$(cd "$root" && swift build -c release --show-bin-path)/eventicket"
fi

eval "$("$here/start-postgres.sh" "$state/pg")"
export DATABASE_URL
"$bin" migrate

pids=()
start() { # name args…
    local name=$1; shift
    if [ -n "$metrics_port" ]; then
        set -- "$@" --metrics-port "$metrics_port"
        echo "$name: metrics on http://127.0.0.1:$metrics_port/metrics" >&2
        metrics_port=$((metrics_port + 1))
    fi
    "$bin" "$@" >"$state/logs/$name.log" 2>&1 &
    pids+=("$!")
    echo "started $name (pid $!): $bin $*" >&2
}

stop_all() {
    trap - INT TERM EXIT
    echo "stopping ${#pids[@]} processes" >&2
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    "$here/stop-postgres.sh" "$state/pg"
}
trap stop_all INT TERM EXIT

start serve serve --port "$port"
for i in $(seq 1 "$orchestrators"); do start "orchestrator-$i" orchestrator; done
for i in $(seq 1 "$workers"); do start "worker-$i" worker; done

echo "EvenTicket is running: http://127.0.0.1:$port  DATABASE_URL=$DATABASE_URL" >&2
echo "logs: $state/logs/   Ctrl-C stops everything." >&2
# Returns when any process exits, or when a signal arrives.
wait -n "${pids[@]}" || true
