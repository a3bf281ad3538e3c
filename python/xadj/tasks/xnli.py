"""XNLI (facebook/xnli): sentence-pair classification, train on English, accuracy per language.
Labels as on the hub: 0 entailment, 1 neutral, 2 contradiction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from datasets import Dataset

from xadj.tasks.base import EvalContext, Features, Outcome, forward_batches, row_ids
from xadj.tasks.data import Source

HUB_ID = "facebook/xnli"
LABELS = ["entailment", "neutral", "contradiction"]
LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi",
             "zh")


def _encode(rows: Dataset, tokenizer: Any, max_length: int) -> list[dict[str, Any]]:
    enc = tokenizer(list(rows["premise"]), list(rows["hypothesis"]), truncation=True,
                    max_length=max_length)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    return [{k: enc[k][i] for k in keys} for i in range(len(rows))]


def accuracy(gold: Sequence[int], predicted: Sequence[int]) -> float:
    """Accuracy in percent."""
    if not gold:
        raise ValueError("no items to score")
    return 100.0 * float(np.mean(np.asarray(gold) == np.asarray(predicted)))


class XnliTask:
    name = "xnli"
    lr = 5e-5
    epochs = 2
    max_length = 128
    doc_stride = 0
    prediction_suffixes: tuple[str, ...] = ("",)

    def train_source(self) -> Source:
        return Source(HUB_ID, "en", "train")

    def test_configs(self, languages: Sequence[str], qa_pairs: Sequence[str]) -> list[str]:
        return list(languages)

    def test_source(self, config: str) -> Source:
        return Source(HUB_ID, config, "test")

    def label_names(self, rows: Dataset) -> list[str] | None:
        feature = rows.features.get("label")
        names = getattr(feature, "names", None)
        return list(names) if names else list(LABELS)

    def model_class(self) -> Any:
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification

    def train_features(self, rows: Dataset, tokenizer: Any, labels: list[str] | None,
                       max_length: int, doc_stride: int) -> Features:
        inputs = _encode(rows, tokenizer, max_length)
        n_labels = len(labels or LABELS)
        for i, (feature, label) in enumerate(zip(inputs, rows["label"], strict=True)):
            if not isinstance(label, int) or not 0 <= label < n_labels:
                raise ValueError(f"XNLI train row {i}: label {label!r} is not in 0..{n_labels - 1}")
            feature["labels"] = label
        return Features(inputs, list(range(len(rows))))

    def evaluate(self, model: Any, tokenizer: Any, rows: Dataset, config: str,
                 ctx: EvalContext) -> Outcome:
        features = Features(_encode(rows, tokenizer, ctx.max_length or self.max_length),
                            list(range(len(rows))))
        predicted = forward_batches(model, features, tokenizer.pad_token_id, ctx,
                                    lambda out, j: int(out.logits[j].argmax()), f"xnli {config}")
        gold = [int(x) for x in rows["label"]]
        items = [{"id": i, "gold": g, "prediction": p}
                 for i, g, p in zip(row_ids(rows), gold, predicted, strict=True)]
        return Outcome({"accuracy": accuracy(gold, predicted), "n": len(gold)}, {"": items})
