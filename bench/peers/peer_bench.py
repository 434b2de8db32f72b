#!/usr/bin/python3
"""medenc classify next to ONNX Runtime on the same clinical texts, same model, same threads.

  /usr/bin/python3 bench/peers/peer_bench.py --model DIR [--medenc build/medenc] [--data ../shared/data]
                   [--threads 2] [--reps 3] [--dtypes f32 bf16 int8] [--scale 1]

DIR is a ModernBertForSequenceClassification folder with its tokenizer, e.g.
  build/medenc init --arch ModernBertForSequenceClassification --config base --num-labels 1 \\
      --problem-type regression --tokenizer tests/data/tokenizers/modernbert-base --out out/peer-base
Its ONNX export (export_onnx.py, checked against medenc forward first) is written next to the
bench's working files in bench/peers/out/ on the first run. The texts are those of `medenc bench`'s
clinical case (IU X-ray reports, ROCO captions, MTSamples notes, read from the shared data folder;
--scale N takes N times as many), written to a temporary folder that is deleted afterwards.

medenc: `medenc classify --dtype D --threads T` on the texts as JSON Lines, wall time of the whole
command minus that of the same command on one short text (process start and model load), median of
--reps. ONNX Runtime: ort_bench.mjs (onnxruntime-node, CPU provider, all graph optimisations, T
intra-op threads), its fastest batch arrangement, inference only (tokenization and padding excluded).
Tokens are the real tokens of the texts, special tokens included, cut at the model's 8,192.
"""
import argparse
import csv
import gzip
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def column(path, col, limit, header, sep, col2=None):
    """As bench_support.cpp's csv_column: column col (plus col2) of the first `limit` records with text."""
    if not os.path.exists(path):
        return []
    with gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="") as f:
        text = f.read()
    out = []
    if sep == "\t":
        lines = text.split("\n")[1 if header else 0:]
        for line in lines:
            fields = line.split("\t")
            if len(fields) > col and fields[col]:
                out.append(fields[col])
            if len(out) == limit:
                break
        return out
    reader = csv.reader(io.StringIO(text))
    if header:
        next(reader, None)
    for fields in reader:
        if len(fields) <= col:
            continue
        t = fields[col]
        if col2 is not None and col2 < len(fields) and fields[col2]:
            t = (t + " " if t else "") + fields[col2]
        if t:
            out.append(t)
        if len(out) == limit:
            break
    return out


