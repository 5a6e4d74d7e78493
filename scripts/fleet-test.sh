#!/usr/bin/env bash
# The fleet test: three `tasnif serve` replicas on loopback behind nginx (grpc_pass,
# upstream keepalive, retry on the next replica when a connection fails), Classify load
# through nginx for ~30 s (examples/load.rs, every call logged), while
#   replica 1 gets SIGTERM and is restarted          (a rollout / scale-down)
#   replica 2 hot-reloads a different model (SIGHUP) (a model roll)
#   replica 3 gets SIGKILL and is restarted          (a crash / OOM kill)
# Replica 1 runs from the scratch image's file system under runc (scripts/image-check.sh
# builds it) unless FLEET_IMAGE=0. Prints, per phase (a call counts in the phase in which
# it ended): requests, errors by code, p50/p99,
# which model answered, and nginx's retries. Exits non-zero unless:
#   * no call fails outside the SIGKILL phase (SIGTERM, restart and reload lose nothing);
#   * in the SIGKILL phase, failures <= the calls nginx had in flight on replica 3 from the
#     kill until it marked replica 3 down (its first failed call there), and none among
#     calls started after that;
#   * SIGTERM makes replica 1 exit 0; after the reload replica 2 reports the new model
#     and answers through nginx carry it; every replica answered; >= 1000 calls OK.
#
#   scripts/fleet-test.sh      # TASNIF_BIN (target/debug/tasnif), LOAD_BIN
#                              # (target/debug/examples/load), FLEET_SECONDS (30),
#                              # FLEET_CONCURRENCY (32), FLEET_IMAGE (1)
#
# Needs nginx (Debian), grpcurl, python3; with FLEET_IMAGE=1 also what image-check needs.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="$(realpath "${TASNIF_BIN:-target/debug/tasnif}")"
load="$(realpath "${LOAD_BIN:-target/debug/examples/load}")"
seconds="${FLEET_SECONDS:-30}"
concurrency="${FLEET_CONCURRENCY:-32}"
use_image="${FLEET_IMAGE:-1}"
for f in "$bin" "$load"; do
  [ -x "$f" ] || { echo "fleet-test: $f is missing (cargo build --bin tasnif --example load)" >&2; exit 1; }
done
for tool in nginx grpcurl python3; do
  command -v "$tool" > /dev/null || { echo "fleet-test: $tool is required" >&2; exit 1; }
done

work="$(mktemp -d)"
chmod 0755 "$work"
declare -A pid
runc_id="tasnif-fleet-$$"
nginx_pid=""
load_pid=""
cleanup() {
  set +e
  [ -z "$load_pid" ] || kill "$load_pid" 2> /dev/null
  for i in 1 2 3; do [ -z "${pid[$i]:-}" ] || kill -KILL "${pid[$i]}" 2> /dev/null; done
  if [ "$use_image" = 1 ]; then
    runc kill "$runc_id" KILL 2> /dev/null
    runc delete --force "$runc_id" 2> /dev/null
  fi
  [ -z "$nginx_pid" ] || kill "$nginx_pid" 2> /dev/null
  wait 2> /dev/null
  if [ -n "${FLEET_KEEP:-}" ]; then echo "fleet-test: kept $work"; else rm -rf "$work"; fi
}
trap 'cleanup 2> /dev/null' EXIT
fail() {
  echo "fleet-test: FAILED: $*" >&2
  for f in "$work"/r*.log "$work/nginx/error.log"; do
    [ -f "$f" ] && { echo "--- last lines of $f" >&2; tail -n 15 "$f" >&2; }
  done
  exit 1
}
now_us() { date +%s%6N; }
mark() { echo "$(now_us) $1" >> "$work/events"; }

# Free loopback ports: gRPC and metrics of each replica, and nginx.
read -r p1 p2 p3 m1 m2 m3 pn < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(7)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
for s in socks: s.close()')
declare -A port=([1]=$p1 [2]=$p2 [3]=$p3) mport=([1]=$m1 [2]=$m2 [3]=$m3)

