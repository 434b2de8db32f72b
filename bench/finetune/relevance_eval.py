#!/usr/bin/env python3
"""Evaluates a medical relevance model (scores 1-5, verdict "medical" at score > 3) with medenc.

For each labelled JSON Lines file (fields text, score 5 = medical / 1 = not, source or topic):
  - `medenc eval` gives the overall regression metrics (MSE, accuracy and ROC-AUC at > 3);
  - `medenc classify` gives each text's score, and `medenc tokenize` its length in tokens;
  - reported: ROC-AUC and accuracy overall, per source (a source's texts against all texts of the other
    class) and by length in tokens (<= 16, 17-128, 129-512, > 512; specials not counted).
With --variants, the same texts lowercased and stripped of punctuation are scored too: their ROC-AUC,
accuracy, and how many verdicts agree with the original text's.

Usage: relevance_eval.py --model DIR [--medenc BIN] [--threads N] [--max-length N] [--variants] [--no-texts]
                         [--overall-only] [--out report.json] FILE...
Standard library only; prints a Markdown report.
"""
import argparse
import json
import os
import re
import string
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BUCKETS = [("<= 16", 0, 16), ("17-128", 17, 128), ("129-512", 129, 512), ("> 512", 513, 1 << 30)]
PUNCT = re.compile("[" + re.escape(string.punctuation) + "\u2018\u2019\u201c\u201d\u2013\u2014]")


def plain(text):
    """Lowercased, punctuation replaced by spaces: no layout, no case."""
    return re.sub(r"\s+", " ", PUNCT.sub(" ", text.lower())).strip()


def roc_auc(pos, neg):
    """Probability that a random positive outscores a random negative (ties count half)."""
    if not pos or not neg:
        return None
    ranked = sorted([(s, 1) for s in pos] + [(s, 0) for s in neg])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        avg = (i + 1 + j) / 2.0
        rank_sum += avg * sum(1 for k in range(i, j) if ranked[k][1])
        i = j
    return (rank_sum - len(pos) * (len(pos) + 1) / 2.0) / (len(pos) * len(neg))


def accuracy(rows):
    return sum(1 for r in rows if (r["pred"] > 3) == (r["score"] > 3)) / len(rows) if rows else None


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
    return p.stdout


