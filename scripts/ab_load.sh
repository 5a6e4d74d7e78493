#!/usr/bin/env bash
# A/B throughput of two tasnif binaries over gRPC, interleaved so that the shared machine's
# noise falls on both alike: for each round, binary A then binary B is started with the
# same flags, driven by grpc-load (the seed articles, Classify, c=64 over 8 connections,
# DURATION s (6) after WARMUP s (2) of warm-up) and stopped. Prints one JSON line per run
# and the median B/A ratio of the rounds' requests per second. Exits 1 if a call failed
# (or none succeeded) in any run: such a run measures nothing.
#
#   scripts/ab_load.sh OLD_BINARY NEW_BINARY [ROUNDS] [-- extra serve flags]
#
# GRPC_LOAD: path of ../shared/tools/grpc-load's release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
a="$1"
b="$2"
rounds="${3:-4}"
shift $(( $# >= 3 ? 3 : $# ))
[ "${1:-}" = "--" ] && shift
extra=("$@")
GRPC_LOAD="${GRPC_LOAD:-/tmp/grpc-load/target/release/grpc-load}"
PORT="${PORT:-50061}"
WARMUP="${WARMUP:-2}"
DURATION="${DURATION:-6}"
docs="$(mktemp -d)"
cp seeds/*.txt "$docs/"
out="$(mktemp)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2> /dev/null || true; fi
  rm -rf "$docs" "$out" "$out.one"
}
trap cleanup EXIT

run() { # name binary
  "$2" serve --addr "127.0.0.1:$PORT" "${extra[@]}" > /dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    (echo > "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null && break
    sleep 0.05
  done
  local cpu0
  cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  "$GRPC_LOAD" --addr "http://127.0.0.1:$PORT" --method /tasnif.v1.TopicClassifier/Classify \
    --texts-dir "$docs" --concurrency 64 --connections 8 --warmup "$WARMUP" --duration "$DURATION" \
    --json 2> /dev/null > "$out.one"
  local cpu1
  cpu1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
  python3 - "$1" "$cpu0" "$cpu1" "$out.one" "$WARMUP" "$DURATION" >> "$out" << 'EOF'
import json, os, sys
name, c0, c1, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
secs = float(sys.argv[5]) + float(sys.argv[6])
r = json.load(open(path))
r["name"] = name
# server CPU over warm-up + measurement, % of one core
r["server_cpu_pct"] = round((c1 - c0) / os.sysconf("SC_CLK_TCK") / secs * 100, 1)
print(json.dumps({k: r[k] for k in ("name", "rps", "p50_us", "p99_us", "errors", "server_cpu_pct")}))
EOF
  tail -1 "$out"
}

for r in $(seq "$rounds"); do
  run "A_r$r" "$a" "$@"
  run "B_r$r" "$b" "$@"
done
python3 - "$out" << 'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
failed = [r["name"] for r in rows if sum(r["errors"].values()) or not r["rps"]]
if failed:
    sys.exit("ab_load: calls failed (or none succeeded) in " + ", ".join(failed))
a = [r["rps"] for r in rows if r["name"].startswith("A_")]
b = [r["rps"] for r in rows if r["name"].startswith("B_")]
ratios = [y / x for x, y in zip(a, b)]
print(f"A median {statistics.median(a):.0f} rps, B median {statistics.median(b):.0f} rps")
print("B/A per round:", " ".join(f"{x:.3f}" for x in ratios), f"median {statistics.median(ratios):.3f}")
EOF
