"""medenc.dask on a LocalCluster of 2 worker processes (127.0.0.1 only): shard outputs byte for
byte equal to one `medenc classify` over the concatenated corpus, one model load per worker,
resumable and atomic, and a worker killed mid-job."""
import json
import os
import signal
import threading
import time

import pytest

distributed = pytest.importorskip("distributed")
import dask.bag as db  # noqa: E402

import medenc  # noqa: E402
import medenc.dask as mdask  # noqa: E402
from conftest import CLINICAL, run_cli  # noqa: E402


def write_shards(folder, shards, per_shard, start=0):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    n = start
    for s in range(shards):
        lines = []
        for _ in range(per_shard):
            text = f"{CLINICAL[n % len(CLINICAL)]} [{n}]"
            lines.append(json.dumps({"id": f"r{n}", "text": text}, ensure_ascii=False))
            n += 1
        path = folder / f"part-{s:03d}.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(str(path))
    return paths


def cli_output(model, shards, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(b"".join(open(p, "rb").read() for p in shards))
    run_cli("classify", "--model", model, corpus, "--out", tmp_path / "cli.jsonl", "--threads", "1")
    return (tmp_path / "cli.jsonl").read_bytes()


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, worker_dashboard_address=None,
                                  env={"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "passive"}) as c:
        with distributed.Client(c, timeout=60) as client:
            yield c, client


def test_shards_equal_one_cli_run(cluster, models, tmp_path):
    _, client = cluster
    shards = write_shards(tmp_path / "in", 6, 25)
    results = mdask.score_shards(client, models["multi"], shards, tmp_path / "out", threshold=0.4)
    assert [r.input for r in results] == shards
    assert all(not r.skipped and r.documents == 25 for r in results)
    outputs = [r.output for r in results]
    assert outputs == [str(tmp_path / "out" / f"part-{s:03d}.jsonl") for s in range(6)]
    joined = b"".join(open(o, "rb").read() for o in outputs)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(b"".join(open(p, "rb").read() for p in shards))
    run_cli("classify", "--model", models["multi"], corpus, "--out", tmp_path / "cli.jsonl", "--threads", "1",
            "--threshold", "0.4")
    assert joined == (tmp_path / "cli.jsonl").read_bytes()

    # One model load per worker, however many shards each ran.
    name = mdask.plugin_name(os.path.abspath(models["multi"]), "f32", 1)
    loads = client.run(lambda dask_worker: dask_worker.plugins[name].loads)
    assert sorted(loads.values()) == [1, 1]

    # A rerun skips complete shards; a damaged output or a missing marker is redone.
    with open(outputs[2], "ab") as f:
        f.write(b"partial line")
    os.remove(outputs[4] + mdask.DONE_SUFFIX)
    again = mdask.score_shards(client, models["multi"], shards, tmp_path / "out", threshold=0.4)
    assert [r.skipped for r in again] == [True, True, False, True, False, True]
    assert b"".join(open(o, "rb").read() for o in outputs) == joined
    assert sorted(client.run(lambda dask_worker: dask_worker.plugins[name].loads).values()) == [1, 1], \
        "a second job reuses the workers' models"
    assert not [f for f in os.listdir(tmp_path / "out") if f.endswith((".part", ".tmp"))]


def test_bag_of_records(cluster, models):
    _, client = cluster
    records = [{"id": i, "text": CLINICAL[i % len(CLINICAL)]} for i in range(40)]
    got = mdask.classify_bag(db.from_sequence(records, npartitions=4), models["single"]).compute()
    m = medenc.Model(models["single"], threads=1)
    assert got == [{"id": i, **r} for i, r in enumerate(m.classify([r["text"] for r in records]))]


def test_killed_worker_job_completes_once(models, tmp_path):
    shards = write_shards(tmp_path / "in", 16, 150)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, worker_dashboard_address=None,
                                  env={"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "passive"}) as c:
        with distributed.Client(c, timeout=60) as client:
            out = tmp_path / "out"
            out.mkdir()
            results = {}
            job = threading.Thread(target=lambda: results.update(
                r=mdask.score_shards(client, models["single"], shards, out)))
            job.start()
            # Once the first shard is complete, kill a worker that is scoring another one.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(f.endswith(".done") for f in os.listdir(out)):
                time.sleep(0.02)

            def executing(dask_worker):
                state = getattr(dask_worker, "state", dask_worker)
                return os.getpid(), len(state.executing)

            victim = None
            while victim is None and time.monotonic() < deadline:
                busy = [pid for pid, n in client.run(executing).values() if n > 0]
                victim = busy[0] if busy else None
            assert victim is not None, "no worker was scoring a shard"
            done_at_kill = sum(f.endswith(".done") for f in os.listdir(out))
            os.kill(victim, signal.SIGKILL)
            job.join(timeout=120)
            assert not job.is_alive()
    assert done_at_kill < len(shards), "the kill came after the job had finished"
    assert all(r.documents == 150 for r in results["r"])
    ids = [json.loads(line)["id"] for r in results["r"] for line in open(r.output, encoding="utf-8")]
    assert ids == [f"r{n}" for n in range(16 * 150)], "every record scored exactly once, in input order"
    m = medenc.Model(models["single"], threads=1)
    first = [json.loads(line) for line in open(results["r"][0].output, encoding="utf-8")]
    texts = [json.loads(line)["text"] for line in open(shards[0], encoding="utf-8")]
    assert [{k: v for k, v in f.items() if k != "id"} for f in first] == m.classify(texts)


def test_dataframe_text_column(cluster, models):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    _, client = cluster
    rows = [{"note_id": f"n{i}", "text": f"{CLINICAL[i % len(CLINICAL)]} [{i}]", "site": i % 3} for i in range(30)]
    frame = dd.from_pandas(pd.DataFrame(rows).set_index("note_id"), npartitions=3, sort=False)
    got = mdask.classify_dataframe(frame, models["multi"], threshold=0.4).compute()
    m = medenc.Model(models["multi"], threads=1)
    want = m.classify([r["text"] for r in rows], threshold=0.4)
    assert list(got.index) == [r["note_id"] for r in rows]  # index and order kept
    assert list(got["site"]) == [r["site"] for r in rows]
    assert list(got["medenc"]) == want
    series = mdask.classify_series(frame["text"], models["multi"], threshold=0.4).compute()
    assert list(series) == want and list(series.index) == list(got.index)
    with pytest.raises(ValueError, match="no column 'body'"):
        mdask.classify_dataframe(frame, models["multi"], text="body")
