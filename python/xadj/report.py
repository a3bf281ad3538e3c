"""Alignment report on held-out batches: related vs unrelated distances, retrieval, English drift.

METHOD §7: for each aligned (related) pair, an unrelated pair is the same non-English word with
another word of the same English translation; d(unrelated) - d(related) > 0 means aligned.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xadj.loss import batch_to_device, side_vectors


def _rows_and_specials(side: Any) -> tuple[np.ndarray, np.ndarray]:
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


def _unrelated(batch: Any) -> np.ndarray:
    """For each other word k, an English word of the same sentence not aligned to it (-1: none).

    Preferably a word aligned to nothing; else any other real word. Deterministic (k-th pick).
    """
    o_rows, _ = _rows_and_specials(batch.other)
    e_rows, e_special = _rows_and_specials(batch.english)
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


@torch.no_grad()
def report(model: nn.Module, original: nn.Module, batches: Sequence[Any]) -> dict[str, float]:
    """Summary of one language's held-out batches (model: adjusted, original: unadjusted)."""
    model.eval()
    original.eval()
    device = next(model.parameters()).device
    rel_l2, unrel_l2, rel_cos, unrel_cos, hits, drift = [], [], [], [], [], []
    for raw in batches:
        b = batch_to_device(raw, device)
        other = side_vectors(model, b.other).float()
        english = side_vectors(model, b.english).float()
        english0 = side_vectors(original, b.english).float()
        _, o_special = _rows_and_specials(raw.other)
        _, e_special = _rows_and_specials(raw.english)
        keep = torch.from_numpy(~o_special).to(device)
        unrelated = torch.from_numpy(_unrelated(raw)).to(device)
        has_unrel = keep & (unrelated >= 0)
        aligned = b.english_aligned
        rel_l2.append((other - english[aligned]).norm(dim=1)[keep])
        rel_cos.append(1 - F.cosine_similarity(other, english[aligned])[keep])
        u = unrelated[has_unrel]
        unrel_l2.append((other[has_unrel] - english[u]).norm(dim=1))
        unrel_cos.append(1 - F.cosine_similarity(other[has_unrel], english[u]))
        # Retrieval among the batch's real English words, by cosine.
        real = torch.from_numpy(~e_special).to(device)
        sims = F.normalize(other[keep], dim=1) @ F.normalize(english, dim=1).T
        sims[:, ~real] = -2.0
        hits.append((sims.argmax(dim=1) == aligned[keep]).float())
        drift.append((english - english0).norm(dim=1)[real])
    cat = {
        name: torch.cat(v)
        for name, v in dict(
            rel_l2=rel_l2,
            unrel_l2=unrel_l2,
            rel_cos=rel_cos,
            unrel_cos=unrel_cos,
            hits=hits,
            drift=drift,
        ).items()
    }
    return {
        "aligned_pairs": int(cat["rel_l2"].numel()),
        "l2_related": cat["rel_l2"].mean().item(),
        "l2_unrelated": cat["unrel_l2"].mean().item(),
        "cos_dist_related": cat["rel_cos"].mean().item(),
        "cos_dist_unrelated": cat["unrel_cos"].mean().item(),
        # unrelated/related: how much closer translations are than other words (>1: aligned)
        "l2_ratio": (cat["unrel_l2"].mean() / cat["rel_l2"].mean()).item(),
        "cos_ratio": (cat["unrel_cos"].mean() / cat["rel_cos"].mean()).item(),
        "retrieval_accuracy": cat["hits"].mean().item(),
        "english_drift_l2": cat["drift"].mean().item(),
    }


def compare(
    original: nn.Module,
    adjusted: nn.Module,
    batches: Mapping[str, Sequence[Any]],
    path: str | Path | None = None,
) -> dict[str, Any]:
    """Before/after report per language (+ the mean over languages); written as JSON if asked."""
    out: dict[str, Any] = {}
    for lang, lang_batches in batches.items():
        before = report(original, original, lang_batches)
        after = report(adjusted, original, lang_batches)
        change = {k: after[k] - before[k] for k in before if k != "aligned_pairs"}
        out[lang] = {"before": before, "after": after, "change": change}
    if len(batches) > 1:
        keys = [k for k in next(iter(out.values()))["after"] if k != "aligned_pairs"]
        out["mean"] = {
            when: {k: float(np.mean([out[lang][when][k] for lang in batches])) for k in keys}
            for when in ("before", "after")
        }
    if path is not None:
        Path(path).write_text(json.dumps(out, indent=2))
    return out
