#!/usr/bin/env bash
# Fuzzes the running API against its own OpenAPI document with schemathesis (from PyPI):
# no 5xx, and every status, content type and body as documented.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c "import schemathesis" 2>/dev/null; then
    echo "== installing schemathesis"
    python3 -m pip install -q "schemathesis==4.32.5"
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
"$(swift build --show-bin-path)/eventicket" dev --port "$port" >"$log" 2>&1 &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do
    grep -q "EvenTicket is running" "$log" && break
    kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.5
done
token=$(grep -o 'export OPERATOR_TOKEN=[^ ]*' "$log" | head -1 | cut -d= -f2)
[ -n "$token" ] || { cat "$log"; echo "no operator token printed" >&2; exit 1; }

python3 -m schemathesis.cli run "http://127.0.0.1:$port/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --header "Authorization: Bearer $token" \
    --max-examples "${FUZZ_EXAMPLES:-40}" --seed "${FUZZ_SEED:-7}" --no-color \
    --report-dir "$(mktemp -d)"
