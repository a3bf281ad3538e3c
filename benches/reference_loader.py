"""A faithful pure-Python reimplementation of the reference data path (Efimov et al.'s loader,
itself Cao et al.'s): the baseline that ``bench_data_path.py`` measures xadj against.

Semantics kept from the reference: lines split at ``|||`` and on whitespace; pairs with a side of
more than 64 words dropped; Pharaoh lines parsed into numpy arrays; one-to-one links kept with
per-pair numpy counts; identical-string links dropped; pairs without links dropped; at batch time
every word tokenized with its own ``tokenizer.tokenize(word)`` call, ids padded to the model's
maximum length and cut, a dict of word spans built, aligned indices stacked per batch. Written
here from that description; none of the original code is copied.
"""

from __future__ import annotations

import numpy as np


def keep_one_to_one(links: np.ndarray) -> np.ndarray:
    if len(links) == 0:
        return links
    first = np.zeros(links[:, 0].max() + 1)
    second = np.zeros(links[:, 1].max() + 1)
    for a, b in links:
        first[a] += 1
        second[b] += 1
    kept = [link for link in links if first[link[0]] == 1 and second[link[1]] == 1]
    return np.array(kept)


def load_corpus(bitext_path, align_path, max_len=64):
    sents_1, sents_2, bad = [], [], set()
    with open(bitext_path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            cut = line.index("|||")
            s1, s2 = line[:cut].split(), line[cut:].split()[1:]
            if len(s1) > max_len or len(s2) > max_len:
                bad.add(i)
            else:
                sents_1.append(s1)
                sents_2.append(s2)
    aligns = []
    with open(align_path) as f:
        for i, line in enumerate(f):
            if i in bad:
                continue
            links = np.array([p.split("-") for p in line.split()]).astype(int)
            aligns.append(keep_one_to_one(links))
    out_1, out_2, out_a = [], [], []
    for s1, s2, links in zip(sents_1, sents_2, aligns, strict=True):
        kept = [[i, j] for i, j in links if s1[i] != s2[j]] if len(links) else []
        if kept:
            out_1.append(s1)
            out_2.append(s2)
            out_a.append(np.array(kept))
    return out_1, out_2, out_a


def encode(tokenizer, sentences, max_len=512, cls="[CLS]", sep="[SEP]"):
    """Per-word tokenization into padded id arrays and a word -> piece span dict."""
    ids = np.zeros((len(sentences), max_len), dtype=int)
    mask = np.zeros((len(sentences), max_len), dtype=int)
    spans, word, token, longest = {}, 0, 0, 0
    for row, sentence in enumerate(sentences):
        tokens = [cls]
        spans[word] = (token, token + 1)
        word, token = word + 1, token + 1
        for w in sentence:
            pieces = tokenizer.tokenize(w)
            if not pieces:
                raise ValueError(f"word {w!r} has no pieces")
            tokens.extend(pieces)
            spans[word] = (token, token + len(pieces))
            word, token = word + 1, token + len(pieces)
        tokens.append(sep)
        spans[word] = (token, token + 1)
        word, token = word + 1, token + 1
        token_ids = tokenizer.convert_tokens_to_ids(tokens)
        ids[row, :len(token_ids)] = token_ids
        mask[row, :len(token_ids)] = 1
        longest = max(longest, len(token_ids))
    return ids[:, :longest], mask[:, :longest], spans


def aligned_indices(sents_1, sents_2, aligns):
    """Indices of aligned words (and [CLS]/[SEP] pairs) into the packed word lists."""
    def starts(sents):
        sizes = [len(s) + 2 for s in sents]
        return [sum(sizes[:k]) for k in range(len(sizes))]

    idx_1, idx_2 = starts(sents_1), starts(sents_2)
    shifted = [a + [i1, i2] for a, i1, i2 in zip(aligns, idx_1, idx_2, strict=True)]
    pairs = np.vstack(shifted) + 1
    cls = np.array(list(zip(idx_1, idx_2, strict=True)))
    sep = (cls - 1)[1:]
    last = np.array([(sum(len(s) + 2 for s in sents_1) - 1, sum(len(s) + 2 for s in sents_2) - 1)])
    pairs = np.vstack((pairs, cls, sep, last))
    return pairs[:, 0], pairs[:, 1]


def batches(tokenizer, sents_1, sents_2, aligns, batch_size=32):
    for start in range(0, len(sents_1), batch_size):
        s1, s2 = sents_1[start:start + batch_size], sents_2[start:start + batch_size]
        a = aligns[start:start + batch_size]
        yield encode(tokenizer, s1), encode(tokenizer, s2), aligned_indices(s1, s2, a)
