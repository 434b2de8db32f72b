"""Fixtures of the Python tests: the CLI (the reference the binding must match bit for bit),
small random-weight checkpoints made by `medenc init` with real tokenizers, and texts."""
import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"


def cli_path() -> str:
    path = os.environ.get("MEDENC_CLI") or str(REPO / "build" / "medenc")
    if not os.path.exists(path):
        pytest.fail(f"the medenc CLI is not at {path}: build it (cmake --build build --target medenc) or set MEDENC_CLI")
    return path


def run_cli(*args, input_text=None, check=True):
    """Runs `medenc ARGS` on one thread (results do not depend on it; CPU is shared)."""
    r = subprocess.run([cli_path(), *map(str, args)], input=input_text, capture_output=True, text=True, timeout=300)
    if check and r.returncode != 0:
        raise AssertionError(f"medenc {' '.join(map(str, args))} failed ({r.returncode}): {r.stderr}")
    return r


def cli_lines(command, model, texts, *extra, pairs=None, ids=False):
    """The parsed JSON lines of `medenc COMMAND --model MODEL` over TEXTS (as JSON Lines)."""
    records = []
    for i, t in enumerate(texts):
        rec = {"id": i} if ids else {}
        rec["text"] = t
        if pairs is not None and pairs[i] is not None:
            rec["text_pair"] = pairs[i]
        records.append(json.dumps(rec, ensure_ascii=False))
    r = run_cli(command, "--model", model, "--threads", "1", *extra, input_text="\n".join(records) + "\n",
                check=False)
    assert r.returncode in (0, 3), r.stderr  # 3: some lines were error lines
    return [json.loads(line) for line in r.stdout.splitlines()]


# Sentences from MedMentions abstracts (CC0) and short notes written for these tests.
CLINICAL = [
    "Pseudomonas aeruginosa (Pa) infection in cystic fibrosis (CF) patients is associated with worse long-term "
    "pulmonary disease and shorter survival.",
    "Nonylphenol diethoxylate inhibits apoptosis induced in PC12 cells",
    "Membranes with rectilinear arrays of square pores with widths ranging from 40 to 200 \u03bcm were created.",
    "No acute cardiopulmonary abnormality.",
    "Pt c/o chest pain x3 days,  worse on exertion; denies SOB.",
    "Fi\u00e8vre \u00e0 39\u00b0C, toux s\u00e8che.",
    "",
    "BP 120/80, HR 72 bpm. Impression: stable.",
    "Left lower lobe infiltrate, likely pneumonia; recommend follow-up radiograph in 6 weeks. " * 12,
]


@pytest.fixture(scope="session")
def texts():
    return list(CLINICAL)


def init_model(out: Path, arch: str, tokenizer: str, num_labels=None, problem_type=None, seed=7) -> str:
    args = ["init", "--arch", arch, "--config", "tiny", "--out", out, "--seed", seed,
            "--tokenizer", DATA / "tokenizers" / tokenizer]
    if num_labels:
        args += ["--num-labels", num_labels]
    if problem_type:
        args += ["--problem-type", problem_type]
    run_cli(*args)
    return str(out)


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """Random-weight tiny checkpoints with real tokenizers, one per head and problem type."""
    root = tmp_path_factory.mktemp("models")
    return {
        "single": init_model(root / "single", "ModernBertForSequenceClassification", "modernbert-base", 3,
                             "single_label_classification"),
        "multi": init_model(root / "multi", "BertForSequenceClassification", "bert-base-uncased", 4,
                            "multi_label_classification"),
        "regression": init_model(root / "regression", "ModernBertForSequenceClassification", "modernbert-base", 1,
                                 "regression"),
        "pairs": init_model(root / "pairs", "BertForSequenceClassification", "bert-base-cased", 2,
                            "single_label_classification"),
        "ner": init_model(root / "ner", "BertForTokenClassification", "bert-base-cased", 5),
        "ner_bpe": init_model(root / "ner_bpe", "ModernBertForTokenClassification", "modernbert-base", 5),
        "mlm": init_model(root / "mlm", "ModernBertForMaskedLM", "modernbert-base"),
        "base": init_model(root / "base", "BertModel", "bert-base-uncased"),
    }


def fixture_model(tmp: Path, name: str) -> str:
    """A Hugging Face reference fixture (tests/data/fixtures/NAME: transformers' own outputs) as a
    loadable model: its config and weights plus a placeholder WordPiece vocabulary of the model's
    size (the fixtures come without tokenizer files; forward() takes ids, so any vocabulary of the
    right size will do)."""
    import shutil

    src = DATA / "fixtures" / name
    out = tmp / name
    out.mkdir(parents=True, exist_ok=True)
    for f in ("config.json", "model.safetensors"):
        shutil.copy(src / f, out / f)
    config = json.loads((src / "config.json").read_text())
    vocab = [f"tok{i}" for i in range(config["vocab_size"])]
    special = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}
    if config.get("cls_token_id") is not None:  # ModernBERT fixtures: specials at the end
        special = {config["cls_token_id"]: "[CLS]", config["sep_token_id"]: "[SEP]",
                   config["pad_token_id"]: "[PAD]", config["pad_token_id"] + 1: "[MASK]",
                   config["pad_token_id"] + 2: "[UNK]"}
    for i, token in special.items():
        vocab[i] = token
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return str(out)
