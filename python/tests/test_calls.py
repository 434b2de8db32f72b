"""Threads, the GIL, Ctrl-C, streaming and errors."""
import json
import os
import signal
import threading
import time

import numpy as np
import pytest

import medenc
from conftest import CLINICAL


def long_texts(n):
    # Distinct texts of a few hundred tokens (lengths differ so batches mix).
    return [f"Case {i}: " + " ".join(CLINICAL[:5]) * (1 + i % 3) for i in range(n)]


def test_threads_share_one_model(models, texts):
    m = medenc.Model(models["multi"], threads=1)
    inputs = texts * 20
    expected = m.classify(inputs)
    results = [None] * 4
    errors = []

    def work(k):
        try:
            # Each thread sends its own order: results follow the input, whatever the batch.
            order = list(range(len(inputs)))[k:] + list(range(len(inputs)))[:k]
            got = m.classify([inputs[i] for i in order])
            results[k] = [got[order.index(i)] for i in range(len(inputs))]
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(r == expected for r in results)


def test_calls_release_the_gil(models):
    """While a call runs in another thread, this thread keeps running Python code."""
    m = medenc.Model(models["single"], threads=1)
    inputs = long_texts(300)
    done = threading.Event()
    timing = {}

    def work():
        timing["start"] = time.monotonic()
        m.classify(inputs)
        timing["end"] = time.monotonic()
        done.set()

    t = threading.Thread(target=work)
    ticks = []
    t.start()
    while not done.is_set():
        ticks.append(time.monotonic())
        time.sleep(0.001)
    t.join()
    duration = timing["end"] - timing["start"]
    assert duration > 0.2, "the call is too short to tell"
    during = [x for x in ticks if timing["start"] <= x <= timing["end"]]
    gaps = np.diff([timing["start"]] + during + [timing["end"]])
    # Held GIL: one gap as long as the call. Released: this loop ticks all along (the tokenizer
    # converts the texts with the GIL, hence some slack).
    assert gaps.max() < duration / 2, (gaps.max(), duration)


def test_ctrl_c_interrupts_a_long_call(models, texts):
    m = medenc.Model(models["single"], threads=1)
    expected = m.classify(texts)
    inputs = long_texts(3000)
    # Python's own Ctrl-C handler (a shell may have started this process with SIGINT ignored).
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            m.classify(inputs)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, old)
    elapsed = time.monotonic() - start
    assert elapsed < 5, f"the call stopped {elapsed:.1f} s after the start (signal at 0.5 s)"
    # The model is usable afterwards, with the same results.
    assert m.classify(texts) == expected


def test_signal_handler_exceptions_propagate(models):
    """A handler that raises something else: that exception stops the call."""
    m = medenc.Model(models["single"], threads=1)

    class Stop(Exception):
        pass

    def handler(signum, frame):
        raise Stop()

    old = signal.signal(signal.SIGUSR1, handler)
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGUSR1))
    try:
        timer.start()
        with pytest.raises(Stop):
            m.embed(long_texts(3000))
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, old)


def test_classify_iter_streams_in_chunks(models, texts):
    m = medenc.Model(models["single"], threads=1)
    pulled = []

    def records():
        for i in range(2500):
            pulled.append(i)
            yield {"id": f"doc-{i}", "text": texts[i % len(texts)]}

    it = m.classify_iter(records(), chunk_size=100, batch_tokens=512)
    first = next(it)
    assert len(pulled) <= 100, "reads one chunk before the first result"
    rest = list(it)
    assert len(pulled) == 2500 and len(rest) == 2499
    expected = m.classify([texts[i % len(texts)] for i in range(2500)])
    got = [first] + rest
    assert [g["id"] for g in got] == [f"doc-{i}" for i in range(2500)]
    assert [{k: v for k, v in g.items() if k != "id"} for g in got] == expected
    assert list(got[0])[0] == "id"  # the id first, as in the CLI's lines


def test_iter_accepts_plain_texts_and_pairs(models, texts):
    m = medenc.Model(models["pairs"], threads=1)
    items = [texts[0], (texts[1], texts[2]), {"text": texts[3], "text_pair": texts[4]}]
    assert list(m.classify_iter(iter(items), chunk_size=2)) == m.classify(
        [texts[0], (texts[1], texts[2]), (texts[3], texts[4])])


def test_embed_iter(models, texts):
    m = medenc.Model(models["base"], threads=1)
    chunks = list(m.embed_iter((t for t in texts * 3), chunk_size=10))
    assert [c.shape[0] for c in chunks] == [10, 10, 7]
    assert np.array_equal(np.concatenate(chunks), m.embed(texts * 3))


# ---------------------------------------------------------------------------------------------
# Errors by kind


def test_missing_model_folder(tmp_path):
    with pytest.raises((medenc.ModelError, medenc.IoError)) as e:
        medenc.Model(tmp_path / "nowhere")
    assert "nowhere" in str(e.value)
    assert isinstance(e.value, medenc.Error)


