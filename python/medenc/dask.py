"""Corpus jobs on Dask: score many JSONL shards, a dask.bag of texts or a dask.dataframe text
column with a model loaded once per worker.

    from dask.distributed import Client
    import medenc.dask
    client = Client("tcp://scheduler:8786")            # or LocalCluster(...)
    done = medenc.dask.score_shards(client, "models/medical-relevance",
                                    ["corpus/part-000.jsonl", ...], "scores/")

Each input shard becomes one output shard (OUT_DIR/<shard name>.jsonl) holding exactly the lines
`medenc classify SHARD` writes: one per record, in input order, with its "id" copied. medenc's results
do not depend on batch composition, thread count or which worker ran a shard, so the concatenated
outputs are byte for byte what one `medenc classify` over the concatenated corpus writes. (Only error
lines differ: their "line" numbers count within the shard.)

Completion is atomic: a shard is written to a private temporary file, renamed into place, then a
marker OUT_DIR/<shard name>.jsonl.done records the input's size and mtime and the output's size.
A rerun skips shards whose marker matches, so an interrupted job resumes where it stopped and a
partial output (a killed worker's) is never taken for a complete one. A worker that dies mid-shard
has its shard rescheduled by Dask on another worker; the shard is written exactly once.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from distributed import WorkerPlugin, get_worker

DONE_SUFFIX = ".done"

# Models of this process not loaded by a plugin (dask.bag on a scheduler without one), by key.
_models: Dict[Tuple[str, str, int], Any] = {}
_models_lock = threading.Lock()


def _keep_freed_memory() -> None:
    """Undoes, in this worker process, what Dask's nanny sets for every worker it starts:
    MALLOC_TRIM_THRESHOLD_=65536 (distributed.nanny.pre-spawn-environ). That setting also fixes
    glibc's mmap threshold at 128 KiB, so every larger block medenc allocates per batch (outputs,
    token arrays) is a fresh mmap, page-faulted in and unmapped again (python/README.md, "Measured").
    Large blocks come from the heap again, and freed memory stays for the next batch (a medenc
    worker's memory is bounded by its batch size, not by the data)."""
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)  # glibc's largest dynamic threshold
        libc.mallopt(M_TRIM_THRESHOLD, 256 << 20)
    except (OSError, AttributeError):
        pass


def _model_key(path: str, dtype: str, threads: int) -> Tuple[str, str, int]:
    return (os.path.abspath(os.fspath(path)), dtype, int(threads))


def plugin_name(path: str, dtype: str = "f32", threads: int = 1) -> str:
    key = _model_key(path, dtype, threads)
    return "medenc-model-" + hashlib.sha1(repr(key).encode()).hexdigest()[:12]


class ModelPlugin(WorkerPlugin):
    """Loads one medenc model when a worker starts (and on every worker that joins or restarts
    later); tasks on that worker share it. `loads` counts the loads of this worker."""

    def __init__(self, path: str, dtype: str = "f32", threads: int = 1):
        self.path = os.path.abspath(os.fspath(path))
        self.dtype = dtype
        self.threads = int(threads)
        self.name = plugin_name(self.path, dtype, self.threads)
        self.model = None
        self.loads = 0

    def setup(self, worker=None):
        import medenc

        _keep_freed_memory()
        self.model = medenc.Model(self.path, dtype=self.dtype, threads=self.threads)
        self.loads += 1

    def teardown(self, worker=None):
        self.model = None


def worker_model(path: str, dtype: str = "f32", threads: int = 1):
    """The model of this worker: the plugin's when one is registered, else loaded once per process."""
    name = plugin_name(path, dtype, threads)
    try:
        plugin = get_worker().plugins.get(name)
    except ValueError:  # not on a worker (local scheduler)
        plugin = None
    if plugin is not None and plugin.model is not None:
        return plugin.model
    key = _model_key(path, dtype, threads)
    with _models_lock:
        if key not in _models:
            import medenc

            _keep_freed_memory()
            _models[key] = medenc.Model(key[0], dtype=dtype, threads=threads)
        return _models[key]


# ---------------------------------------------------------------------------------------------
# Shards


