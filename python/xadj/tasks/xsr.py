"""Cross-lingual sentence retrieval (XSR, docs/method.md §5): cosine nearest neighbour between the
vectors of n translation pairs, in both directions, accuracy@1 in percent.

Item i of one side is the translation of item i of the other, so the gold answer of every query
is its own index. Harnesses disagree on the direction (xx->en or en->xx), so both are reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROWS_PER_BLOCK = 1024  # similarity rows held at once: 1024 x n float64


@dataclass(frozen=True)
class XsrResult:
    """Both directions of one language pair. ``xx2en[i]``: the English item retrieved for
    query i of the other language; ``en2xx[i]``: the other-language item retrieved for English
    item i. Accuracies are in percent; the gold of item i is i."""

    xx2en: np.ndarray  # int64 [n]
    en2xx: np.ndarray  # int64 [n]
    xx2en_accuracy: float
    en2xx_accuracy: float
    n: int

    def metrics(self) -> dict[str, float | int]:
        return {"xx2en_accuracy": self.xx2en_accuracy, "en2xx_accuracy": self.en2xx_accuracy,
                "n": self.n}


def _unit_rows(vectors: np.ndarray, name: str) -> np.ndarray:
    rows = np.asarray(vectors, dtype=np.float64)
    if rows.ndim != 2:
        raise ValueError(f"{name} must be a [n, hidden] matrix, got shape {rows.shape}")
    if not np.isfinite(rows).all():
        bad = int(np.flatnonzero(~np.isfinite(rows).all(axis=1))[0])
        raise ValueError(f"{name} row {bad} is not finite")
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    # A zero vector has cosine 0 with everything (rather than NaN).
    return rows / np.where(norms == 0, 1.0, norms)


def nearest(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Index of the most cosine-similar key for each query; ties go to the lowest index."""
    q, k = _unit_rows(queries, "queries"), _unit_rows(keys, "keys")
    if q.shape[1] != k.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} dimensions, keys {k.shape[1]}")
    if len(k) == 0:
        raise ValueError("no keys to retrieve from")
    out = np.empty(len(q), dtype=np.int64)
    for start in range(0, len(q), ROWS_PER_BLOCK):
        # argmax returns the first of equal maxima: the lowest index wins a tie.
        out[start:start + ROWS_PER_BLOCK] = np.argmax(q[start:start + ROWS_PER_BLOCK] @ k.T, axis=1)
    return out


def retrieve(x_vectors: np.ndarray, en_vectors: np.ndarray) -> XsrResult:
    """Accuracy@1 of cosine nearest-neighbour retrieval between aligned rows, both ways."""
    x, en = np.asarray(x_vectors), np.asarray(en_vectors)
    if x.ndim != 2 or en.ndim != 2 or len(x) != len(en):
        raise ValueError(f"XSR needs two [n, hidden] matrices of translation pairs, got shapes "
                         f"{x.shape} and {en.shape}")
    if len(x) == 0:
        raise ValueError("XSR needs at least one sentence pair")
    gold = np.arange(len(x))
    xx2en, en2xx = nearest(x, en), nearest(en, x)
    return XsrResult(
        xx2en=xx2en,
        en2xx=en2xx,
        xx2en_accuracy=100.0 * float(np.mean(xx2en == gold)),
        en2xx_accuracy=100.0 * float(np.mean(en2xx == gold)),
        n=len(x),
    )
