"""Prepared datasets: a bitext and its word alignments turned once into flat subword arrays
(memory-mapped ``.npy`` files) plus ``meta.json`` with every count and setting.

Pipeline (docs/method.md §1-2): read (Rust) -> align if no alignments are given (Rust) -> bounds
check and link filters (Rust) -> tokenize each distinct word once with the model's fast
tokenizer -> subword mapping, zero-piece/too-long/unlinked drops (Rust) -> optional seeded
subset -> save.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from xadj import __version__, _native
from xadj.config import check, setting
from xadj.corpus import Bitext, read_bitext

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SIDE_ARRAYS = ("pieces", "piece_offsets", "word_starts", "word_offsets")
ARRAYS = tuple(f"{side}_{name}" for side in ("other", "english") for name in SIDE_ARRAYS) + (
    "links", "link_offsets", "pair_index")


SYMMETRIZE_METHODS = ("intersect", "union", "grow-diag", "grow-diag-final", "grow-diag-final-and")


@dataclass
class PrepareConfig:
    """How a corpus becomes training pairs (docs/method.md §1-2): filters, text handling."""

    max_words: int = setting(64, "drop pairs with a side longer than this many words (0: no limit)",
                             min=0)
    one_to_one: bool = setting(True, "keep only one-to-one links", flag="--keep-many-to-many")
    drop_identical: bool = setting(
        True, "keep links between identical strings (Efimov et al. drop them)",
        flag="--keep-identical")
    drop_unlinked: bool = setting(True, "keep pairs left without links", flag="--keep-unlinked")
    max_seq_length: int | None = setting(
        None, "most subword pieces per side incl. special tokens (default: the model's limit)",
        min=3)
    max_pairs: int | None = setting(None, "keep a seeded random subset of this many pairs", min=1)
    seed: int = setting(42, "random seed", min=0)
    english_first: bool = setting(
        False, "lines are `English ||| other` (links English index first)")
    unicode_words: bool = setting(
        False, "split raw text with the built-in Unicode word tokenizer (default: text is "
        "pre-tokenized, words separated by spaces)", flag="--raw-text")
    symmetrize: str = setting("intersect", "heuristic joining both directions of the built-in "
                              "aligner (docs/method.md §1)", choices=SYMMETRIZE_METHODS)
    strict: bool = setting(False, "stop at a pair with an empty side instead of dropping it")

    def __post_init__(self) -> None:
        check(self)


PrepareOptions = PrepareConfig  # the name of earlier releases


@dataclass
class CorpusConfig:
    """Where a parallel corpus comes from: files, or a `datasets` source exported once."""

    bitext: list[str] | None = setting(
        None, "one `other ||| English` file, or two line-aligned files (other, English); .gz is "
        "fine; default: the French-English sample shipped with xadj", metavar="FILE", nargs=None)
    alignments: str | None = setting(
        None, "Pharaoh links for the bitext (default: the built-in aligner)")
    hf_dataset: str | None = setting(
        None, "a datasets hub id, save_to_disk dir or json/parquet file (instead of --bitext)")
    hf_config: str | None = setting(None, "dataset config, e.g. en-es")
    hf_split: str = setting("train", "dataset split")
    hf_lang: str | None = setting(None, "other language key of a `translation` dict, e.g. es")
    hf_columns: list[str] | None = setting(
        None, "column names of the other and the English side (default: non_english english)",
        nargs=2, metavar="COLUMN")
    hf_max_rows: int | None = setting(None, "read at most this many rows", min=1)

    def __post_init__(self) -> None:
        check(self)
        if self.bitext is not None and len(self.bitext) not in (1, 2):
            raise ValueError("bitext: give one `other ||| English` file or two line-aligned files")
        if self.hf_dataset and self.bitext:
            raise ValueError("give either a bitext or a datasets source, not both")


def resolve_corpus(corpus: CorpusConfig, work_dir: Path) -> list[Path]:
    """The bitext file(s) of a corpus; a datasets source is exported once into ``work_dir``."""
    if corpus.hf_dataset:
        from xadj.corpus import export_hf_dataset

        other_col, english_col = corpus.hf_columns or (None, None)
        return list(export_hf_dataset(
            corpus.hf_dataset, work_dir, config=corpus.hf_config, split=corpus.hf_split,
            other_lang=corpus.hf_lang, other_column=other_col, english_column=english_col,
            max_rows=corpus.hf_max_rows))
    if not corpus.bitext:
        from xadj.corpus import sample_bitext

        return [sample_bitext()]
    paths = [Path(p) for p in corpus.bitext]
    for p in paths + ([Path(corpus.alignments)] if corpus.alignments else []):
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such file")
    return paths


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


def _check_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Cheap consistency checks, so a damaged or edited dataset is an error, not a crash."""
    n = len(arrays["pair_index"])

    def ragged(values: str, offsets: str, rows: int) -> None:
        off = arrays[offsets]
        if off.ndim != 1 or len(off) != rows + 1 or (rows and (off[0] != 0 or np.any(
                np.diff(off) < 0))) or int(off[-1]) != len(arrays[values]):
            raise ValueError(f"{path}: damaged prepared dataset ({offsets} does not index "
                             f"{values}); prepare it again")

    for side in ("other", "english"):
        ragged(f"{side}_pieces", f"{side}_piece_offsets", n)
        ragged(f"{side}_word_starts", f"{side}_word_offsets", n)
    ragged("links", "link_offsets", n)
    links = arrays["links"]
    if links.ndim != 2 or links.shape[1] != 2:
        raise ValueError(f"{path}: damaged prepared dataset (links must be [n, 2])")


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
        try:
            arrays = {name: np.load(path / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: damaged prepared dataset: {err}") from err
        _check_arrays(path, arrays)
        return cls(path, arrays, meta)

    @property
    def num_pairs(self) -> int:
        return len(self.arrays["pair_index"])

    @property
    def tokenizer_name(self) -> str:
        return str(self.meta["tokenizer"]["name"])

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
    def take(values: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
                 ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Aligns a bitext with the built-in aligner in both directions and symmetrises."""
    from xadj.wordaligner import align_words

    links, offsets, stats = align_words(bitext, both=True, symmetrize=method, **options)
    stats.pop("alignments")  # the directional links: not needed once symmetrised
    return links, offsets, stats


def prepare(
    bitext_paths: Sequence[str | Path],
    tokenizer: Any,
    output: str | Path,
    *,
    alignments: str | Path | None = None,
    options: PrepareOptions | None = None,
    tokenizer_name: str = "",
    progress: bool = True,
    overwrite: bool = False,
) -> PreparedDataset:
    """Prepares a corpus for training and saves it to ``output`` (written to a temporary
    directory first, so ``output`` appears only when complete).

    An existing ``output`` is refused unless ``overwrite``, and even then only when it is a
    prepared dataset: nothing else is ever replaced."""
    opts = options or PrepareConfig()
    output = Path(output)
    paths = [Path(p) for p in bitext_paths]
    if len(paths) not in (1, 2):
        raise ValueError("give one `source ||| target` file or two line-aligned files")
    if opts.unicode_words and alignments is not None:
        raise ValueError("raw-text word splitting with external alignments would shift the word "
                         "indices the alignments refer to: give pre-tokenized text (the text the "
                         "alignments were made on) or let the built-in aligner align it")
    check_output(output, overwrite)
    info = tokenizer_info(tokenizer)
    if opts.max_seq_length is not None and opts.max_seq_length > info.max_length:
        raise ValueError(f"max_seq_length {opts.max_seq_length} is above the model's limit of "
                         f"{info.max_length} pieces")
    max_len = opts.max_seq_length or info.max_length
    max_pieces = max_len - len(info.prefix_ids) - len(info.suffix_ids)
    if max_pieces <= 0:
        raise ValueError(f"max_seq_length {max_len} leaves no room after special tokens")
    steps = tqdm(total=5, desc="prepare", disable=not progress)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    steps.set_postfix_str("read")
    # Read once (pipes work): the reader hashes the bytes it reads and warns about empty sides.
    bitext = read_bitext(*paths, unicode_words=opts.unicode_words, strict=opts.strict)
    timings["read_s"] = time.perf_counter() - t0
    steps.update()

    steps.set_postfix_str("align")
    t = time.perf_counter()
    aligner_stats: dict[str, Any] = {}
    if alignments is None:
        links, link_offsets, aligner_stats = align_bitext(bitext, opts.symmetrize,
                                                          progress=progress)
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
    links, link_offsets, filter_stats, kept = _native.filter_links(
        bitext.source, bitext.target, (links, link_offsets), max_words=opts.max_words,
        one_to_one=opts.one_to_one, drop_identical=opts.drop_identical, name=alignment_name,
        return_kept=True)
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
        max_pieces=max_pieces, drop_unlinked=opts.drop_unlinked, kept=kept)
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
        "corpus": {"paths": [str(p) for p in paths], "sha256": bitext.sha256,
                   "file_sha256": list(bitext.file_sha256),
                   "alignments": None if alignments is None else str(alignments)},
        "options": asdict(opts),
        "tokenizer": {"name": tokenizer_name, **asdict(info), "max_pieces": max_pieces,
                      "vocab_words": len(bitext.vocab)},
        "counts": {"pairs_read": bitext.num_pairs, "empty_pairs": bitext.empty_pairs,
                   "empty_lines_first": list(bitext.empty_lines),
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


def check_output(output: Path, overwrite: bool) -> None:
    """Refuses to replace anything but a prepared dataset, and that only with ``overwrite``."""
    if not output.exists() or (output.is_dir() and not any(output.iterdir())):
        return
    if not (output / "meta.json").is_file():
        raise FileExistsError(f"{output} exists and is not a prepared dataset; refusing to "
                              f"replace it (choose another output)")
    if not overwrite:
        raise FileExistsError(f"{output} already holds a prepared dataset: pass --overwrite to "
                              f"replace it")


def _save(output: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    from xadj.outputs import atomic_dir

    try:
        with atomic_dir(output, replace=True) as tmp:
            for name in ARRAYS:
                np.save(tmp / f"{name}.npy", np.ascontiguousarray(arrays[name]))
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    except OSError as err:
        raise OSError(f"{output}: cannot write the prepared dataset: "
                      f"{err.strerror or err}") from err
