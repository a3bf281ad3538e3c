"""Training batches as numpy arrays, assembled in Rust from a prepared dataset.

A pooled word vector is always the mean of its listed pieces: ``piece_positions`` index the
flattened ``[B * L]`` hidden states and ``piece_words`` name the word, so torch pools every word
of a batch with one ``index_add_``. ``first``/``last`` pooling list one piece per word.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from xadj import _native
from xadj.data import PreparedDataset

POOLINGS = ("avg", "first", "last")


@dataclass(frozen=True)
class SideBatch:
    input_ids: np.ndarray  # int64 [B, L], padded with the tokenizer's pad id, specials included
    attention_mask: np.ndarray  # int64 [B, L]
    piece_positions: np.ndarray  # int64 [P]: flat index into B*L of each piece of each pooled word
    piece_words: np.ndarray  # int64 [P]: the pooled word (0..n_words-1) each piece belongs to
    n_words: int


@dataclass(frozen=True)
class AlignmentBatch:
    other: SideBatch  # pooled words: the aligned words of the non-English side, in link order (K)
    english: SideBatch  # pooled words: every English word (and the paired special tokens)
    english_aligned: np.ndarray  # int64 [K]: English pooled word aligned to other word k
    pair_indices: np.ndarray  # int64 [B]: corpus indices of the pairs in this batch


class Batcher:
    """Builds :class:`AlignmentBatch` objects for given pair indices of one dataset, or of a
    subset of it (``pairs``: dataset indices, e.g. the training part of a held-out split)."""

    def __init__(self, dataset: PreparedDataset, pooling: str = "avg", special_pairs: bool = True,
                 pairs: np.ndarray | None = None):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
        self.dataset = dataset
        self.pooling = pooling
        self.special_pairs = special_pairs
        self.pairs = None if pairs is None else np.ascontiguousarray(pairs, dtype=np.int64)
        self.num_pairs = dataset.num_pairs if self.pairs is None else len(self.pairs)
        self.meta = dataset.meta
        a = dataset.arrays
        self._other = (a["other_pieces"], a["other_piece_offsets"],
                       a["other_word_starts"], a["other_word_offsets"])
        self._english = (a["english_pieces"], a["english_piece_offsets"],
                         a["english_word_starts"], a["english_word_offsets"])
        meta = dataset.meta["tokenizer"]
        self._specials = (meta["prefix_ids"], meta["suffix_ids"], meta["pad_id"])

    def batch(self, indices: np.ndarray) -> AlignmentBatch:
        indices = np.ascontiguousarray(indices, dtype=np.int64)
        if self.pairs is not None:
            indices = self.pairs[indices]
        a = self.dataset.arrays
        other, english, aligned = _native.assemble_batch(
            self._other, self._english, a["links"], a["link_offsets"], indices,
            *self._specials, pooling=self.pooling, special_pairs=self.special_pairs,
        )
        return AlignmentBatch(SideBatch(*other), SideBatch(*english), aligned, indices)

    def epoch(self, batch_size: int, seed: int, epoch: int) -> Iterator[AlignmentBatch]:
        """Yields the batches of one seeded epoch (the last one may be smaller)."""
        from xadj.sampling import epoch_order

        order = epoch_order(self.num_pairs, seed, epoch)
        for start in range(0, len(order), batch_size):
            yield self.batch(order[start:start + batch_size])