@dataclass
class ShardResult:
    input: str
    output: str
    skipped: bool  # complete from an earlier run
    documents: int
    error_lines: int


def output_path(out_dir: str, shard: str) -> str:
    name = os.path.basename(shard)
    for ext in (".jsonl", ".json", ".txt", ".csv"):
        if name.endswith(ext):
            name = name[: -len(ext)]
            break
    return os.path.join(out_dir, name + ".jsonl")


def _input_signature(path: str) -> Dict[str, int]:
    st = os.stat(path)
    return {"input_size": st.st_size, "input_mtime_ns": st.st_mtime_ns}


def read_marker(output: str) -> Optional[Dict[str, Any]]:
    try:
        with open(output + DONE_SUFFIX, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def is_complete(shard: str, output: str, task: str = "classify") -> bool:
    """True when OUTPUT's marker says it was written from SHARD as it is now (same size and mtime)
    for the same task, and OUTPUT still has the size the marker recorded."""
    marker = read_marker(output)
    if not marker or marker.get("task") != task:
        return False
    try:
        if marker.get(
                "input") != os.path.abspath(shard) or _input_signature(shard) != {k: marker.get(k) for k in (
                    "input_size", "input_mtime_ns")}:
            return False
        return os.path.getsize(output) == marker.get("output_size")
    except OSError:
        return False


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: str, text: str) -> None:
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def score_shard(shard: str, output: str, model: str, *, task: str = "classify", dtype: str = "f32", threads: int = 1,
                options: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Scores one shard into OUTPUT with this worker's model (the task a Dask job runs per shard).

    The lines go to a file private to this attempt, are synced, renamed to OUTPUT, and only then is
    the marker written: a marker always describes a complete output.
    """
    m = worker_model(model, dtype, threads)
    signature = _input_signature(shard)
    partial = f"{output}.{uuid.uuid4().hex}.part"
    try:
        stats = m.run_file(task, shard, partial, **(options or {}))
        _fsync(partial)
        os.replace(partial, output)
    except BaseException:
        for leftover in (partial, partial + ".tmp"):
            if os.path.exists(leftover):
                os.remove(leftover)
        raise
    marker = {"task": task, "input": os.path.abspath(shard), **signature, "output_size": os.path.getsize(output),
              "documents": stats["documents"], "error_lines": stats["error_lines"], "model": os.path.abspath(model)}
    _write_atomically(output + DONE_SUFFIX, json.dumps(marker) + "\n")
    return stats


def score_shards(client, model: str, shards: Sequence[str], out_dir: str, *, task: str = "classify",
                 dtype: str = "f32", threads: int = 1, retries: int = 2, **options: Any) -> List[ShardResult]:
    """Scores every shard on the cluster of `client`, one output shard per input shard (in the
    order given), skipping shards a previous run completed. Blocks until all are done and returns
    one ShardResult per shard, in input order.

    model: a checkpoint folder every worker can read (a shared file system, or the same path on
    every machine). threads: threads per task (match the worker's --nthreads / cores).
    options: run_file's options (max_length, stride, max_batch_tokens, format, field, id_field,
    threshold, top_k, ...).
    """
    shards = [os.path.abspath(os.fspath(s)) for s in shards]
    os.makedirs(out_dir, exist_ok=True)
    outputs = [os.path.abspath(output_path(out_dir, s)) for s in shards]
    seen: Dict[str, str] = {}
    for s, o in zip(shards, outputs):
        if o in seen:
            raise ValueError(f"shards {seen[o]} and {s} would both write {o}: give shards distinct names")
        seen[o] = s
    model = os.path.abspath(os.fspath(model))
    register_model(client, model, dtype=dtype, threads=threads)

    results: List[Optional[ShardResult]] = [None] * len(shards)
    futures = {}
    for i, (s, o) in enumerate(zip(shards, outputs)):
        if is_complete(s, o, task):
            marker = read_marker(o) or {}
            results[i] = ShardResult(s, o, True, marker.get("documents", 0), marker.get("error_lines", 0))
            continue
        key = f"medenc-{task}-{hashlib.sha1(o.encode()).hexdigest()[:16]}-{uuid.uuid4().hex[:8]}"
        futures[i] = client.submit(score_shard, s, o, model, task=task, dtype=dtype, threads=threads,
                                   options=options, key=key, pure=False, retries=retries)
    for i, stats in zip(futures.keys(), client.gather(list(futures.values()))):
        results[i] = ShardResult(shards[i], outputs[i], False, stats["documents"], stats["error_lines"])
    return [r for r in results if r is not None]


# ---------------------------------------------------------------------------------------------
# dask.bag


def _classify_partition(records: Iterable[Any], model: str, dtype: str, threads: int,
                        options: Dict[str, Any]) -> List[Dict[str, Any]]:
    m = worker_model(model, dtype, threads)
    return list(m.classify_iter(records, **options))


def classify_bag(bag, model: str, *, dtype: str = "f32", threads: int = 1, **options: Any):
    """A dask.bag of classify results, one per record of `bag` (str, (text, pair), or dicts with
    "text" and optionally "id"), in the bag's order. The model is loaded once per worker process
    (by the plugin score_shards registers, or on first use). Options as Model.classify_iter."""
    model = os.path.abspath(os.fspath(model))
    return bag.map_partitions(_classify_partition, model, dtype, threads, options)


# ---------------------------------------------------------------------------------------------
# dask.dataframe


def _classify_texts(texts: List[Any], model: str, dtype: str, threads: int, options: Dict[str, Any]):
    m = worker_model(model, dtype, threads)
    return m.classify(texts, **options) if texts else []


def _classify_series_partition(series, model: str, dtype: str, threads: int, options: Dict[str, Any]):
    import pandas as pd

    results = _classify_texts([str(t) for t in series.tolist()], model, dtype, threads, options)
    return pd.Series(results, index=series.index, name=series.name, dtype=object)


def _classify_frame_partition(frame, text: str, pair: Optional[str], column: str, model: str, dtype: str,
                              threads: int, options: Dict[str, Any]):
    texts: List[Any] = [str(t) for t in frame[text].tolist()]
    if pair is not None:
        texts = [(t, str(p)) for t, p in zip(texts, frame[pair].tolist())]
    out = frame.copy()
    out[column] = _classify_texts(texts, model, dtype, threads, options)
    return out


def classify_series(series, model: str, *, dtype: str = "f32", threads: int = 1, **options: Any):
    """A dask Series of classify results (dicts, as the CLI's lines without "id") for a dask Series
    of texts, with the same index and partitions. The model is loaded once per worker process.
    Options as Model.classify (threshold, top_k, stride, max_length, ...)."""
    model = os.path.abspath(os.fspath(model))
    return series.map_partitions(_classify_series_partition, model, dtype, threads, options,
                                 meta=(series.name, "object"))


def classify_dataframe(frame, model: str, *, text: str = "text", pair: Optional[str] = None,
                       column: str = "medenc", dtype: str = "f32", threads: int = 1, **options: Any):
    """`frame` (a dask DataFrame) with one more column, `column`, holding each row's classify result
    (a dict, as the CLI's line without "id") for the text in column `text` (and its pair in column
    `pair`). Index, order and partitions are kept; the model is loaded once per worker process.
    Options as Model.classify."""
    model = os.path.abspath(os.fspath(model))
    for name in (text, pair):
        if name is not None and name not in frame.columns:
            raise ValueError(f"the dataframe has no column {name!r} (it has {list(frame.columns)})")
    if column in frame.columns:
        raise ValueError(f"the dataframe has a column {column!r} already: give another column=")
    meta = frame._meta.copy()
    meta[column] = meta[text].astype(object)
    return frame.map_partitions(_classify_frame_partition, text, pair, column, model, dtype, threads, options,
                                meta=meta)


def register_model(client, model: str, *, dtype: str = "f32", threads: int = 1) -> str:
    """Loads the model on every worker now (and on workers that join or restart later), unless every
    worker has it already (a second job reuses the loaded models); returns the plugin name."""
    plugin = ModelPlugin(os.path.abspath(os.fspath(model)), dtype, threads)
    loaded = client.run(lambda dask_worker, name=plugin.name: name in dask_worker.plugins)
    if not loaded or not all(loaded.values()):
        client.register_worker_plugin(plugin, name=plugin.name)
    return plugin.name
