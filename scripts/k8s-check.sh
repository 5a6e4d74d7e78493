#!/usr/bin/env bash
# Validates deploy/k8s offline: renders the kustomization (and the base with the tls
# component) with `kubectl kustomize`, then checks every rendered object with
# kubernetes-validate (PyPI; it ships the API schemas, nothing is fetched) in strict mode
# -- unknown fields are errors -- against Kubernetes 1.30.0, the oldest version the
# manifests need (preStop `sleep` on by default), and 1.34.0 (where it is GA). It also
# runs the README's `kubectl create secret` commands (client-side dry run) and checks that
# the manifests mount what they make where the server reads it. Without kubectl, each
# manifest file is validated as written and the tls component and the secrets are
# skipped (a warning says so). Exits non-zero on any error.
set -euo pipefail
cd "$(dirname "$0")/.."
versions="${K8S_VERSIONS:-1.30.0 1.34.0}"
command -v kubernetes-validate > /dev/null || { echo "k8s-check: kubernetes-validate is required (pip install kubernetes-validate)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if command -v kubectl > /dev/null; then
  kubectl kustomize deploy/k8s > "$work/base.yaml"
  # An overlay with the tls component; kustomize wants relative paths.
  mkdir -p "$work/tls-overlay"
  rel="$(realpath --relative-to="$work/tls-overlay" deploy/k8s)"
  printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [%s]\ncomponents: [%s/tls]\n' \
    "$rel" "$rel" > "$work/tls-overlay/kustomization.yaml"
  kubectl kustomize "$work/tls-overlay" > "$work/with-tls.yaml"
  files=("$work/base.yaml" "$work/with-tls.yaml")
  grep -q -- '--tls-cert=/etc/tasnif/tls/tls.crt' "$work/with-tls.yaml" || { echo "k8s-check: the tls component did not apply" >&2; exit 1; }
else
  echo "k8s-check: warning: no kubectl: validating each file as written; the tls component and the README's secret commands are not checked" >&2
  files=(deploy/k8s/deployment.yaml deploy/k8s/service.yaml deploy/k8s/service-headless.yaml deploy/k8s/hpa.yaml deploy/k8s/pdb.yaml)
fi

# The README's `kubectl create secret` lines, run as written from a directory holding the
# files they name (a token list, a throw-away certificate), as a client-side dry run (no
# cluster here), then validated with the rest and checked against the rendered manifests:
# a volume takes the secret by its name, and for each of its keys the server is told to
# read the file where that volume is mounted. `kubectl apply -k` itself needs a cluster;
# `kubectl kustomize` above renders what it would apply.
secrets=0
if command -v kubectl > /dev/null; then
  mkdir -p "$work/secrets"
  printf 'a-token\n' > "$work/secrets/tokens.txt"
  openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=tasnif -days 1 \
    -keyout "$work/secrets/server.key" -out "$work/secrets/server.pem" 2> /dev/null
  while IFS= read -r line; do
    secrets=$((secrets + 1))
    out="$work/secret-$secrets.yaml"
    (cd "$work/secrets" && eval "${line%%#*} --dry-run=client -o yaml") > "$out" \
      || { echo "k8s-check: the README's \`$line\` failed" >&2; exit 1; }
    python3 - "$out" "$work/with-tls.yaml" "$line" <<'PY'
import sys, yaml
secret = yaml.safe_load(open(sys.argv[1]))
objects = [o for o in yaml.safe_load_all(open(sys.argv[2])) if o]
pod = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
container = pod["containers"][0]
name = secret["metadata"]["name"]
volumes = [v["name"] for v in pod.get("volumes", []) if v.get("secret", {}).get("secretName") == name]
if not volumes:
    sys.exit(f"k8s-check: no volume takes the secret {name!r} that `{sys.argv[3]}` makes")
mount = next((m["mountPath"] for m in container.get("volumeMounts", []) if m["name"] == volumes[0]), None)
if mount is None:
    sys.exit(f"k8s-check: the volume {volumes[0]!r} of secret {name!r} is not mounted")
args = container.get("args", [])
for key in secret.get("data", {}):
    if not any(a.endswith("=" + mount.rstrip("/") + "/" + key) for a in args):
        sys.exit(f"k8s-check: no argument reads {mount}/{key}, the key {key!r} of secret {name!r}")
PY
    files+=("$out")
  done < <(grep '^kubectl create secret' README.md)
  [ "$secrets" -ge 2 ] || { echo "k8s-check: expected the README's two secret commands, found $secrets" >&2; exit 1; }
fi
kinds="$(cat "${files[@]}" | grep -c '^kind: ')"
[ "$kinds" -ge 5 ] || { echo "k8s-check: only $kinds objects rendered" >&2; exit 1; }
for v in $versions; do
  kubernetes-validate --strict --quiet -k "$v" "${files[@]}"
done
echo "k8s-check: OK: $kinds objects ($(cat "${files[@]}" | sed -n 's/^kind: //p' | sort | uniq -c | awk '{printf "%s%s %s", sep, $1, $2; sep=", "}')) valid, strict, against Kubernetes $versions"
