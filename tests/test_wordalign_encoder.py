"""Encoder word alignment (SimAlign's argmax and itermax) on the tiny models: known answers, the
Pharaoh arrays, argument checks, and the batched code against a slow, obvious one-pair-at-a-time
version written from the paper's description."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from xadj.wordalign_encoder import align_with_encoder


@pytest.fixture(scope="module")
def tiny(tiny_dirs):
    return {kind: (AutoModel.from_pretrained(d), AutoTokenizer.from_pretrained(d))
            for kind, d in tiny_dirs.items()}


def per_pair(links: np.ndarray, offsets: np.ndarray) -> list[set[tuple[int, int]]]:
    return [{(int(i), int(j)) for i, j in links[offsets[k]:offsets[k + 1]]}
            for k in range(len(offsets) - 1)]


def slow_word_vectors(model, tokenizer, words: list[str], layer: int, pooling: str
                      ) -> np.ndarray:
    """One sentence alone (no padding): each word's pieces in hidden_states[layer], pooled."""
    enc = tokenizer(words, is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc, output_hidden_states=True).hidden_states[layer][0].numpy()
    ids = enc.word_ids(0)
    pieces = [hidden[[t for t, w in enumerate(ids) if w == k]] for k in range(len(words))]
    pool = {"avg": lambda p: p.mean(0), "first": lambda p: p[0], "last": lambda p: p[-1]}[pooling]
    return np.stack([pool(p) for p in pieces])


def slow_simalign(sim: np.ndarray, method: str) -> set[tuple[int, int]]:
    """SimAlign on one similarity matrix: mutual argmax; itermax adds one round over the cells
    whose row or column is still free, scores x1 when both are free and x0.9 when one is."""
    m, n = sim.shape
    best_col, best_row = sim.argmax(1), sim.argmax(0)
    links = {(i, int(best_col[i])) for i in range(m) if best_row[best_col[i]] == i}
    if method == "argmax" or min(m, n) <= 2:
        return links
    rows, cols = {i for i, _ in links}, {j for _, j in links}
    if len(rows) == m or len(cols) == n:
        return links
    weight = np.array([[min(1.0, 0.9 * (i not in rows) + 0.9 * (j not in cols))
                        for j in range(n)] for i in range(m)])
    masked = sim * weight
    best_col, best_row = masked.argmax(1), masked.argmax(0)
    for i in range(m):
        j = int(best_col[i])
        if best_row[j] == i and (i not in rows or j not in cols):
            links.add((i, j))
    return links


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
@pytest.mark.parametrize("method", ["argmax", "itermax"])
def test_identical_sentences_align_on_the_diagonal(tiny, english_lines, kind, method):
    model, tokenizer = tiny[kind]
    sentences = [line.split() for line in english_lines[:6]]
    links, offsets = align_with_encoder(model, tokenizer, [(s, s) for s in sentences],
                                        layer=2, method=method, batch_size=4, progress=False)
    assert per_pair(links, offsets) == [{(i, i) for i in range(len(s))} for s in sentences]


def test_pharaoh_arrays(tiny, corpus):
    model, tokenizer = tiny["xlmr"]
    pairs = [(o, e) for o, e, _ in corpus["heldout"][:9]] + [([], ["alone"])]
    links, offsets = align_with_encoder(model, tokenizer, pairs, layer=1, batch_size=4,
                                        progress=False)
    assert links.dtype == np.int32 and links.ndim == 2 and links.shape[1] == 2
    assert offsets.dtype == np.int64 and offsets.shape == (len(pairs) + 1,)
    assert offsets[0] == 0 and offsets[-1] == len(links) and np.all(np.diff(offsets) >= 0)
    for k, (src, tgt) in enumerate(pairs):
        mine = links[offsets[k]:offsets[k + 1]]
        assert np.all(mine[:, 0] < len(src)) and np.all(mine[:, 1] < len(tgt))
        assert [tuple(x) for x in mine] == sorted(tuple(x) for x in mine)  # sorted, source first
        # mutual argmax: a word has at most one link
        assert len(set(mine[:, 0])) == len(mine) == len(set(mine[:, 1]))
    assert offsets[-1] - offsets[-2] == 0  # an empty side has no links
    empty = align_with_encoder(model, tokenizer, [], layer=1, progress=False)
    assert empty[0].shape == (0, 2) and empty[1].tolist() == [0]


@pytest.mark.parametrize("method, pooling", [("argmax", "avg"), ("itermax", "avg"),
                                             ("argmax", "first"), ("itermax", "last")])
