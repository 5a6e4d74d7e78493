#!/usr/bin/env bash
# What deploy/k8s/deployment.yaml's resources are sized from: one `tasnif serve` (the
# flags of the Deployment that matter here: --workers 2, --memory-budget 128 MiB), idle,
# then under closed-loop Classify load from examples/load.rs (seed articles, c = 64 over
# 8 connections) for SECONDS; resident memory (VmRSS of /proc/PID/status) sampled every
# 0.2 s, and the server's CPU time (utime + stime of /proc/PID/stat) over the load.
#
#   scripts/measure-resources.sh [SECONDS]    # TASNIF_BIN, LOAD_BIN as in fleet-test.sh
#
# Prints one line per figure. Load generator and server share the machine's cores, so
# "cores used" is what the server got, not what it could use alone.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
bin="${TASNIF_BIN:-target/debug/tasnif}"
load="${LOAD_BIN:-target/debug/examples/load}"
work="$(mktemp -d)"
server=""
trap '[ -z "$server" ] || kill "$server" 2> /dev/null; rm -rf "$work"' EXIT
mkdir "$work/texts"
cp seeds/*.txt "$work/texts/"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$bin" serve --addr "127.0.0.1:$port" --workers 2 --memory-budget 134217728 > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do grep -q 'listening on' "$work/server.log" && break; sleep 0.1; done
grep -q 'listening on' "$work/server.log" || { cat "$work/server.log" >&2; exit 1; }
rss() { awk '/^VmRSS:/{print $2}' "/proc/$server/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
sleep 1
idle_kib="$(rss)"
ticks0="$(cpu_ticks)"
t0="$(date +%s.%N)"
"$load" --addr "http://127.0.0.1:$port" --texts-dir "$work/texts" --concurrency 64 \
  --connections 8 --warmup 0 --duration "$seconds" --json > "$work/load.json" 2> /dev/null &
loader=$!
peak=0
samples=()
while kill -0 "$loader" 2> /dev/null; do
  r="$(rss)"
  samples+=("$r")
  [ "$r" -le "$peak" ] || peak="$r"
  sleep 0.2
done
wait "$loader"
ticks1="$(cpu_ticks)"
t1="$(date +%s.%N)"
sleep 2
after_kib="$(rss)"
python3 - "$idle_kib" "$peak" "$after_kib" "$ticks0" "$ticks1" "$t0" "$t1" "$(getconf CLK_TCK)" "$work/load.json" "${samples[@]}" <<'EOF'
import json, statistics, sys
idle, peak, after, k0, k1, t0, t1, hz, load = sys.argv[1:10]
samples = [int(x) / 1024 for x in sys.argv[10:]]
cpu = (int(k1) - int(k0)) / int(hz)
wall = float(t1) - float(t0)
report = json.load(open(load))
ok = report["ok"]
print(f"idle RSS {int(idle) / 1024:.1f} MiB")
print(f"under load RSS median {statistics.median(samples):.1f} MiB, peak {int(peak) / 1024:.1f} MiB "
      f"({len(samples)} samples)")
print(f"RSS 2 s after the load {int(after) / 1024:.1f} MiB")
print(f"server CPU {cpu:.1f} s over {wall:.1f} s = {cpu / wall:.2f} cores; {ok} OK calls "
      f"({report['rps']} OK/s, p50 {report['p50_us'] / 1000:.1f} ms, p99 {report['p99_us'] / 1000:.1f} ms, "
      f"errors {report['errors']}); {cpu / max(ok, 1) * 1e6:.0f} µs of server CPU per call")
if not ok or report["errors"]:
    sys.exit(f"measure-resources: {ok} OK calls, errors {report['errors']}: the figures above measure a failing server")
EOF
