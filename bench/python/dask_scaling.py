#!/usr/bin/env python3
"""Scaling-out benchmark: the same classify job over >= 2,000 real clinical texts (IU X-ray reports,
read at run time from ../shared/data, never copied) run as
  (a) 1 process x 2 threads  (medenc.Model(threads=2).run_file on the whole corpus),
  (b) 2 Dask workers x 1 thread (medenc.dask.score_shards on a LocalCluster, 127.0.0.1),
checking that they write the same bytes. Times exclude model loading and cluster start (reported
separately); CPU seconds (all threads) are reported besides wall time, since on a shared machine
only they are undistorted by other load. Usage (PYTHONPATH=build/python, or the installed package):

  /usr/bin/python3 bench/python/dask_scaling.py [--model DIR] [--texts 2000] [--shards 16] [--repeats 2]

Without --model a BERT-small-shaped classifier (4 layers, hidden 512, 8 heads; random weights, real
bert-base-uncased vocabulary) is made with `medenc init`: throughput does not depend on the weights.
"""
import argparse
import csv
import gzip
import json
import os
import statistics
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
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cli", default=str(REPO / "build" / "medenc"))
    a = p.parse_args()

    os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # idle OpenMP threads sleep: CPU time is work
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
        t0, c0 = time.monotonic(), time.process_time()
        m.run_file("classify", str(corpus), str(out))
        return load, time.monotonic() - t0, time.process_time() - c0

    def cpu_seconds():
        import resource

        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    t0 = time.monotonic()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, env={"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "passive"})
    client = Client(cluster)
    mdask.register_model(client, model, threads=1)  # loads the model on both workers
    start = time.monotonic() - t0

    # The machine may be shared: the two set-ups alternate, and CPU seconds (all threads of the
    # process, or of both workers) are reported besides wall time, as a measure that contention
    # does not distort.
    runs = {"1 process x 2 threads": [], "2 workers x 1 thread": []}
    for r in range(a.repeats):
        load, wall, cpu = single(2, work / f"single-{r}.jsonl")
        runs["1 process x 2 threads"].append((wall, cpu))
        out_dir = work / f"dask-{r}"
        before = client.run(cpu_seconds)
        t0 = time.monotonic()
        mdask.score_shards(client, model, shards, out_dir, threads=1)
        wall_b = time.monotonic() - t0
        after = client.run(cpu_seconds)
        runs["2 workers x 1 thread"].append((wall_b, sum(after[w] - before[w] for w in after if w in before)))
        joined = b"".join(Path(mdask.output_path(out_dir, s)).read_bytes() for s in shards)
        if joined != (work / f"single-{r}.jsonl").read_bytes():
            sys.exit("outputs differ")
        print(f"run {r + 1}: " + " | ".join(f"{k}: {v[-1][0]:.1f} s wall, {v[-1][1]:.1f} s CPU" for k, v in runs.items()),
              flush=True)
    print("outputs identical (bytes) in every run")
    for k, v in runs.items():
        wall = statistics.median(x[0] for x in v)
        cpu = statistics.median(x[1] for x in v)
        print(f"{k}: median {wall:.1f} s wall = {len(texts) / wall:.1f} docs/s, {tokens / wall:.0f} tokens/s; "
              f"median {cpu:.1f} CPU s = {tokens / cpu:.0f} tokens per CPU second")
    w1, w2 = (statistics.median(x[0] for x in v) for v in runs.values())
    c1, c2 = (statistics.median(x[1] for x in v) for v in runs.values())
    print(f"2 workers / 1 process: throughput {w1 / w2:.2f}x (wall), CPU efficiency {c1 / c2:.2f}x")
    print(f"model load {load:.2f} s per process; local cluster start + load on 2 workers {start:.1f} s")
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
