#!/usr/bin/env bash
# Follows the README as a new user would: `swift run eventicket dev`, then the curl calls.
# Fails unless a tok_visa order ends confirmed, a tok_declined one rejected, a request without the
# printed token is refused, the CLI's errors are as documented, and everything stops on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
metrics_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
swift run eventicket dev --port "$port" --metrics-port "$metrics_port" >"$log" 2>&1 &
pid=$!
cleanup() { kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap cleanup EXIT

for _ in $(seq 1 600); do
    grep -q "EvenTicket is running" "$log" && break
    kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "eventicket dev exited early" >&2; exit 1; }
    sleep 0.5
done
grep -q "EvenTicket is running" "$log" || { cat "$log"; echo "eventicket dev did not start" >&2; exit 1; }

base="http://127.0.0.1:$port"
event=$(grep -o 'eventId=[0-9A-Fa-f-]*' "$log" | head -1 | cut -d= -f2)
ticket=$(grep -o 'General admission: [0-9A-Fa-f-]*' "$log" | head -1 | awk '{print $3}')
token=$(grep -o 'export TOKEN=[^ ]*' "$log" | head -1 | cut -d= -f2)
auth="Authorization: Bearer $token"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

order_for() {
    curl -sf -XPOST "$base/orders" -H "$auth" -H 'Content-Type: application/json' \
        -d "{\"customerId\":\"c-1\",\"eventId\":\"$event\",\"lines\":[{\"ticketTypeId\":\"$ticket\",\"quantity\":2}],\"paymentToken\":\"$1\"}"
}

await_status() { # orderId expected
    local status=""
    for _ in $(seq 1 100); do
        status=$(curl -sf -H "$auth" "$base/orders/$1" | json '["status"]')
        [ "$status" != pending ] && break
        sleep 0.2
    done
    echo "order $1: $status"
    [ "$status" = "$2" ] || { echo "expected $2" >&2; exit 1; }
}

visa=$(order_for tok_visa)
echo "POST /orders -> $visa"
await_status "$(echo "$visa" | json '["orderId"]')" confirmed
saga=$(curl -sf -H "$auth" "$base/sagas/$(echo "$visa" | json '["sagaId"]')")
echo "saga state: $(echo "$saga" | json '["state"]'), $(echo "$saga" | json '["history"].__len__()') history entries"
[ "$(echo "$saga" | json '["state"]')" = completed ]

declined=$(order_for tok_declined)
await_status "$(echo "$declined" | json '["orderId"]')" rejected

curl -s -H "$auth" "$base/orders/not-an-id" | grep -q '"status":404'
curl -s "$base/orders/not-an-id" | grep -q '"status":401'
curl -sf "$base/health" >/dev/null

# The metrics (README, Metrics): the two sagas' ends, counted once their transactions committed
# (an order is terminal from that commit; the counter moves right after it).
for attempt in $(seq 1 50); do
    metrics=$(curl -sf "http://127.0.0.1:$metrics_port/metrics")
    missing=""
    for series in 'eventicket_orders_placed_total 2' \
                  'eventicket_sagas_ended_total{state="completed"} 1' \
                  'eventicket_sagas_ended_total{state="compensated"} 1'; do
        grep -qxF "$series" <<<"$metrics" || missing="$series"
    done
    [ -z "$missing" ] && break
    sleep 0.1
done
[ -z "$missing" ] || { echo "GET /metrics lacks: $missing" >&2; exit 1; }
echo "GET /metrics: $(grep -c '^eventicket_' <<<"$metrics") eventicket series, orders placed 2, sagas ended 1 completed, 1 compensated"
# Every metric the alerting rules use is one the processes export.
for name in $(grep -oE '\b(eventicket|http_server)_[a-z_]+' deployment/prometheus/alerts.yaml | sort -u); do
    grep -qE "^$name[{ ]" <<<"$metrics" || { echo "deployment/prometheus/alerts.yaml uses $name, which GET /metrics lacks" >&2; exit 1; }
done
echo "GET /metrics: has every metric deployment/prometheus/alerts.yaml uses"

