#!/usr/bin/env bash
# Load comparison over gRPC, side by side and interleaved: the peers' Python grpcio +
# scikit-learn server (sk_char, 2 worker processes) against `tasnif serve`, both sent the
# seed articles by ../shared/tools/grpc-load at concurrency 1, 16, 64 (compare_load.sh).
# Needs a release build, the peers' venv (PEER_DIR, a writable copy of ../shared/peer
# after setup.sh) and grpc-load built (GRPC_LOAD).
set -euo pipefail
cd "$(dirname "$0")/.."
PEER_DIR="${PEER_DIR:-/tmp/peer}"
export GRPC_LOAD="${GRPC_LOAD:-/tmp/grpc-load/target/release/grpc-load}"
OUT="${OUT:-/tmp/tasnif-load.jsonl}"
ROUNDS="${ROUNDS:-2}"
DOCS="$(mktemp -d)"
cp seeds/*.txt "$DOCS/"
rm -f "$OUT"
for round in $(seq "$ROUNDS"); do
  "$PEER_DIR/.venv/bin/python" "$PEER_DIR/peer_server.py" --port 50099 --train seeds/labels.tsv \
    --peer sk_char --workers 2 > /tmp/peer_server.log 2>&1 &
  peer=$!
  "$PEER_DIR/compare_load.sh" -n "sk_char_w2_r$round" -o "$OUT" -p "$peer" http://127.0.0.1:50099 "$DOCS" > /dev/null
  kill "$peer"; wait "$peer" 2>/dev/null || true; sleep 2

  target/release/tasnif serve --addr 127.0.0.1:50051 > /tmp/tasnif_serve.log 2>&1 &
  tasnif=$!
  "$PEER_DIR/compare_load.sh" -n "tasnif_r$round" -o "$OUT" -p "$tasnif" http://127.0.0.1:50051 "$DOCS" > /dev/null
  grep VmHWM "/proc/$tasnif/status" | sed "s/^/tasnif round $round peak RSS: /"
  kill -TERM "$tasnif"; wait "$tasnif" || true; sleep 1
done
"$PEER_DIR/compare_load.sh" --report "$OUT"
