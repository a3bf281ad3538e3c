# Hand-written stubs of the compiled module (rust/xadj-py). Ragged rows are (values, offsets).
from collections.abc import Callable
from typing import Any

import numpy as np

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
_Words = tuple[_Arr, _Arr]  # ragged word ids: (values int32, offsets int64)
_Links = tuple[_Arr, _Arr]  # links int32 [n, 2] and offsets int64
# input_ids, attention_mask, piece_positions, piece_words, n_words
_Side = tuple[_Arr, _Arr, _Arr, _Arr, int]

def read_bitext(source: str, target: str | None = None, unicode_words: bool = False,
                allow_empty: bool = False, max_line_bytes: int = ...
                ) -> tuple[list[str], _Arr, _Arr, _Arr, _Arr, int]: ...
def tokenize_words(text: str) -> list[str]: ...
def filter_links(source: _Words, target: _Words, links: _Links, max_words: int = 64,
                 one_to_one: bool = True, drop_identical: bool = True, name: str = "alignments"
                 ) -> tuple[_Arr, _Arr, dict[str, int]]: ...
def map_corpus(source: _Words, target: _Words, links: _Links, table: _Words,
               max_pieces: int = 0, drop_unlinked: bool = True
               ) -> tuple[dict[str, _Arr], dict[str, int]]: ...
def assemble_batch(other: tuple[_Arr, _Arr, _Arr, _Arr], english: tuple[_Arr, _Arr, _Arr, _Arr],
                   links: _Arr, link_offsets: _Arr, indices: _Arr, prefix: list[int],
                   suffix: list[int], pad: int, pooling: str = "avg", special_pairs: bool = True
                   ) -> tuple[_Side, _Side, _Arr]: ...
def read_alignment(path: str, one_based: bool = False) -> tuple[_Arr, _Arr]: ...
def read_gold(path: str, one_based: bool = False) -> tuple[_Arr, _Arr, _Arr, _Arr]: ...
def write_alignment(links: _Links, path: str | None = None) -> bytes | None: ...
def symmetrize_links(fwd: _Links, rev: _Links, method_name: str) -> tuple[_Arr, _Arr]: ...
def symmetrize_files(fwd: str, rev: str, method_name: str, output: str | None = None) -> int: ...
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
