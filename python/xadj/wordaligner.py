"""Word alignments: Pharaoh files, symmetrisation (atools' heuristics), AER scoring and the
built-in aligner (fast_align's model), all computed in Rust.

Links are ``int32 [n, 2]`` arrays of ``(source index, target index)`` with ``int64`` offsets:
the links of pair ``k`` are ``links[offsets[k]:offsets[k + 1]]``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xadj import _native
from xadj.config import check, setting
from xadj.corpus import Bitext

METHODS = ("intersect", "union", "grow-diag", "grow-diag-final", "grow-diag-final-and")
DEFAULT_METHOD = "intersect"  # Cao et al. and Efimov et al. (docs/method.md §1)


@dataclass(frozen=True)
class Gold:
    sure: tuple[np.ndarray, np.ndarray]
    possible: tuple[np.ndarray, np.ndarray]  # includes the sure links


def read_alignment(path: str | Path, one_based: bool = False) -> tuple[np.ndarray, np.ndarray]:
    return _native.read_alignment(str(path), one_based=one_based)


def write_alignment(path: str | Path | None, links: np.ndarray, offsets: np.ndarray) -> None:
    """Writes Pharaoh lines to ``path``, or to stdout when ``path`` is None."""
    if path is None:
        text = _native.write_alignment((links, offsets))
        assert text is not None  # without a path, the bytes come back
        sys.stdout.buffer.write(text)
        sys.stdout.flush()
    else:
        _native.write_alignment((links, offsets), str(path))


def read_gold(path: str | Path, one_based: bool = False) -> Gold:
    s, so, p, po = _native.read_gold(str(path), one_based=one_based)
    return Gold((s, so), (p, po))


def looks_one_based(gold: Gold) -> bool:
    """A 0-based reading of a 1-based gold file shows its tell-tale sign: over many links, no
    index 0 on either side (every 0-based sentence has a word 0, most are linked)."""
    links = gold.possible[0]
    return len(links) >= 20 and bool(links.min(axis=0).min() >= 1)


def symmetrize(fwd: tuple[np.ndarray, np.ndarray], rev: tuple[np.ndarray, np.ndarray],
               method: str = DEFAULT_METHOD) -> tuple[np.ndarray, np.ndarray]:
    """atools' ``-c method`` on two directional alignments (both source index first)."""
    return _native.symmetrize_links(fwd, rev, method)


def symmetrize_files(fwd: str | Path, rev: str | Path, method: str,
                     output: str | Path | None = None) -> int:
    """Reads, symmetrises and writes in Rust (stdout when ``output`` is None); returns lines."""
    sys.stdout.flush()
    return _native.symmetrize_files(str(fwd), str(rev), method,
                                    None if output is None else str(output))


def score(hyp: tuple[np.ndarray, np.ndarray], gold: Gold, last: int | None = None
          ) -> dict[str, float]:
    """Micro-averaged AER, precision and recall (Och & Ney 2003)."""
    n_hyp, n_sure, in_sure, in_possible = _native.score_links(hyp, gold.sure, gold.possible,
                                                              last=last)
    return {
        "aer": 1.0 - (in_sure + in_possible) / max(n_hyp + n_sure, 1),
        "precision": in_possible / max(n_hyp, 1),
        "recall": in_sure / max(n_sure, 1),
        "links": n_hyp,
    }


def score_file(path: str | Path, gold: Gold, last: int | None = None) -> dict[str, float]:
    return score(read_alignment(path), gold, last=last)


@dataclass
class AlignerOptions:
    """fast_align's model settings (its flags in brackets); defaults are fast_align's."""

    iterations: int = setting(5, "EM iterations (-I)", min=1, short="-I")
    favor_diagonal: bool = setting(True, "no diagonal prior: IBM Model 1 (fast_align without -d)",
                                   flag="--no-diagonal")
    optimize_tension: bool = setting(True, "keep the diagonal tension fixed (no -o)")
    variational_bayes: bool = setting(True, "plain EM M-step instead of variational Bayes (no -v)")
    use_null: bool = setting(True, "no NULL word (-N)", flag="--no-null")
    p0: float = setting(0.08, "NULL alignment probability (-p)", min=0.0, max=1.0)
    diagonal_tension: float = setting(4.0, "initial diagonal tension (-T)", min=0.0,
                                      flag="--tension", short="-T")
    alpha: float = setting(0.01, "variational Bayes concentration (-a)", min=0.0, min_open=True)
    lowercase: bool = setting(False, "align on lowercased words (the model still sees the text)")

    def __post_init__(self) -> None:
        check(self)


def align_words(
    bitext: Bitext,
    *,
    reverse: bool = False,
    both: bool = False,
    symmetrize: str = "intersect",
    options: AlignerOptions | None = None,
    progress: bool = True,
) -> Any:
    """Aligns a bitext with fast_align's model.

    One direction: ``(links, offsets, stats)``. With ``both``: forward and reverse run at once and
    are symmetrised: ``(links, offsets, stats)`` with ``stats['forward']``/``['reverse']`` and the
    directional alignments in ``stats['alignments']``.
    """
    from tqdm.auto import tqdm

    opts = options or AlignerOptions()
    source, target, vocab_size = bitext.source, bitext.target, len(bitext.vocab)
    if opts.lowercase:
        lower: dict[str, int] = {}
        remap = np.array([lower.setdefault(w.lower(), len(lower)) for w in bitext.vocab],
                         dtype=np.int32)
        source, target = (remap[source[0]], source[1]), (remap[target[0]], target[1])
        vocab_size = len(lower)
    bar = tqdm(total=1, desc="wordalign", unit="pair", unit_scale=True, disable=not progress)

    def on_progress(iteration: int, done: int, total: int) -> None:
        bar.total = total
        bar.set_postfix_str(f"iteration {iteration}")
        bar.update(done - bar.n)

    direction = "both" if both else ("reverse" if reverse else "forward")
    kwargs = {k: v for k, v in vars(opts).items() if k != "lowercase"}
    try:
        result = _native.word_align(source, target, vocab_size, direction, on_progress, **kwargs)
    finally:
        bar.close()
    if not both:
        return result
    fwd, rev = result
    links, offsets = _native.symmetrize_links(fwd[:2], rev[:2], symmetrize)
    stats = {"forward": fwd[2], "reverse": rev[2], "symmetrize": symmetrize,
             "alignments": {"fwd": fwd[:2], "rev": rev[:2]}}
    return links, offsets, stats
