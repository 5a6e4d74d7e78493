#!/usr/bin/env bash
# Proves the container image's layout without pulling a base image (none can be pulled
# on the build machines): assembles a FROM-scratch image from the tasnif binary and the
# shared libraries `ldd` names -- what distroless/cc provides to the Dockerfile's runtime
# stage -- with the runtime stage's own USER, EXPOSE, ENTRYPOINT and CMD lines taken from
# the Dockerfile, builds it with `podman build`, exports its file system (`podman create`
# + `podman export`), and runs the server from that file system with runc, as the image's
# user, with the image's entrypoint and default command unchanged, read-only root, no
# capabilities, in a network namespace of its own (as a pod has). Then, from inside that
# namespace: grpc.health.v1 Check is SERVING, a real Classify through grpcurl answers the
# README's example, /metrics answers on the metrics port, the process runs as 65532, and
# SIGTERM makes it exit 0. Any failure exits non-zero.
#
#   scripts/image-check.sh                 # uses $TASNIF_BIN, else target/debug/tasnif
#   scripts/image-check.sh --bundle DIR    # also leaves the runc bundle (DIR/rootfs +
#                                          # DIR/image.json) for scripts/fleet-test.sh
#
# Needs podman, runc, ip (iproute2), grpcurl and python3; root (runc and network
# namespaces). `podman run` itself cannot be used on these machines: its runtime's
# setrlimit(RLIMIT_NOFILE/NPROC) is refused (no CAP_SYS_RESOURCE), and crun refuses the
# hybrid cgroup layout; runc with a config of our own runs.
set -euo pipefail
cd "$(dirname "$0")/.."

keep_bundle=""
if [ "${1:-}" = "--bundle" ]; then
  keep_bundle="${2:?--bundle needs a directory}"
fi
bin="${TASNIF_BIN:-target/debug/tasnif}"
[ -x "$bin" ] || { echo "image-check: no tasnif binary at $bin (cargo build first, or set TASNIF_BIN)" >&2; exit 1; }
for tool in podman runc ip grpcurl python3; do
  command -v "$tool" > /dev/null || { echo "image-check: $tool is required" >&2; exit 1; }
done