# Replica 2 serves a model file; the second model is the shipped one with another
# calibration temperature (what tests/reload.rs does), so it has another version.
mkdir -p "$work/r2"
cp models/tasnif.json "$work/r2/model.json"
python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
m["calibration"]["temperature"] = 0.2
json.dump(m, open(sys.argv[2], "w"))' models/tasnif.json "$work/model-b.json"
mkdir -p "$work/texts"
cp seeds/*.txt "$work/texts/"

# Replica 1 from the scratch image: image-check.sh builds, exports and checks it.
if [ "$use_image" = 1 ]; then
  TASNIF_BIN="$bin" scripts/image-check.sh --bundle "$work/image"
fi

# Behind an L7 proxy the proxy balances each call, so the server's connection age is not
# needed for balance, and it races: a GOAWAY can cross a call that nginx is just sending on
# that upstream connection, and nginx never re-sends a gRPC call once sent (its body is
# streamed, not buffered), so that call fails. nginx retires its upstream connections
# itself instead (keepalive_time below), which cannot race.
common=(--max-connection-age 0 --grace-period 10)
start() {
  local i=$1
  local args=(--addr "127.0.0.1:${port[$i]}" --metrics-addr "127.0.0.1:${mport[$i]}" "${common[@]}")
  [ "$i" != 2 ] || args+=(--model "$work/r2/model.json")
  if [ "$i" = 1 ] && [ "$use_image" = 1 ]; then
    runc delete --force "$runc_id" 2> /dev/null || true
    python3 scripts/runc-config.py "$work/image" --host-network -- "${args[@]}"
    runc run --bundle "$work/image" "$runc_id" >> "$work/r1.log" 2>&1 &
  else
    "$bin" serve "${args[@]}" >> "$work/r$i.log" 2>&1 &
  fi
  pid[$i]=$!
}
health() {
  local status
  status="$(grpcurl -plaintext -connect-timeout 1 -d '{"service": "tasnif.v1.TopicClassifier"}' \
    "127.0.0.1:$1" grpc.health.v1.Health/Check 2> /dev/null)" || return 1
  grep -q '"SERVING"' <<< "$status"
}
wait_ready() {
  local i=$1
  for _ in $(seq 1 150); do
    health "${port[$i]}" && return 0
    kill -0 "${pid[$i]}" 2> /dev/null || fail "replica $i exited before serving"
    sleep 0.1
  done
  fail "replica $i not SERVING after 15 s"
}
model_version() {
  grpcurl -plaintext "127.0.0.1:$1" tasnif.v1.TopicClassifier/GetModelInfo |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])'
}

for i in 1 2 3; do start "$i"; done
for i in 1 2 3; do wait_ready "$i"; done
version_a="$(model_version "${port[2]}")"

# nginx: its own prefix and config, in the foreground, unprivileged when we are root.
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  # One line per call: end time, duration, replicas tried, status, gRPC status.
  log_format fleet '\$msec \$request_time \$upstream_addr | \$status \$sent_trailer_grpc_status';
  upstream tasnif {
    # A replica whose connection fails is left alone for 2 s, then tried again.
    server 127.0.0.1:$p1 max_fails=1 fail_timeout=2s;
    server 127.0.0.1:$p2 max_fails=1 fail_timeout=2s;
    server 127.0.0.1:$p3 max_fails=1 fail_timeout=2s;
    # Reuse upstream HTTP/2 connections (nginx runs one call at a time on each).
    keepalive 64;
    keepalive_requests 100000;
    keepalive_timeout 60s;
    # nginx replaces each upstream connection after 10 s (production: minutes), so
    # connections are retired and re-dialled under load during the test.
    keepalive_time 10s;
  }
  server {
    listen 127.0.0.1:$pn http2;
    access_log $work/nginx/access.log fleet;
    # nginx closes a client's HTTP/2 connection (GOAWAY) after keepalive_requests calls,
    # 1000 by default; calls a client had already sent on it then fail in clients that
    # do not retry refused streams (tonic's do not: CANCELLED), so keep the connection.
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    # nginx's own errors (no replica reachable, one died mid-call) as gRPC UNAVAILABLE,
    # which clients may retry, instead of an HTML 502 that gRPC clients cannot parse.
    error_page 502 503 504 = @unavailable;
    location @unavailable {
      default_type application/grpc;
      add_header grpc-status 14 always;
      add_header grpc-message "tasnif replica unavailable (nginx)" always;
      return 204;
    }
    location / {
      grpc_pass grpc://tasnif;
      # Retry on another replica when connecting fails (refused: a replica stopped or
      # not yet restarted), times out, or the answer is not valid HTTP/2 (a GOAWAY that
      # refused the stream). A call already sent is not re-sent: nginx streams gRPC
      # request bodies without buffering them, so it cannot (even with non_idempotent);
      # such calls fail as UNAVAILABLE (error_page above) for the client to retry.
      grpc_next_upstream error timeout invalid_header;
      grpc_next_upstream_tries 3;
      grpc_connect_timeout 1s;
      # Longer than the replicas' grace period: calls finishing during a shutdown are
      # waited for, not cut.
      grpc_read_timeout 30s;
      grpc_send_timeout 30s;
    }
  }
}
EOF
nginx_cmd=(nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log")
if [ "$(id -u)" = 0 ]; then
  chown -R 65534:65534 "$work/nginx"
  nginx_cmd=(setpriv --reuid=65534 --regid=65534 --clear-groups "${nginx_cmd[@]}")
fi
"${nginx_cmd[@]}" &
nginx_pid=$!
for _ in $(seq 1 50); do
  health "$pn" && break
  kill -0 "$nginx_pid" 2> /dev/null || fail "nginx exited"
  sleep 0.1
done
health "$pn" || fail "no health answer through nginx"

echo "fleet-test: replicas on ${port[1]} ($([ "$use_image" = 1 ] && echo 'scratch image under runc' || echo 'binary')), ${port[2]}, ${port[3]}; nginx on $pn; load: c=$concurrency for ${seconds} s"
mark start
"$load" --addr "http://127.0.0.1:$pn" --texts-dir "$work/texts" --concurrency "$concurrency" \
  --connections 4 --warmup 0 --duration "$seconds" --json --calls-log "$work/calls" \
  > "$work/load.json" 2> "$work/load.err" &
load_pid=$!

sleep 4
# Replica 1: SIGTERM (health NOT_SERVING, listener closed, GOAWAY, calls in flight
# finish), exit 0; restarted on its port.
mark "SIGTERM replica 1 + restart"
if [ "$use_image" = 1 ]; then runc kill "$runc_id" TERM; else kill -TERM "${pid[1]}"; fi
code=0
wait "${pid[1]}" || code=$?
[ "$code" = 0 ] || fail "replica 1 exited $code after SIGTERM, expected 0"
start 1
wait_ready 1
sleep 2
# Replica 2: the model file replaced (rename over it), then SIGHUP.
mark "reload replica 2 (SIGHUP)"
cp "$work/model-b.json" "$work/r2/model.json.tmp"
mv "$work/r2/model.json.tmp" "$work/r2/model.json"
kill -HUP "${pid[2]}"
version_b=""
for _ in $(seq 1 100); do
  v="$(model_version "${port[2]}")"
  [ "$v" = "$version_a" ] || { version_b="$v"; break; }
  sleep 0.1
done
[ -n "$version_b" ] || fail "replica 2 still reports $version_a 10 s after SIGHUP"
mark "reloaded"
sleep 3
# Replica 3: SIGKILL (its calls in flight are cut), restarted 2 s later.
mark "SIGKILL replica 3 + restart"
kill -KILL "${pid[3]}"
wait "${pid[3]}" 2> /dev/null || true
sleep 2
start 3
wait_ready 3
sleep 2
mark "after"

wait "$load_pid" || fail "the load generator failed: $(cat "$work/load.err")"
load_pid=""
mark end
sleep 0.5   # the access log's last lines
kill "$nginx_pid"
wait "$nginx_pid" 2> /dev/null || true
nginx_pid=""

python3 - "$work" "$p3" "$version_a" "$version_b" "$concurrency" <<'EOF'
import collections, json, sys

work, p3, version_a, version_b, concurrency = sys.argv[1:]
events = []
for line in open(f"{work}/events"):
    t, name = line.rstrip("\n").split(" ", 1)
    events.append((int(t), name))
times = {name: t for t, name in events}
calls = []
for line in open(f"{work}/calls"):
    start, latency, code, version = line.split()
    calls.append((int(start), int(latency), code, version))
# Phases run from one event to the next; "reloaded" marks the end of the reload.
bounds = [(t, name) for t, name in events if name not in ("end",)]
bounds.append((times["end"] + 10**9, "end"))
rows, failed = [], []
kill_t = times["SIGKILL replica 3 + restart"]

def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(len(values) * p + 0.999999) - 1))] / 1000

for (t0, name), (t1, _) in zip(bounds, bounds[1:]):
    # A call belongs to the phase in which it ended (answered or failed): a call cut by
    # the SIGKILL counts there even if it started a moment before.
    phase = [c for c in calls if t0 <= c[0] + c[1] < t1]
    if name == "start":
        name = "steady"
    if name == "reloaded":
        name = "steady after reload"
    ok = [c[1] for c in phase if c[2] == "OK"]
    errors = collections.Counter(c[2] for c in phase if c[2] != "OK")
    versions = collections.Counter(c[3] for c in phase if c[2] == "OK")
    span = (min(t1, times["end"]) - t0) / 1e6
    rows.append((name, span, len(phase), errors, pct(ok, 0.5), pct(ok, 0.99), versions))

# nginx: replica 3's calls around the kill, and retries per phase. nginx marks replica 3
# down at its first failed call there (max_fails=1); the calls it had sent to replica 3
# and not seen answered by then -- in flight at the kill, or sent on a connection whose
# reset it had not yet read -- are the ones the kill may fail.
r3_calls, retries = [], collections.Counter()
for line in open(f"{work}/nginx/access.log"):
    left, _, right = line.partition(" | ")
    msec, req_time, upstreams = left.split(" ", 2)
    end_us = int(float(msec) * 1e6)
    start_us = end_us - int(float(req_time) * 1e6)
    status = right.split()[0]
    if f":{p3}" in upstreams:
        r3_calls.append((start_us, end_us, status, upstreams))
    if "," in upstreams:
        for (t0, name), (t1, _) in zip(bounds, bounds[1:]):
            if t0 <= end_us < t1:
                retries[name] += 1
r3_failed = [c for c in r3_calls if c[1] >= kill_t - 1000 and (c[2] != "200" or "," in c[3])]
down_t = min((c[1] for c in r3_failed), default=kill_t)
in_flight_r3 = sum(1 for c in r3_calls if c[0] <= down_t + 1000 and c[1] >= kill_t - 1000)
print()
print(f"| phase | s | requests | errors | p50 ms | p99 ms | model (OK answers) | nginx retries |")
print(f"|---|---|---|---|---|---|---|---|")
names = [name for _, name in bounds[:-1]]
for (name, span, n, errors, p50, p99, versions), raw in zip(rows, names):
    errs = ", ".join(f"{k} {v}" for k, v in sorted(errors.items())) or "0"
    vers = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
    print(f"| {name} | {span:.1f} | {n} | {errs} | {p50:.1f} | {p99:.1f} | {vers} | {retries[raw]} |")
total = len(calls)
ok_total = sum(1 for c in calls if c[2] == "OK")
print(f"\nin all: {total} calls, {ok_total} OK, {total - ok_total} failed; "
      f"calls nginx had in flight on replica 3 between its SIGKILL and nginx marking it down "
      f"{(down_t - kill_t) / 1000:.1f} ms later: {in_flight_r3}")
summary = json.loads(open(f"{work}/load.json").read())
print(f"load generator: {summary['rps']} OK/s, p50 {summary['p50_us']/1000:.1f} ms, "
      f"p99 {summary['p99_us']/1000:.1f} ms, errors {summary['errors']}")

problems = []
for (name, span, n, errors, *_), raw in zip(rows, names):
    bad = sum(errors.values())
    if raw == "SIGKILL replica 3 + restart":
        if bad > in_flight_r3:
            problems.append(f"{bad} failures after SIGKILL > {in_flight_r3} calls in flight on replica 3")
        late = [c for c in calls if c[2] != "OK" and c[0] > down_t + 5000]
        if late:
            problems.append(f"{len(late)} calls started after nginx had marked replica 3 down failed")
    elif bad:
        problems.append(f"{bad} failed calls in phase '{name}'")
if ok_total < 1000:
    problems.append(f"only {ok_total} OK calls: the test proves nothing")
after_reload = [c for c in calls if c[0] >= times["reloaded"] and c[2] == "OK"]
if not any(c[3] == version_b for c in after_reload):
    problems.append(f"no answer through nginx carries the reloaded model {version_b}")
upstreams = collections.Counter()
for line in open(f"{work}/nginx/access.log"):
    for u in line.partition(" | ")[0].split(" ", 2)[2].split(", "):
        upstreams[u.strip()] += 1
if len([u for u in upstreams if u.startswith("127.0.0.1:")]) < 3:
    problems.append(f"not every replica answered: {dict(upstreams)}")
print("answers per replica (nginx):", ", ".join(f"{k} {v}" for k, v in sorted(upstreams.items())))
if problems:
    for p in problems:
        print(f"fleet-test: FAILED: {p}", file=sys.stderr)
    sys.exit(1)
print(f"fleet-test: OK: reload {version_a} -> {version_b}; no failed call through SIGTERM and reload; "
      f"{total - ok_total} failed after SIGKILL (bound: {in_flight_r3} in flight on replica 3)")
EOF
