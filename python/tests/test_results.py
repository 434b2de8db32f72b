"""The binding's results equal the CLI's JSON lines bit for bit (json.loads of the CLI's output),
and forward() matches Hugging Face's own outputs stored in the fixtures."""
import json
import os
import struct

import numpy as np
import pytest

import medenc
from conftest import DATA, cli_lines, fixture_model, run_cli


def without_id(lines):
    return [{k: v for k, v in line.items() if k != "id"} for line in lines]


@pytest.mark.parametrize("kind", ["single", "multi", "regression"])
def test_classify_equals_cli(models, texts, kind):
    m = medenc.Model(models[kind], threads=1)
    got = m.classify(texts)
    assert got == cli_lines("classify", models[kind], texts)
    assert len(got) == len(texts)
    # Every field the CLI writes is there with the CLI's types (not merely equal numbers).
    for g, c in zip(got, cli_lines("classify", models[kind], texts)):
        assert list(g) == list(c)
        assert json.dumps(g) == json.dumps(c)


def test_classify_options_equal_cli(models, texts):
    m = medenc.Model(models["multi"], threads=1)
    assert m.classify(texts, threshold=0.3, top_k=2) == cli_lines(
        "classify", models["multi"], texts, "--threshold", "0.3", "--top-k", "2")
    # Long inputs as overlapping windows, combined by max.
    got = m.classify(texts, stride=8, max_length=32, window_aggregation="max")
    assert got == cli_lines("classify", models["multi"], texts, "--stride", "8", "--max-length", "32",
                            "--window-aggregation", "max")
    assert any(g.get("windows", 1) > 1 for g in got)
    # Truncation is reported as the CLI reports it.
    got = m.classify(texts, max_length=16)
    assert got == cli_lines("classify", models["multi"], texts, "--max-length", "16")
    assert any(g.get("truncated") for g in got)


def test_classify_pairs_equal_cli(models, texts):
    pairs = [None if i % 3 == 0 else texts[(i + 1) % len(texts)] for i in range(len(texts))]
    inputs = [t if p is None else (t, p) for t, p in zip(texts, pairs)]
    m = medenc.Model(models["pairs"], threads=1)
    got = m.classify(inputs)
    assert got == cli_lines("classify", models["pairs"], texts, pairs=pairs)
    # A pair is not the same input as its first text alone.
    assert got[1] != m.classify([texts[1]])[0]


@pytest.mark.parametrize("kind", ["ner", "ner_bpe"])
@pytest.mark.parametrize("aggregation", ["simple", "none", "first"])
def test_ner_equals_cli(models, texts, kind, aggregation):
    m = medenc.Model(models[kind], threads=1)
    got = m.ner(texts, aggregation=aggregation, ignore_labels=[])
    cli = cli_lines("ner", models[kind], texts, "--aggregation", aggregation, "--ignore-labels", "")
    assert got == [line["entities"] for line in cli]
    assert sum(len(e) for e in got) > 0
    for text, entities in zip(texts, got):
        for e in entities:
            assert text[e["start"]:e["end"]] == e["text"]


def test_fill_mask_equals_cli(models):
    m = medenc.Model(models["mlm"], threads=1)
    mask = m.tokenizer.mask_token
    texts = [f"The patient has a history of {mask} disease.", f"No {mask} effusion or {mask}."]
    got = m.fill_mask(texts, top_k=3)
    assert got == [line["masks"] for line in cli_lines("fill-mask", models["mlm"], texts, "--top-k", "3")]
    assert [len(masks) for masks in got] == [1, 2]
    assert all(len(mask["predictions"]) == 3 for masks in got for mask in masks)


@pytest.mark.parametrize("pooling,normalize", [("mean", False), ("cls", True)])
def test_embed_is_numpy_and_equals_cli(models, texts, pooling, normalize):
    m = medenc.Model(models["base"], threads=1)
    emb = m.embed(texts, pooling=pooling, normalize=normalize)
    assert isinstance(emb, np.ndarray)
    assert emb.dtype == np.float32 and emb.shape == (len(texts), m.info["hidden_size"])
    assert emb.flags.c_contiguous and emb.flags.owndata is False  # a view of the library's buffer, not copied
    extra = ["--pooling", pooling] + (["--normalize"] if normalize else [])
    cli = np.array([line["embedding"] for line in cli_lines("embed", models["base"], texts, *extra)],
                   dtype=np.float64)
    # The CLI prints each float's shortest decimal form: read back as float32 it is the same float.
    assert np.array_equal(cli.astype(np.float32), emb)
    if normalize:
        assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_embed_splade_rows_span_the_vocabulary_and_equal_cli(models, texts):
    # SPLADE over the masked-LM head: one row of vocab_size per text (Session::embed once dropped them
    # for zeros), the CLI's values; per-token rows ("tokens") do not fit one array and are refused.
    m = medenc.Model(models["mlm"], threads=1)
    emb = m.embed(texts[:3], pooling="splade")
    vocab = json.load(open(os.path.join(models["mlm"], "config.json")))["vocab_size"]
    assert emb.shape == (3, vocab) and emb.dtype == np.float32
    assert (emb >= 0).all() and (emb > 0).any(axis=1).all()
    cli = np.array([line["embedding"] for line in cli_lines("embed", models["mlm"], texts[:3], "--pooling", "splade")],
                   dtype=np.float64)
    assert np.array_equal(cli.astype(np.float32), emb)
    with pytest.raises(medenc.InvalidInputError, match="tokens"):
        m.embed(texts[:1], pooling="tokens")


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        dtype = {"F32": np.float32, "I64": np.int64}[t["dtype"]]
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=dtype).reshape(t["shape"])
    return out


