#!/usr/bin/env python3
"""Scaling-out benchmark: the same classify job over >= 2,000 real clinical texts (IU X-ray reports,
read at run time from ../shared/data, never copied) run as
  (a) 1 process x 2 threads  (medenc.Model(threads=2).run_file on the whole corpus),
  (b) 2 Dask workers x 1 thread (medenc.dask.score_shards on a LocalCluster, 127.0.0.1),
  (c) 1 process x 1 thread   (throughput per core),
checking that (a) and (b) write the same bytes. Times exclude model loading and cluster start
(reported separately). Usage (PYTHONPATH=build/python, or the installed package):

  /usr/bin/python3 bench/python/dask_scaling.py [--model DIR] [--texts 2000] [--shards 16] [--repeats 2]

Without --model a BERT-small-shaped classifier (4 layers, hidden 512, 8 heads; random weights, real
bert-base-uncased vocabulary) is made with `medenc init`: throughput does not depend on the weights.
"""
import argparse
import csv
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REPORTS = REPO.parent / "shared" / "data" / "radiology_reports" / "iu_xray_indiana_reports.csv.gz"
if not REPORTS.exists():
    REPORTS = Path("/work/shared/data/radiology_reports/iu_xray_indiana_reports.csv.gz")


def read_texts(n):
    texts = []
    with gzip.open(REPORTS, "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            text = " ".join(x for x in (row.get("findings", ""), row.get("impression", "")) if x).strip()
            if text:
                texts.append(text)
    if len(texts) < n:
        sys.exit(f"{REPORTS} has {len(texts)} non-empty reports, fewer than {n}")
    return texts[:n]


def make_model(folder, cli):
    config = folder / "bert-small.json"
    config.write_text(json.dumps({
        "model_type": "bert", "architectures": ["BertForSequenceClassification"], "vocab_size": 30522,
        "hidden_size": 512, "num_hidden_layers": 4, "num_attention_heads": 8, "intermediate_size": 2048,
        "hidden_act": "gelu", "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "pad_token_id": 0,
        "id2label": {"0": "not_relevant", "1": "relevant"}, "label2id": {"not_relevant": 0, "relevant": 1}}))
    out = folder / "model"
    subprocess.run([cli, "init", "--arch", "BertForSequenceClassification", "--config", str(config), "--out", str(out),
                    "--num-labels", "2", "--tokenizer", str(REPO / "tests/data/tokenizers/bert-base-uncased")],
                   check=True, capture_output=True)
    return str(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model")
    p.add_argument("--texts", type=int, default=2000)
    p.add_argument("--shards", type=int, default=16)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--cli", default=str(REPO / "build" / "medenc"))
    a = p.parse_args()

    import medenc
    import medenc.dask as mdask
    from distributed import Client, LocalCluster

    work = Path(tempfile.mkdtemp(prefix="medenc-dask-bench-"))
    model = a.model or make_model(work, a.cli)
    texts = read_texts(a.texts)
    lines = [json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts)]
    corpus = work / "corpus.jsonl"
    corpus.write_text("".join(lines), encoding="utf-8")
    shards = []
    per = -(-len(lines) // a.shards)
    for s in range(a.shards):
        path = work / "shards" / f"part-{s:03d}.jsonl"
        path.parent.mkdir(exist_ok=True)
        path.write_text("".join(lines[s * per:(s + 1) * per]), encoding="utf-8")
        shards.append(str(path))
    tokenizer = medenc.Tokenizer(model)
    tokens = sum(len(e) for e in tokenizer.encode_batch(texts, max_length=512))
    print(f"{len(texts)} IU X-ray reports, {tokens} tokens ({tokens / len(texts):.0f} per text), "
          f"{a.shards} shards, model {model}", flush=True)

    def single(threads, out):
        t0 = time.monotonic()
        m = medenc.Model(model, threads=threads)
        load = time.monotonic() - t0
        t0 = time.monotonic()
        m.run_file("classify", str(corpus), str(out))
        return load, time.monotonic() - t0

    t0 = time.monotonic()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, env={"OMP_NUM_THREADS": "1"})
    client = Client(cluster)
    mdask.register_model(client, model, threads=1)  # loads the model on both workers
    start = time.monotonic() - t0

    rows = []
    for r in range(a.repeats):
        load_a, sec_a = single(2, work / f"single2-{r}.jsonl")
        out_dir = work / f"dask-{r}"
        t0 = time.monotonic()
        mdask.score_shards(client, model, shards, out_dir, threads=1)
        sec_b = time.monotonic() - t0
        joined = b"".join(Path(mdask.output_path(out_dir, s)).read_bytes() for s in shards)
        same = joined == (work / f"single2-{r}.jsonl").read_bytes()
        load_c, sec_c = single(1, work / f"single1-{r}.jsonl")
        rows.append((sec_a, sec_b, sec_c, same))
        print(f"run {r + 1}: 1x2 threads {sec_a:.2f} s ({len(texts) / sec_a:.0f} docs/s) | 2 workers x 1 thread "
              f"{sec_b:.2f} s ({len(texts) / sec_b:.0f} docs/s, {sec_a / sec_b:.2f}x of 1x2) | 1x1 thread {sec_c:.2f} s "
              f"({tokens / sec_c:.0f} tokens/s per core) | outputs identical: {same}", flush=True)
    print(f"model load {load_a:.2f} s per process; local cluster start + load on 2 workers {start:.1f} s")
    client.close()
    cluster.close()
    if not all(r[3] for r in rows):
        sys.exit("outputs differ")


if __name__ == "__main__":
    main()
