"""TEI's input options beyond the texts: /embed_sparse (SPLADE over a masked-LM head), prompts
(`prompt_name`, config_sentence_transformers.json, --default-prompt-name / --default-prompt) and left
truncation (`truncation_direction`). References are computed here: SPLADE and mean pooling in numpy
over `medenc forward`'s raw outputs on ids cut by hand, prompts through `medenc embed` on the
prompted texts."""
import json
import os
import subprocess

import numpy as np
import pytest

from serve_support import MEDENC, TEXTS, Server, cli_lines, make_model
from test_routes import check_error


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32"
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").reshape(t["shape"])
    return out


def forward(model, ids_rows, tmp_path):
    """`medenc forward` on right-padded id rows: its tensors, and the rows' lengths."""
    T = max(len(r) for r in ids_rows)
    inputs = {"input_ids": [r + [0] * (T - len(r)) for r in ids_rows],
              "attention_mask": [[1] * len(r) + [0] * (T - len(r)) for r in ids_rows]}
    src, out = tmp_path / "in.json", tmp_path / "out.safetensors"
    src.write_text(json.dumps(inputs))
    subprocess.run([MEDENC, "forward", "--model", model, "--inputs", str(src), "--out", str(out), "--threads", "1",
                    "--deterministic"], check=True, capture_output=True, timeout=120)
    return read_safetensors(str(out)), [len(r) for r in ids_rows]


def token_ids(server, text, model):
    return [t["id"] for t in server.post("/tokenize", {"inputs": text, "model": model}).json()[0]]


def test_embed_sparse_is_splade_of_the_mlm_logits(server, models, tmp_path):
    texts = TEXTS[:3]
    got = server.post("/embed_sparse", {"inputs": texts, "model": "mlm"})
    assert got.status_code == 200, got.text
    got = got.json()
    ids = [token_ids(server, t, "mlm") for t in texts]
    tensors, lengths = forward(models["mlm"], ids, tmp_path)
    logits = tensors["logits"]  # [B, T, vocab]
    for b, entries in enumerate(got):
        # SPLADE: max over the real tokens of log(1 + relu(logit)), vocabulary-wide.
        ref = np.log1p(np.maximum(logits[b, :lengths[b]].astype(np.float64), 0)).max(axis=0)
        index = [e["index"] for e in entries]
        assert index == sorted(index)
        assert index == [int(i) for i in np.nonzero(ref)[0]]
        assert 0 < len(index) <= ref.size
        values = np.array([e["value"] for e in entries])
        assert np.allclose(values, ref[index], rtol=1e-5, atol=1e-6)
    one = server.post("/embed_sparse", {"inputs": texts[1], "model": "mlm"}).json()
    assert one == [got[1]]  # a single input is a batch of one, and batching does not change results
    check_error(server.post("/embed_sparse", {"inputs": "x", "model": "cls"}), 424, "Backend")
    check_error(server.post("/embed_sparse", {"inputs": "", "model": "mlm"}), 400, "Empty")


def test_left_truncation_keeps_the_end(server, models, tmp_path):
    long_text = " ".join(TEXTS * 3)  # far more than the classifier's 64 positions
    ids = token_ids(server, long_text, "cls")  # /tokenize does not truncate
    assert len(ids) > 100
    cls, sep, body = ids[0], ids[-1], ids[1:-1]
    left = [cls] + body[-62:] + [sep]
    right = [cls] + body[:62] + [sep]
    tensors, _ = forward(models["cls"], [left, right], tmp_path)
    hidden = tensors["last_hidden_state"].astype(np.float64)  # [2, 64, H], no padding
    for direction, row in (("Left", 0), ("left", 0), ("Right", 1)):
        got = server.post("/embed", {"inputs": long_text, "normalize": False, "truncation_direction": direction,
                                     "model": "cls"})
        assert got.status_code == 200, got.text
        assert np.allclose(got.json()[0], hidden[row].mean(axis=0), rtol=1e-5, atol=1e-6), direction
    rows = server.post("/embed_all", {"inputs": long_text, "truncation_direction": "Left", "model": "cls"}).json()[0]
    assert np.allclose(rows, hidden[0], rtol=1e-5, atol=1e-6)
    # /predict takes the direction too: the left-cut input's logits.
    scores = server.post("/predict", {"inputs": long_text, "truncation_direction": "Left", "raw_scores": True,
                                      "model": "cls"}).json()
    default = server.post("/predict", {"inputs": long_text, "raw_scores": True, "model": "cls"}).json()
    assert scores != default
    check_error(server.post("/embed", {"inputs": "x", "truncation_direction": "Up"}), 422, "Validation")


