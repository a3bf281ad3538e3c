# Hand-written stubs of the compiled module (rust/xadj-py). Ragged rows are (values, offsets).
from collections.abc import Callable, Sequence
from os import PathLike
from typing import Any, Literal, overload

import numpy as np
from _typeshed import SupportsWrite

__all__ = [
    "read_bitext",
    "tokenize_words",
    "filter_links",
    "map_corpus",
    "assemble_batch",
    "read_alignment",
    "read_gold",
    "write_alignment",
    "symmetrize_links",
    "symmetrize_files",
    "score_links",
    "word_align",
    "epoch_order",
    "sample_with_replacement",
    "subset",
]

_Arr = np.ndarray
# Integer inputs: a numpy array of any integer dtype, or a (nested) sequence of ints; values
# must fit the dtype named in the comments (int32 values, int64 offsets). Floats are refused.
_Ints = _Arr | Sequence[int]
_Ints2 = _Arr | Sequence[Sequence[int]]
_Words = tuple[_Ints, _Ints]  # ragged word ids: (values int32, offsets int64)
_Links = tuple[_Ints2, _Ints]  # links int32 [n, 2] and offsets int64
_SideArrays = tuple[_Ints, _Ints, _Ints, _Ints]  # pieces, piece offsets, word starts, word offsets
# input_ids, attention_mask, piece_positions, piece_words, n_words
_Side = tuple[_Arr, _Arr, _Arr, _Arr, int]

# vocab, source (values, offsets), target (values, offsets), pairs with an empty side, first line
# numbers of those (at most 5), sha256 (hex) of each file read
def read_bitext(source: str | PathLike[str], target: str | PathLike[str] | None = None,
                unicode_words: bool = False, strict: bool = False, max_line_bytes: int = ...
                ) -> tuple[list[str], _Arr, _Arr, _Arr, _Arr, int, list[int], list[str]]: ...
def tokenize_words(text: str) -> list[str]: ...
@overload
def filter_links(source: _Words, target: _Words, links: _Links, max_words: int = 64,
                 one_to_one: bool = True, drop_identical: bool = True, name: str = "alignments",
                 return_kept: Literal[False] = False) -> tuple[_Arr, _Arr, dict[str, int]]: ...
@overload
def filter_links(source: _Words, target: _Words, links: _Links, max_words: int = 64,
                 one_to_one: bool = True, drop_identical: bool = True, name: str = "alignments",
                 *, return_kept: Literal[True]) -> tuple[_Arr, _Arr, dict[str, int], _Arr]: ...
def map_corpus(source: _Words, target: _Words, links: _Links, table: _Words,
               max_pieces: int = 0, drop_unlinked: bool = True,
               kept: _Arr | Sequence[bool] | None = None
               ) -> tuple[dict[str, _Arr], dict[str, int]]: ...
def assemble_batch(other: _SideArrays, english: _SideArrays, links: _Ints2, link_offsets: _Ints,
                   indices: _Ints, prefix: list[int], suffix: list[int], pad: int,
                   pooling: str = "avg", special_pairs: bool = True
                   ) -> tuple[_Side, _Side, _Arr]: ...
def read_alignment(path: str | PathLike[str], one_based: bool = False) -> tuple[_Arr, _Arr]: ...
def read_gold(path: str | PathLike[str], one_based: bool = False
              ) -> tuple[_Arr, _Arr, _Arr, _Arr]: ...
def write_alignment(links: _Links, path: str | PathLike[str] | None = None) -> bytes | None: ...
def symmetrize_links(fwd: _Links, rev: _Links, method_name: str) -> tuple[_Arr, _Arr]: ...
def symmetrize_files(fwd: str | PathLike[str], rev: str | PathLike[str], method_name: str,
                     output: str | PathLike[str] | SupportsWrite[bytes] | None = None) -> int: ...
def score_links(hyp: _Links, sure: _Links, possible: _Links, last: int | None = None
                ) -> tuple[int, int, int, int]: ...
def word_align(source: _Words, target: _Words, vocab_size: int, direction: str,
               on_progress: Callable[[int, int, int], None] | None = None,
               iterations: int = 5, favor_diagonal: bool = True, optimize_tension: bool = True,
               variational_bayes: bool = True, use_null: bool = True, p0: float = 0.08,
               diagonal_tension: float = 4.0, alpha: float = 0.01, max_sentence_len: int = 1000
               ) -> Any: ...
def epoch_order(n: int, seed: int, epoch: int) -> _Arr: ...
def sample_with_replacement(n: int, k: int, seed: int, step: int) -> _Arr: ...
def subset(n: int, k: int, seed: int) -> _Arr: ...
