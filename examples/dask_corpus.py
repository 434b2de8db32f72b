#!/usr/bin/env python3
"""Score a corpus of JSON Lines shards on a Dask cluster with medenc (one output shard per input).

  # on this machine: a local cluster of 2 worker processes with 1 thread each
  examples/dask_corpus.py --model MODEL --out scores/ --local-workers 2 --threads 1 corpus/*.jsonl
  # on a cluster: dask scheduler + dask worker --nthreads T on each machine (see README, Scaling out)
  examples/dask_corpus.py --model /shared/MODEL --out /shared/scores --scheduler tcp://head:8786 \\
      --threads 4 /shared/corpus/*.jsonl

Rerunning the same command skips the shards already complete (an interrupted job resumes).
"""
import argparse
import sys
import time

import medenc.dask as mdask
from distributed import Client, LocalCluster


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shards", nargs="+", help="JSON Lines input shards ({\"id\": ..., \"text\": ...} per line)")
    p.add_argument("--model", required=True, help="checkpoint folder, readable from every worker")
    p.add_argument("--out", required=True, help="output folder (one .jsonl per shard, plus .done markers)")
    p.add_argument("--task", default="classify", choices=["classify", "ner", "embed", "fill_mask"])
    p.add_argument("--scheduler", help="address of a running Dask scheduler (default: a local cluster)")
    p.add_argument("--local-workers", type=int, default=2, help="local cluster: worker processes (default: 2)")
    p.add_argument("--threads", type=int, default=1, help="threads per worker (and per medenc call)")
    p.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    p.add_argument("--max-length", type=int)
    p.add_argument("--stride", type=int)
    a = p.parse_args()

    options = {k: v for k, v in (("max_length", a.max_length), ("stride", a.stride)) if v is not None}
    if a.scheduler:
        client = Client(a.scheduler)
    else:
        cluster = LocalCluster(n_workers=a.local_workers, threads_per_worker=a.threads, processes=True,
                               host="127.0.0.1", dashboard_address=None,
                               env={"OMP_NUM_THREADS": str(a.threads)})
        client = Client(cluster)
    start = time.monotonic()
    results = mdask.score_shards(client, a.model, a.shards, a.out, task=a.task, dtype=a.dtype, threads=a.threads,
                                 **options)
    seconds = time.monotonic() - start
    docs = sum(r.documents for r in results if not r.skipped)
    skipped = sum(r.skipped for r in results)
    errors = sum(r.error_lines for r in results)
    print(f"{len(results)} shards ({skipped} already complete), {docs} documents scored in {seconds:.1f} s "
          f"({docs / max(seconds, 1e-9):.1f} docs/s), {errors} error lines", file=sys.stderr)
    client.close()


if __name__ == "__main__":
    main()
