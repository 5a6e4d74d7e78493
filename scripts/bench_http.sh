#!/usr/bin/env bash
# JSON over HTTP beside gRPC, in one run on one server: the seed articles classified at
# c=64 over 8 connections, first through gRPC (../shared/tools/grpc-load), then as
# `POST /v1/classify` JSON (wrk, Debian package `wrk`), alternating for ROUNDS rounds of
# WARMUP s (2) of warm-up and DURATION s (6) measured each. Exits 1 if a call failed.
# Needs a release build (TASNIF_BIN, default target/release/tasnif) and GRPC_LOAD
# (grpc-load's release binary).
#   scripts/bench_http.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
GRPC_LOAD="${GRPC_LOAD:-/tmp/grpc-load/target/release/grpc-load}"
PORT="${PORT:-50065}"
WARMUP="${WARMUP:-2}"
DURATION="${DURATION:-6}"
TASNIF_BIN="${TASNIF_BIN:-target/release/tasnif}"
work="$(mktemp -d)"
trap 'kill "$server" 2> /dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/texts"
cp seeds/*.txt "$work/texts/"
# wrk sends the seed articles in turn, as JSON bodies.
python3 - "$work/texts" > "$work/bodies.lua" << 'PY'
import glob, json, sys
files = sorted(glob.glob(sys.argv[1] + "/*.txt"))
bodies = [json.dumps({"text": open(f, encoding="utf-8").read()}, ensure_ascii=False) for f in files]
print("local bodies = {" + ",".join("[==[" + b + "]==]" for b in bodies) + "}")
print("""local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/v1/classify", {["content-type"] = "application/json"}, bodies[i])
end
done = function(summary, latency, requests)
  io.write(string.format("wrk: %d requests, %d errors (non-2xx %d), p50 %.0f us, p99 %.0f us\\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout, summary.errors.status,
    latency:percentile(50), latency:percentile(99)))
end""")
PY
"$TASNIF_BIN" serve --addr "127.0.0.1:$PORT" > "$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null && break; sleep 0.05; done
for r in $(seq "$rounds"); do
  "$GRPC_LOAD" --addr "http://127.0.0.1:$PORT" --method /tasnif.v1.TopicClassifier/Classify \
    --texts-dir "$work/texts" --concurrency 64 --connections 8 --threads 1 --warmup "$WARMUP" \
    --duration "$DURATION" --json 2> /dev/null |
    python3 -c "
import json, sys
r = json.load(sys.stdin)
print(f'round $r grpc: {r[\"rps\"]:.0f} rps, p50 {r[\"p50_us\"]} us, p99 {r[\"p99_us\"]} us, errors {r[\"errors\"]}')
sys.exit(1 if sum(r['errors'].values()) or not r['ok'] else 0)"
  wrk -t 1 -c 64 -d "${WARMUP}s" -s "$work/bodies.lua" "http://127.0.0.1:$PORT" > /dev/null
  wrk -t 1 -c 64 -d "${DURATION}s" -s "$work/bodies.lua" "http://127.0.0.1:$PORT" |
    awk -v r="$r" '/Requests\/sec/ {rps=$2} /^wrk:/ {line=$0; failed=$4; ok=$2 - $4}
      END {print "round " r " json: " rps " rps; " line; exit (line == "" || failed > 0 || ok <= 0)}'
done
