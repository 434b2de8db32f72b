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


def test_progress_callbacks_and_interrupt_then_resume(tmp_path, train_file):
    import os
    import signal

    base = init_model(tmp_path / "base", "BertModel", "bert-base-uncased", seed=4)
    args = dict(task="single-label", max_steps=6, batch_size=4, learning_rate=1e-3, seed=5, threads=1, max_length=48,
                save_strategy="no", logging_steps=2)
    steps, logs = [], []
    full = medenc.train(model=base, train=train_file, out=tmp_path / "full", progress=steps.append,
                        callbacks=type("C", (), {"on_log": lambda self, e: logs.append(e)})(), **args)
    assert [s["step"] for s in steps] == [1, 2, 3, 4, 5, 6]
    assert all(s["total_steps"] == 6 and s["loss"] > 0 for s in steps)
    assert [e["step"] for e in logs if "loss" in e] == [2, 4, 6]
    assert full["stopped"] is False

    class CtrlC:
        def on_step(self, info):
            if info["step"] == 3:
                os.kill(os.getpid(), signal.SIGINT)

    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            medenc.train(model=base, train=train_file, out=tmp_path / "cut", callbacks=CtrlC(), **args)
    finally:
        signal.signal(signal.SIGINT, old)
    assert (tmp_path / "cut" / "checkpoint-3").is_dir(), "stopped with a checkpoint to resume from"
    assert not (tmp_path / "cut" / "model.safetensors").exists()
    resumed = medenc.train(model=base, train=train_file, out=tmp_path / "cut", **args)
    assert resumed["resumed"] is True and resumed["global_step"] == 6
    assert (tmp_path / "cut" / "model.safetensors").read_bytes() == (tmp_path / "full" / "model.safetensors").read_bytes()


def test_callback_exception_stops_training(tmp_path, train_file):
    base = init_model(tmp_path / "base", "BertModel", "bert-base-uncased", seed=4)

    class Boom(RuntimeError):
        pass

    def fail(info):
        if info["step"] == 2:
            raise Boom("from the callback")

    with pytest.raises(Boom):
        medenc.train(model=base, train=train_file, out=tmp_path / "out", task="single-label", max_steps=5,
                     batch_size=4, threads=1, max_length=48, save_strategy="no", progress=fail)
