#!/usr/bin/env bash
# Whole-process throughput on ~20 MB of whole articles (the seeds and the dev articles,
# repeated), side by side in one run: `tasnif classify --jsonl`, fastText's CLI with a
# default supervised model trained on the same labels, and scikit-learn's char TF-IDF
# baseline (the peers' sk_char).
# Needs: a release build, Debian's `fasttext` and `hyperfine`, and the peers' venv
# (../shared/peer/setup.sh run in a writable copy; PEER_DIR points at it).
set -euo pipefail
cd "$(dirname "$0")/.."
PEER_DIR="${PEER_DIR:-/tmp/peer}"
OUT="${OUT:-/tmp/tasnif-corpus}"
python3 scripts/make_corpus.py seeds ../shared/eval/dev_articles.tsv "$OUT" 20
fasttext supervised -input "$OUT/train.txt" -output "$OUT/ft" -verbose 0
hyperfine --warmup 2 --runs 15 -N --output=null \
  "target/release/tasnif classify --jsonl $OUT/docs.jsonl" \
  "fasttext predict-prob $OUT/ft.bin $OUT/docs.txt 4"
hyperfine --runs 1 --output=null \
  "$PEER_DIR/.venv/bin/python scripts/sk_char_classify.py $PEER_DIR seeds/labels.tsv $OUT/docs.txt"
/usr/bin/time -f "tasnif classify --jsonl: max RSS %M KiB" target/release/tasnif classify --jsonl "$OUT/docs.jsonl" > /dev/null
