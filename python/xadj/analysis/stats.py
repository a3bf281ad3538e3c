"""Statistics for comparing models: metrics recomputed from per-item outcomes, the paired
bootstrap over test items, Holm-Bonferroni, and mean ± std over seeds.

A metric is an :class:`ItemMetric`: it knows each test item's contribution and recomputes the
corpus-level value for any multiset of items (``score(indices)``), so a bootstrap resample is
scored exactly as the full test set is (entity F1 from the resampled sentences' entity counts,
not a mean of per-sentence F1). All values are in percent (0-100), as results.json holds them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

DEFAULT_RESAMPLES = 1000
_CHUNK = 200  # resamples scored at once: bounds the [chunk, n] index matrix in memory


class ItemMetric(Protocol):
    """A corpus-level metric that can be recomputed from any multiset of its test items."""

    @property
    def n(self) -> int:
        """Number of test items."""
        ...

    def score(self, indices: np.ndarray) -> np.ndarray:
        """Metric (percent) of each row of ``indices`` ([R, k] item indices, repeats allowed)."""
        ...


@dataclass(frozen=True)
class MeanMetric:
    """A metric that is the mean of per-item values: accuracy (0/1), QA exact match and F1."""

    values: np.ndarray  # [n] per-item value in percent

    @property
    def n(self) -> int:
        return len(self.values)

    def score(self, indices: np.ndarray) -> np.ndarray:
        return np.asarray(self.values[indices].mean(axis=-1), dtype=np.float64)


@dataclass(frozen=True)
class EntityF1Metric:
    """seqeval's default (micro) entity F1, from per-sentence entity counts: true positives,
    predicted and gold entities summed over the (resampled) sentences, then 2tp / (pred + gold)
    (``measure`` "precision": tp / pred, "recall": tp / gold). seqeval scores a list of
    sentences exactly so (its entities never cross a sentence end)."""

    true_positives: np.ndarray  # [n] per sentence
    predicted: np.ndarray  # [n]
    gold: np.ndarray  # [n]
    measure: str = "f1"

    @property
    def n(self) -> int:
        return len(self.gold)

    @classmethod
    def from_tags(cls, gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]],
                  measure: str = "f1") -> EntityF1Metric:
        from seqeval.metrics.sequence_labeling import (  # type: ignore[import-untyped, unused-ignore]
            get_entities,
        )

        if measure not in ("f1", "precision", "recall"):
            raise ValueError(f"unknown entity measure {measure!r}: f1, precision or recall")
        if len(gold) != len(predicted):
            raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
        tp, n_pred, n_gold = (np.zeros(len(gold), np.int64) for _ in range(3))
        for k, (g, p) in enumerate(zip(gold, predicted, strict=True)):
            if len(g) != len(p):
                raise ValueError(f"sentence {k}: {len(g)} gold tags but {len(p)} predicted")
            g_ents, p_ents = set(get_entities(list(g))), set(get_entities(list(p)))
            tp[k], n_pred[k], n_gold[k] = len(g_ents & p_ents), len(p_ents), len(g_ents)
        return cls(tp, n_pred, n_gold, measure)

    def score(self, indices: np.ndarray) -> np.ndarray:
        tp = self.true_positives[indices].sum(axis=-1)
        predicted, gold = self.predicted[indices].sum(axis=-1), self.gold[indices].sum(axis=-1)
        numerator, denominator = {"f1": (2 * tp, predicted + gold), "precision": (tp, predicted),
                                  "recall": (tp, gold)}[self.measure]
        # seqeval's zero_division default: 0 when nothing was predicted / is gold
        value = np.where(denominator > 0, 100.0 * numerator / np.maximum(denominator, 1), 0.0)
        return np.asarray(value, dtype=np.float64)


@dataclass(frozen=True)
class SeedAverage:
    """The mean of one metric over several seeds' runs on the same (id-aligned) test items."""

    runs: tuple[ItemMetric, ...]

    @property
    def n(self) -> int:
        return self.runs[0].n

    def score(self, indices: np.ndarray) -> np.ndarray:
        return np.asarray(np.mean([run.score(indices) for run in self.runs], axis=0))