@pytest.mark.parametrize("fixture", ["bert_seqcls_smallvocab", "bert_tokcls9_smallvocab", "bert_mlm_smallvocab",
                                     "megatron_seqcls3_smallvocab", "modernbert_tokcls9_smallvocab"])
def test_forward_matches_hugging_face_and_cli(tmp_path, fixture):
    folder = DATA / "fixtures" / fixture
    inputs = json.loads((folder / "inputs.json").read_text())
    expected = read_safetensors(folder / "expected.safetensors")
    m = medenc.Model(fixture_model(tmp_path, fixture), threads=1)
    out = m.forward(np.array(inputs["input_ids"]), inputs["attention_mask"], inputs.get("token_type_ids"))
    mask = np.array(inputs["attention_mask"], dtype=bool)
    assert set(out) == {k for k in expected if k in ("last_hidden_state", "pooler_output", "logits")}
    for name, value in out.items():
        assert value.dtype == np.float32 and value.shape == expected[name].shape, name
        # Hugging Face's eager outputs (transformers' own modeling code) on the real tokens.
        real = mask if value.ndim == 3 else np.ones(value.shape[0], dtype=bool)
        assert np.allclose(value[real], expected[name][real], atol=2e-5, rtol=1e-4), name
        if value.ndim == 3:
            assert not value[~mask].any(), f"{name}: padding rows are zeros"
    # And bit for bit what `medenc forward` writes.
    (tmp_path / "inputs.json").write_text(json.dumps(inputs))
    run_cli("forward", "--model", folder, "--inputs", tmp_path / "inputs.json", "--out", tmp_path / "out.safetensors",
            "--threads", "1")
    cli = read_safetensors(tmp_path / "out.safetensors")
    assert set(cli) == set(out)
    for name in out:
        assert np.array_equal(cli[name], out[name]), name


def test_forward_mlm_positions(tmp_path):
    folder = DATA / "fixtures" / "bert_mlm_smallvocab"
    inputs = json.loads((folder / "inputs.json").read_text())
    positions = [[0, 1], [1, 2]]
    m = medenc.Model(fixture_model(tmp_path, "bert_mlm_smallvocab"), threads=1)
    full = m.forward(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"])["logits"]
    at = m.forward(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"], positions=positions)
    assert at["logits"].shape == (2, full.shape[2])
    assert np.allclose(at["logits"], full[[0, 1], [1, 2]], atol=1e-6)


def test_tokenizer_matches_hugging_face_tokenizers():
    """encode() against Hugging Face `tokenizers` outputs (tests/data/tokenizers/fixtures)."""
    checked = 0
    for name in ["bert-base-uncased", "bert-base-cased", "modernbert-base"]:
        tok = medenc.Tokenizer(DATA / "tokenizers" / name)
        for suffix in ["", ".trunc16"]:
            lines = (DATA / "tokenizers" / "fixtures" / f"{name}{suffix}.jsonl").read_text().splitlines()
            for line in lines:
                case = json.loads(line)
                # The fixtures' truncation is tokenizers 0.23's, which stops at max_length.
                kw = {"max_length": case["max_length"], "stop_at_max_length": True} if "max_length" in case else {}
                e = tok.encode(case["text"], case.get("text_pair"), **kw)
                assert e.ids == case["ids"], case["id"]
                assert e.tokens == case["tokens"]
                assert [list(o) for o in e.offsets] == case["offsets"]
                assert e.type_ids == case["type_ids"]
                assert e.special_tokens_mask == case["special_tokens_mask"]
                assert e.word_ids == case["word_ids"]
                assert e.sequence_ids == case["sequence_ids"]
                if "num_overflowing" in case:
                    assert len(e.overflowing) == case["num_overflowing"]
                checked += 1
        # encode_batch gives what encode gives, pairs included.
        texts = [json.loads(l)["text"] for l in lines[:20]]
        batch = tok.encode_batch(texts + [(texts[0], texts[1])])
        assert [b.ids for b in batch] == [tok.encode(t).ids for t in texts] + [tok.encode(texts[0], texts[1]).ids]
    assert checked > 200


def test_model_tokenizer_and_info(models):
    m = medenc.Model(models["single"], threads=1)
    info = m.info
    config = json.loads(open(f"{models['single']}/config.json").read())
    assert info["architecture"] == "ModernBertForSequenceClassification" == config["architectures"][0]
    assert info["labels"] == [config["id2label"][str(i)] for i in range(3)]
    assert info["num_labels"] == 3
    assert info["problem_type"] == "single_label_classification"
    assert info["max_length"] == config["max_position_embeddings"]
    assert info["hidden_size"] == config["hidden_size"]
    assert info["dtype"] == "f32"
    own = medenc.Tokenizer(DATA / "tokenizers" / "modernbert-base")
    assert m.tokenizer.encode("Chest X-ray.").ids == own.encode("Chest X-ray.").ids


def test_bf16_model_is_close_to_f32(models, texts):
    ref = medenc.Model(models["single"], threads=1).classify(texts)
    m = medenc.Model(models["single"], dtype="bf16", threads=1)
    assert m.info["dtype"] == "bf16"
    got = m.classify(texts)
    for g, r in zip(got, ref):
        for label, p in r["scores"].items():
            assert abs(g["scores"][label] - p) < 0.02
