"""Parallel corpora in: local files (read in Rust) or a Hugging Face ``datasets`` source exported
once to two plain text files.

Line convention (Efimov et al.): ``<other-language words> ||| <English words>``; the English
(anchored) side is second unless ``english_first`` is set.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xadj import _native

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bitext:
    vocab: list[str]  # interned words, shared by both sides
    source: tuple[np.ndarray, np.ndarray]  # (int32 word ids, int64 offsets), first side of a line
    target: tuple[np.ndarray, np.ndarray]  # second side
    # Pairs with an empty side: kept as empty rows, so row i stays line i + 1 (in step with an
    # alignment file); the link filters drop and count them.
    empty_pairs: int
    empty_lines: tuple[int, ...] = ()  # 1-based line numbers of the first (at most 5) of them
    # sha256 of the bytes read: of the file for one file (what `sha256sum` prints), of the two
    # files' hex digests joined by a newline for two; per file in `file_sha256`.
    sha256: str = ""
    file_sha256: tuple[str, ...] = ()

    @property
    def num_pairs(self) -> int:
        return len(self.source[1]) - 1


def combined_sha256(file_digests: list[str] | tuple[str, ...]) -> str:
    """One digest for a corpus: the file's own for one file, else over the files' digests."""
    if len(file_digests) == 1:
        return file_digests[0]
    return hashlib.sha256("\n".join(file_digests).encode()).hexdigest()


def read_bitext(
    source: str | Path,
    target: str | Path | None = None,
    *,
    unicode_words: bool = False,
    strict: bool = False,
    allow_empty: bool | None = None,
) -> Bitext:
    """Reads ``source ||| target`` lines from ``source``, or two line-aligned files.

    Each file is read once, so FIFOs and ``<(cmd)`` work, and hashed as it is read. ``.gz``
    files are read transparently; a UTF-8 byte order mark is dropped; lines may end in ``\n``,
    ``\r\n`` or ``\r``. ``unicode_words`` runs the built-in word tokenizer on raw text;
    otherwise words are whitespace separated (pre-tokenized text).

    A pair with an empty side is kept as an empty row (the link filters drop and count it) and
    logged as a warning with its line number; with ``strict`` it is a ``file:line`` ValueError.
    ``allow_empty`` is the older name: ``allow_empty=False`` means ``strict=True``.
    """
    if allow_empty is not None:
        strict = not allow_empty
    vocab, sv, so, tv, to, empty, empty_lines, digests = _native.read_bitext(
        str(source), None if target is None else str(target),
        unicode_words=unicode_words, strict=strict,
    )
    if empty:
        shown = ", ".join(map(str, empty_lines)) + (", ..." if empty > len(empty_lines) else "")
        log.warning("%s: %d pair%s with an empty side (line %s): they get no links",
                    source if target is None else f"{source} / {target}", empty,
                    "s" if empty > 1 else "", shown)
    return Bitext(vocab, (sv, so), (tv, to), empty, tuple(empty_lines),
                  combined_sha256(digests), tuple(digests))


def sample_bitext() -> Path:
    """The small French-English sample shipped inside the package (Multi30k, word-split)."""
    return Path(__file__).parent / "sample" / "multi30k.fr-en.txt"


def tokenize_words(text: str) -> list[str]:
    """The built-in Unicode word tokenizer (punctuation split off, numbers/URLs/compounds kept)."""
    return _native.tokenize_words(text)


def fingerprint(paths: list[Path]) -> str:
    """sha256 of corpus files read from disk, as ``Bitext.sha256`` gives it for a corpus read
    with ``read_bitext`` (prefer that: it reads each file once, which a FIFO allows)."""
    return combined_sha256([file_sha256(path) for path in paths])


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (what ``sha256sum`` prints)."""
    digest = hashlib.sha256()
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

        def pick(row: dict[str, Any]) -> tuple[str | None, str | None]:
            return row["translation"][other_lang], row["translation"][english_lang]
    else:
        oc = other_column or ("non_english" if "non_english" in columns else None)
        ec = english_column or ("english" if "english" in columns else None)
        if oc is None or ec is None or oc not in columns or ec not in columns:
            raise ValueError(
                f"{name_or_path}: columns {columns} have neither a 'translation' dict nor "
                f"the columns {oc!r}/{ec!r}; name them with other_column/english_column")

        def pick(row: dict[str, Any]) -> tuple[str | None, str | None]:
            return row[oc], row[ec]

    out_dir.mkdir(parents=True, exist_ok=True)
    other_path, english_path = out_dir / "other.txt", out_dir / "english.txt"
    n = len(ds) if max_rows is None else min(max_rows, len(ds))
    # Written under temporary names and renamed at the end: never half a corpus.
    tmp_other, tmp_english = (p.with_name(f".{p.name}.{os.getpid()}.tmp")
                              for p in (other_path, english_path))
    try:
        with open(tmp_other, "w", encoding="utf-8") as fo, \
                open(tmp_english, "w", encoding="utf-8") as fe:
            for row in ds.select(range(n)):
                other, english = pick(row)
                # One sentence a line: inner line breaks would shift every later pair.
                fo.write(" ".join((other or "").split()) + "\n")
                fe.write(" ".join((english or "").split()) + "\n")
        os.replace(tmp_other, other_path)
        os.replace(tmp_english, english_path)
    finally:
        for tmp in (tmp_other, tmp_english):
            tmp.unlink(missing_ok=True)
    return other_path, english_path
