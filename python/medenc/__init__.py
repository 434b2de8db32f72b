"""medenc: clinical text encoders (ModernBERT, BERT, Megatron-BERT) on CPU.

    import medenc
    m = medenc.Model("models/medical-relevance")          # loaded once, shared by threads
    m.classify(["Chest X-ray shows a left lower lobe infiltrate."])
    # [{'label': 'relevant', 'score': 0.97, 'scores': {...}}]   (as `medenc classify` writes it)
    m.embed(texts)                                          # numpy float32 [len(texts), hidden]
    for r in m.classify_iter(records_generator()): ...      # streams in bounded memory

Results are exactly the CLI's (same keys, same values), and do not depend on how the inputs are
batched or on the thread count: a job split across threads, processes or machines (medenc.dask)
gives the same bits as one call.
"""
from __future__ import annotations

import itertools
import os
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Mapping, Tuple, Union

from ._medenc import (  # noqa: F401  (re-exported)
    CancelledError,
    Encoding,
    Error,
    InternalError,
    InvalidInputError,
    IoError,
    ModelError,
    ResourceExhaustedError,
    Tokenizer,
    UnsupportedError,
    train_argument_names,
)
from . import _medenc

if TYPE_CHECKING:
    import numpy

__all__ = [
    "Model", "Tokenizer", "Encoding", "train", "train_argument_names",
    "Error", "InvalidInputError", "ModelError", "UnsupportedError", "ResourceExhaustedError",
    "CancelledError", "IoError", "InternalError",
]

TextInput = Union[str, Tuple[str, str]]
# A record for the *_iter methods: a text, a (text, pair) tuple, or a mapping with "text" (and
# optionally "text_pair" and "id": the id is copied to the result as the CLI copies it).
Record = Union[str, Tuple[str, str], Mapping[str, Any]]

_NO_ID = object()


def _split_records(records: List[Record]) -> Tuple[List[TextInput], List[Any]]:
    texts: List[TextInput] = []
    ids: List[Any] = []
    for i, r in enumerate(records):
        if isinstance(r, Mapping):
            if "text" not in r:
                raise ValueError(f"record {i} has no \"text\"")
            pair = r.get("text_pair")
            texts.append((r["text"], pair) if pair is not None else r["text"])
            ids.append(r.get("id", _NO_ID))
        else:
            texts.append(r)
            ids.append(_NO_ID)
    return texts, ids


def _chunks(items: Iterable[Record], size: int) -> Iterator[List[Record]]:
    if size < 1:
        raise ValueError("chunk_size must be at least 1")
    it = iter(items)
    while True:
        chunk = list(itertools.islice(it, size))
        if not chunk:
            return
        yield chunk


def _with_id(id_: Any, result: Any) -> Any:
    if id_ is _NO_ID:
        return result
    out = {"id": id_}
    out.update(result)
    return out


class Model(_medenc.Model):
    __doc__ = _medenc.Model.__doc__

    def classify_iter(self, records: Iterable[Record], *, batch_tokens: int = 16384, chunk_size: int = 1024,
                      **options: Any) -> Iterator[Dict[str, Any]]:
        """classify() over an iterable (a generator, a file), in input order, in bounded memory.

        Reads `chunk_size` records at a time (sorted by length and run in forward batches of at most
        `batch_tokens` tokens), so memory does not grow with the input. Records are str, (text, pair)
        tuples, or mappings with "text" (and "text_pair", "id"); a mapping's "id" comes first in its
        result, as in the CLI's lines. Other options as classify(). Results do not depend on
        chunk_size or batch_tokens.
        """
        for chunk in _chunks(records, chunk_size):
            texts, ids = _split_records(chunk)
            for id_, r in zip(ids, self.classify(texts, max_batch_tokens=batch_tokens, **options)):
                yield _with_id(id_, r)

    def ner_iter(self, records: Iterable[Record], *, batch_tokens: int = 16384, chunk_size: int = 1024,
                 **options: Any) -> Iterator[Any]:
        """ner() over an iterable in bounded memory; yields each record's entity list (a mapping
        with an "id" yields {"id": ..., "entities": [...]}, as the CLI's lines)."""
        for chunk in _chunks(records, chunk_size):
            texts, ids = _split_records(chunk)
            for id_, r in zip(ids, self.ner(texts, max_batch_tokens=batch_tokens, **options)):
                yield r if id_ is _NO_ID else _with_id(id_, {"entities": r} if isinstance(r, list) else r)

    def embed_iter(self, records: Iterable[Record], *, batch_tokens: int = 16384, chunk_size: int = 1024,
                   **options: Any) -> Iterator["numpy.ndarray"]:
        """embed() over an iterable in bounded memory; yields one float32 array [n, hidden] per chunk."""
        for chunk in _chunks(records, chunk_size):
            texts, _ = _split_records(chunk)
            yield self.embed(texts, max_batch_tokens=batch_tokens, **options)


