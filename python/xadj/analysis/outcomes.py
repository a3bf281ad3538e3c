"""Per-item outcomes read back from ``evaluate``'s prediction files, as recomputable metrics.

``E/predictions/<config>.jsonl`` holds one object per test item with ``id``, ``gold`` and
``prediction`` (XSR: ``<config>.xx2en.jsonl`` and ``<config>.en2xx.jsonl``). Which metric a task
reports, and how it is recomputed:

- xnli, xsr: accuracy = mean of ``gold == prediction``;
- ner: seqeval entity F1, precision, recall (``gold``/``prediction``: one tag per word);
- qa: exact match and F1 means, with the normaliser evaluate recorded in results.json's config;
  items may carry their own ``exact_match``/``f1``, else they are scored with
  :mod:`xadj.tasks.qa_post` (the task's own scorer).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xadj.analysis.stats import EntityF1Metric, ItemMetric, MeanMetric

XSR_DIRECTIONS = ("xx2en", "en2xx")


@dataclass(frozen=True)
class Outcomes:
    """One run's items for one config and metric: ids in file order and the metric on them."""

    ids: list[str]
    metric: ItemMetric

    def aligned(self, ids: list[str]) -> ItemMetric:
        """The metric restricted to ``ids``, in that order (pairs items across runs by id)."""
        where = {item_id: k for k, item_id in enumerate(self.ids)}
        return _Subset(self.metric, np.array([where[i] for i in ids], dtype=np.int64))


@dataclass(frozen=True)
class _Subset:
    base: ItemMetric
    rows: np.ndarray

    @property
    def n(self) -> int:
        return len(self.rows)

    def score(self, indices: np.ndarray) -> np.ndarray:
        return self.base.score(self.rows[indices])


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """The items of one prediction file; a malformed line is an error naming file and line."""
    items: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{number}: not JSON: {err.msg}") from None
                if not isinstance(item, dict) or not {"gold", "prediction"} <= item.keys():
                    raise ValueError(f"{path}:{number}: expected an object with gold, prediction")
                item.setdefault("id", len(items))
                items.append(item)
    except OSError as err:
        raise OSError(f"{path}: cannot read predictions: {err.strerror or err}") from err
    ids = [str(item["id"]) for item in items]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate item ids; items are paired across runs by id")
    return items


def prediction_file(eval_dir: Path, task: str, config: str, metric: str) -> Path:
    """Where the items behind ``metrics[config][metric]`` live."""
    if task == "xsr":
        direction = next((d for d in XSR_DIRECTIONS if d in metric), None)
        if direction is None:
            raise ValueError(f"{eval_dir}: xsr metric {metric!r} names no direction "
                             f"({' or '.join(XSR_DIRECTIONS)})")
        return eval_dir / "predictions" / f"{config}.{direction}.jsonl"
    return eval_dir / "predictions" / f"{config}.jsonl"


def qa_language(config: str) -> str:
    """The answer (context) language of a QA config: ``xquad.es`` -> es, ``mlqa.es.en`` -> es."""
    parts = config.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def qa_normalizer(config: str, run_config: dict[str, Any]) -> str:
    """The normaliser evaluate used for a QA config: as recorded per config
    (``config.resolved.qa_normalizers``), else ``qa_normalizer`` for MLQA and squad otherwise."""
    recorded = run_config.get("resolved", {}).get("qa_normalizers", {}).get(config)
    if recorded:
        return str(recorded)
    return str(run_config.get("qa_normalizer", "squad")) if config.startswith("mlqa.") else "squad"


def outcomes(items: list[dict[str, Any]], task: str, metric: str, config: str,
             run_config: dict[str, Any], source: Path) -> Outcomes:
    """The per-item form of ``metric`` for a task's items (``source`` names them in errors)."""
    ids = [str(item["id"]) for item in items]
    gold = [item["gold"] for item in items]
    predicted = [item["prediction"] for item in items]
    if task in ("xnli", "xsr"):
        correct = np.array([g == p for g, p in zip(gold, predicted, strict=True)], np.float64)
        return Outcomes(ids, MeanMetric(100.0 * correct))
    if task == "ner":
        if metric not in ("f1", "precision", "recall"):
            raise ValueError(f"{source}: unknown NER metric {metric!r} (f1, precision, recall)")
        return Outcomes(ids, EntityF1Metric.from_tags(gold, predicted, metric))
    if task == "qa":
        key = {"exact_match": "exact_match", "em": "exact_match", "exact": "exact_match",
               "f1": "f1"}.get(metric)
        if key is None:
            raise ValueError(f"{source}: unknown QA metric {metric!r} (exact_match or f1)")
        if all(key in item for item in items):
            values = np.array([float(item[key]) for item in items])
        else:
            normalizer = qa_normalizer(config, run_config)
            lang = qa_language(config) if normalizer == "mlqa" else "en"
            values = _qa_scores(gold, predicted, key, normalizer, lang)
        return Outcomes(ids, MeanMetric(values))
    raise ValueError(f"{source}: no per-item metric known for task {task!r}")


def _qa_scores(gold: list[Any], predicted: list[Any], key: str, normalizer: str,
               lang: str) -> np.ndarray:
    """Per-item EM or F1 (percent) with the task module's own scorer (one implementation)."""
    import importlib

    qa_post: Any = importlib.import_module("xadj.tasks.qa_post")  # written alongside, optional
    scores = [qa_post.qa_metrics([p], [g if isinstance(g, list) else [g]],
                                 normalizer=normalizer, lang=lang)[key]
              for g, p in zip(gold, predicted, strict=True)]
    return np.asarray(scores, dtype=np.float64)
