#!/usr/bin/env bash
# Whole-process throughput on ~MB (20) megabytes of whole articles (the seeds and the dev
# articles, repeated), side by side in one run: `tasnif classify --jsonl`, fastText's CLI with a
# default supervised model trained on the same labels, and scikit-learn's char TF-IDF
# baseline (the peers' sk_char). The machines are shared and noisy, so tasnif and
# fastText run in ROUNDS interleaved rounds of RUNS runs each (a slow spell hits both
# alike); printed: medians over all runs, MB/s, and the ratio as the median of the
# rounds' ratios with its range. sk_char runs SK_RUNS (3) times, after the rounds.
# Needs: a release build, Debian's `fasttext` and `hyperfine`, and the peers' venv
# (../shared/peer/setup.sh run in a writable copy; PEER_DIR points at it). TASNIF_BIN
# picks the tasnif binary (default target/release/tasnif; its file name must be tasnif).
set -euo pipefail
cd "$(dirname "$0")/.."
PEER_DIR="${PEER_DIR:-/tmp/peer}"
OUT="${OUT:-/tmp/tasnif-corpus}"
ROUNDS="${ROUNDS:-10}"
RUNS="${RUNS:-5}"
MB="${MB:-20}"
SK_RUNS="${SK_RUNS:-3}"
TASNIF_BIN="${TASNIF_BIN:-target/release/tasnif}"
python3 scripts/make_corpus.py seeds eval/dev_articles.tsv "$OUT" "$MB"
fasttext supervised -input "$OUT/train.txt" -output "$OUT/ft" -verbose 0
rm -f "$OUT"/fast-*.json
for round in $(seq "$ROUNDS"); do
  hyperfine --warmup 1 --runs "$RUNS" -N --output=null --export-json "$OUT/fast-$round.json" \
    "$TASNIF_BIN classify --jsonl $OUT/docs.jsonl" \
    "fasttext predict-prob $OUT/ft.bin $OUT/docs.txt 4" > /dev/null
done
hyperfine --runs "$SK_RUNS" --output=null --export-json "$OUT/sk.json" \
  "$PEER_DIR/.venv/bin/python scripts/sk_char_classify.py $PEER_DIR seeds/labels.tsv $OUT/docs.txt"
python3 - "$OUT" "$ROUNDS" <<'EOF'
import json, os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
mb = sum(len(json.loads(l)["text"].encode()) for l in open(os.path.join(out, "docs.jsonl"), encoding="utf-8")) / 1e6
name = lambda r: r["command"].split()[0].rsplit("/", 1)[-1]
times, ratios = {}, []
for i in range(1, rounds + 1):
    round_med = {}
    for r in json.load(open(os.path.join(out, f"fast-{i}.json")))["results"]:
        times.setdefault(name(r), []).extend(r["times"])
        round_med[name(r)] = statistics.median(r["times"])
    ratios.append(round_med["fasttext"] / round_med["tasnif"])
for r in json.load(open(os.path.join(out, "sk.json")))["results"]:
    times[name(r)] = r["times"]
med = {k: statistics.median(v) for k, v in times.items()}
names = {"tasnif": "tasnif classify --jsonl", "fasttext": "fasttext predict-prob", "python": "sk_char (python)"}
print(f"\n{mb:.1f} MB of article text; medians:")
for key, label in names.items():
    print(f"  {label:26} {med[key] * 1000:9.1f} ms  {mb / med[key]:7.1f} MB/s")
print(f"  tasnif vs fastText: {statistics.median(ratios):.2f}x (median of {rounds} rounds' ratios; "
      f"range {min(ratios):.2f}-{max(ratios):.2f}x)   vs sk_char: {med['python'] / med['tasnif']:.0f}x")
EOF
/usr/bin/time -f "tasnif classify --jsonl: max RSS %M KiB" "$TASNIF_BIN" classify --jsonl "$OUT/docs.jsonl" > /dev/null