@dataclass(frozen=True)
class PairedBootstrap:
    """Paired bootstrap of ``delta = metric(b) - metric(a)`` over test items."""

    delta: float  # on the full test set
    ci_low: float  # percentile interval of the resampled deltas
    ci_high: float
    p_value: float  # two-sided, H0: delta = 0
    n: int  # paired items
    resamples: int
    confidence: float
    seed: int

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def paired_bootstrap(a: ItemMetric, b: ItemMetric, *, resamples: int = DEFAULT_RESAMPLES,
                     seed: int = 0, confidence: float = 0.95) -> PairedBootstrap:
    """Resamples test items with replacement (the same items for both systems), recomputes
    both metrics on each resample and returns the observed delta, its percentile interval and a
    two-sided p-value.

    The p-value tests delta = 0 with the bootstrap distribution shifted to the null (the
    resampled deltas centred on zero): ``p = (1 + #{|delta* - delta| >= |delta|}) / (R + 1)``
    (Efron & Tibshirani 1993, §16.4; the +1 keeps a finite sample from claiming p = 0).
    """
    if a.n != b.n:
        raise ValueError(f"paired bootstrap needs the same items: {a.n} vs {b.n}")
    if a.n == 0:
        raise ValueError("paired bootstrap over zero items")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, not {resamples}")
    everything = np.arange(a.n)[None, :]
    delta = float(b.score(everything)[0] - a.score(everything)[0])
    rng = np.random.default_rng(seed)
    deltas = np.empty(resamples)
    for start in range(0, resamples, _CHUNK):
        stop = min(start + _CHUNK, resamples)
        idx = rng.integers(0, a.n, size=(stop - start, a.n))
        deltas[start:stop] = b.score(idx) - a.score(idx)
    extreme = np.abs(deltas - delta) >= abs(delta) - 1e-12 * max(1.0, abs(delta))
    p = (1.0 + float(extreme.sum())) / (resamples + 1.0)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(deltas, [tail, 1.0 - tail])
    return PairedBootstrap(delta, float(low), float(high), min(p, 1.0), a.n, resamples,
                           confidence, seed)


def bootstrap_mean_ci(values: np.ndarray, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                      confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean of ``values`` and scipy's percentile bootstrap interval."""
    from scipy import stats  # type: ignore[import-untyped, unused-ignore]

    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if len(values) == 1:
        return mean, mean, mean
    result = stats.bootstrap((values,), np.mean, n_resamples=resamples, vectorized=True,
                             confidence_level=confidence, method="percentile",
                             rng=np.random.default_rng(seed))
    ci = result.confidence_interval
    return mean, float(ci.low), float(ci.high)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (Holm 1979), in the input order.

    Sorted ascending, the k-th smallest (k = 0..m-1) becomes ``max_{j<=k} (m - j) p_(j)``,
    capped at 1; reject H_i at level alpha when its adjusted p <= alpha.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError("holm takes a flat list of p-values")
    if np.any((p < 0) | (p > 1)) or np.any(np.isnan(p)):
        raise ValueError("p-values must lie in [0, 1]")
    m = len(p)
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


@dataclass(frozen=True)
class SeedSummary:
    mean: float
    std: float | None  # sample standard deviation (ddof 1); None with a single seed
    seeds: int

    def __str__(self) -> str:
        return f"{self.mean:.2f}" if self.std is None else f"{self.mean:.2f} ± {self.std:.2f}"


def mean_std(values: Sequence[float]) -> SeedSummary:
    """Mean and sample standard deviation (ddof 1) over seeds."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        raise ValueError("mean_std of no values")
    std = float(v.std(ddof=1)) if len(v) > 1 else None
    return SeedSummary(float(v.mean()), std, len(v))
