"""Parallel corpora in: local files (read in Rust) or a Hugging Face ``datasets`` source exported
once to two plain text files.

Line convention (Efimov et al.): ``<other-language words> ||| <English words>``; the English
(anchored) side is second unless ``english_first`` is set.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xadj import _native


@dataclass(frozen=True)
class Bitext:
    vocab: list[str]  # interned words, shared by both sides
    source: tuple[np.ndarray, np.ndarray]  # (int32 word ids, int64 offsets), first side of a line
    target: tuple[np.ndarray, np.ndarray]  # second side
    empty_pairs: int  # pairs with an empty side (kept only when allowed)

    @property
    def num_pairs(self) -> int:
        return len(self.source[1]) - 1


def read_bitext(
    source: str | Path,
    target: str | Path | None = None,
    *,
    unicode_words: bool = False,
    allow_empty: bool = False,
) -> Bitext:
    """Reads ``source ||| target`` lines from ``source``, or two line-aligned files.

    ``.gz`` files are read transparently. ``unicode_words`` runs the built-in word tokenizer on
    raw text; otherwise words are whitespace separated (pre-tokenized text).
    """
    vocab, sv, so, tv, to, empty = _native.read_bitext(
        str(source), None if target is None else str(target),
        unicode_words=unicode_words, allow_empty=allow_empty,
    )
    return Bitext(vocab, (sv, so), (tv, to), empty)


def sample_bitext() -> Path:
    """The small French-English sample shipped inside the package (Multi30k, word-split)."""
    return Path(__file__).parent / "sample" / "multi30k.fr-en.txt"


def tokenize_words(text: str) -> list[str]:
    """The built-in Unicode word tokenizer (punctuation split off, numbers/URLs/compounds kept)."""
    return _native.tokenize_words(text)


def fingerprint(paths: list[Path]) -> str:
    """sha256 over the bytes of the corpus files, recorded next to every output."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def export_hf_dataset(
    name_or_path: str,
    out_dir: Path,
    *,
    config: str | None = None,
    split: str = "train",
    other_lang: str | None = None,
    english_lang: str = "en",
    other_column: str | None = None,
    english_column: str | None = None,
    max_rows: int | None = None,
) -> tuple[Path, Path]:
    """Writes a ``datasets`` parallel corpus as two line-aligned files (other, English).

    Schemas: a ``translation`` dict keyed by language (``Helsinki-NLP/opus-100``), or two columns
    (``english``/``non_english`` in ``sentence-transformers/parallel-sentences-wikimatrix``).
    ``name_or_path`` is a hub id, a directory saved with ``save_to_disk``, or a local
    json/jsonl/parquet/csv file.
    """
    import datasets

    path = Path(name_or_path)
    if path.is_dir():
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            ds = ds[split]
    elif path.is_file():
        kind = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}.get(
            path.suffix)
        if kind is None:
            raise ValueError(f"{path}: unsupported dataset file type {path.suffix!r}")
        ds = datasets.load_dataset(kind, data_files=str(path), split="train")
    else:
        ds = datasets.load_dataset(name_or_path, config, split=split)
    columns = ds.column_names
    if "translation" in columns and other_column is None:
        if other_lang is None:
            raise ValueError(f"{name_or_path}: give the other language of the translation dict")

        def pick(row):
            return row["translation"][other_lang], row["translation"][english_lang]
    else:
        oc = other_column or ("non_english" if "non_english" in columns else None)
        ec = english_column or ("english" if "english" in columns else None)
        if oc not in columns or ec not in columns:
            raise ValueError(
                f"{name_or_path}: columns {columns} have neither a 'translation' dict nor "
                f"the columns {oc!r}/{ec!r}; name them with other_column/english_column")

        def pick(row):
            return row[oc], row[ec]

    out_dir.mkdir(parents=True, exist_ok=True)
    other_path, english_path = out_dir / "other.txt", out_dir / "english.txt"
    n = len(ds) if max_rows is None else min(max_rows, len(ds))
    with open(other_path, "w", encoding="utf-8") as fo, \
            open(english_path, "w", encoding="utf-8") as fe:
        for row in ds.select(range(n)):
            other, english = pick(row)
            # One sentence a line: inner line breaks would shift every later pair.
            fo.write(" ".join((other or "").split()) + "\n")
            fe.write(" ".join((english or "").split()) + "\n")
    return other_path, english_path
