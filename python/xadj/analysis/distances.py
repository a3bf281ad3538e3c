"""Distances between contextual vectors of related and unrelated words (docs/method.md §7), the one
implementation behind ``analyze`` and ``align``'s alignment report.

For each aligned (related) pair of a batch, the unrelated pair is the same non-English word with
another word of its English translation: preferably one aligned to nothing, else any other real
word (deterministic). Special-token pairs ([CLS]/[SEP], <s>/</s>) are left out. A positive
paired difference d(unrelated) - d(related) means translations sit closer than other words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xadj.loss import SideTensors, batch_to_device, pool_words, side_vectors

KINDS = ("l2", "cosine")  # cosine distance = 1 - cosine similarity


def rows_and_specials(side: Any) -> tuple[np.ndarray, np.ndarray]:
    """Sentence of each pooled word, and whether it is a special token's "word".

    [CLS]/<s> sits at column 0 and [SEP]/</s> at the last real column of each row; no real word
    can occupy those positions because the tokenizer put the special tokens there.
    """
    length = side.input_ids.shape[1]
    rows_of_pieces, cols = np.divmod(side.piece_positions, length)
    last = side.attention_mask.sum(axis=1) - 1
    special_piece = (cols == 0) | (cols == last[rows_of_pieces])
    rows = np.zeros(side.n_words, np.int64)
    rows[side.piece_words] = rows_of_pieces
    special = np.zeros(side.n_words, bool)
    np.logical_or.at(special, side.piece_words, special_piece)
    return rows, special


def unrelated_partners(batch: Any) -> np.ndarray:
    """For each other word k, an English word of the same sentence not aligned to it (-1: none).

    Preferably a word aligned to nothing; else any other real word. Deterministic (k-th pick).
    """
    o_rows, _ = rows_and_specials(batch.other)
    e_rows, e_special = rows_and_specials(batch.english)
    linked = np.zeros(batch.english.n_words, bool)
    linked[batch.english_aligned] = True
    out = np.full(len(batch.english_aligned), -1, np.int64)
    for k, (row, target) in enumerate(zip(o_rows, batch.english_aligned, strict=True)):
        same = np.flatnonzero((e_rows == row) & ~e_special & (np.arange(len(e_rows)) != target))
        free = same[~linked[same]]
        pool = free if len(free) else same
        if len(pool):
            out[k] = pool[k % len(pool)]
    return out


def word_vectors(model: nn.Module, side: SideTensors, layer: int = -1) -> torch.Tensor:
    """Pooled word vectors [W, H] of one side from hidden layer ``layer`` (``hidden_states``
    indexing: 0 = embeddings, -1 = last layer = what training uses)."""
    if layer == -1:
        return side_vectors(model, side).float()
    out = model(input_ids=side.input_ids, attention_mask=side.attention_mask,
                output_hidden_states=True)
    return pool_words(out.hidden_states[layer], side.piece_positions, side.piece_words,
                      side.n_words).float()


def check_layer(model: nn.Module, layer: int) -> None:
    depth = int(getattr(getattr(model, "config", None), "num_hidden_layers", 0) or 0)
    if depth and not -depth - 1 <= layer <= depth:
        raise ValueError(f"layer {layer} is outside the model's hidden states "
                         f"({-depth - 1}..{depth}; 0 = embeddings, -1 = last)")


@dataclass(frozen=True)
class BatchVectors:
    """One batch's word vectors on the model's device."""

    other: torch.Tensor  # [K, H] the aligned non-English words, in link order
    english: torch.Tensor  # [W, H] every English word (and special tokens)
    aligned: torch.Tensor  # [K] English word aligned to other word k
    real_other: torch.Tensor  # [K] bool: a word, not a special-token pair
    real_english: torch.Tensor  # [W] bool
    unrelated: torch.Tensor  # [K] an unaligned English word of the same sentence, -1: none


def batch_vectors(model: nn.Module, batch: Any, layer: int = -1) -> BatchVectors:
    device = next(model.parameters()).device
    b = batch_to_device(batch, device)
    _, o_special = rows_and_specials(batch.other)
    _, e_special = rows_and_specials(batch.english)
    return BatchVectors(
        word_vectors(model, b.other, layer), word_vectors(model, b.english, layer),
        b.english_aligned, torch.from_numpy(~o_special).to(device),
        torch.from_numpy(~e_special).to(device),
        torch.from_numpy(unrelated_partners(batch)).to(device))


def pair_distances(v: BatchVectors) -> dict[str, np.ndarray]:
    """Related and unrelated L2 and cosine distances of a batch's real words, paired by word
    (``unrelated_*`` is NaN where the sentence has no other English word)."""
    other = v.other[v.real_other]
    related = v.english[v.aligned[v.real_other]]
    partner = v.unrelated[v.real_other]
    has = partner >= 0
    unrelated = v.english[partner.clamp(min=0)]
    out = {}
    for kind in KINDS:
        if kind == "l2":
            rel, unrel = (other - related).norm(dim=1), (other - unrelated).norm(dim=1)
        else:
            rel = 1 - F.cosine_similarity(other, related)
            unrel = 1 - F.cosine_similarity(other, unrelated)
        unrel = torch.where(has, unrel, torch.full_like(unrel, float("nan")))
        out[f"related_{kind}"] = rel.cpu().numpy().astype(np.float64)
        out[f"unrelated_{kind}"] = unrel.cpu().numpy().astype(np.float64)
    return out


@dataclass(frozen=True)
class WordDistances:
    """Paired distances of every real aligned word of some batches (one entry per word)."""

    related: dict[str, np.ndarray]  # kind -> [N]
    unrelated: dict[str, np.ndarray]  # kind -> [N], NaN where no unrelated word exists

    @property
    def pairs(self) -> int:
        return len(self.related[KINDS[0]])

    def differences(self, kind: str) -> np.ndarray:
        """d(unrelated) - d(related) for the words that have an unrelated partner."""
        diff = self.unrelated[kind] - self.related[kind]
        return np.asarray(diff[np.isfinite(diff)])

    def summary(self, resamples: int = 1000, seed: int = 0, confidence: float = 0.95
                ) -> dict[str, Any]:
        """Per kind: means with percentile-bootstrap intervals of related and unrelated
        distances and of their paired difference, the unrelated/related ratio of means, and
        the share of words whose translation is closer than the unrelated word."""
        from xadj.analysis.stats import bootstrap_mean_ci

        def ci(values: np.ndarray) -> dict[str, float]:
            mean, low, high = bootstrap_mean_ci(values, resamples=resamples, seed=seed,
                                                confidence=confidence)
            return {"mean": mean, "ci_low": low, "ci_high": high}

        out: dict[str, Any] = {"pairs": self.pairs}
        for kind in KINDS:
            rel, unrel = self.related[kind], self.unrelated[kind]
            diff = self.differences(kind)
            out[kind] = {
                "related": ci(rel), "unrelated": ci(unrel[np.isfinite(unrel)]),
                "difference": ci(diff), "pairs_with_unrelated": len(diff),
                # >1: translations are closer than other words of the sentence
                "ratio_unrelated_related": float(np.nanmean(unrel) / np.mean(rel))
                if len(rel) and len(diff) else float("nan"),
                "share_positive_difference": float(np.mean(diff > 0)) if len(diff)
                else float("nan"),
            }
        return out


@torch.no_grad()
def word_distances(model: nn.Module, batches: Any, layer: int = -1) -> WordDistances:
    """Related/unrelated distances of ``model`` over held-out :class:`AlignmentBatch` es."""
    model.eval()
    check_layer(model, layer)
    parts = [pair_distances(batch_vectors(model, raw, layer)) for raw in batches]

    def cat(key: str) -> np.ndarray:
        return np.concatenate([p[key] for p in parts]) if parts else np.zeros(0)

    return WordDistances({k: cat(f"related_{k}") for k in KINDS},
                         {k: cat(f"unrelated_{k}") for k in KINDS})
