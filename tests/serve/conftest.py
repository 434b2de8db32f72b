import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_support import Server, make_model  # noqa: E402


@pytest.fixture(scope="session")
def cls_model(tmp_path_factory):
    # Single-label classifier with 64 positions, so that a paragraph needs stride windows.
    return make_model(str(tmp_path_factory.mktemp("cls") / "cls"), "ModernBertForSequenceClassification",
                      num_labels=3, problem_type="single_label_classification", max_positions=64,
                      labels=["negative", "neutral", "positive"])


@pytest.fixture(scope="session")
def models(tmp_path_factory, cls_model):
    d = tmp_path_factory.mktemp("models")
    m = {"cls": cls_model}
    m["multi"] = make_model(str(d / "multi"), "ModernBertForSequenceClassification", num_labels=4,
                            problem_type="multi_label_classification", labels=["cardiac", "pulmonary", "renal", "neuro"],
                            seed=11)
    m["rr"] = make_model(str(d / "rr"), "ModernBertForSequenceClassification", num_labels=1, problem_type="regression",
                         seed=13)
    m["ner"] = make_model(str(d / "ner"), "BertForTokenClassification", tokenizer="bert-base-cased", num_labels=5,
                          labels=["O", "B-PROBLEM", "I-PROBLEM", "B-TEST", "I-TEST"], seed=17)
    m["mlm"] = make_model(str(d / "mlm"), "ModernBertForMaskedLM", seed=19)
    return m


@pytest.fixture(scope="session")
def server(models):
    s = Server("--model", f"cls={models['cls']}", "--model", f"multi={models['multi']}", "--model",
               f"rr={models['rr']}", "--model", f"ner={models['ner']}", "--model", f"mlm={models['mlm']}",
               "--threads", "1", "--max-batch-tokens", "4096")
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="session")
def cls_server(cls_model):
    """One classifier (the load and OpenAPI tests need no other model)."""
    s = Server("--model", f"cls={cls_model}", "--threads", "1")
    yield s
    assert s.stop() == 0