def test_batched_links_equal_the_slow_one_pair_version(tiny, corpus, method, pooling):
    model, tokenizer = tiny["xlmr"]
    pairs = [(o, e) for o, e, _ in corpus["heldout"][:16]]
    # words of several pieces, so the three poolings see different vectors
    assert max(len(tokenizer.tokenize(w)) for o, _ in pairs for w in o) > 1
    links, offsets = align_with_encoder(model, tokenizer, pairs, layer=1, method=method,
                                        pooling=pooling, batch_size=5, progress=False)
    expected = []
    for src, tgt in pairs:
        a, b = (slow_word_vectors(model, tokenizer, side, 1, pooling) for side in (src, tgt))
        a /= np.linalg.norm(a, axis=1, keepdims=True)
        b /= np.linalg.norm(b, axis=1, keepdims=True)
        expected.append(slow_simalign((a @ b.T + 1.0) / 2.0, method))
    assert per_pair(links, offsets) == expected
    if method == "itermax":  # the extra round found something on these pairs
        argmax = align_with_encoder(model, tokenizer, pairs, layer=1, pooling=pooling,
                                    progress=False)
        assert len(links) > len(argmax[0])


def slow_piece_vectors(model, tokenizer, words: list[str], layer: int
                       ) -> tuple[np.ndarray, list[int]]:
    """One sentence alone: the vector of every piece in hidden_states[layer], and its word."""
    enc = tokenizer(words, is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc, output_hidden_states=True).hidden_states[layer][0].numpy()
    rows = [t for t, w in enumerate(enc.word_ids(0)) if w is not None]
    return hidden[rows], [enc.word_ids(0)[t] for t in rows]


@pytest.mark.parametrize("method", ["argmax", "itermax"])
def test_piece_level_links_words_whose_pieces_link(tiny, corpus, method):
    """SimAlign's subword level: pieces are aligned, and two words linked when any of their
    pieces are, so a word of several pieces may link to several words."""
    model, tokenizer = tiny["xlmr"]
    pairs = [(o, e) for o, e, _ in corpus["heldout"][:16]]
    links, offsets = align_with_encoder(model, tokenizer, pairs, layer=1, method=method,
                                        granularity="piece", batch_size=5, progress=False)
    expected = []
    for src, tgt in pairs:
        (a, wa), (b, wb) = (slow_piece_vectors(model, tokenizer, side, 1) for side in (src, tgt))
        a /= np.linalg.norm(a, axis=1, keepdims=True)
        b /= np.linalg.norm(b, axis=1, keepdims=True)
        expected.append({(wa[i], wb[j]) for i, j in slow_simalign((a @ b.T + 1.0) / 2.0, method)})
    assert per_pair(links, offsets) == expected
    assert any(len({i for i, _ in p}) < len(p) for p in expected)  # some word got 2+ links
    with pytest.raises(ValueError, match="granularity"):
        align_with_encoder(model, tokenizer, pairs, granularity="bpe")


def test_words_without_pieces_get_no_link(tiny, caplog):
    model, tokenizer = tiny["bert"]
    src = ["a", "man", "\u200b", "runs"]  # BERT's normaliser drops the zero-width space
    assert tokenizer([src], is_split_into_words=True).word_ids(0).count(2) == 0
    with caplog.at_level(logging.WARNING, logger="xadj.wordalign_encoder"):
        links, offsets = align_with_encoder(model, tokenizer, [(src, ["a", "man", "runs"])],
                                            layer=2, progress=False)
    assert 2 not in links[:, 0] and len(links) > 0
    assert "1 words had no piece" in caplog.text


def test_arguments_are_checked_and_the_model_left_as_it_was(tiny):
    model, tokenizer = tiny["bert"]
    pairs = [(["a", "dog"], ["un", "chien"])]
    with pytest.raises(ValueError, match="layer 3 is out of range .* 2 hidden layers"):
        align_with_encoder(model, tokenizer, pairs, layer=3, progress=False)
    with pytest.raises(ValueError, match="layer -2 is out of range"):
        align_with_encoder(model, tokenizer, pairs, layer=-2, progress=False)
    with pytest.raises(ValueError, match="method must be one of"):
        align_with_encoder(model, tokenizer, pairs, method="mwmf", progress=False)
    with pytest.raises(ValueError, match="pooling must be one of"):
        align_with_encoder(model, tokenizer, pairs, pooling="max", progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        align_with_encoder(model, tokenizer, pairs, batch_size=0, progress=False)
    model.train()
    last = align_with_encoder(model, tokenizer, pairs, layer=-1, progress=False)
    assert model.training  # eval() only while aligning
    assert last[1].tolist()[-1] == len(last[0])
