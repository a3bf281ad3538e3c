"""Continual learning (docs/method.md §6, Efimov et al.): the adjustment terms mixed into every
task step, ``loss = L_task + align_weight * L_align + reg_weight * L_reg``, on ``pairs`` sentence
pairs drawn uniformly with replacement from a pool of filtered pairs. F is the task model's own
encoder, F0 a frozen anchor (the original, unadjusted model).

The alignment part has its own random streams: pair indices come from the Rust sampler as a pure
function of (seed, step), and the dropout of its forward passes runs on a forked torch RNG. The
task's batches and dropout masks are therefore those of a plain fine-tuning run with the same
seed, whatever the weights (with both weights 0 the final model equals plain fine-tuning).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xadj.batches import Batcher
from xadj.data import PreparedDataset, PrepareOptions, prepare, tokenizer_info
from xadj.loss import BatchTensors, batch_to_device, side_vectors
from xadj.sampling import sample_with_replacement, subset

log = logging.getLogger(__name__)

ALIGN_CONFIG = "xadj_config.json"  # written by align next to its model


def anchor_for(start_model: str, explicit: str | None) -> str:
    """F0: ``explicit`` if given; else the base model an xadj ``align`` output records (its
    ``xadj_config.json`` ``["config"]["model"]``); else the starting model itself."""
    if explicit:
        return explicit
    record = Path(start_model) / ALIGN_CONFIG
    if record.is_file():
        try:
            base = json.loads(record.read_text())["config"]["model"]
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{record}: no config.model entry; pass --anchor-model") from None
        if isinstance(base, str) and base:
            return base
    return start_model


def load_pool(source: str | Path, tokenizer: Any, work_dir: Path, *, alignments: str | None,
              pool: int, seed: int, model_name: str) -> Batcher:
    """At most ``pool`` filtered pairs of ``source``: a prepared dataset (made with this model's
    tokenizer), or a bitext prepared into ``work_dir`` (reused when a resumed run finds it)."""
    path = Path(source)
    if (path / "meta.json").is_file():
        dataset = PreparedDataset.load(path)
        expected = {k: v for k, v in vars(tokenizer_info(tokenizer)).items() if k != "max_length"}
        found = {k: dataset.meta["tokenizer"].get(k) for k in expected}
        if found != expected:
            raise ValueError(f"{path}: prepared with another tokenizer "
                             f"({dataset.tokenizer_name!r}: {found}, model: {expected})")
        keep = subset(dataset.num_pairs, pool, seed) if dataset.num_pairs > pool else None
        return Batcher(dataset, pairs=keep)
    if not path.is_file():
        raise FileNotFoundError(f"--continual {path}: neither a bitext file nor a prepared dataset")
    if (work_dir / "meta.json").is_file():
        dataset = PreparedDataset.load(work_dir)
    else:
        dataset = prepare([path], tokenizer, work_dir, alignments=alignments,
                          options=PrepareOptions(max_pairs=pool, seed=seed),
                          tokenizer_name=model_name, progress=False)
    if dataset.num_pairs == 0:
        raise ValueError(f"--continual {path}: no sentence pairs left after filtering")
    return Batcher(dataset)


def alignment_terms(encoder: nn.Module, frozen: nn.Module, batch: BatchTensors
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_align, L_reg) of docs/method.md §3 (Efimov's ``current`` variant): target words toward
    the encoder's English words, English words toward the frozen anchor's."""
    other = side_vectors(encoder, batch.other)
    english = side_vectors(encoder, batch.english)
    with torch.no_grad():
        english0 = side_vectors(frozen, batch.english).to(english.dtype)
    return F.mse_loss(other, english[batch.english_aligned]), F.mse_loss(english, english0)


@dataclass
class ContinualTerms:
    """The alignment half of a continual-learning step."""

    pool: Batcher
    frozen: nn.Module  # F0 on the training device, eval mode, no gradients
    pairs: int  # sentence pairs per step
    seed: int
    align_weight: float
    reg_weight: float

    def indices(self, step: int) -> np.ndarray:
        return sample_with_replacement(self.pool.num_pairs, self.pairs, self.seed, step)

    def loss(self, encoder: nn.Module, step: int, device: torch.device
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(weighted sum, L_align, L_reg) for ``step``; dropout on a forked RNG seeded by step."""
        batch = batch_to_device(self.pool.batch(self.indices(step)), device)
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed * 1_000_003 + step)
            align, reg = alignment_terms(encoder, self.frozen, batch)
        return self.align_weight * align + self.reg_weight * reg, align, reg
