#!/usr/bin/env python3
"""Builds the throughput corpus: whole articles (the seeds and the dev articles) repeated
until about TARGET_MB megabytes, in three forms of the same documents:
  OUT/docs.jsonl   {"id", "text"} per line, for `tasnif classify --jsonl`
  OUT/docs.txt     one document per line (whitespace collapsed), for `fasttext predict-prob`
  OUT/train.txt    the seed labels in fastText's format (__label__X text), to train fastText
Usage: make_corpus.py SEEDS_DIR DEV_ARTICLES_TSV OUT_DIR [TARGET_MB]"""
import glob, json, os, sys

seeds, dev_articles, out = sys.argv[1], sys.argv[2], sys.argv[3]
target = float(sys.argv[4]) if len(sys.argv) > 4 else 20.0
docs = [open(p, encoding="utf-8").read() for p in sorted(glob.glob(os.path.join(seeds, "*.txt")))]
with open(dev_articles, encoding="utf-8") as f:
    header = f.readline().rstrip("\n").split("\t")
    ti = header.index("text")
    docs += [line.rstrip("\n").split("\t")[ti].replace("\\n", "\n") for line in f if line.strip()]
os.makedirs(out, exist_ok=True)
size, n = 0, 0
with open(os.path.join(out, "docs.jsonl"), "w", encoding="utf-8") as j, open(os.path.join(out, "docs.txt"), "w", encoding="utf-8") as t:
    while size < target * 1e6:
        d = docs[n % len(docs)]
        j.write(json.dumps({"id": str(n), "text": d}, ensure_ascii=False) + "\n")
        t.write(" ".join(d.split()) + "\n")
        size += len(d.encode("utf-8"))
        n += 1
with open(os.path.join(seeds, "labels.tsv"), encoding="utf-8") as f, open(os.path.join(out, "train.txt"), "w", encoding="utf-8") as o:
    header = f.readline().rstrip("\n").split("\t")
    li, ti = header.index("label"), header.index("text")
    for line in f:
        r = line.rstrip("\n").split("\t")
        o.write(f"__label__{r[li]} {' '.join(r[ti].split())}\n")
print(f"{n} documents, {size / 1e6:.1f} MB of article text -> {out}")
