"""Every route's JSON shape (TEI's), error bodies and codes, multi-model routing, windows on a long
document, and outputs equal to the CLI's on the same inputs, bit for bit."""
import base64
import json
import math
import struct
import subprocess

import pytest
import requests

from serve_support import TEXTS, cli_lines

TIMING_HEADERS = ["x-compute-time", "x-compute-tokens", "x-tokenization-time", "x-queue-time", "x-inference-time",
                  "x-total-time", "x-compute-characters"]


def check_error(r, status, error_type):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "error_type"}, body
    assert body["error_type"] == error_type and body["error"]


def test_health_info(server):
    r = server.get("/health")
    assert r.status_code == 200 and r.text == ""
    info = server.get("/info").json()
    for key in ["model_id", "model_sha", "model_dtype", "served_model_name", "model_type", "max_concurrent_requests",
                "max_input_length", "max_batch_tokens", "max_batch_requests", "max_client_batch_size",
                "auto_truncate", "tokenization_workers", "version", "sha", "docker_label"]:
        assert key in info, key
    assert info["served_model_name"] == "cls" and info["model_dtype"] == "float32"
    assert info["model_type"]["classifier"]["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}
    assert info["max_input_length"] == 64 and info["max_client_batch_size"] == 32
    assert [m["name"] for m in info["models"]] == ["cls", "multi", "rr", "ner", "mlm"]


def test_classify_equals_cli(server, models):
    r = server.post("/classify", {"inputs": TEXTS})
    assert r.status_code == 200, r.text
    assert r.json() == cli_lines("classify", models["cls"], TEXTS)
    for h in TIMING_HEADERS:
        assert r.headers[h].isdigit(), h
    assert int(r.headers["x-compute-characters"]) == sum(len(t) for t in TEXTS)


def test_predict_tei_shape(server, models):
    cli = cli_lines("classify", models["cls"], TEXTS[:2])
    single = server.post("/predict", {"inputs": TEXTS[0]}).json()
    assert [set(x) for x in single] == [{"score", "label"}] * 3
    scores = [x["score"] for x in single]
    assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-6
    # The best label and its probability are the CLI's (softmax of the same logits).
    assert single[0]["label"] == cli[0]["label"] and single[0]["score"] == cli[0]["score"]
    assert {x["label"]: x["score"] for x in single} == cli[0]["scores"]
    batch = server.post("/predict", {"inputs": [[TEXTS[0]], [TEXTS[1]]]}).json()
    assert len(batch) == 2 and batch[0] == single
    raw = server.post("/predict", {"inputs": TEXTS[0], "raw_scores": True}).json()
    logits = {x["label"]: x["score"] for x in raw}
    z = sum(math.exp(v) for v in logits.values())
    for x in single:  # softmax of the raw scores, computed here
        assert abs(math.exp(logits[x["label"]]) / z - x["score"]) < 1e-6


def test_multilabel_threshold_top_k(server, models):
    texts = TEXTS[:3]
    for body, args in [({}, []), ({"threshold": 0.3, "top_k": 2}, ["--threshold", "0.3", "--top-k", "2"])]:
        got = server.post("/classify", {"inputs": texts, "model": "multi", **body}).json()
        assert got == cli_lines("classify", models["multi"], texts, *args)
    full = server.post("/classify", {"inputs": texts, "model": "multi", "threshold": 0.5}).json()
    for line in full:  # sigmoid scores; labels are those above the threshold, best first
        assert all(0 < p < 1 for p in line["scores"].values())
        above = sorted([l for l, p in line["scores"].items() if p > 0.5], key=lambda l: -line["scores"][l])
        assert line["labels"] == above
    per_label = server.post("/classify", {"inputs": texts, "model": "multi", "thresholds": {"cardiac": 0.0},
                                          "threshold": 1.0}).json()
    for line in per_label:
        assert line["labels"] == ["cardiac"]
    check_error(server.post("/classify", {"inputs": "x", "model": "multi", "thresholds": {"nope": 0.2}}), 422,
                "Validation")


def test_regression_and_rerank(server, models):
    # TEI encodes each (query, text) as a pair, query first.
    cli = cli_lines("classify", models["rr"], ["query"] * 3, pairs=TEXTS[:3])
    r = server.post("/rerank", {"query": "query", "texts": TEXTS[:3], "raw_scores": True, "return_text": True,
                                "model": "rr"})
    assert r.status_code == 200, r.text
    ranked = r.json()
    assert [set(x) for x in ranked] == [{"index", "text", "score"}] * 3
    assert [x["score"] for x in ranked] == sorted([x["score"] for x in ranked], reverse=True)
    for x in ranked:
        assert x["text"] == TEXTS[x["index"]]
        assert x["score"] == cli[x["index"]]["score"]  # the raw regression value, as the CLI's
    sig = server.post("/rerank", {"query": "query", "texts": TEXTS[:3], "model": "rr"}).json()
    raw = {x["index"]: x["score"] for x in ranked}
    for x in sig:
        assert "text" not in x and abs(x["score"] - 1 / (1 + math.exp(-raw[x["index"]]))) < 1e-6
    check_error(server.post("/rerank", {"query": "q", "texts": [], "model": "rr"}), 400, "Empty")
    check_error(server.post("/rerank", {"query": "q", "texts": ["a"], "model": "cls"}), 424, "Backend")


def test_embed_routes(server, models):
    texts = TEXTS[:3]
    cli = [l["embedding"] for l in cli_lines("embed", models["cls"], texts)]
    raw = server.post("/embed", {"inputs": texts, "normalize": False}).json()
    assert raw == cli  # mean pooling, bit for bit
    unit = server.post("/embed", {"inputs": texts}).json()
    for u, v in zip(unit, raw):
        n = math.sqrt(sum(x * x for x in v))
        assert abs(math.sqrt(sum(x * x for x in u)) - 1) < 1e-6
        assert all(abs(a - b / n) < 1e-6 for a, b in zip(u, v))
    cut = server.post("/embed", {"inputs": texts[0], "dimensions": 8}).json()
    assert len(cut) == 1 and len(cut[0]) == 8 and abs(sum(x * x for x in cut[0]) - 1) < 1e-5
    check_error(server.post("/embed", {"inputs": "x", "dimensions": 0}), 422, "Validation")
    # embed_all: every token's vector; their mean is the mean-pooled embedding.
    tokens = server.post("/tokenize", {"inputs": texts[1]}).json()[0]
    rows = server.post("/embed_all", {"inputs": texts[1]}).json()[0]
    assert len(rows) == len(tokens) and len(rows[0]) == len(raw[1])
    mean = [sum(r[h] for r in rows) / len(rows) for h in range(len(rows[0]))]
    assert all(abs(a - b) < 1e-5 for a, b in zip(mean, raw[1]))
    # similarity: cosine of the vectors, computed here.
    sim = server.post("/similarity", {"inputs": {"source_sentence": texts[0], "sentences": texts[1:]}}).json()
    for k, s in enumerate(sim):
        a, b = raw[0], raw[k + 1]
        cos = sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
        assert abs(s - cos) < 1e-5
    # OpenAI shape, with usage and base64.
    r = server.post("/v1/embeddings", {"input": texts, "model": "cls"})
    o = r.json()
    assert o["object"] == "list" and o["model"] == "cls"
    assert [d["index"] for d in o["data"]] == [0, 1, 2] and all(d["object"] == "embedding" for d in o["data"])
    assert [d["embedding"] for d in o["data"]] == unit
    assert o["usage"]["prompt_tokens"] == o["usage"]["total_tokens"] == int(r.headers["x-compute-tokens"])
    e = server.post("/v1/embeddings", {"input": ""})  # OpenAI's error body
    assert e.status_code == 400 and e.json() == {"message": "Input validation error: `input` cannot be empty",
                                                 "code": 400, "type": "Empty"}
    b = server.post("/v1/embeddings", {"input": texts[0], "encoding_format": "base64"}).json()
    packed = base64.b64decode(b["data"][0]["embedding"])
    floats = struct.unpack(f"<{len(packed) // 4}f", packed)
    assert all(abs(a - b) < 1e-7 for a, b in zip(floats, unit[0]))


def test_tokenize_decode(server):
    text = "Chest pain, no fever."
    toks = server.post("/tokenize", {"inputs": [text]}).json()[0]
    raw = text.encode()
    assert toks[0]["special"] and toks[0]["start"] is None and toks[-1]["special"]
    for t in toks[1:-1]:
        assert set(t) == {"id", "text", "special", "start", "stop"}
        assert raw[t["start"]:t["stop"]].decode() == t["text"]
    ids = [t["id"] for t in toks]
    assert server.post("/decode", {"ids": ids}).json() == [text]
    assert server.post("/decode", {"ids": [ids, ids[1:3]]}).json()[0] == text
    no_special = server.post("/tokenize", {"inputs": text, "add_special_tokens": False}).json()[0]
    assert [t["id"] for t in no_special] == ids[1:-1]
    check_error(server.post("/decode", {"ids": []}), 400, "Empty")


def test_ner_and_fill_mask_equal_cli(server, models):
    got = server.post("/ner", {"inputs": TEXTS, "model": "ner"}).json()
    assert got == cli_lines("ner", models["ner"], TEXTS)
    for text, line in zip(TEXTS, got):
        for e in line["entities"]:
            assert text[e["start"]:e["end"]] == e["text"]
    first = server.post("/ner", {"inputs": TEXTS, "model": "ner", "aggregation": "first"}).json()
    assert first == cli_lines("ner", models["ner"], TEXTS, "--aggregation", "first")
    masked = ["The chest [MASK] is clear.", "No [MASK] effusion. [MASK] seen."]
    got = server.post("/fill-mask", {"inputs": masked, "model": "mlm", "top_k": 3}).json()
    assert got == cli_lines("fill-mask", models["mlm"], masked, "--top-k", "3")
    assert [len(l["masks"]) for l in got] == [1, 2]
    check_error(server.post("/fill-mask", {"inputs": "no mask here", "model": "mlm"}), 422, "Validation")


def test_long_document_windows(server, models):
    long_text = " ".join(TEXTS * 4)
    got = server.post("/classify", {"inputs": [long_text, TEXTS[2]], "stride": 16}).json()
    assert got == cli_lines("classify", models["cls"], [long_text, TEXTS[2]], "--stride", "16")
    assert got[0]["windows"] > 2 and "windows" not in got[1]
    cut = server.post("/classify", {"inputs": long_text}).json()
    assert cut[0]["truncated"] is True
    check_error(server.post("/predict", {"inputs": long_text, "truncate": False}), 422, "Validation")
    entities = server.post("/ner", {"inputs": long_text, "model": "ner", "stride": 16}).json()
    assert entities == cli_lines("ner", models["ner"], [long_text], "--stride", "16")


def test_multi_model_routing(server):
    a = server.post("/classify", {"inputs": TEXTS[0], "model": "cls"}).json()[0]
    b = server.post("/classify", {"inputs": TEXTS[0], "model": "multi"}).json()[0]
    d = server.post("/classify", {"inputs": TEXTS[0]}).json()[0]
    assert "label" in a and "labels" in b and a == d
    check_error(server.post("/classify", {"inputs": "x", "model": "nope"}), 422, "Validation")
    check_error(server.post("/predict", {"inputs": "x", "model": "ner"}), 424, "Backend")


def test_errors(server):
    check_error(server.post("/embed", {"inputs": []}), 400, "Empty")
    check_error(server.post("/embed", {"inputs": ""}), 400, "Empty")
    check_error(server.post("/classify", {"inputs": []}), 400, "Empty")
    r = server.post("/embed", {"inputs": ["a"] * 40})
    check_error(r, 422, "Validation")
    assert r.json()["error"] == "batch size 40 > maximum allowed batch size 32"
    check_error(requests.post(server.url + "/embed", data=b"{not json", timeout=10), 400, "Validation")
    check_error(requests.post(server.url + "/embed", data=b'{"inputs": "\xff\xfe"}', timeout=10), 400, "Validation")
    check_error(server.post("/embed", {"inputs": 5}), 422, "Validation")
    check_error(server.post("/predict", {"inputs": ["a", "b", "c"]}), 422, "Validation")
    check_error(server.post("/classify", {"inputs": "x", "top_k": "two"}), 422, "Validation")
    check_error(server.post("/nope", {}), 404, "NotFound")
    assert server.get("/embed").status_code == 405


def test_metrics(server):
    server.post("/predict", {"inputs": "x"})
    text = server.get("/metrics").text
    for name in ["te_request_count", "te_request_success", "te_request_duration_bucket", "te_queue_size",
                 "te_batch_next_size_bucket", "te_batch_next_tokens_bucket", "te_predict_success",
                 "te_request_input_length_bucket", "te_embed_success"]:
        assert name in text, name
    assert server.metric("te_request_success", 'method="single"') >= 1


def test_curl(server):
    p = subprocess.run(["curl", "-s", "-i", server.url + "/embed", "-H", "Content-Type: application/json",
                        "-d", json.dumps({"inputs": "chest pain"})], capture_output=True, text=True, timeout=30)
    head, body = p.stdout.replace("\r\n", "\n").split("\n\n", 1)
    assert head.startswith("HTTP/1.1 200") and "x-compute-tokens:" in head.lower()
    assert len(json.loads(body)) == 1


def test_logs_carry_no_text(server):
    secret = "Zyxwvutsrq patient name"
    server.post("/classify", {"inputs": secret})
    assert not any("Zyxwvutsrq" in line for line in server.log)
    assert any("request_id=" in line and "path=/classify" in line for line in server.log)