def score(a, rows, tmp, tag):
    path = os.path.join(tmp, tag + ".jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for i, r in enumerate(rows):
            f.write(json.dumps({"id": i, "text": r["text"], "score": r["score"]}, ensure_ascii=False) + "\n")
    common = ["--model", a.model, "--threads", str(a.threads), "--max-length", str(a.max_length)]
    metrics_path = os.path.join(tmp, tag + ".metrics.json")
    run([a.medenc, "eval", *common, "--data", path, "--label-field", "score", "--regression-threshold", "3",
         "--out", metrics_path])
    preds = [json.loads(l) for l in run([a.medenc, "classify", *common, path]).splitlines()]
    toks = [json.loads(l) for l in run([a.medenc, "tokenize", "--model", a.model, "--no-special-tokens", path]).splitlines()]
    for r, p, t in zip(rows, preds, toks):
        r["pred"] = p["score"]
        r["tokens"] = len(t["ids"])
    with open(metrics_path) as f:
        return json.load(f)["metrics"]


def breakdown(rows, key):
    out = []
    groups = sorted({(r[key], r["score"] <= 3) for r in rows})  # a group with both classes: one row each
    for g, not_medical in groups:
        sel = [r for r in rows if r[key] == g and (r["score"] <= 3) == not_medical]
        cls = not not_medical
        other = [r["pred"] for r in rows if (r["score"] > 3) != cls]
        mine = [r["pred"] for r in sel]
        auc = roc_auc(mine, other) if cls else roc_auc(other, mine)
        out.append({key: g, "class": "medical" if cls else "non-medical", "n": len(sel), "roc_auc": auc,
                    "accuracy": accuracy(sel), "mean_score": sum(mine) / len(mine)})
    return out


def by_length(rows):
    out = []
    for name, lo, hi in BUCKETS:
        sel = [r for r in rows if lo <= r["tokens"] <= hi]
        pos = [r["pred"] for r in sel if r["score"] > 3]
        neg = [r["pred"] for r in sel if r["score"] <= 3]
        out.append({"tokens": name, "n_medical": len(pos), "n_other": len(neg), "roc_auc": roc_auc(pos, neg),
                    "accuracy": accuracy(sel)})
    return out


def fmt(x):
    return "—" if x is None else f"{x:.3f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--medenc", default=os.path.join(HERE, "..", "..", "build", "medenc"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-length", type=int, default=8192, help="tokens per text, the rest cut (default: %(default)s)")
    p.add_argument("--variants", action="store_true", help="also score the texts lowercased without punctuation")
    p.add_argument("--out", help="write the full report as JSON")
    p.add_argument("--no-texts", action="store_true", help="do not list the texts with wrong verdicts")
    p.add_argument("--overall-only", action="store_true",
                   help="only the overall figures and the length table (for a judge set whose texts and groups stay unseen)")
    p.add_argument("files", nargs="+")
    a = p.parse_args()
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in a.files:
            rows = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
            for r in rows:
                r["group"] = r.get("source") or r.get("topic") or "all"
            name = os.path.basename(path)
            metrics = score(a, rows, tmp, "orig")
            pos = [r["pred"] for r in rows if r["score"] > 3]
            neg = [r["pred"] for r in rows if r["score"] <= 3]
            rep = {"n": len(rows), "roc_auc": roc_auc(pos, neg), "accuracy": accuracy(rows), "medenc_eval": metrics,
                   "by_source": breakdown(rows, "group"), "by_length": by_length(rows)}
            print(f"\n### {name}: {len(rows)} texts ({len(pos)} medical)\n")
            print(f"ROC-AUC **{fmt(rep['roc_auc'])}**, accuracy at score > 3 **{fmt(rep['accuracy'])}** "
                  f"(medenc eval: ROC-AUC {fmt(metrics.get('roc_auc'))}, accuracy {fmt(metrics.get('accuracy'))}, "
                  f"MSE {fmt(metrics.get('mse'))})\n")
            if not a.overall_only:  # the groups of a judge set stay unseen with --overall-only
                print("| source | class | texts | ROC-AUC | accuracy | mean score |\n|---|---|---|---|---|---|")
                for b in rep["by_source"]:
                    print(f"| {b['group']} | {b['class']} | {b['n']} | {fmt(b['roc_auc'])} | {fmt(b['accuracy'])} | "
                          f"{b['mean_score']:.2f} |")
            print("\n| tokens | medical | non-medical | ROC-AUC | accuracy |\n|---|---|---|---|---|")
            for b in rep["by_length"]:
                print(f"| {b['tokens']} | {b['n_medical']} | {b['n_other']} | {fmt(b['roc_auc'])} | {fmt(b['accuracy'])} |")
            if a.variants:
                var = [dict(r, text=plain(r["text"])) for r in rows]
                score(a, var, tmp, "plain")
                vpos = [r["pred"] for r in var if r["score"] > 3]
                vneg = [r["pred"] for r in var if r["score"] <= 3]
                agree = sum(1 for r, v in zip(rows, var) if (r["pred"] > 3) == (v["pred"] > 3))
                rep["plain"] = {"roc_auc": roc_auc(vpos, vneg), "accuracy": accuracy(var),
                                "verdict_agreement": agree / len(rows),
                                "by_source": breakdown(var, "group")}
                print(f"\nLowercased, punctuation stripped: ROC-AUC {fmt(rep['plain']['roc_auc'])}, accuracy "
                      f"{fmt(rep['plain']['accuracy'])}; same verdict as the original text for {agree} of {len(rows)} "
                      f"({100.0 * agree / len(rows):.1f}%)")
            wrong = sorted((r for r in rows if (r["pred"] > 3) != (r["score"] > 3)), key=lambda r: r["group"])
            if wrong and len(rows) <= 400 and not (a.no_texts or a.overall_only):
                print("\nWrong verdicts:\n")
                for r in wrong:
                    print(f"- {r['pred']:.2f} ({r['group']}, {'medical' if r['score'] > 3 else 'non-medical'}): "
                          f"{r['text'][:90]}")
            rep["rows"] = [{k: r[k] for k in ("group", "score", "pred", "tokens")} for r in rows]
            report[name] = rep
    if a.out:
        with open(a.out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