@pytest.fixture(scope="module")
def prompt_model(tmp_path_factory):
    d = make_model(str(tmp_path_factory.mktemp("prompted") / "m"), "ModernBertForSequenceClassification",
                   num_labels=2, problem_type="single_label_classification", seed=23)
    with open(os.path.join(d, "config_sentence_transformers.json"), "w") as f:
        json.dump({"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None}, f)
    return d


def test_prompts(prompt_model):
    s = Server("--model", f"p={prompt_model}", "--threads", "1", "--default-prompt-name", "passage")
    try:
        text = TEXTS[2]
        cli = {p: cli_lines("embed", prompt_model, [p + text])[0]["embedding"] for p in ("query: ", "passage: ", "")}
        assert s.post("/embed", {"inputs": text, "prompt_name": "query", "normalize": False}).json()[0] == cli["query: "]
        # No prompt_name: the server's default (--default-prompt-name passage).
        assert s.post("/embed", {"inputs": text, "normalize": False}).json()[0] == cli["passage: "]
        other = cli_lines("embed", prompt_model, ["query: " + TEXTS[3]])[0]["embedding"]
        a, b = np.array(cli["query: "], dtype=np.float64), np.array(other, dtype=np.float64)
        sim = s.post("/similarity", {"inputs": {"source_sentence": text, "sentences": [TEXTS[3]]},
                                     "parameters": {"prompt_name": "query"}}).json()
        assert abs(sim[0] - a @ b / np.sqrt((a @ a) * (b @ b))) < 1e-5
        # /tokenize: the prompt's tokens come first, offsets index the prompted text (TEI).
        toks = s.post("/tokenize", {"inputs": text, "prompt_name": "query"}).json()[0]
        prompted = ("query: " + text).encode()
        for t in toks:
            if not t["special"]:
                assert prompted[t["start"]:t["stop"]].decode() == t["text"]
        words = [t for t in toks if not t["special"]]
        assert words[0]["start"] == 0 and words[-1]["stop"] == len(prompted)
        r = s.post("/embed", {"inputs": text, "prompt_name": "nope"})
        check_error(r, 422, "Validation")
        assert "query" in r.json()["error"] and "passage" in r.json()["error"]
        # Routes without prompts ignore the default.
        assert s.post("/classify", {"inputs": text}).json() == cli_lines("classify", prompt_model, [text])
    finally:
        assert s.stop() == 0
    s = Server("--model", f"p={prompt_model}", "--threads", "1", "--default-prompt", "query: ")
    try:
        assert s.post("/embed", {"inputs": TEXTS[2], "normalize": False}).json()[0] == cli["query: "]
    finally:
        assert s.stop() == 0


def test_bad_default_prompt_name_stops_the_server(prompt_model):
    p = subprocess.run([MEDENC, "serve", "--model", prompt_model, "--host", "127.0.0.1", "--port", "0", "--threads",
                        "1", "--default-prompt-name", "summary"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "--default-prompt-name summary" in p.stderr
    p = subprocess.run([MEDENC, "serve", "--model", prompt_model, "--host", "127.0.0.1", "--port", "0",
                        "--default-prompt-name", "query", "--default-prompt", "x"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode != 0 and "exclude" in p.stderr.lower()


def test_splade_pooling_serves_masked_lm_models_as_tei_does(models):
    # TEI's --pooling splade: /info names it, /embed without normalization is the dense SPLADE vector
    # (the same values /embed_sparse lists), normalization and /embed_all are refused with 424, and a
    # model without a masked-LM head (other than a classifier) refuses to start.
    s = Server("--model", f"mlm={models['mlm']}", "--model", f"cls={models['cls']}", "--pooling", "splade",
               "--threads", "1")
    try:
        info = s.get("/info").json()
        assert info["model_type"] == {"embedding": {"pooling": "splade"}}
        texts = TEXTS[:2]
        dense = s.post("/embed", {"inputs": texts, "normalize": False})
        assert dense.status_code == 200, dense.text
        dense = np.array(dense.json())
        sparse = s.post("/embed_sparse", {"inputs": texts}).json()
        vocab = json.load(open(os.path.join(models["mlm"], "config.json")))["vocab_size"]
        assert dense.shape == (2, vocab)
        for b, entries in enumerate(sparse):
            want = np.zeros(vocab)
            for e in entries:
                want[e["index"]] = e["value"]
            assert np.array_equal(dense[b], want)  # both the same float32 values, printed alike
        cut = s.post("/embed", {"inputs": texts[0], "normalize": False, "dimensions": 100}).json()
        assert np.array_equal(np.array(cut[0]), dense[0][:100])
        refused = s.post("/embed", {"inputs": texts})
        check_error(refused, 424, "Backend")
        assert "normalize is not available for SPLADE models" in refused.json()["error"]
        check_error(s.post("/embed_all", {"inputs": texts}), 424, "Backend")
        assert s.post("/predict", {"inputs": texts[0], "model": "cls"}).status_code == 200  # classifiers unaffected
    finally:
        assert s.stop() == 0
    p = subprocess.run([MEDENC, "serve", "--model", f"ner={models['ner']}", "--host", "127.0.0.1", "--port", "0",
                        "--pooling", "splade"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "--pooling splade" in p.stderr and "'ner'" in p.stderr and "masked-LM" in p.stderr, p.stderr
