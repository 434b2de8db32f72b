"""medenc.train: the CLI's training from Python, then the trained model from Python."""
import json

import pytest

import medenc
from conftest import CLINICAL, cli_lines, init_model, run_cli


@pytest.fixture(scope="module")
def train_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    rows = []
    for i in range(24):
        text = CLINICAL[i % 8] or "Unremarkable study."
        rows.append(json.dumps({"text": f"{text} ({i})", "label": ["normal", "abnormal", "uncertain"][i % 3]}))
    path.write_text("\n".join(rows) + "\n")
    return path


def test_train_then_classify_round_trip(tmp_path, train_file):
    base = init_model(tmp_path / "base", "ModernBertModel", "modernbert-base", seed=3)
    args = dict(task="single-label", max_steps=3, batch_size=4, learning_rate=1e-3, seed=5, threads=1,
                max_length=64, save_strategy="no", logging_steps=1)
    summary = medenc.train(model=base, train=train_file, out=tmp_path / "py", **args)
    assert summary["global_step"] == 3
    assert summary["output_dir"] == str(tmp_path / "py")
    assert summary["resumed"] is False and summary["train_loss"] > 0

    # The same run by the CLI writes the same weights, bit for bit.
    cli_args = []
    for k, v in args.items():
        cli_args += ["--" + k.replace("_", "-"), v]
    run_cli("train", "--model", base, "--train", train_file, "--out", tmp_path / "cli", *cli_args)
    assert (tmp_path / "py" / "model.safetensors").read_bytes() == (tmp_path / "cli" / "model.safetensors").read_bytes()

    m = medenc.Model(tmp_path / "py", threads=1)
    assert sorted(m.info["labels"]) == ["abnormal", "normal", "uncertain"]
    assert m.classify(CLINICAL) == cli_lines("classify", str(tmp_path / "py"), CLINICAL)


def test_train_argument_errors(tmp_path, train_file):
    with pytest.raises(TypeError) as e:
        medenc.train(model="x", task="single-label", train=train_file, out=tmp_path, learning_rat=1e-3)
    assert "learning_rat" in str(e.value)
    with pytest.raises(ValueError):
        medenc.train(model="x", task="classification", train=train_file, out=tmp_path)
    assert "learning_rate" in medenc.train_argument_names()
    assert "per_device_train_batch_size" in medenc.train_argument_names()