class _TqdmProgress:
    """Training progress on a tqdm bar (when tqdm is installed) or as lines on stderr."""

    def __init__(self):
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        self._tqdm = tqdm
        self._bar = None

    def __call__(self, step: Dict[str, Any]) -> None:
        if self._tqdm is not None:
            if self._bar is None:
                self._bar = self._tqdm(total=step["total_steps"], initial=step["step"] - 1, unit="step", desc="train")
            self._bar.update(step["step"] - self._bar.n)
            self._bar.set_postfix(loss=f"{step['loss']:.4f}", lr=f"{step['learning_rate']:.3g}")
        else:
            import sys

            print(f"step {step['step']}/{step['total_steps']}  epoch {step['epoch']:.2f}  loss {step['loss']:.4f}  "
                  f"{step['tokens_per_second']:.0f} tokens/s", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


_CALLBACK_NAMES = ("on_step", "on_log", "on_evaluate", "on_save", "on_message", "on_eval_progress")


def train(model: Union[str, os.PathLike], task: str, train: Union[str, os.PathLike], out: Union[str, os.PathLike],
          *, progress: Union[None, bool, Callable[[Dict[str, Any]], None]] = None, callbacks: Any = None,
          **trainer_args: Any) -> Dict[str, Any]:
    """Fine-tunes (regression, single-label, multi-label, ner) or pre-trains (mlm) a checkpoint, as
    `medenc train` does, and returns the summary it prints.

    trainer_args: medenc train's options with _ for - (learning_rate, num_train_epochs, max_steps,
    batch_size, eval, eval_strategy, eval_steps, save_steps, save_strategy, seed, threads,
    overwrite_output_dir, ...; medenc.train_argument_names() lists them). Checkpoints go to `out`
    (Hugging Face layout) and a rerun resumes from the latest one there, bit for bit.

    progress: True shows a tqdm bar (when tqdm is installed; else a line per step on stderr); a
    callable is called after every optimizer step with {"step", "total_steps", "epoch", "loss",
    "learning_rate", "tokens_per_second", "eta_seconds"}.
    callbacks: an object with any of on_step(info), on_log(entry), on_evaluate(entry),
    on_save(checkpoint_dir), on_message(line), on_eval_progress(done, total) (as Hugging Face's
    TrainerCallback). They run on the calling thread. An exception in one, or Ctrl-C, stops training
    at the next step after saving a checkpoint, then propagates (KeyboardInterrupt for Ctrl-C):
    calling train() again resumes from that checkpoint.

    Returns {"output_dir", "global_step", "train_loss", "train_runtime", "resumed", "stopped",
    "last_checkpoint"?, "best_model_checkpoint"?}.
    """
    hooks: Dict[str, Callable] = {}
    if callbacks is not None:
        for name in _CALLBACK_NAMES:
            fn = getattr(callbacks, name, None)
            if fn is not None:
                hooks[name] = fn
    bar = None
    if progress is True:
        bar = _TqdmProgress()
        progress = bar
    if progress:
        user_step = hooks.get("on_step")

        def on_step(info, _progress=progress, _user=user_step):
            _progress(info)
            if _user is not None:
                _user(info)

        hooks["on_step"] = on_step
    try:
        return _medenc.train(model=model, task=task, train=train, out=out, **hooks, **trainer_args)
    finally:
        if bar is not None:
            bar.close()
