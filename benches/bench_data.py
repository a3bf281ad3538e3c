"""Where the Python benches get their data.

They prefer the project's research data in ``shared/data`` beside the checkout. A fresh clone has
none, so they fall back to what the repository ships: the package sample
(``python/xadj/sample/multi30k.fr-en.txt``, the first 1,000 Multi30k French-English pairs,
word-split) repeated to the size of Multi30k's training set, and the gold sets and fast_align
outputs in ``tests/data``. Each bench prints the ``origin`` line it got.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SHARED_MULTI30K = SHARED / "bitext" / "multi30k"
SAMPLE = ROOT / "python" / "xadj" / "sample" / "multi30k.fr-en.txt"
TEST_DATA = ROOT / "tests" / "data"
MULTI30K_TRAIN_PAIRS = 29_000


@dataclass(frozen=True)
class Multi30k:
    """Line-aligned training pairs; ``tag`` names the source in cache file names."""

    other: list[str]
    english: list[str]
    origin: str
    tag: str


def _read_gz_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


def multi30k_train(lang: str = "fr") -> Multi30k:
    """Multi30k training pairs (``lang``, English): the shared raw ``train.{lang,en}.gz`` (29,000
    pairs), else the package sample (French only) repeated to 29,000 pairs."""
    if (SHARED_MULTI30K / f"train.{lang}.gz").is_file():
        other = _read_gz_lines(SHARED_MULTI30K / f"train.{lang}.gz")
        english = _read_gz_lines(SHARED_MULTI30K / "train.en.gz")
        return Multi30k(other, english, f"Multi30k train from {SHARED_MULTI30K.resolve()} "
                        f"({len(english)} pairs)", "shared")
    if lang != "fr":
        raise FileNotFoundError(f"{SHARED_MULTI30K / f'train.{lang}.gz'} is missing and the "
                                "package sample is French-English only")
    other, english = [], []
    for number, line in enumerate(SAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        fr, sep, en = line.partition(" ||| ")
        if not sep:
            raise ValueError(f"{SAMPLE}:{number}: no ' ||| ' separator")
        other.append(fr)
        english.append(en)
    times = -(-MULTI30K_TRAIN_PAIRS // len(english))
    origin = (f"{SHARED_MULTI30K} absent: package sample {SAMPLE} ({len(english)} pairs) "
              f"repeated {times}x = {times * len(english)} pairs")
    return Multi30k(other * times, english * times, origin, "sample")


def alignment_data() -> tuple[Path, str]:
    """The directory with ``gold/``, ``fixtures/`` and ``reference/fast_align/``: shared data's,
    else the copies in ``tests/data``; with where it came from."""
    if (SHARED / "gold").is_dir() and (SHARED / "reference" / "fast_align").is_dir():
        return SHARED, f"gold sets and fast_align outputs from {SHARED.resolve()}"
    return TEST_DATA, f"{SHARED} absent: gold sets and fast_align outputs from {TEST_DATA}"
