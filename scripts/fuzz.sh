#!/usr/bin/env bash
# Runs each cargo-fuzz target (fuzz/) for SECONDS (default 300) and prints its executions
# and coverage (libFuzzer's final `cov:` / `ft:` and stats). `--smoke` instead runs every
# target once over its committed seed corpus and fuzz/regressions (a regression check, a
# few seconds), built unoptimized (still with ASan): measured 2026-12-07, building the
# three targets took 2.5 min against 5 min with -O, and CI runs the smoke.
#
# The machine's stable toolchain builds the targets: cargo-fuzz passes -Zsanitizer=address
# and other -Z flags, which stable rustc accepts with RUSTC_BOOTSTRAP=1 (no nightly needed).
# Needs `cargo install cargo-fuzz`. New corpus entries go to target/fuzz-corpus/<target>
# (not committed); crashes to fuzz/artifacts/<target>/ — each one becomes a regression test.
#   scripts/fuzz.sh 600          # ten minutes per target
#   TARGETS="pipeline" scripts/fuzz.sh 60
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
smoke=0
if [ "${1:-}" = "--smoke" ]; then smoke=1; shift; fi
seconds="${1:-300}"
targets="${TARGETS:-pipeline model_loader request}"
command -v cargo-fuzz > /dev/null || { echo "cargo-fuzz missing: cargo install cargo-fuzz" >&2; exit 2; }
profile=(-O)
[ "$smoke" = 0 ] || profile=(--dev)
# `cargo fuzz build` takes at most one target.
for t in $targets; do cargo fuzz build "${profile[@]}" --fuzz-dir fuzz "$t" 2>&1 | tail -1; done
# Bounds that make "allocates without bound" a crash: 2 GiB RSS, 512 MiB per malloc.
common=(-rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 -print_final_stats=1)
status=0
for t in $targets; do
  seeds="fuzz/corpus/$t"
  log="target/fuzz-logs/$t.log"
  mkdir -p "target/fuzz-corpus/$t" "target/fuzz-logs" "fuzz/artifacts/$t"
  if [ "$smoke" = 1 ]; then
    dirs=("$seeds"); [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
    args=("${dirs[@]}" -- -runs=0 "${common[@]}")
  else
    args=("target/fuzz-corpus/$t" "$seeds" -- -max_total_time="$seconds" -max_len=65536 \
      -artifact_prefix="fuzz/artifacts/$t/" "${common[@]}")
  fi
  if cargo fuzz run "${profile[@]}" --fuzz-dir fuzz "$t" "${args[@]}" > "$log" 2>&1; then r=ok; else r=FAILED; status=1; fi
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  execs=$(grep -E 'stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
  rate=$(grep -E 'stat::average_exec_per_sec' "$log" | awk '{print $2}' || true)
  printf '%-13s %-6s execs=%s exec/s=%s  %s\n' "$t" "$r" "${execs:-?}" "${rate:-?}" "$last"
  [ "$r" = ok ] || grep -E 'panicked|ERROR|SUMMARY|artifact' "$log" | head -5
done
exit $status
