"""Alignment report on held-out batches: related vs unrelated distances, retrieval, English drift.

docs/method.md §7. The related/unrelated pairs and their distances come from
:mod:`xadj.analysis.distances` (the one implementation ``analyze`` uses too).
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
from transformers import PreTrainedModel

from xadj.analysis.distances import KINDS, batch_vectors, pair_distances, word_vectors
from xadj.loss import batch_to_device


@torch.no_grad()
def report(model: nn.Module, original: nn.Module, batches: Sequence[Any]) -> dict[str, float]:
    """Summary of one language's held-out batches (model: adjusted, original: unadjusted)."""
    model.eval()
    original.eval()
    device = next(model.parameters()).device
    distances: dict[str, list[np.ndarray]] = {}
    hits, drift = [], []
    for raw in batches:
        v = batch_vectors(model, raw)
        for key, values in pair_distances(v).items():
            distances.setdefault(key, []).append(values)
        english0 = word_vectors(original, batch_to_device(raw, device).english)
        # Retrieval among the batch's real English words, by cosine.
        sims = F.normalize(v.other[v.real_other], dim=1) @ F.normalize(v.english, dim=1).T
        sims[:, ~v.real_english] = -2.0
        hits.append((sims.argmax(dim=1) == v.aligned[v.real_other]).float())
        drift.append((v.english - english0).norm(dim=1)[v.real_english])
    rel = {k: np.concatenate(distances[f"related_{k}"]) for k in KINDS}
    # Words without an unrelated partner (NaN) count for related distances only, as before.
    unrel = {k: np.nanmean(np.concatenate(distances[f"unrelated_{k}"])) for k in KINDS}
    l2_rel, cos_rel = float(rel["l2"].mean()), float(rel["cosine"].mean())
    return {
        "aligned_pairs": int(rel["l2"].size),
        "l2_related": l2_rel,
        "l2_unrelated": float(unrel["l2"]),
        "cos_dist_related": cos_rel,
        "cos_dist_unrelated": float(unrel["cosine"]),
        # unrelated/related: how much closer translations are than other words (>1: aligned)
        "l2_ratio": float(unrel["l2"]) / l2_rel,
        "cos_ratio": float(unrel["cosine"]) / cos_rel,
        "retrieval_accuracy": torch.cat(hits).mean().item(),
        "english_drift_l2": torch.cat(drift).mean().item(),
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
        from xadj.outputs import atomic_write_text

        atomic_write_text(path, json.dumps(out, indent=2))
    return out


def sentence_retrieval(
    original: PreTrainedModel,
    adjusted: PreTrainedModel,
    tokenizer: Any,
    other: Sequence[str],
    english: Sequence[str],
    layers: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Held-out sentence retrieval (docs/method.md §5, XSR's recipe) before and after adjustment:
    accuracy@1 in percent, both directions, at the XSR layer (2/3 of the depth) and the last."""
    from xadj.sentence_vectors import default_layer, encode
    from xadj.tasks.xsr import retrieve

    depth = int(getattr(original.config, "num_hidden_layers", 12))
    chosen = list(layers) if layers is not None else [default_layer(depth), -1]
    out: dict[str, Any] = {"pairs": len(other), "layers": {}}
    for layer in chosen:
        scores = {}
        for when, model in (("before", original), ("after", adjusted)):
            x = encode(model, tokenizer, list(other), layer=layer, progress=False)
            en = encode(model, tokenizer, list(english), layer=layer, progress=False)
            result = retrieve(x, en)
            scores[when] = {"xx2en": result.xx2en_accuracy, "en2xx": result.en2xx_accuracy}
        out["layers"][str(layer if layer >= 0 else depth)] = scores
    return out
