"""The adjustment loss (docs/method.md §3): word pooling, L_align, L_reg, batches as tensors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class SideTensors:
    """One side of an AlignmentBatch on a device (same fields as xadj.batches.SideBatch)."""

    input_ids: torch.Tensor  # [B, L]
    attention_mask: torch.Tensor  # [B, L]
    piece_positions: torch.Tensor  # [P] flat index into B*L
    piece_words: torch.Tensor  # [P] pooled word of each piece
    n_words: int


@dataclass(frozen=True)
class BatchTensors:
    """An AlignmentBatch on a device."""

    other: SideTensors
    english: SideTensors
    english_aligned: torch.Tensor  # [K] english word aligned to other word k


def _side(side: Any, device: torch.device | str) -> SideTensors:
    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device, non_blocking=True)

    return SideTensors(
        t(side.input_ids),
        t(side.attention_mask),
        t(side.piece_positions),
        t(side.piece_words),
        int(side.n_words),
    )


def batch_to_device(batch: Any, device: torch.device | str) -> BatchTensors:
    """Move an xadj.batches.AlignmentBatch (numpy arrays) to `device` without copying on CPU."""
    aligned = torch.from_numpy(np.ascontiguousarray(batch.english_aligned))
    return BatchTensors(
        _side(batch.other, device),
        _side(batch.english, device),
        aligned.to(device, non_blocking=True),
    )


def pool_words(
    hidden: torch.Tensor, positions: torch.Tensor, words: torch.Tensor, n_words: int
) -> torch.Tensor:
    """Word vectors [W, H]: the mean of each word's pieces (the Batcher chose the pieces)."""
    flat = hidden.reshape(-1, hidden.shape[-1])
    sums = flat.new_zeros(n_words, flat.shape[-1]).index_add_(0, words, flat[positions])
    counts = torch.bincount(words, minlength=n_words).clamp_(min=1).to(sums.dtype)
    return sums / counts[:, None]


def hidden_layer(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 layer: int | None = None) -> torch.Tensor:
    """``hidden_states[layer]`` [B, L, H] of the encoder; ``None``: the last hidden state."""
    if layer is None:
        out: torch.Tensor = model(input_ids=input_ids, attention_mask=attention_mask
                                  ).last_hidden_state
        return out
    states = model(input_ids=input_ids, attention_mask=attention_mask,
                   output_hidden_states=True).hidden_states
    return states[layer]  # type: ignore[no-any-return]


def _joint_forward(model: nn.Module, a: SideTensors, b: SideTensors, layer: int | None = None
                   ) -> tuple[torch.Tensor, ...]:
    """Both sides in one forward pass (one graph: cheaper, and DDP wants one forward per backward).

    The shorter side is right-padded; the pad id is irrelevant because padded positions are
    masked out as keys and never pooled, and come after every real token (so RoBERTa-style
    position ids of real tokens don't change).
    """
    length = max(a.input_ids.shape[1], b.input_ids.shape[1])

    def pad(x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, length - x.shape[1]))

    def reindex(side: SideTensors, row_offset: int) -> torch.Tensor:
        old = side.input_ids.shape[1]
        return (side.piece_positions // old + row_offset) * length + side.piece_positions % old

    ids = torch.cat([pad(a.input_ids), pad(b.input_ids)])
    mask = torch.cat([pad(a.attention_mask), pad(b.attention_mask)])
    hidden = hidden_layer(model, ids, mask, layer)
    va = pool_words(hidden, reindex(a, 0), a.piece_words, a.n_words)
    vb = pool_words(hidden, reindex(b, a.input_ids.shape[0]), b.piece_words, b.n_words)
    return va, vb


def side_vectors(model: nn.Module, side: SideTensors, layer: int | None = None) -> torch.Tensor:
    """Pooled word vectors [W, H] of one side (``layer``: see :func:`hidden_layer`)."""
    hidden = hidden_layer(model, side.input_ids, side.attention_mask, layer)
    return pool_words(hidden, side.piece_positions, side.piece_words, side.n_words)


def adjustment_loss(
    model: nn.Module,
    frozen: nn.Module,
    batch: BatchTensors,
    variant: str = "current",
    reg_weight: float = 1.0,
    layer: int | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """loss = L_align + reg_weight * L_reg; parts holds both terms, detached.

    variant "current" (Efimov, default): other words are pulled toward F(english), gradients
    flow into both sides. "frozen" (some copies of Cao's script): toward F0(english).
    ``layer``: the ``hidden_states`` index both terms compare; ``None`` (the papers): the last.
    """
    if variant not in ("current", "frozen"):
        raise ValueError(f"unknown loss variant {variant!r}: use 'current' or 'frozen'")
    other, english = _joint_forward(model, batch.other, batch.english, layer)
    need_frozen = reg_weight != 0 or variant == "frozen"
    if need_frozen:
        with torch.no_grad():
            english0 = side_vectors(frozen, batch.english, layer).to(english.dtype)
    target = (english0 if variant == "frozen" else english)[batch.english_aligned]
    align = F.mse_loss(other, target)
    reg = F.mse_loss(english, english0) if reg_weight != 0 else align.new_zeros(())
    loss = align + reg_weight * reg
    return loss, {"align": align.detach(), "reg": reg.detach()}
