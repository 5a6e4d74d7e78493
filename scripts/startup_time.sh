#!/usr/bin/env bash
# Time from starting `tasnif serve` to the first health check answering SERVING
# (polling with grpcurl every 5 ms; grpcurl's own start-up is part of the figure).
#   scripts/startup_time.sh [RUNS]     # default 5; TASNIF_BIN (default target/release/tasnif)
# Gives up (exit 1, with the server's log) if a server exits or is not SERVING within 10 s.
set -euo pipefail
cd "$(dirname "$0")/.."
ADDR="${ADDR:-127.0.0.1:50071}"
bin="${TASNIF_BIN:-target/release/tasnif}"
runs="${1:-5}"
log="$(mktemp)"
pid=""
trap '[ -z "$pid" ] || kill "$pid" 2> /dev/null; rm -f "$log"' EXIT
for run in $(seq "$runs"); do
  start=$(date +%s%N)
  "$bin" serve --addr "$ADDR" > "$log" 2>&1 &
  pid=$!
  until grpcurl -plaintext -d '{"service":"tasnif.v1.TopicClassifier"}' "$ADDR" grpc.health.v1.Health/Check 2>/dev/null | grep -q SERVING; do
    if ! kill -0 "$pid" 2> /dev/null; then
      echo "startup_time: run $run: the server exited before it was SERVING" >&2; cat "$log" >&2; exit 1
    elif [ $(( $(date +%s%N) - start )) -gt 10000000000 ]; then
      echo "startup_time: run $run: not SERVING within 10 s" >&2; cat "$log" >&2; exit 1
    fi
    sleep 0.005
  done
  end=$(date +%s%N)
  echo "run $run: $(( (end - start) / 1000000 )) ms to SERVING"
  kill -TERM "$pid"; wait "$pid"; pid=""
done
