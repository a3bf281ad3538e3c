"""Word alignment from an encoder's contextual vectors, the SimAlign way (Jalili Sabet et al.,
Findings of EMNLP 2020): no training, only similarities.

A word's vector pools its pieces (``avg``, ``first`` or ``last``) in ``hidden_states[layer]``,
each side of a pair encoded on its own. The similarity of two words is SimAlign's ``(cos + 1) / 2``.
``argmax`` links the pairs of words that are each other's most similar (mutual argmax).
``itermax`` then runs SimAlign's further round: a row or column still without a link gets its
scores kept (x1, clipped from 2 x 0.9) or damped (x0.9 when only one of the two is free), a cell
whose row and column are both linked is out, and mutual argmaxes of that masked matrix are added;
pairs with a side of at most two words keep the argmax links. At the ``piece`` granularity
(SimAlign's default subword level) the rows and columns are pieces instead of words, and two
words are linked when any of their pieces are: a word may then link to several.

Links come as ``(links int32 [n, 2], offsets int64 [pairs + 1])``, source index first, 0-based,
the format of :mod:`xadj.wordaligner` (``score`` takes it as it is). Words that tokenize to no
piece, or are cut by the model's maximum length, get no link.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from xadj.batches import POOLINGS
from xadj.corpus import Bitext
from xadj.sentence_vectors import check_layer

logger = logging.getLogger(__name__)

METHODS = ("argmax", "itermax")
GRANULARITIES = ("word", "piece")
ITERMAX_ROUNDS = 2  # SimAlign's max_count: the argmax round and one more
ITERMAX_ALPHA = 0.9  # SimAlign's alpha_ratio
INVALID = -1.0  # similarity of padding cells: below every real one, which lie in [0, 1]

Pair = tuple[Sequence[str], Sequence[str]]


def align_with_encoder(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[Pair],
    *,
    layer: int = 8,
    method: str = "argmax",
    pooling: str = "avg",
    granularity: str = "word",
    batch_size: int = 32,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Pharaoh links of each ``(source words, target words)`` pair.

    ``layer`` indexes ``hidden_states`` (0 = embeddings, -1 = last). ``granularity`` "word"
    links words (their pieces pooled by ``pooling``); "piece" links pieces and two words are
    linked when any of their pieces are (SimAlign's default subword level; ``pooling`` unused).
    The model runs in eval mode under ``torch.no_grad`` (its training flag is restored
    afterwards); when ``device`` is given the model is moved there, otherwise it stays put.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, not {granularity!r}")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, not {batch_size}")
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("align_with_encoder needs a fast tokenizer (word_ids())")
    num_layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    if not isinstance(num_layers, int):
        raise ValueError(f"cannot tell the depth of {type(model).__name__}: no num_hidden_layers")
    layer = check_layer(layer, num_layers)
    if device is not None:
        model.to(device)
    target_device = next(model.parameters()).device
    max_length = _max_length(model, tokenizer)

    # Longest pairs first, so a batch holds sentences of similar length (less padding).
    lengths = [max(sum(len(w) for w in s), sum(len(w) for w in t)) for s, t in pairs]
    order = sorted(range(len(pairs)), key=lambda k: -lengths[k])
    per_pair: list[np.ndarray] = [np.zeros((0, 2), np.int32)] * len(pairs)
    dropped = 0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), tqdm(total=len(pairs), desc="encoder align", unit="pair",
                                   disable=not progress) as bar:
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                pieces = granularity == "piece"
                src = _word_vectors(model, tokenizer, [pairs[k][0] for k in chunk], layer,
                                    pooling, max_length, target_device, pieces)
                tgt = _word_vectors(model, tokenizer, [pairs[k][1] for k in chunk], layer,
                                    pooling, max_length, target_device, pieces)
                dropped += src.dropped + tgt.dropped
                found = _links(src, tgt, method)
                for row, k in enumerate(chunk):
                    per_pair[k] = found[row]
                bar.update(len(chunk))
    finally:
        model.train(was_training)
    if dropped:
        logger.warning("%d words had no piece within %d tokens and got no link", dropped,
                       max_length)
    offsets = np.zeros(len(pairs) + 1, np.int64)
    offsets[1:] = np.cumsum([len(p) for p in per_pair])
    links = np.concatenate(per_pair) if per_pair else np.zeros((0, 2), np.int32)
    return links.astype(np.int32).reshape(-1, 2), offsets


def bitext_pairs(bitext: Bitext, lines: slice | None = None) -> list[Pair]:
    """The words of each pair of a bitext (first side, second side), optionally only ``lines``
    (a slice of 0-based pair indices)."""
    vocab = bitext.vocab
    (sv, so), (tv, to) = bitext.source, bitext.target
    rows = range(bitext.num_pairs)[lines or slice(None)]
    return [([vocab[w] for w in sv[so[k]:so[k + 1]]], [vocab[w] for w in tv[to[k]:to[k + 1]]])
            for k in rows]


@dataclass(frozen=True)
class _SideVectors:
    """Unit word vectors of one side of a batch, the words with pieces packed first."""

    vectors: torch.Tensor  # [B, W, H], L2-normalised; padding rows are 0
    valid: torch.Tensor  # [B, W] bool
    words: list[list[int]]  # per sentence: original word index of each packed row
    dropped: int  # words without a piece (none, or cut by the maximum length)


def _max_length(model: nn.Module, tokenizer: PreTrainedTokenizerBase) -> int:
    limits = [getattr(tokenizer, "model_max_length", None),
              getattr(getattr(model, "config", None), "max_position_embeddings", None)]
    usable = [v for v in limits if isinstance(v, int) and 0 < v < 1_000_000]
    return min(usable) if usable else 512


def _word_vectors(model: nn.Module, tokenizer: PreTrainedTokenizerBase,
                  sentences: list[Sequence[str]], layer: int, pooling: str, max_length: int,
                  device: torch.device, pieces: bool = False) -> _SideVectors:
    """Unit vectors of one side: a row per word (its pieces pooled), or with ``pieces`` a row
    per piece (``words`` then maps each row to its word)."""
    enc = tokenizer([list(s) for s in sentences], is_split_into_words=True, truncation=True,
                    max_length=max_length, padding=True, return_tensors="pt")
    batch, length = enc["input_ids"].shape
    word_ids = [enc.word_ids(b) for b in range(batch)]
    positions: list[int] = []  # flat token index into [B * L]
    slots: list[int] = []  # flat packed-row index into [B * W]
    words: list[list[int]] = []  # per sentence: the word of each row
    dropped = 0
    if pieces:  # one row per piece (SimAlign's subword level)
        width = max(1, max(sum(w is not None for w in ids) for ids in word_ids))
    else:
        width = max(1, max((len(s) for s in sentences), default=0))
    for b, ids in enumerate(word_ids):
        packed: dict[int, int] = {}
        rows: list[int] = []
        for t, w in enumerate(ids):
            if w is None:
                continue
            positions.append(b * length + t)
            if pieces:
                slots.append(b * width + len(rows))
                rows.append(w)
                packed.setdefault(w, len(packed))
            else:
                slots.append(b * width + packed.setdefault(w, len(packed)))
        words.append(rows if pieces else sorted(packed, key=packed.__getitem__))
        dropped += len(sentences[b]) - len(packed)
    out = model(input_ids=enc["input_ids"].to(device),
                attention_mask=enc["attention_mask"].to(device), output_hidden_states=True)
    hidden = out.hidden_states[layer].float().reshape(batch * length, -1)
    pos = torch.tensor(positions, dtype=torch.long, device=device)
    slot = torch.tensor(slots, dtype=torch.long, device=device)
    size = hidden.shape[1]
    if pooling == "avg":
        sums = torch.zeros(batch * width, size, device=device).index_add_(0, slot, hidden[pos])
        counts = torch.zeros(batch * width, device=device).index_add_(
            0, slot, torch.ones_like(slot, dtype=torch.float))
        pooled = sums / counts.clamp(min=1).unsqueeze(1)
    else:
        edge = _edge_pieces(slot, first=pooling == "first")
        pooled = torch.zeros(batch * width, size, device=device)
        pooled[slot[edge]] = hidden[pos[edge]]
    valid = torch.zeros(batch, width, dtype=torch.bool)
    for b, ws in enumerate(words):
        valid[b, :len(ws)] = True
    vectors = nn.functional.normalize(pooled.reshape(batch, width, size), dim=-1)
    return _SideVectors(vectors, valid.to(device), words, dropped)


def _edge_pieces(slot: torch.Tensor, first: bool) -> torch.Tensor:
    """Mask of each word's first (or last) piece: a word's pieces are consecutive entries."""
    edge = torch.ones_like(slot, dtype=torch.bool)
    if first:
        edge[1:] = slot[1:] != slot[:-1]
    else:
        edge[:-1] = slot[:-1] != slot[1:]
    return edge


def _links(src: _SideVectors, tgt: _SideVectors, method: str) -> list[np.ndarray]:
    """Per sentence pair of the batch: its links in original word indices."""
    cosine = torch.bmm(src.vectors, tgt.vectors.transpose(1, 2))
    cells = src.valid.unsqueeze(2) & tgt.valid.unsqueeze(1)
    sim = torch.where(cells, (cosine + 1.0) / 2.0, torch.full_like(cosine, INVALID))
    linked = _mutual_argmax(sim) & cells
    if method == "itermax":
        linked = _itermax(sim, linked, src.valid, tgt.valid) & cells
    found = []
    for b, (i, j) in enumerate(_nonzero_per_pair(linked)):
        si = np.asarray(src.words[b], np.int64)[i] if len(i) else i
        tj = np.asarray(tgt.words[b], np.int64)[j] if len(j) else j
        pairs = np.stack([si, tj], axis=1).astype(np.int32).reshape(-1, 2)
        found.append(np.unique(pairs, axis=0))  # sorted; pieces of one word pair link once
    return found


def _mutual_argmax(sim: torch.Tensor) -> torch.Tensor:
    """[B, m, n] bool: cells that are the maximum of their row and of their column (the first
    maximum on ties, as numpy's argmax in SimAlign)."""
    forward = nn.functional.one_hot(sim.argmax(dim=2), sim.shape[2]).bool()
    backward = nn.functional.one_hot(sim.argmax(dim=1), sim.shape[1]).bool().transpose(1, 2)
    return forward & backward


def _itermax(sim: torch.Tensor, linked: torch.Tensor, row_valid: torch.Tensor,
             col_valid: torch.Tensor) -> torch.Tensor:
    rows, cols = row_valid.sum(1), col_valid.sum(1)
    small = (torch.minimum(rows, cols) <= 2).view(-1, 1, 1)  # SimAlign keeps the argmax there
    for _ in range(ITERMAX_ROUNDS - 1):
        free_row = (~linked.any(2) & row_valid).float().unsqueeze(2)  # [B, m, 1]
        free_col = (~linked.any(1) & col_valid).float().unsqueeze(1)  # [B, 1, n]
        weight = (ITERMAX_ALPHA * free_row + ITERMAX_ALPHA * free_col).clamp(0.0, 1.0)
        open_cell = (free_row + free_col) > 0  # not both row and column already linked
        # once every row or every column is linked, the round adds nothing
        done = (free_row.sum((1, 2)) < 1) | (free_col.sum((1, 2)) < 1)
        masked = sim * weight
        added = _mutual_argmax(masked) & open_cell & ~done.view(-1, 1, 1)
        linked = linked | (added & ~small)
    return linked


def _nonzero_per_pair(linked: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
    b, i, j = (x.cpu().numpy() for x in linked.nonzero(as_tuple=True))
    return [(i[b == k], j[b == k]) for k in range(linked.shape[0])]


def align_lines(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    bitext: Bitext,
    lines: np.ndarray,
    **options: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Links of the pairs ``lines`` (0-based, ascending) of a bitext, as an alignment of the
    whole bitext: every other pair gets no link. ``options`` go to :func:`align_with_encoder`."""
    lines = np.asarray(lines, np.int64)
    pairs = bitext_pairs(bitext)
    links, offsets = align_with_encoder(model, tokenizer, [pairs[k] for k in lines],
                                        **options)
    counts = np.zeros(bitext.num_pairs, np.int64)
    counts[lines] = np.diff(offsets)
    full = np.zeros(bitext.num_pairs + 1, np.int64)
    np.cumsum(counts, out=full[1:])
    return links, full


def changed_links(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray],
                  lines: np.ndarray) -> int:
    """How many links of pairs ``lines`` are in one alignment and not the other."""
    changed = 0
    for k in np.asarray(lines, np.int64):
        x = {(int(i), int(j)) for i, j in a[0][a[1][k]:a[1][k + 1]]}
        y = {(int(i), int(j)) for i, j in b[0][b[1][k]:b[1][k + 1]]}
        changed += len(x ^ y)
    return changed
