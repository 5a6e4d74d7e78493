#!/usr/bin/env python3
"""Whole-process baseline for the throughput comparison: trains the peers' `sk_char`
(scikit-learn char TF-IDF + logistic regression) on TRAIN.tsv and prints the class
probabilities of every line of DOCS.txt (one document per line), like
`fasttext predict-prob`. Usage: sk_char_classify.py PEER_DIR TRAIN.tsv DOCS.txt"""
import sys

sys.path.insert(0, sys.argv[1])
from peers import load_tsv, make_peer  # noqa: E402

texts, labels = load_tsv(sys.argv[2])
peer = make_peer("sk_char").fit(texts, labels)
with open(sys.argv[3], encoding="utf-8") as f:
    docs = f.read().splitlines()
out = sys.stdout
for start in range(0, len(docs), 1000):
    for row in peer.predict_proba(docs[start:start + 1000]):
        out.write(" ".join(f"{p:.4f}" for p in row) + "\n")
