"""What a task is: where its data lives, how rows become model inputs, which head it trains, how
outputs become predictions, and which metric scores them. The finetune and evaluate loops know
nothing else about a task.

A *feature* is one model input (a dict of token lists, plus ``labels`` / ``start_positions`` /
``end_positions`` for training); a row can give several (QA windows) and ``Features.row`` says
whose each one is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from datasets import Dataset

from xadj.tasks.data import Source

PAD_LABEL = -100  # ignored by torch's cross-entropy: padding and non-first word pieces
PADDED_KEYS = {"input_ids", "attention_mask", "token_type_ids", "labels"}


@dataclass
class Features:
    inputs: list[dict[str, Any]]  # per feature: input_ids, attention_mask, ... (+ training labels)
    row: list[int]  # row index of each feature
    extra: list[Any] = field(default_factory=list)  # per feature: what post-processing needs


@dataclass
class Outcome:
    """Evaluation of one test config: metrics and per-item predictions for each file suffix
    ("" gives ``<config>.jsonl``; XSR gives ``.xx2en`` and ``.en2xx``)."""

    metrics: dict[str, float]
    predictions: dict[str, list[dict[str, Any]]]


@dataclass
class EvalContext:
    """Settings the evaluate loop passes to a task."""

    device: torch.device
    batch_size: int = 32
    max_length: int | None = None  # None: the task's default
    doc_stride: int | None = None  # QA; None: the task's default
    layer: int | None = None  # XSR
    qa_normalizer: str = "squad"  # QA
    progress: bool = False
    info: dict[str, Any] = field(default_factory=dict)  # a task records what it chose (layer)


class Task(Protocol):
    name: str
    lr: float  # docs/method.md §5 defaults
    epochs: int
    max_length: int
    doc_stride: int
    prediction_suffixes: tuple[str, ...]  # one predictions file per suffix ("" for most tasks)

    def train_source(self) -> Source: ...
    def test_configs(self, languages: Sequence[str], qa_pairs: Sequence[str]) -> list[str]: ...
    def test_source(self, config: str) -> Source: ...
    def label_names(self, rows: Dataset) -> list[str] | None: ...
    def model_class(self) -> Any: ...  # AutoModelFor..., or AutoModel for XSR
    def train_features(self, rows: Dataset, tokenizer: Any, labels: list[str] | None,
                       max_length: int, doc_stride: int) -> Features: ...
    def evaluate(self, model: Any, tokenizer: Any, rows: Dataset, config: str,
                 ctx: EvalContext) -> Outcome: ...


def model_limit(tokenizer: Any, requested: int) -> int:
    """``requested`` if the model takes inputs that long; a clear error otherwise."""
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and limit < 100_000 and requested > limit:
        raise ValueError(f"max_length {requested} exceeds the model's limit of {limit} tokens; "
                         f"pass --max-length {limit} or less")
    return requested


def row_ids(rows: Dataset) -> list[Any]:
    """The dataset's own ids when it has them, else the row index."""
    if "id" in rows.column_names:
        return list(rows["id"])
    return list(range(len(rows)))


def collate(features: Sequence[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """Pads a batch to its own longest feature (dynamic padding); scalars are stacked."""
    longest = max(len(f["input_ids"]) for f in features)
    batch: dict[str, torch.Tensor] = {}
    for key in features[0]:
        values = [f[key] for f in features]
        if key in PADDED_KEYS and isinstance(values[0], list):
            fill = {"input_ids": pad_id, "labels": PAD_LABEL}.get(key, 0)
            rows = [v + [fill] * (longest - len(v)) for v in values]
            batch[key] = torch.tensor(rows, dtype=torch.long)
        else:
            batch[key] = torch.tensor(values, dtype=torch.long)
    return batch


def length_grouped_order(lengths: np.ndarray, order: np.ndarray, batch_size: int,
                         group: int = 50) -> np.ndarray:
    """``order`` (a seeded permutation) cut into mega-batches of ``group`` batches, each sorted
    by length, longest first (transformers' LengthGroupedSampler): batches of similar length
    pad little, while their composition and order stay random."""
    size = batch_size * group
    chunks = [order[s:s + size] for s in range(0, len(order), size)]
    return np.concatenate([c[np.argsort(-lengths[c], kind="stable")] for c in chunks])


def forward_batches(model: Any, features: Features, pad_id: int, ctx: EvalContext,
                    collect: Callable[[Any, int], Any], desc: str) -> list[Any]:
    """Runs ``model`` over every feature in length-sorted batches (padding little) and returns
    ``collect(output, i)`` for each feature i of a batch, in feature order."""
    from tqdm.auto import tqdm

    model.eval()
    lengths = np.array([len(f["input_ids"]) for f in features.inputs])
    order = np.argsort(-lengths, kind="stable")
    results: list[Any] = [None] * len(order)
    steps = math.ceil(len(order) / ctx.batch_size)
    with torch.no_grad():
        for start in tqdm(range(0, len(order), ctx.batch_size), total=steps, desc=desc,
                          disable=not ctx.progress):
            idx = order[start:start + ctx.batch_size]
            inputs = collate([features.inputs[i] for i in idx], pad_id)
            output = model(**{k: v.to(ctx.device) for k, v in inputs.items()})
            for j, i in enumerate(idx):
                results[i] = collect(output, j)
    return results


def batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