# The CLI's errors, as the README's CLI section states them: the message and the exit code.
bin="$(swift build --show-bin-path)/eventicket"
url=$(grep -o 'PostgreSQL: postgres://[^ ]*' "$log" | head -1 | cut -d' ' -f2)
expect_failure() { # exit-code message-part command...
    local code=$1 part=$2 out status=0
    shift 2
    local command="$1 $2"
    out=$("$@" 2>&1 >/dev/null) || status=$?
    if [ "$status" != "$code" ] || ! grep -qF -- "$part" <<<"$out"; then
        echo "$*: expected exit $code and '$part', got exit $status:" >&2; echo "$out" | tail -3 >&2; exit 1
    fi
    echo "CLI: ${command##*/} ... -> exit $status: $part"
}
expect_failure 1 "cannot listen: the address is in use" "$bin" serve --port "$port" --database-url "$url"
expect_failure 1 "cannot listen: no address for host nosuchhost.invalid" "$bin" serve --host nosuchhost.invalid --port 0 --database-url "$url"
expect_failure 1 'cannot use PostgreSQL at' "$bin" dead-letters list --database-url "${url%/eventicket}/nosuchdb"
expect_failure 1 "no order or saga with id" "$bin" status 00000000-0000-0000-0000-000000000000 --database-url "$url"
expect_failure 64 "--port must be 0 to 65535" "$bin" serve --port 70000 --database-url "$url"
expect_failure 64 "is not an order or saga id" "$bin" status not-an-id --database-url "$url"
expect_failure 64 "SUBCOMMANDS:" "$bin" dead-letters
expect_failure 64 "--metrics-host needs --metrics-port" "$bin" worker --metrics-host 0.0.0.0 --database-url "$url"
expect_failure 64 "--statement-timeout must be between 0 and 86400" "$bin" audit --statement-timeout -1 --database-url "$url"
expect_failure 64 "--batch-size is for orchestrator and worker" "$bin" serve --batch-size 10 --database-url "$url"
expect_failure 64 "--metrics-port must differ from --port" "$bin" serve --port 9000 --metrics-port 9000 --database-url "$url"
EVENTICKET_MIGRATIONS_DIR="$PWD" expect_failure 1 "holds no migration" "$bin" migrate --database-url "$url"

# --statement-timeout: an operator's command does not wait on for a row another session holds.
declined_saga=$(echo "$declined" | json '["sagaId"]')
psql "$url" -qAt -c "BEGIN" -c "SELECT 1 FROM orchestrator.sagas WHERE id = '$declined_saga' FOR UPDATE" \
    -c "SELECT pg_sleep(60) /* walkthrough lock */" >/dev/null 2>&1 &
locker=$!
holding="SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60) /* walkthrough lock */%'"
for _ in $(seq 1 100); do [ "$(psql "$url" -qAt -c "$holding")" = 1 ] && break; sleep 0.1; done
[ "$(psql "$url" -qAt -c "$holding")" = 1 ] || { echo "the walk-through's lock was not taken" >&2; exit 1; }
expect_failure 1 "a statement ran longer than --statement-timeout (1 s)" "$bin" saga retry "$declined_saga" --statement-timeout 1 --database-url "$url"
psql "$url" -qAt -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60) /* walkthrough lock */%'" >/dev/null
wait "$locker" || true
expect_failure 1 "is compensated, not failed" "$bin" saga retry "$declined_saga" --statement-timeout 1 --database-url "$url"

# --log-format json: a second serve on the same database logs one JSON object per line.
jsonlog=$(mktemp)
"$bin" serve --port 0 --log-format json --database-url "$url" 2>"$jsonlog" &
serve_pid=$!
for _ in $(seq 1 100); do grep -q '"message":"running"' "$jsonlog" && break; sleep 0.2; done
kill -TERM "$serve_pid"; wait "$serve_pid" || true
python3 - "$jsonlog" <<'PY'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
assert any(r["message"] == "running" and r["level"] == "info" for r in records), records
assert all({"time", "level", "logger", "message", "source"} <= r.keys() for r in records), records
print(f"serve --log-format json: {len(records)} records, each a JSON object on a line of its own")
PY

kill -INT "$pid"
wait "$pid" || { cat "$log"; echo "eventicket dev did not stop cleanly" >&2; exit 1; }
trap - EXIT
# Its own server, found by its port: other PostgreSQL servers may run on this machine.
pgport=$(grep -o 'PostgreSQL: postgres://[^ ]*' "$log" | head -1 | sed -E 's|.*:([0-9]+)/.*|\1|')
[ -n "$pgport" ] || { cat "$log"; echo "eventicket dev did not print its PostgreSQL URL" >&2; exit 1; }
if pgrep -f "postgres -D .*eventicket-pg-.* -p $pgport( |\$)" >/dev/null; then echo "PostgreSQL left running" >&2; exit 1; fi
echo "walk-through passed"
