"""Seeded index streams (computed in Rust): epochs, draws with replacement, subsets.

Each stream is a pure function of its seed and counter, so a resumed run replays the same order.
"""

from __future__ import annotations

import numpy as np

from xadj import _native


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """A permutation of ``range(n)`` (int64) for ``epoch``."""
    return _native.epoch_order(n, seed, epoch)


def sample_with_replacement(n: int, k: int, seed: int, step: int) -> np.ndarray:
    """``k`` indices drawn uniformly with replacement from ``range(n)`` for ``step``."""
    return _native.sample_with_replacement(n, k, seed, step)


def subset(n: int, k: int, seed: int) -> np.ndarray:
    """``min(k, n)`` distinct indices of ``range(n)``, ascending."""
    return _native.subset(n, k, seed)
