"""Shared fixtures: tiny models, a synthetic parallel corpus with known links, and two batch
builders: the real one (files -> prepare -> Batcher) and a slow, obvious test-only one (plain
Python over the fast tokenizer's word_ids()) that the real one is checked against.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pytest

from xadj.batches import AlignmentBatch, Batcher, SideBatch
from xadj.data import PrepareOptions, prepare

ROOT = Path(__file__).resolve().parents[1]
MULTI30K = ROOT / "tests" / "data" / "multi30k" / "train.first240.en.gz"

Pair = tuple[list[str], list[str], list[tuple[int, int]]]  # other words, English words, links


def _side(tokenizer, sentences: list[list[str]], pooling: str):
    enc = tokenizer(sentences, is_split_into_words=True, padding=True, return_tensors="np")
    ids, mask = enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)
    length = ids.shape[1]
    pieces, specials = [], []
    for b in range(len(sentences)):
        per_word: dict[int, list[int]] = {}
        for t, w in enumerate(enc.word_ids(b)):
            if w is not None:
                per_word.setdefault(w, []).append(b * length + t)
        pick = {"avg": slice(None), "first": slice(0, 1), "last": slice(-1, None)}[pooling]
        pieces.append({w: p[pick] for w, p in per_word.items()})
        specials.append(([b * length], [b * length + int(mask[b].sum()) - 1]))
    return ids, mask, pieces, specials


def build_alignment_batch(
    tokenizer, pairs: list[Pair], pooling: str = "avg", special_pairs: bool = True, indices=None
) -> AlignmentBatch:
    """An AlignmentBatch as the contract defines it, built slowly and obviously."""
    o_ids, o_mask, o_pieces, o_special = _side(tokenizer, [p[0] for p in pairs], pooling)
    e_ids, e_mask, e_pieces, e_special = _side(tokenizer, [p[1] for p in pairs], pooling)
    e_pos, e_words, e_index = [], [], {}
    o_pos, o_words, aligned = [], [], []

    def add(pos, words, piece_list):
        word = words[-1] + 1 if words else 0  # words are numbered in order
        pos += piece_list
        words += [word] * len(piece_list)
        return word

    for b, (_, en, links) in enumerate(pairs):
        # The special tokens are English words whether or not they are paired (L_reg keeps them).
        entries = [("cls", e_special[b][0])]
        entries += [(j, e_pieces[b][j]) for j in range(len(en)) if j in e_pieces[b]]
        entries += [("sep", e_special[b][1])]
        for key, plist in entries:
            e_index[(b, key)] = add(e_pos, e_words, plist)
        o_links = [(i, j) for i, j in links if i in o_pieces[b] and j in e_pieces[b]]
        o_entries = [(o_pieces[b][i], (b, j)) for i, j in o_links]
        if special_pairs:
            o_entries = [(o_special[b][0], (b, "cls"))] + o_entries
            o_entries += [(o_special[b][1], (b, "sep"))]
        for plist, key in o_entries:
            add(o_pos, o_words, plist)
            aligned.append(e_index[key])

    def side(ids, mask, pos, words):
        n = words[-1] + 1 if words else 0
        return SideBatch(ids, mask, np.array(pos, np.int64), np.array(words, np.int64), n)

    idx = np.arange(len(pairs)) if indices is None else np.asarray(indices)
    return AlignmentBatch(
        side(o_ids, o_mask, o_pos, o_words),
        side(e_ids, e_mask, e_pos, e_words),
        np.array(aligned, np.int64),
        idx.astype(np.int64),
    )


def write_pairs(pairs: list[Pair], directory: Path) -> tuple[Path, Path]:
    """Writes pairs as an `other ||| English` bitext and its Pharaoh alignment file."""
    directory.mkdir(parents=True, exist_ok=True)
    bitext, links = directory / "pairs.txt", directory / "pairs.align"
    bitext.write_text("".join(f"{' '.join(o)} ||| {' '.join(e)}\n" for o, e, _ in pairs))
    links.write_text("".join(" ".join(f"{i}-{j}" for i, j in a) + "\n" for _, _, a in pairs))
    return bitext, links


class PairSource(Batcher):
    """In-memory pairs through the real data path: files -> xadj.data.prepare -> Batcher."""

    def __init__(
        self, tokenizer, pairs: list[Pair], pooling: str = "avg", special_pairs: bool = True
    ) -> None:
        import tempfile

        work = Path(tempfile.mkdtemp(prefix="xadj-pairs-"))
        bitext, links = write_pairs(pairs, work)
        options = PrepareOptions(max_words=0)  # keep every pair: indices must match `pairs`
        dataset = prepare([bitext], tokenizer, work / "prepared", alignments=links,
                          options=options, progress=False)
        assert dataset.num_pairs == len(pairs), dataset.meta["counts"]
        super().__init__(dataset, pooling=pooling, special_pairs=special_pairs)


def cipher(word: str) -> str:
    """The synthetic 'other language': a fixed spelling change of each English word."""
    return word[::-1].lower() + "o"


def synthetic_pairs(english_lines: list[str]) -> list[Pair]:
    """Other side = ciphered words with neighbours swapped, so links aren't the diagonal."""
    pairs = []
    for line in english_lines:
        en = line.split()[:20]
        order = list(range(len(en)))
        for k in range(0, len(en) - 1, 2):
            order[k], order[k + 1] = order[k + 1], order[k]
        other = [cipher(en[j]) for j in order]
        pairs.append((other, en, [(i, j) for i, j in enumerate(order)]))
    return pairs


@pytest.fixture(scope="session")
def english_lines() -> list[str]:
    with gzip.open(MULTI30K, "rt", encoding="utf-8") as f:
        return [next(f).strip() for _ in range(240)]


@pytest.fixture(scope="session")
def corpus(english_lines) -> dict[str, list[Pair]]:
    pairs = synthetic_pairs(english_lines)
    return {"train": pairs[:200], "heldout": pairs[200:]}


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory, english_lines) -> dict[str, Path]:
    from xadj.model import build_tiny_model

    logging.getLogger("transformers").setLevel(logging.ERROR)
    text = english_lines + [" ".join(p[0]) for p in synthetic_pairs(english_lines)]
    root = tmp_path_factory.mktemp("tiny")
    return {kind: build_tiny_model(kind, text, root / kind, seed=0) for kind in ("bert", "xlmr")}
