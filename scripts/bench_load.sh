#!/usr/bin/env bash
# Load comparison over gRPC, side by side and interleaved: the peers' Python grpcio +
# scikit-learn server (sk_char, 2 worker processes) against `tasnif serve`, both sent the
# seed articles by ../shared/tools/grpc-load at concurrency 1, 16, 64 (compare_load.sh;
# its LEVELS, WARMUP and DURATION pass through), for ROUNDS (2) rounds. Exits 1 if any
# call failed.
# Needs a release build (TASNIF_BIN, default target/release/tasnif), the peers' venv
# (PEER_DIR, a writable copy of ../shared/peer after setup.sh) and grpc-load built
# (GRPC_LOAD).
set -euo pipefail
cd "$(dirname "$0")/.."
PEER_DIR="${PEER_DIR:-/tmp/peer}"
export GRPC_LOAD="${GRPC_LOAD:-/tmp/grpc-load/target/release/grpc-load}"
OUT="${OUT:-/tmp/tasnif-load.jsonl}"
ROUNDS="${ROUNDS:-2}"
TASNIF_BIN="${TASNIF_BIN:-target/release/tasnif}"
DOCS="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill -TERM "$server" 2> /dev/null || true; fi
  rm -rf "$DOCS"
}
trap cleanup EXIT
cp seeds/*.txt "$DOCS/"
rm -f "$OUT"
for round in $(seq "$ROUNDS"); do
  "$PEER_DIR/.venv/bin/python" "$PEER_DIR/peer_server.py" --port 50099 --train seeds/labels.tsv \
    --peer sk_char --workers 2 > /tmp/peer_server.log 2>&1 &
  server=$!
  "$PEER_DIR/compare_load.sh" -n "sk_char_w2_r$round" -o "$OUT" -p "$server" http://127.0.0.1:50099 "$DOCS" > /dev/null
  kill "$server"; wait "$server" 2>/dev/null || true; server=""; sleep 2

  "$TASNIF_BIN" serve --addr 127.0.0.1:50051 > /tmp/tasnif_serve.log 2>&1 &
  server=$!
  "$PEER_DIR/compare_load.sh" -n "tasnif_r$round" -o "$OUT" -p "$server" http://127.0.0.1:50051 "$DOCS" > /dev/null
  grep VmHWM "/proc/$server/status" | sed "s/^/tasnif round $round peak RSS: /"
  kill -TERM "$server"; wait "$server" || true; server=""; sleep 1
done
"$PEER_DIR/compare_load.sh" --report "$OUT"
python3 - "$OUT" << 'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
failed = [f"{r['name']} c={r['concurrency']}" for r in rows if sum(r.get("errors", {}).values()) or not r["ok"]]
if failed:
    sys.exit("bench_load: calls failed (or none succeeded) in " + ", ".join(failed))
PY
