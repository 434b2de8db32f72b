#!/usr/bin/env python3
"""Builds the fine-tuning benchmark datasets from ../shared/data (read at run time, never committed).

  roco/        train.jsonl + dev.jsonl (90% / 10% of the validation split), test.jsonl (test split):
               radiology captions -> the top-N CUIs of the validation split
  medmentions/ dev.conll, test.conll (full-corpus semantic types) and st21pv_map.tsv (type -> ST21pv type)
  mlm/         train.txt: medical text from training splits only (MedMentions dev, ROCO validation captions,
               IU X-ray reports, MTSamples); test.txt: 2,000 MedMentions test sentences

(The relevance data, run (c), is built by relevance_data.py.)

Usage: prepare_data.py SHARED_DATA_DIR OUT_DIR [--roco-labels N]
Standard library only.
"""
import argparse
import collections
import csv
import gzip
import io
import json
import os
import random
import re

# The 21 semantic types of MedMentions ST21pv (st21pv_ReadMe.md).
ST21PV = ["T005", "T007", "T017", "T022", "T031", "T033", "T037", "T038", "T058", "T062", "T074", "T082", "T091",
          "T092", "T097", "T098", "T103", "T168", "T170", "T201", "T204"]


def open_text(path):
    return io.TextIOWrapper(gzip.open(path), encoding="utf-8") if path.endswith(".gz") else open(path, encoding="utf-8")


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def roco(data, out, n_labels, rng):
    rows = list(csv.DictReader(open_text(os.path.join(data, "roco/roco_val_test_captions_cuis.tsv.gz")),
                               delimiter="\t", quoting=csv.QUOTE_NONE))
    train = [r for r in rows if r["split"] == "validation" and r["category"] == "radiology"]
    test = [r for r in rows if r["split"] == "test" and r["category"] == "radiology"]
    counts = collections.Counter(c for r in train for c in set(r["cuis"].split()))
    labels = [c for c, _ in counts.most_common(n_labels)]
    keep = set(labels)
    os.makedirs(out, exist_ok=True)
    order = list(range(len(train)))
    rng.shuffle(order)
    dev_ids = set(order[:len(train) // 10])
    dev = [r for i, r in enumerate(train) if i in dev_ids]
    train = [r for i, r in enumerate(train) if i not in dev_ids]
    for name, part in (("train", train), ("dev", dev), ("test", test)):
        write_jsonl(os.path.join(out, name + ".jsonl"),
                    ({"id": r["roco_id"], "text": r["caption"],
                      "labels": sorted(set(r["cuis"].split()) & keep)} for r in part))
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("\n".join(labels) + "\n")
    print(f"roco: {len(train)} train, {len(dev)} dev, {len(test)} test captions, top {len(labels)} CUIs "
          f"(least frequent kept: {counts[labels[-1]]} train captions)")


def st21pv_map(data):
    """Every semantic type -> its nearest ancestor (or itself) among the 21 ST21pv types, else O."""
    stack, mapping = [], {}
    for line in open(os.path.join(data, "medmentions/umls_semantic_type_tree.tsv"), encoding="utf-8"):
        name, tui, depth = line.rstrip("\n").split("\t")
        depth = int(depth)
        stack = stack[:depth] + [tui]
        target = next((t for t in reversed(stack) if t in ST21PV), "O")
        mapping[tui] = target
    return mapping


def medmentions(data, out):
    os.makedirs(out, exist_ok=True)
    for split in ("dev", "test"):
        with open_text(os.path.join(data, f"medmentions/medmentions_full_semtype_bio.{split}.conll.gz")) as src, \
                open(os.path.join(out, split + ".conll"), "w", encoding="utf-8") as dst:
            dst.write(src.read())
    mapping = st21pv_map(data)
    with open(os.path.join(out, "st21pv_map.tsv"), "w") as f:
        for tui, target in sorted(mapping.items()):
            f.write(f"{tui}\t{target}\n")
    kept = sum(1 for t in mapping.values() if t != "O")
    print(f"medmentions: dev/test CoNLL copied; {kept} of {len(mapping)} semantic types map into the 21 ST21pv types")


def conll_sentences(path):
    """Sentences of a CoNLL file, detokenized, grouped by document."""
    docs, sents, words = [], [], []
    for line in open_text(path):
        line = line.rstrip("\n")
        if line.startswith("-DOCSTART-") or not line.strip():
            if words:
                sents.append(detokenize(" ".join(words)))
                words = []
            if line.startswith("-DOCSTART-") and sents:
                docs.append(sents)
                sents = []
            continue
        words.append(line.split("\t")[0])
    if words:
        sents.append(detokenize(" ".join(words)))
    if sents:
        docs.append(sents)
    return docs


def mlm(data, out, rng, max_chars=600):
    os.makedirs(out, exist_ok=True)
    texts = [s for doc in conll_sentences(os.path.join(data, "medmentions/medmentions_full_semtype_bio.dev.conll.gz"))
             for s in doc]
    texts += [r["caption"] for r in csv.DictReader(open_text(os.path.join(data, "roco/roco_val_test_captions_cuis.tsv.gz")),
                                                   delimiter="\t", quoting=csv.QUOTE_NONE) if r["split"] == "validation"]
    for r in csv.DictReader(open_text(os.path.join(data, "radiology_reports/iu_xray_indiana_reports.csv.gz"))):
        t = " ".join(x for x in (r["findings"], r["impression"]) if x).strip()
        if t:
            texts.append(t)
    for r in csv.reader(open_text(os.path.join(data, "mtsamples/mtsamples_first400_timarbende.csv.gz"))):
        if len(r) >= 5:
            texts += chunks(re.split(r"(?<=[.!?])\s+", r[4].replace(",", ", ")), max_chars)
    texts = [re.sub(r"\s+", " ", t).strip() for t in texts]
    texts = [t for t in texts if len(t) >= 20]
    rng.shuffle(texts)
    with open(os.path.join(out, "train.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(texts) + "\n")
    test = [s for doc in conll_sentences(os.path.join(data, "medmentions/medmentions_full_semtype_bio.test.conll.gz"))
            for s in doc if len(s) >= 20]
    rng.shuffle(test)
    with open(os.path.join(out, "test.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(test[:2000]) + "\n")
    print(f"mlm: {len(texts)} training texts, {min(2000, len(test))} test sentences")


def detokenize(text):
    """Undo WikiText / CoNLL token spacing so that spacing is no shortcut between the classes."""
    text = text.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", ".")
    text = re.sub(r" ([.,;:!?%)\]])", r"\1", text)
    text = re.sub(r"([(\[]) ", r"\1", text)
    text = text.replace(" 's", "'s").replace(" n't", "n't")
    return re.sub(r"\s+", " ", text).strip()


def chunks(sentences, max_chars):
    out, cur = [], ""
    for s in sentences:
        if cur and len(cur) + 1 + len(s) > max_chars:
            out.append(cur)
            cur = ""
        cur = (cur + " " + s).strip()
    if cur:
        out.append(cur)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("out")
    p.add_argument("--roco-labels", type=int, default=50)
    a = p.parse_args()
    roco(a.data, os.path.join(a.out, "roco"), a.roco_labels, random.Random(7))
    medmentions(a.data, os.path.join(a.out, "medmentions"))
    mlm(a.data, os.path.join(a.out, "mlm"), random.Random(17))


if __name__ == "__main__":
    main()
