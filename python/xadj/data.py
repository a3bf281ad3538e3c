"""Prepared datasets: a bitext and its word alignments turned once into flat subword arrays
(memory-mapped ``.npy`` files) plus ``meta.json`` with every count and setting.

Pipeline (METHOD.md §1-2): read (Rust) -> align if no alignments are given (Rust) -> bounds check
and link filters (Rust) -> tokenize each distinct word once with the model's fast tokenizer ->
subword mapping, zero-piece/too-long/unlinked drops (Rust) -> optional seeded subset -> save.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from xadj import __version__, _native
from xadj.corpus import Bitext, fingerprint, read_bitext

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SIDE_ARRAYS = ("pieces", "piece_offsets", "word_starts", "word_offsets")
ARRAYS = tuple(f"{side}_{name}" for side in ("other", "english") for name in SIDE_ARRAYS) + (
    "links", "link_offsets", "pair_index")


@dataclass
class PrepareOptions:
    max_words: int = 64  # drop a pair whose either side has more words (0 = no limit)
    one_to_one: bool = True  # keep a link only if both its words occur in no other link
    drop_identical: bool = True  # drop links between identical strings (Efimov et al.)
    drop_unlinked: bool = True  # drop pairs left without links
    max_seq_length: int | None = None  # pieces per side incl. specials (None: model max, <= 512)
    max_pairs: int | None = None  # keep a seeded random subset of this many pairs
    seed: int = 42  # seed of the subset
    english_first: bool = False  # lines are `English ||| other` instead of `other ||| English`
    unicode_words: bool = False  # split raw text with the built-in word tokenizer
    symmetrize: str = "intersect"  # heuristic joining both directions of the built-in aligner


@dataclass(frozen=True)
class TokenizerInfo:
    prefix_ids: list[int]  # special tokens before a sequence ([CLS], <s>)
    suffix_ids: list[int]  # special tokens after it ([SEP], </s>)
    pad_id: int
    max_length: int


def tokenizer_info(tokenizer: Any) -> TokenizerInfo:
    """Finds the special tokens a tokenizer wraps around a sequence, without assuming a model."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{type(tokenizer).__name__} is not a fast tokenizer; xadj needs one")
    for probe in ("a", "the", "x", "1"):
        inner = tokenizer(probe, add_special_tokens=False)["input_ids"]
        outer = tokenizer(probe)["input_ids"]
        for k in range(len(outer) - len(inner) + 1):
            if inner and outer[k:k + len(inner)] == inner:
                max_length = tokenizer.model_max_length
                if not isinstance(max_length, int) or max_length > 100_000:
                    max_length = 512  # "very large" sentinel: no limit declared
                pad = tokenizer.pad_token_id
                return TokenizerInfo(outer[:k], outer[k + len(inner):],
                                     0 if pad is None else int(pad), int(max_length))
    raise ValueError("could not locate the special tokens of the tokenizer")


