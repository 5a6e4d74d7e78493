#!/usr/bin/env bash
# Cost of metrics + TLS + bearer-token auth under load (issue 9's bar: the full server
# keeps >= 85 % of the plain server's requests per second at c=64, same run, TLS on
# loopback). In one run, interleaved over ROUNDS rounds (the order alternates, so drift
# on the shared machine falls on both alike):
#   plain  `tasnif serve` driven by examples/load over h2c,
#   full   the same with --metrics-addr, --tls-cert/--tls-key and --auth-token-file,
#          driven by examples/load over TLS with the CA and the token,
#   grpc   the plain server driven by grpc-load (h2c only, no metadata), to show that
#          examples/load and grpc-load agree on the plain figure.
# Every run: the seed articles, Classify, c=64 over 8 connections, WARMUP s then
# DURATION s measured. Prints one JSON line per run and the medians and full/plain ratio;
# exits 1 if a call failed (or none succeeded) in any run, or if the metrics endpoint did
# not count the full server's calls.
#
#   cargo build --release --examples --bin tasnif
#   scripts/bench_tls.sh [ROUNDS]
#
# GRPC_LOAD: path of ../shared/tools/grpc-load's release binary (skipped if absent).
# TASNIF_BIN / LOAD_BIN: the server and examples/load (defaults: the release builds).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-4}"
GRPC_LOAD="${GRPC_LOAD:-/tmp/grpc-load/target/release/grpc-load}"
PORT="${PORT:-50071}"
METRICS_PORT="${METRICS_PORT:-50072}"
WARMUP="${WARMUP:-2}"
DURATION="${DURATION:-8}"
TASNIF="${TASNIF_BIN:-target/release/tasnif}"
LOAD="${LOAD_BIN:-target/release/examples/load}"
for b in "$TASNIF" "$LOAD"; do
  [ -x "$b" ] || { echo "$b missing: cargo build --release --examples --bin tasnif" >&2; exit 2; }
done