work="$(mktemp -d)"
tag="localhost/tasnif-image-check:$$"
id="tasnif-image-check-$$"
netns="tasnif-image-check-$$"
container=""
cleanup() {
  runc kill "$id" KILL 2> /dev/null || true
  runc delete --force "$id" 2> /dev/null || true
  ip netns del "$netns" 2> /dev/null || true
  [ -z "$container" ] || podman rm -f "$container" > /dev/null 2>&1 || true
  podman rmi -f "$tag" > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "image-check: FAILED: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
t_start=$(now)

# 1. The runtime stage of the Dockerfile: where the binary goes and the image config.
runtime_stage="$(awk '/^FROM /{stage=""} {stage = stage $0 "\n"} END{printf "%s", stage}' Dockerfile)"
dest="$(printf '%s' "$runtime_stage" | sed -n 's|^COPY --from=build /out/tasnif \(/[^ ]*\)$|\1|p')"
[ -n "$dest" ] || fail "the Dockerfile's last stage has no 'COPY --from=build /out/tasnif /PATH'"
config_lines="$(printf '%s' "$runtime_stage" | grep -E '^(USER|EXPOSE|ENTRYPOINT|CMD) ')"
[ "$(printf '%s\n' "$config_lines" | wc -l)" = 4 ] || fail "expected USER, EXPOSE, ENTRYPOINT and CMD in the Dockerfile's last stage"

# 2. The scratch image's file system: the binary (debug info stripped, as a release
# build has none to speak of) and every shared library ldd names, at the paths it names.
ctx="$work/context"
mkdir -p "$ctx/rootfs$(dirname "$dest")" "$ctx/rootfs/etc"
objcopy --strip-debug "$bin" "$ctx/rootfs$dest"
chmod 0755 "$ctx/rootfs$dest"
libs="$(ldd "$bin" | grep -o '/[^ ]*' | sort -u)"
[ -n "$libs" ] || fail "ldd names no libraries for $bin (a static binary needs no check of this kind)"
for lib in $libs; do
  mkdir -p "$ctx/rootfs$(dirname "$lib")"
  cp -L "$lib" "$ctx/rootfs$lib"
done
# distroless has these entries for its nonroot user; the server does not read them.
echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' > "$ctx/rootfs/etc/passwd"
echo 'nonroot:x:65532:' > "$ctx/rootfs/etc/group"
{
  echo "FROM scratch"
  echo "COPY rootfs/ /"
  printf '%s\n' "$config_lines"
} > "$ctx/Containerfile"
echo "image-check: scratch image = $(echo "$libs" | wc -w) libraries from ldd + $dest ($(du -sh "$ctx/rootfs" | cut -f1)); config from the Dockerfile:"
sed 's/^/  /' "$ctx/Containerfile"

# 3. podman build, then the image's own file system and config, as a runtime gets them.
podman build --quiet --tag "$tag" "$ctx" > /dev/null
bundle="$work/bundle"
mkdir -p "$bundle/rootfs"
container="$(podman create "$tag")"
podman export "$container" | tar -x -C "$bundle/rootfs"
podman rm "$container" > /dev/null
container=""
podman image inspect "$tag" --format '{{json .Config}}' > "$bundle/image.json"
[ -x "$bundle/rootfs$dest" ] || fail "the exported file system has no executable $dest"

# 4. A runc config from the image config: its user, entrypoint + default command, no
# capabilities, no new privileges, read-only root; network: the namespace made here.
ip netns add "$netns"
ip netns exec "$netns" ip link set lo up
python3 scripts/runc-config.py "$bundle" --netns "/var/run/netns/$netns"

t_run=$(now)
runc run --bundle "$bundle" "$id" > "$work/server.log" 2>&1 &
runner=$!
ns() { ip netns exec "$netns" "$@"; }
ready=""
for _ in $(seq 1 100); do
  status="$(ns grpcurl -plaintext -connect-timeout 1 -d '{"service": "tasnif.v1.TopicClassifier"}' \
    127.0.0.1:50051 grpc.health.v1.Health/Check 2> /dev/null)" || true
  if grep -q '"SERVING"' <<< "$status"; then
    ready=1
    break
  fi
  kill -0 "$runner" 2> /dev/null || { cat "$work/server.log" >&2; fail "the server exited before serving"; }
  sleep 0.2
done
[ -n "$ready" ] || { cat "$work/server.log" >&2; fail "health never SERVING on 0.0.0.0:50051 in the container"; }
serving_after="$(since "$t_run")"

# 5. What the image must do.
answer="$(ns grpcurl -plaintext -d '{"text": "أعلن المبعوث الأممي أن الجولة المقبلة من المفاوضات بين الحكومة والمعارضة ستعقد في جنيف الشهر المقبل."}' \
  127.0.0.1:50051 tasnif.v1.TopicClassifier/Classify)"
primary="$(printf '%s' "$answer" | python3 -c 'import json,sys; print(json.load(sys.stdin)["primary"])')"
[ "$primary" = negotiations ] || fail "Classify through the image answered primary=$primary, expected negotiations"
metrics="$(ns curl -sf http://127.0.0.1:9090/metrics)" || fail "no answer from the image's metrics port 9090"
grep -q '^tasnif_build_info' <<< "$metrics" || fail "no tasnif metrics on the image's metrics port 9090"
pid="$(runc state "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')"
uid="$(awk '/^Uid:/{print $2}' "/proc/$pid/status")"
[ "$uid" = 65532 ] || fail "the server runs as uid $uid, expected 65532 (nonroot)"
runc kill "$id" TERM
code=0
wait "$runner" || code=$?
[ "$code" = 0 ] || { cat "$work/server.log" >&2; fail "after SIGTERM the server exited $code, expected 0"; }
runc delete --force "$id" 2> /dev/null || true

echo "image-check: OK: scratch image built by podman and exported ($(du -sh "$bundle/rootfs" | cut -f1));" \
  "runc started its entrypoint as uid $uid, SERVING ${serving_after} s after start; Classify -> $primary," \
  "/metrics on 9090, SIGTERM -> exit 0; $(since "$t_start") s in all"
if [ -n "$keep_bundle" ]; then
  rm -rf "$keep_bundle"
  mkdir -p "$keep_bundle"
  cp -a "$bundle/rootfs" "$bundle/image.json" "$keep_bundle/"
fi