def _byte_level(tokenizer: Any) -> bool:
    """Byte-level BPE (GPT-2/RoBERTa style) marks a preceding space inside the piece itself."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return backend is not None and "ByteLevel" in backend.to_str()[:20_000]


def piece_table(tokenizer: Any, vocab: list[str], batch_size: int = 50_000
                ) -> tuple[np.ndarray, np.ndarray]:
    """Tokenizes every distinct word once (batched, in the tokenizer's Rust core), as the
    reference code's per-word ``tokenizer.tokenize(word)`` would, but without a call per token.

    WordPiece and SentencePiece give a word the same pieces alone as inside a sentence. Byte-level
    BPE does not (``Ġword`` after a space, ``word`` at the start): each word is tokenized with a
    leading space, the form it takes inside a sentence (RoBERTa's ``add_prefix_space``)."""
    prefix = " " if _byte_level(tokenizer) else ""
    lengths = np.zeros(len(vocab), dtype=np.int64)
    chunks = []
    for start in range(0, len(vocab), batch_size):
        words = vocab[start:start + batch_size]
        if prefix:
            words = [prefix + w for w in words]
        ids = tokenizer(words, add_special_tokens=False,
                        return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        lengths[start:start + len(ids)] = [len(x) for x in ids]
        chunks.append(np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32))
    offsets = np.zeros(len(vocab) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int32)
    return values, offsets


class PreparedDataset:
    """A prepared dataset directory, memory-mapped: training only reads these arrays."""

    def __init__(self, path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]):
        self.path = path
        self.arrays = arrays
        self.meta = meta

    @classmethod
    def load(cls, path: str | Path) -> PreparedDataset:
        path = Path(path)
        meta_path = path / "meta.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{path}: not a prepared dataset (no meta.json)")
        meta = json.loads(meta_path.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: dataset format {meta.get('format_version')}, "
                             f"this xadj reads {FORMAT_VERSION}; prepare it again")
        arrays = {name: np.load(path / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
        return cls(path, arrays, meta)

    @property
    def num_pairs(self) -> int:
        return len(self.arrays["pair_index"])

    @property
    def tokenizer_name(self) -> str:
        return self.meta["tokenizer"]["name"]

    def words(self, side: str, i: int) -> int:
        """Number of words of pair ``i`` on ``side`` ('other' or 'english')."""
        off = self.arrays[f"{side}_word_offsets"]
        return int(off[i + 1] - off[i]) - 1


def _swap_sides(arrays: dict[str, np.ndarray], english_first: bool) -> dict[str, np.ndarray]:
    """Renames Rust's source/target arrays to other/english and orients links (other, english)."""
    other, english = ("tgt", "src") if english_first else ("src", "tgt")
    out = {}
    for name in SIDE_ARRAYS:
        out[f"other_{name}"] = arrays[f"{other}_{name}"]
        out[f"english_{name}"] = arrays[f"{english}_{name}"]
    links = arrays["links"]
    out["links"] = np.ascontiguousarray(links[:, ::-1]) if english_first else links
    out["link_offsets"] = arrays["link_offsets"]
    out["pair_index"] = arrays["pair_index"]
    return out


def _select(arrays: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    """Keeps pairs ``keep`` (ascending) of every ragged array."""
    def take(values, offsets):
        starts, ends = offsets[keep], offsets[keep + 1]
        new_offsets = np.zeros(len(keep) + 1, dtype=np.int64)
        np.cumsum(ends - starts, out=new_offsets[1:])
        lengths = ends - starts
        idx = np.arange(new_offsets[-1]) + np.repeat(starts - new_offsets[:-1], lengths)
        return values[idx], new_offsets

    out = dict(arrays)
    for side in ("src", "tgt"):
        for values, offsets in (("pieces", "piece_offsets"), ("word_starts", "word_offsets")):
            v, o = take(arrays[f"{side}_{values}"], arrays[f"{side}_{offsets}"])
            out[f"{side}_{values}"], out[f"{side}_{offsets}"] = v, o
    out["links"], out["link_offsets"] = take(arrays["links"], arrays["link_offsets"])
    out["pair_index"] = arrays["pair_index"][keep]
    return out


def align_bitext(bitext: Bitext, method: str = "intersect", **options: Any
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Aligns a bitext with the built-in aligner in both directions and symmetrises."""
    from xadj.alignment import align_words

    links, offsets, stats = align_words(bitext, both=True, symmetrize=method, **options)
    stats.pop("alignments")  # the directional links: not needed once symmetrised
    return links, offsets, stats


def prepare(
    bitext_paths: list[str | Path],
    tokenizer: Any,
    output: str | Path,
    *,
    alignments: str | Path | None = None,
    options: PrepareOptions | None = None,
    tokenizer_name: str = "",
    progress: bool = True,
) -> PreparedDataset:
    """Prepares a corpus for training and saves it to ``output`` (written to a temporary
    directory first, so ``output`` appears only when complete)."""
    opts = options or PrepareOptions()
    output = Path(output)
    paths = [Path(p) for p in bitext_paths]
    if len(paths) not in (1, 2):
        raise ValueError("give one `source ||| target` file or two line-aligned files")
    info = tokenizer_info(tokenizer)
    max_len = opts.max_seq_length or info.max_length
    max_pieces = max_len - len(info.prefix_ids) - len(info.suffix_ids)
    if max_pieces <= 0:
        raise ValueError(f"max_seq_length {max_len} leaves no room after special tokens")
    steps = tqdm(total=5, desc="prepare", disable=not progress)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    steps.set_postfix_str("read")
    bitext = read_bitext(*paths, unicode_words=opts.unicode_words)
    timings["read_s"] = time.perf_counter() - t0
    steps.update()

    steps.set_postfix_str("align")
    t = time.perf_counter()
    aligner_stats: dict[str, Any] = {}
    if alignments is None:
        links, link_offsets, aligner_stats = align_bitext(bitext, opts.symmetrize)
        alignment_name = f"built-in aligner ({opts.symmetrize})"
    else:
        links, link_offsets = _native.read_alignment(str(alignments))
        alignment_name = str(alignments)
        if len(link_offsets) - 1 != bitext.num_pairs:
            raise ValueError(f"{alignments}: {len(link_offsets) - 1} alignment lines for "
                             f"{bitext.num_pairs} sentence pairs in {', '.join(map(str, paths))}")
    timings["align_s"] = time.perf_counter() - t
    steps.update()

    steps.set_postfix_str("filter")
    t = time.perf_counter()
    links, link_offsets, filter_stats = _native.filter_links(
        bitext.source, bitext.target, (links, link_offsets), max_words=opts.max_words,
        one_to_one=opts.one_to_one, drop_identical=opts.drop_identical, name=alignment_name)
    timings["filter_s"] = time.perf_counter() - t
    steps.update()

    steps.set_postfix_str("tokenize vocabulary")
    t = time.perf_counter()
    table_values, table_offsets = piece_table(tokenizer, bitext.vocab)
    timings["tokenize_s"] = time.perf_counter() - t
    steps.update()

    steps.set_postfix_str("map subwords")
    t = time.perf_counter()
    arrays, map_stats = _native.map_corpus(
        bitext.source, bitext.target, (links, link_offsets), (table_values, table_offsets),
        max_pieces=max_pieces, drop_unlinked=opts.drop_unlinked)
    n = len(arrays["pair_index"])
    if opts.max_pairs is not None and opts.max_pairs < n:
        from xadj.sampling import subset

        arrays = _select(arrays, subset(n, opts.max_pairs, opts.seed))
    timings["map_s"] = time.perf_counter() - t
    steps.update()
    steps.close()

    arrays = _swap_sides(arrays, opts.english_first)
    meta = {
        "format_version": FORMAT_VERSION,
        "xadj_version": __version__,
        "corpus": {"paths": [str(p) for p in paths], "sha256": fingerprint(paths),
                   "alignments": None if alignments is None else str(alignments)},
        "options": asdict(opts),
        "tokenizer": {"name": tokenizer_name, **asdict(info), "max_pieces": max_pieces,
                      "vocab_words": len(bitext.vocab)},
        "counts": {"pairs_read": bitext.num_pairs, "empty_pairs": bitext.empty_pairs,
                   **{f"filter_{k}": v for k, v in filter_stats.items()},
                   **{f"map_{k}": v for k, v in map_stats.items()},
                   "aligner": aligner_stats,
                   "pairs_out": len(arrays["pair_index"]), "links_out": len(arrays["links"]),
                   "pieces_other": len(arrays["other_pieces"]),
                   "pieces_english": len(arrays["english_pieces"])},
        "timings": timings,
    }
    _save(output, arrays, meta)
    return PreparedDataset.load(output)


def _save(output: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        for name in ARRAYS:
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(arrays[name]))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
        if output.exists():
            shutil.rmtree(output)
        os.replace(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