tmp="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill -TERM "$server" 2> /dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/docs"
cp seeds/*.txt "$tmp/docs/"

# A CA and a server certificate for localhost / 127.0.0.1 (P-256), and a token.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=tasnif bench CA" -keyout "$tmp/ca.key" -out "$tmp/ca.pem" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  2> /dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
  -keyout "$tmp/server.key" -out "$tmp/server.csr" 2> /dev/null
printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
  "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" > "$tmp/server.ext"
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
  -CAcreateserial -days 2 -extfile "$tmp/server.ext" -out "$tmp/server.pem" 2> /dev/null
openssl rand -hex 24 > "$tmp/token.txt"

full_flags=(--metrics-addr "127.0.0.1:$METRICS_PORT" --tls-cert "$tmp/server.pem"
  --tls-key "$tmp/server.key" --auth-token-file "$tmp/token.txt")
load_flags=(--texts-dir "$tmp/docs" --concurrency 64 --connections 8
  --warmup "$WARMUP" --duration "$DURATION" --json)

run() { # name: start the server, drive it, stop it, append one JSON line to $tmp/runs
  local name="$1" flags=() driver
  case "$name" in
    full) flags=("${full_flags[@]}") ;;
  esac
  "$TASNIF" serve --addr "127.0.0.1:$PORT" "${flags[@]}" > /dev/null 2> "$tmp/serve.log" &
  server=$!
  for _ in $(seq 200); do
    (echo > "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null && break
    sleep 0.05
  done
  local cpu0 cpu1
  cpu0=$(awk '{print $14 + $15}' "/proc/$server/stat")
  case "$name" in
    plain) driver=load; "$LOAD" --addr "http://127.0.0.1:$PORT" "${load_flags[@]}" ;;
    full) driver=load; "$LOAD" --addr "https://127.0.0.1:$PORT" --ca-cert "$tmp/ca.pem" \
      --domain localhost --token-file "$tmp/token.txt" "${load_flags[@]}" ;;
    grpc) driver=grpc-load; "$GRPC_LOAD" --addr "http://127.0.0.1:$PORT" \
      --method /tasnif.v1.TopicClassifier/Classify "${load_flags[@]}" ;;
  esac 2> "$tmp/driver.err" > "$tmp/one.json" || { cat "$tmp/driver.err" >&2; exit 1; }
  cpu1=$(awk '{print $14 + $15}' "/proc/$server/stat")
  local metered=""
  if [ "$name" = full ]; then # the metrics endpoint saw the calls
    metered=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics" |
      awk '/^tasnif_requests_total\{/ && /Classify/ && /code="OK"/ {s += $2} END {print s + 0}')
  fi
  kill -TERM "$server"
  wait "$server" || true
  server=""
  python3 - "$name" "$driver" "$cpu0" "$cpu1" "$WARMUP" "$DURATION" \
    "$tmp/one.json" "$metered" >> "$tmp/runs" << 'EOF'
import json, os, sys
name, driver, c0, c1, warmup, duration, path, metered = sys.argv[1:9]
secs = float(warmup) + float(duration)
r = json.load(open(path))
row = {"name": name, "driver": driver}
row.update({k: r.get(k) for k in ("rps", "p50_us", "p99_us", "errors", "client_cpu_pct")})
# server CPU over warm-up + measurement, % of one core
row["server_cpu_pct"] = round((int(c1) - int(c0)) / os.sysconf("SC_CLK_TCK") / secs * 100, 1)
if metered:
    row["metrics_ok_total"] = int(float(metered))
print(json.dumps(row))
EOF
  tail -1 "$tmp/runs"
}

echo "nproc $(nproc); $(date -u +%FT%TZ); c=64, 8 connections, ${WARMUP}s warm-up, ${DURATION}s measured"
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then order=(plain full); else order=(full plain); fi
  for name in "${order[@]}"; do run "$name"; done
  if [ -x "$GRPC_LOAD" ]; then run grpc; fi
done

python3 - "$tmp/runs" << 'EOF'
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
col = lambda name, k: [r[k] for r in rows if r["name"] == name]
plain, full, grpc = col("plain", "rps"), col("full", "rps"), col("grpc", "rps")
ratios = [f / p for p, f in zip(plain, full)]
for name, label in (("plain", "plain (examples/load, h2c)"), ("full", "full  (examples/load, TLS+auth+metrics)"), ("grpc", "plain (grpc-load, h2c)")):
    if col(name, "rps"):
        print(f"{label:42} median {st.median(col(name, 'rps')):7.0f} ok/s, p50 {st.median(col(name, 'p50_us')):6.0f} µs, "
              f"p99 {st.median(col(name, 'p99_us')):6.0f} µs, server CPU {st.median(col(name, 'server_cpu_pct')):.0f} %, "
              f"client CPU {st.median([c for c in col(name, 'client_cpu_pct') if c is not None] or [0]):.0f} %")
# server CPU per OK call: steadier than ok/s when other work takes the machine's cores
cost = lambda name: st.median([r["server_cpu_pct"] / 100 * 1e6 / r["rps"] for r in rows if r["name"] == name and r["rps"]])
print(f"server CPU per OK call (median): plain {cost('plain'):.0f} µs, full {cost('full'):.0f} µs, "
      f"plain/full {cost('plain') / cost('full'):.3f}")
print("full/plain per round:", " ".join(f"{x:.3f}" for x in ratios), f"median {st.median(ratios):.3f}")
if grpc:
    print(f"grpc-load/examples-load on plain: median {st.median(grpc) / st.median(plain):.3f}")
failed = [r["name"] for r in rows if sum((r["errors"] or {}).values()) or not r["rps"]]
failed += [f"full (metrics counted {r['metrics_ok_total']} OK calls)" for r in rows
           if r["name"] == "full" and not r.get("metrics_ok_total")]
if failed:
    sys.exit("bench_tls: calls failed (or none succeeded) in " + ", ".join(failed))
EOF