def clinical_texts(data, scale):
    return (column(os.path.join(data, "radiology_reports/iu_xray_indiana_reports.csv.gz"), 6, 48 * scale, True, ",", 7) +
            column(os.path.join(data, "roco/roco_val_test_captions_cuis.tsv.gz"), 4, 48 * scale, True, "\t") +
            column(os.path.join(data, "mtsamples/mtsamples_first400_timarbende.csv.gz"), 4, 8 * scale, False, ","))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def timed(cmd):
    t0 = time.perf_counter()
    run(cmd)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--medenc", default=os.path.join(ROOT, "build/medenc"))
    ap.add_argument("--data", default=os.path.join(ROOT, "../shared/data"))
    ap.add_argument("--onnx", help="exported model (default bench/peers/out/<model folder>.onnx, made if missing)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scale", type=int, default=1)
    ap.add_argument("--dtypes", nargs="+", default=["f32", "bf16", "int8"])
    ap.add_argument("--ort-batches", default="1,2,4,8,16,32",
                    help="ONNX Runtime arrangements by texts per batch (comma-separated; empty: none)")
    ap.add_argument("--ort-budgets", default="2048,4096,8192,16384",
                    help="ONNX Runtime arrangements by padded tokens per batch (comma-separated; empty: none)")
    a = ap.parse_args()
    if not os.path.isdir(os.path.join(HERE, "node_modules", "onnxruntime-node")):
        raise SystemExit("onnxruntime-node is not installed: cd bench/peers && ONNXRUNTIME_NODE_INSTALL=skip npm ci")
    onnx = a.onnx or os.path.join(HERE, "out", os.path.basename(os.path.normpath(a.model)) + ".onnx")
    onnx_int8 = onnx[:-len(".onnx")] + ".int8.onnx"
    if not os.path.exists(onnx) or not os.path.exists(onnx_int8):
        os.makedirs(os.path.dirname(onnx), exist_ok=True)
        subprocess.run([sys.executable, os.path.join(HERE, "export_onnx.py"), "--model", a.model, "--out", onnx,
                        "--check", a.medenc, "--int8"], check=True)
    texts = clinical_texts(a.data, a.scale)
    if not texts:
        raise SystemExit(f"no clinical texts under {a.data}")
    with tempfile.TemporaryDirectory() as tmp:
        texts_path, one_path = os.path.join(tmp, "texts.jsonl"), os.path.join(tmp, "one.jsonl")
        with open(texts_path, "w") as f:
            for t in texts:
                f.write(json.dumps({"text": t}) + "\n")
        with open(one_path, "w") as f:
            f.write(json.dumps({"text": "Chest X-ray."}) + "\n")
        ids_path = os.path.join(tmp, "ids.jsonl")
        with open(ids_path, "w") as f:
            for line in run([a.medenc, "tokenize", "--model", a.model, "--max-length", "8192", texts_path]).stdout.splitlines():
                f.write(json.dumps({"ids": json.loads(line)["ids"]}) + "\n")
        tokens = sum(len(json.loads(l)["ids"]) for l in open(ids_path))
        print(f"{len(texts)} clinical texts, {tokens} tokens; {a.threads} threads; model {a.model}", file=sys.stderr)

        medenc = {}
        for dtype in a.dtypes:
            base = [a.medenc, "classify", "--model", a.model, "--threads", str(a.threads), "--dtype", dtype]
            out_path = os.path.join(tmp, f"scores_{dtype}.jsonl")
            run(base + [texts_path, "--out", out_path])  # warm-up (page cache)
            full, startup = [], []
            for _ in range(a.reps):  # alternated, so that both see the machine in the same state
                full.append(timed(base + [texts_path, "--out", out_path]))
                startup.append(timed(base + [one_path]))
            seconds = statistics.median(full) - statistics.median(startup)
            scores = [json.loads(l)["score"] for l in open(out_path)]
            medenc[dtype] = {"seconds": seconds, "seconds_with_load": statistics.median(full),
                             "tokens_per_s": tokens / seconds, "scores": scores}
            print(f"  medenc {dtype:5s} {tokens / seconds:8.0f} tok/s  ({seconds:.2f} s; with start-up and load "
                  f"{statistics.median(full):.2f} s)", file=sys.stderr)

        ort_runs = {}
        for dtype, path in (("f32", onnx), ("int8", onnx_int8)):
            print(f"  ONNX Runtime {dtype} ({os.path.basename(path)}):", file=sys.stderr)
            # Should a session fail at "all" (onnxruntime-node 1.31.1 crashed in SkipLayerNormFusion on
            # norms without a bias, which the export now avoids), fall back a level and say so.
            for level in ("all", "extended", "basic"):
                p = subprocess.run(["node", os.path.join(HERE, "ort_bench.mjs"), "--model", path, "--ids", ids_path,
                                    "--threads", str(a.threads), "--reps", str(a.reps), "--opt", level,
                                    "--batches", a.ort_batches, "--budgets", a.ort_budgets],
                                   capture_output=True, text=True)
                if p.returncode == 0:
                    ort_runs[dtype] = json.loads(p.stdout)
                    break
                print(f"  ONNX Runtime with graph optimisation '{level}' failed (exit code {p.returncode}): "
                      f"{p.stderr.strip()[-300:]}", file=sys.stderr)
            else:
                raise SystemExit("ONNX Runtime failed at every optimisation level")
        ort = ort_runs["f32"]
    ref = medenc.get("f32")
    agree = None
    if ref:
        agree = max(abs(l[0] - s) for l, s in zip(ort["logits"], ref["scores"]))
    best = ort["best"]
    report = {"texts": len(texts), "tokens": tokens, "threads": a.threads, "onnx": onnx,
              "ort": {d: {"tokens_per_s": r["best"]["tokens_per_s"], "arrangement": r["best"]["arrangement"],
                          "version": r["ort_version"], "arrangements": r["arrangements"]} for d, r in ort_runs.items()},
              "medenc": {d: {k: v for k, v in m.items() if k != "scores"} for d, m in medenc.items()},
              "max_abs_logit_diff_ort_vs_medenc_f32": agree}
    targets = {"f32": 2.5, "bf16": 4.0}
    for d, r in ort_runs.items():
        print(f"\nONNX Runtime {d:4s} {r['best']['tokens_per_s']:8.0f} tok/s  ({r['best']['arrangement']}, the best of "
              f"{len(r['arrangements'])} arrangements; graph optimisation '{r['graph_optimization']}')")
    for dtype, m in medenc.items():
        ratio = m["tokens_per_s"] / best["tokens_per_s"]
        report["medenc"][dtype]["ratio_to_ort_f32"] = ratio
        goal = f"  (target >= {targets[dtype]}x: {'met' if ratio >= targets[dtype] else 'MISSED'})" if dtype in targets else ""
        vs_int8 = ""
        if dtype == "int8":
            r8 = m["tokens_per_s"] / ort_runs["int8"]["best"]["tokens_per_s"]
            report["medenc"][dtype]["ratio_to_ort_int8"] = r8
            vs_int8 = f", {r8:.2f}x ONNX Runtime int8"
        print(f"medenc classify {dtype:5s}: {m['tokens_per_s']:8.0f} tok/s = {ratio:.2f}x ONNX Runtime fp32{vs_int8}{goal}")
    if agree is not None:
        print(f"max |ONNX Runtime fp32 logit - medenc fp32 score| over the texts: {agree:.2e}")
    if ref and "int8" in medenc:
        d_ort = statistics.mean(abs(l[0] - s) for l, s in zip(ort_runs["int8"]["logits"], ref["scores"]))
        d_med = statistics.mean(abs(x - s) for x, s in zip(medenc["int8"]["scores"], ref["scores"]))
        report["mean_abs_int8_error"] = {"ort": d_ort, "medenc": d_med}
        print(f"mean |int8 - fp32| score: ONNX Runtime {d_ort:.4f}, medenc {d_med:.4f}")
    with open(os.path.join(HERE, "out", "peer_bench.json") if os.path.isdir(os.path.join(HERE, "out"))
              else os.devnull, "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
