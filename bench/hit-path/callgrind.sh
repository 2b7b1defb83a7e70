#!/usr/bin/env bash
# Instructions per hot response-cache hit, counted by callgrind (not seconds, so another process
# on the machine does not move it). Usage: bench/hit-path/callgrind.sh <plans-api binary> [port]
# Prints one line: "<instructions per hit> <binary>". Compare two builds by running it on each;
# KEEP=<file> keeps the profile for callgrind_annotate.
set -euo pipefail
bin=$(realpath "$1"); port=${2:-18391}; hits=${HITS:-2000}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d); trap 'kill $server 2>/dev/null || true; rm -rf "$dir"' EXIT
export RUST_LOG="${RUST_LOG:-warn}"  # the quiet configuration, as loadbench runs; set RUST_LOG to compare others
export DATABASE_URL="sqlite://$dir/plans.db?mode=rwc" BIND_ADDR="127.0.0.1:$port"
"$bin" seed-demo >/dev/null 2>&1
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$dir/cg.out" \
  "$bin" serve >"$dir/server.log" 2>"$dir/valgrind.log" &
server=$!
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/health/live" >/dev/null && break; sleep 0.2; done
body='{"query":"query Hotspot($userId: Int!) { plans(userId: $userId, connectionType: HOTSPOT) { id userId name connectionType priceCents durationMinutes createdAt } }","variables":{"userId":1}}'
python3 "$here/hits.py" 127.0.0.1 "$port" /graphql "$body" 200 >/dev/null
callgrind_control -i on "$server" >/dev/null 2>&1
python3 "$here/hits.py" 127.0.0.1 "$port" /graphql "$body" "$hits" >/dev/null
callgrind_control -d "$server" >/dev/null 2>&1
[[ -n "${KEEP:-}" ]] && cp "$dir"/cg.out.1 "$KEEP"   # for callgrind_annotate
total=$(awk '/^summary:|^totals:/ {print $2; exit}' "$dir"/cg.out.*)
echo "$((total / hits)) $bin"