def test_broken_checkpoint_is_a_model_error(models, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(models["single"], broken)
    (broken / "config.json").write_text("{not json")
    with pytest.raises(medenc.ModelError) as e:
        medenc.Model(broken)
    assert "config.json" in str(e.value)
    assert e.value.kind == "invalid_model"

    shutil.copytree(models["single"], tmp_path / "truncated")
    weights = tmp_path / "truncated" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(medenc.ModelError) as e:
        medenc.Model(tmp_path / "truncated")
    assert "model.safetensors" in str(e.value)


def test_wrong_head_is_unsupported(models, texts):
    m = medenc.Model(models["base"], threads=1)
    with pytest.raises(medenc.UnsupportedError) as e:
        m.classify(texts)
    assert e.value.kind == "unsupported"
    with pytest.raises(medenc.UnsupportedError):
        medenc.Model(models["single"], threads=1).fill_mask(["a [MASK]"])


def test_bad_arguments_are_value_errors(models, texts):
    m = medenc.Model(models["single"], threads=1)
    with pytest.raises(ValueError) as e:
        m.classify(texts, max_length=100000)
    assert isinstance(e.value, medenc.InvalidInputError)
    with pytest.raises(ValueError):
        m.classify(texts, stride=5000, max_length=64)
    with pytest.raises(ValueError):
        m.classify(texts, threshold=2.0)
    with pytest.raises(ValueError):
        m.classify(texts, window_aggregation="median")
    with pytest.raises(ValueError):
        medenc.Model(models["single"], dtype="f16")
    with pytest.raises(TypeError):
        m.classify("one string, not a list")
    with pytest.raises(TypeError):
        m.classify([texts[0], 42])
    with pytest.raises(medenc.InvalidInputError) as e:  # a lone surrogate is not text
        m.classify(["fine", "bad \ud800 text"])
    assert str(e.value).startswith("texts[1] is not valid text")


def test_bad_input_by_index_or_returned(models):
    m = medenc.Model(models["mlm"], threads=1)
    mask = m.tokenizer.mask_token
    texts = [f"A {mask} here.", "No mask in this one.", f"Another {mask}."]
    with pytest.raises(medenc.InvalidInputError) as e:
        m.fill_mask(texts)
    assert str(e.value).startswith("input 1: ")
    got = m.fill_mask(texts, on_error="return")
    assert isinstance(got[0], list) and isinstance(got[2], list)
    assert got[1]["kind"] == "invalid_input" and got[1]["error"]
    assert got[0] == m.fill_mask([texts[0]])[0]


def test_forward_checks_its_inputs(tmp_path):
    from conftest import fixture_model

    m = medenc.Model(fixture_model(tmp_path, "bert_seqcls_smallvocab"), threads=1)
    with pytest.raises(ValueError) as e:
        m.forward([[101, 5, 102, 0]], [[1, 0, 1, 0]])
    assert "right-padded" in str(e.value)
    with pytest.raises(ValueError) as e:
        m.forward([[101, 5000, 102]])
    assert isinstance(e.value, medenc.InvalidInputError)
    with pytest.raises(TypeError):
        m.forward(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(ValueError):
        m.forward([101, 5, 102])  # 1-D


def test_error_classes():
    assert issubclass(medenc.InvalidInputError, ValueError)
    assert issubclass(medenc.IoError, OSError)
    assert issubclass(medenc.ResourceExhaustedError, MemoryError)
    for cls in (medenc.InvalidInputError, medenc.ModelError, medenc.UnsupportedError, medenc.CancelledError,
                medenc.IoError, medenc.InternalError, medenc.ResourceExhaustedError):
        assert issubclass(cls, medenc.Error)
    assert medenc.ModelError.kind == "invalid_model"


def test_help_shows_signatures_and_docs():
    doc = medenc.Model.classify.__doc__
    assert "classify(self" in doc and "threshold" in doc and "JSON lines" in doc
    assert "numpy" in medenc.Model.embed.__doc__
    assert "classify()" in medenc.Model.classify_iter.__doc__


def test_run_file_is_the_cli_job_and_stops_cleanly(models, texts, tmp_path):
    from conftest import run_cli

    m = medenc.Model(models["multi"], threads=1)
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": f"n{i}", "text": t}, ensure_ascii=False) + "\n" for i, t in
                           enumerate(texts)) + "{broken\n", encoding="utf-8")
    stats = m.run_file("classify", str(src), str(tmp_path / "py.jsonl"), top_k=2)
    assert stats["documents"] == len(texts) + 1 and stats["error_lines"] == 1
    r = run_cli("classify", "--model", models["multi"], src, "--out", tmp_path / "cli.jsonl", "--top-k", "2",
                check=False)
    assert r.returncode == 3  # the broken line
    assert (tmp_path / "py.jsonl").read_bytes() == (tmp_path / "cli.jsonl").read_bytes()

    # Ctrl-C: KeyboardInterrupt, and neither the output nor its temporary file is left behind.
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps({"text": t}) + "\n" for t in long_texts(3000)), encoding="utf-8")
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            m.run_file("classify", str(big), str(tmp_path / "big.out.jsonl"), read_ahead=64)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, old)
    assert not (tmp_path / "big.out.jsonl").exists() and not (tmp_path / "big.out.jsonl.tmp").exists()
