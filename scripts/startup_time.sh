#!/usr/bin/env bash
# Time from starting `tasnif serve` to the first health check answering SERVING
# (polling with grpcurl every 5 ms; grpcurl's own start-up is part of the figure).
set -euo pipefail
cd "$(dirname "$0")/.."
ADDR="${ADDR:-127.0.0.1:50071}"
for run in 1 2 3 4 5; do
  start=$(date +%s%N)
  target/release/tasnif serve --addr "$ADDR" > /dev/null 2>&1 &
  pid=$!
  until grpcurl -plaintext -d '{"service":"tasnif.v1.TopicClassifier"}' "$ADDR" grpc.health.v1.Health/Check 2>/dev/null | grep -q SERVING; do
    sleep 0.005
  done
  end=$(date +%s%N)
  echo "run $run: $(( (end - start) / 1000000 )) ms to SERVING"
  kill -TERM "$pid"; wait "$pid"
done
