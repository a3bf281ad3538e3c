"""Shared fixtures: tiny models, a synthetic parallel corpus with known links, a batch builder.

The batch builder is test-only (plain Python over the fast tokenizer's word_ids()); the package's
own builder is xadj.batches.Batcher.
"""

from __future__ import annotations

import gzip
import logging
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MULTI30K = ROOT.parent / "shared" / "data" / "bitext" / "multi30k" / "train.en.gz"
if not MULTI30K.exists():
    MULTI30K = Path("/work/shared/data/bitext/multi30k/train.en.gz")

try:  # the real contract types, once xadj.batches exists
    from xadj.batches import AlignmentBatch, SideBatch
except ImportError:

    @dataclass(frozen=True)
    class SideBatch:  # type: ignore[no-redef]
        input_ids: np.ndarray
        attention_mask: np.ndarray
        piece_positions: np.ndarray
        piece_words: np.ndarray
        n_words: int

    @dataclass(frozen=True)
    class AlignmentBatch:  # type: ignore[no-redef]
        other: SideBatch
        english: SideBatch
        english_aligned: np.ndarray
        pair_indices: np.ndarray


try:
    import xadj.sampling  # noqa: F401
except ImportError:  # stand-in with the contract's signatures until xadj.sampling lands
    import xadj

    _sampling = types.ModuleType("xadj.sampling")

    def _epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
        return np.random.default_rng([seed, epoch]).permutation(n).astype(np.int64)

    def _sample_with_replacement(n: int, k: int, seed: int, step: int) -> np.ndarray:
        return np.random.default_rng([seed, step]).integers(0, n, k, dtype=np.int64)

    _sampling.epoch_order = _epoch_order  # type: ignore[attr-defined]
    _sampling.sample_with_replacement = _sample_with_replacement  # type: ignore[attr-defined]
    sys.modules["xadj.sampling"] = _sampling
    xadj.sampling = _sampling  # type: ignore[attr-defined]

Pair = tuple[list[str], list[str], list[tuple[int, int]]]  # other words, English words, links


def _side(tokenizer, sentences: list[list[str]], pooling: str):
    enc = tokenizer(sentences, is_split_into_words=True, padding=True, return_tensors="np")
    ids, mask = enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)
    length = ids.shape[1]
    pieces, specials = [], []
    for b in range(len(sentences)):
        per_word: dict[int, list[int]] = {}
        for t, w in enumerate(enc.word_ids(b)):
            if w is not None:
                per_word.setdefault(w, []).append(b * length + t)
        pick = {"avg": slice(None), "first": slice(0, 1), "last": slice(-1, None)}[pooling]
        pieces.append({w: p[pick] for w, p in per_word.items()})
        specials.append(([b * length], [b * length + int(mask[b].sum()) - 1]))
    return ids, mask, pieces, specials


def build_alignment_batch(
    tokenizer, pairs: list[Pair], pooling: str = "avg", special_pairs: bool = True, indices=None
) -> AlignmentBatch:
    """An AlignmentBatch as the contract defines it, built slowly and obviously."""
    o_ids, o_mask, o_pieces, o_special = _side(tokenizer, [p[0] for p in pairs], pooling)
    e_ids, e_mask, e_pieces, e_special = _side(tokenizer, [p[1] for p in pairs], pooling)
    e_pos, e_words, e_index = [], [], {}
    o_pos, o_words, aligned = [], [], []

    def add(pos, words, piece_list):
        word = words[-1] + 1 if words else 0  # words are numbered in order
        pos += piece_list
        words += [word] * len(piece_list)
        return word

    for b, (_, en, links) in enumerate(pairs):
        entries = [("cls", e_special[b][0])] if special_pairs else []
        entries += [(j, e_pieces[b][j]) for j in range(len(en)) if j in e_pieces[b]]
        entries += [("sep", e_special[b][1])] if special_pairs else []
        for key, plist in entries:
            e_index[(b, key)] = add(e_pos, e_words, plist)
        o_links = [(i, j) for i, j in links if i in o_pieces[b] and j in e_pieces[b]]
        o_entries = [(o_pieces[b][i], (b, j)) for i, j in o_links]
        if special_pairs:
            o_entries = [(o_special[b][0], (b, "cls"))] + o_entries
            o_entries += [(o_special[b][1], (b, "sep"))]
        for plist, key in o_entries:
            add(o_pos, o_words, plist)
            aligned.append(e_index[key])

    def side(ids, mask, pos, words):
        n = words[-1] + 1 if words else 0
        return SideBatch(ids, mask, np.array(pos, np.int64), np.array(words, np.int64), n)

    idx = np.arange(len(pairs)) if indices is None else np.asarray(indices)
    return AlignmentBatch(
        side(o_ids, o_mask, o_pos, o_words),
        side(e_ids, e_mask, e_pos, e_words),
        np.array(aligned, np.int64),
        idx.astype(np.int64),
    )


class PairSource:
    """A stand-in for xadj.batches.Batcher over an in-memory list of pairs."""

    def __init__(
        self, tokenizer, pairs: list[Pair], pooling: str = "avg", special_pairs: bool = True
    ) -> None:
        self.tokenizer, self.pairs = tokenizer, pairs
        self.pooling, self.special_pairs = pooling, special_pairs
        self.num_pairs = len(pairs)
        self.meta = {"num_pairs": len(pairs), "fingerprint": "synthetic"}

    def batch(self, indices: np.ndarray) -> AlignmentBatch:
        return build_alignment_batch(
            self.tokenizer,
            [self.pairs[i] for i in indices],
            self.pooling,
            self.special_pairs,
            indices,
        )


def cipher(word: str) -> str:
    """The synthetic 'other language': a fixed spelling change of each English word."""
    return word[::-1].lower() + "o"


def synthetic_pairs(english_lines: list[str]) -> list[Pair]:
    """Other side = ciphered words with neighbours swapped, so links aren't the diagonal."""
    pairs = []
    for line in english_lines:
        en = line.split()[:20]
        order = list(range(len(en)))
        for k in range(0, len(en) - 1, 2):
            order[k], order[k + 1] = order[k + 1], order[k]
        other = [cipher(en[j]) for j in order]
        pairs.append((other, en, [(i, j) for i, j in enumerate(order)]))
    return pairs


@pytest.fixture(scope="session")
def english_lines() -> list[str]:
    if not MULTI30K.exists():
        pytest.skip(f"Multi30k sample missing: {MULTI30K}")
    with gzip.open(MULTI30K, "rt", encoding="utf-8") as f:
        return [next(f).strip() for _ in range(240)]


@pytest.fixture(scope="session")
def corpus(english_lines) -> dict[str, list[Pair]]:
    pairs = synthetic_pairs(english_lines)
    return {"train": pairs[:200], "heldout": pairs[200:]}


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory, english_lines) -> dict[str, Path]:
    from xadj.model import build_tiny_model

    logging.getLogger("transformers").setLevel(logging.ERROR)
    text = english_lines + [" ".join(p[0]) for p in synthetic_pairs(english_lines)]
    root = tmp_path_factory.mktemp("tiny")
    return {kind: build_tiny_model(kind, text, root / kind, seed=0) for kind in ("bert", "xlmr")}
