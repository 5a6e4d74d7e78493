#!/usr/bin/env bash
# Validates deploy/k8s offline: renders the kustomization (and the base with the tls
# component) with `kubectl kustomize`, then checks every rendered object with
# kubernetes-validate (PyPI; it ships the API schemas, nothing is fetched) in strict mode
# -- unknown fields are errors -- against Kubernetes 1.30.0, the oldest version the
# manifests need (preStop `sleep` on by default), and 1.34.0 (where it is GA). Without
# kubectl, each manifest file is validated as written and the tls component is skipped
# (a warning says so). Exits non-zero on any error.
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
  echo "k8s-check: warning: no kubectl: validating each file as written; the tls component is not checked" >&2
  files=(deploy/k8s/deployment.yaml deploy/k8s/service.yaml deploy/k8s/service-headless.yaml deploy/k8s/hpa.yaml deploy/k8s/pdb.yaml)
fi
kinds="$(cat "${files[@]}" | grep -c '^kind: ')"
[ "$kinds" -ge 5 ] || { echo "k8s-check: only $kinds objects rendered" >&2; exit 1; }
for v in $versions; do
  kubernetes-validate --strict --quiet -k "$v" "${files[@]}"
done
echo "k8s-check: OK: $kinds objects ($(cat "${files[@]}" | sed -n 's/^kind: //p' | sort | uniq -c | awk '{printf "%s%s %s", sep, $1, $2; sep=", "}')) valid, strict, against Kubernetes $versions"
