"""The data path as a user meets it: reading bitexts, bad input, prepare, batches."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xadj.batches import Batcher
from xadj.corpus import read_bitext, sample_bitext, tokenize_words
from xadj.data import PreparedDataset, PrepareOptions, prepare

SAMPLE = sample_bitext()


@pytest.fixture(scope="module")
def wordpiece(tmp_path_factory):
    """A small BERT-like WordPiece tokenizer trained on the shipped sample."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    lines = [line.replace(" ||| ", " ") for line in SAMPLE.read_text().splitlines()]
    tok.train_from_iterator(lines, trainers.WordPieceTrainer(vocab_size=600,
                                                             special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    out = tmp_path_factory.mktemp("wordpiece")
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                            cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                            model_max_length=128).save_pretrained(out)
    return AutoTokenizer.from_pretrained(out)


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def diagonal_links(bitext_path: Path, out: Path) -> Path:
    """Links i-i up to the shorter side: a simple alignment file for tests."""
    lines = []
    for line in bitext_path.read_text().splitlines():
        a, b = line.split("|||")
        n = min(len(a.split()), len(b.split()))
        lines.append(" ".join(f"{i}-{i}" for i in range(n)))
    return write(out, "\n".join(lines) + "\n")


# ------------------------------------------------------------------ reading
def test_reads_joined_split_and_gzip_files_alike(tmp_path):
    joined = write(tmp_path / "j.txt", "le chat noir ||| the black cat\nun ||| a\n")
    src = write(tmp_path / "s.txt", "le chat noir\nun\n")
    tgt = tmp_path / "t.txt.gz"
    with gzip.open(tgt, "wt") as f:
        f.write("the black cat\r\na\n")
    a, b = read_bitext(joined), read_bitext(src, tgt)
    for x in (a, b):
        assert x.num_pairs == 2
        words = [[x.vocab[i] for i in x.target[0][x.target[1][k]:x.target[1][k + 1]]]
                 for k in range(2)]
        assert words == [["the", "black", "cat"], ["a"]]


@pytest.mark.parametrize("content, message", [
    (b"a ||| b\nno separator here\n", ":2: no ' ||| ' separator"),
    (b"a ||| b\n ||| b\n", ":2: empty source side"),
    (b"a ||| b\nc |||\n", ":2: empty target side"),
    (b"a ||| b\nc \xff\xfe ||| d\n", ":2: invalid UTF-8"),
])
def test_bad_bitext_lines_name_file_and_line(tmp_path, content, message):
    path = write(tmp_path / "bad.txt", content)
    with pytest.raises(ValueError, match=message) as err:
        read_bitext(path, strict=True)  # strict: an empty side is an error too
    assert str(path) in str(err.value)


def test_mismatched_line_counts_and_missing_files(tmp_path):
    src = write(tmp_path / "s.txt", "a\nb\nc\n")
    tgt = write(tmp_path / "t.txt", "x\ny\n")
    with pytest.raises(ValueError, match=r"s.txt:3: line count mismatch: .*t.txt ends after 2"):
        read_bitext(src, tgt)
    with pytest.raises(OSError, match="nope.txt"):
        read_bitext(tmp_path / "nope.txt")


def test_word_tokenizer_handles_scripts_and_punctuation():
    assert tokenize_words("«Привет», мир!") == ["«", "Привет", "»", ",", "мир", "!"]
    assert tokenize_words("हिन्दी में, 3.5%") == ["हिन्दी", "में", ",", "3.5", "%"]
    assert tokenize_words("Tiếng Việt's well-known site: http://vn.example/x.") == [
        "Tiếng", "Việt's", "well-known", "site", ":", "http://vn.example/x", "."]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_reader_never_crashes_on_arbitrary_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "x.txt"
    path.write_bytes(data)
    try:
        bitext = read_bitext(path)
    except ValueError as e:
        assert str(path) in str(e)
    else:
        # \n, \r\n and a lone \r all end a line
        lines = re.split(rb"\r\n|\r|\n", data)
        assert bitext.num_pairs == len(lines) - (lines[-1] == b"")


# ------------------------------------------------------------------ prepare
def test_prepare_counts_every_drop_and_round_trips(tmp_path, wordpiece):
    links = diagonal_links(SAMPLE, tmp_path / "diag.align")
    ds = prepare([SAMPLE], wordpiece, tmp_path / "ds", alignments=links, progress=False)
    c = ds.meta["counts"]
    assert c["pairs_read"] == 1000
    assert c["filter_links_in"] == (c["filter_links_identical"] + c["filter_links_out"]
                                    + c["filter_links_not_one_to_one"])
    assert c["filter_links_identical"] > 0  # punctuation such as "." is linked to itself
    assert c["pairs_out"] == ds.num_pairs == c["map_pairs_kept"]
    assert c["pairs_read"] == (c["pairs_out"] + c["filter_pairs_empty"]
                               + c["filter_pairs_too_long"] + c["map_pairs_too_many_pieces"]
                               + c["map_pairs_without_links"])
    again = PreparedDataset.load(tmp_path / "ds")
    assert isinstance(again.arrays["links"], np.memmap)
    assert json.loads((tmp_path / "ds" / "meta.json").read_text())["options"]["seed"] == 42
    # The pieces of pair 0 are the tokenizer's pieces of its words, in order.
    first = SAMPLE.read_text().splitlines()[0].split(" ||| ")
    o = ds.arrays
    expected = wordpiece(first[0].split(), is_split_into_words=True,
                         add_special_tokens=False)["input_ids"]
    assert list(o["other_pieces"][o["other_piece_offsets"][0]:o["other_piece_offsets"][1]]) == \
        expected


def test_english_first_swaps_sides_and_links(tmp_path, wordpiece):
    flipped = tmp_path / "en-fr.txt"
    flipped.write_text("".join(f"{b} ||| {a}\n" for a, b in
                               (line.split(" ||| ") for line in SAMPLE.read_text().splitlines())))
    links = diagonal_links(SAMPLE, tmp_path / "diag.align")
    a = prepare([SAMPLE], wordpiece, tmp_path / "a", alignments=links, progress=False)
    b = prepare([flipped], wordpiece, tmp_path / "b", alignments=links, progress=False,
                options=PrepareOptions(english_first=True))
    for name in a.arrays:
        np.testing.assert_array_equal(a.arrays[name], b.arrays[name], err_msg=name)


def test_prepare_rejects_bad_alignments(tmp_path, wordpiece):
    bitext = write(tmp_path / "b.txt", "a b ||| x y\nc ||| z\n")
    out_of_range = write(tmp_path / "r.align", "0-0 1-1\n0-3\n")
    with pytest.raises(ValueError, match=r"r.align:2: link 0-3 out of range"):
        prepare([bitext], wordpiece, tmp_path / "o", alignments=out_of_range, progress=False)
    too_few = write(tmp_path / "f.align", "0-0\n")
    with pytest.raises(ValueError, match=r"f.align: 1 alignment lines for 2 sentence pairs"):
        prepare([bitext], wordpiece, tmp_path / "o", alignments=too_few, progress=False)
    malformed = write(tmp_path / "m.align", "0-0\n1x2\n")
    with pytest.raises(ValueError, match=r"m.align:2"):
        prepare([bitext], wordpiece, tmp_path / "o", alignments=malformed, progress=False)
    assert not (tmp_path / "o").exists()


def test_words_without_pieces_are_dropped_and_counted(tmp_path, wordpiece):
    # A control character that the BERT normaliser removes: the word has no pieces at all.
    empty_word = "\u0007"
    assert wordpiece(empty_word, add_special_tokens=False)["input_ids"] == []
    bitext = write(tmp_path / "b.txt", f"chat {empty_word} noir ||| cat x black\n")
    links = write(tmp_path / "b.align", "0-0 1-1 2-2\n")
    ds = prepare([bitext], wordpiece, tmp_path / "o", alignments=links, progress=False)
    c = ds.meta["counts"]
    assert (c["map_words_zero_pieces"], c["map_links_zero_pieces"], c["links_out"]) == (1, 1, 2)
    batch = Batcher(ds).batch(np.array([0]))
    # English words with pieces: [CLS], cat, x, black, [SEP]; other side: [CLS], chat, noir, [SEP].
    assert (batch.english.n_words, batch.other.n_words) == (5, 4)


def test_max_pairs_takes_a_seeded_subset(tmp_path, wordpiece):
    links = diagonal_links(SAMPLE, tmp_path / "diag.align")
    runs = [prepare([SAMPLE], wordpiece, tmp_path / f"s{k}", alignments=links, progress=False,
                    options=PrepareOptions(max_pairs=100, seed=seed))
            for k, seed in enumerate((1, 1, 2))]
    idx = [r.arrays["pair_index"] for r in runs]
    assert len(idx[0]) == 100 and np.all(np.diff(idx[0]) > 0)
    np.testing.assert_array_equal(idx[0], idx[1])
    assert not np.array_equal(idx[0], idx[2])


# ------------------------------------------------------------------ batches
def word_spans_and_links(ds, indices):
    """Per pair: each side's word spans as positions in its row ([CLS] at 0), and the links."""
    o = ds.arrays
    rows = []
    for i in indices:
        spans = {}
        for side in ("other", "english"):
            off = o[f"{side}_word_offsets"]
            ws = o[f"{side}_word_starts"][off[i]:off[i + 1]]
            spans[side] = [(int(ws[w]) + 1, int(ws[w + 1]) + 1) for w in range(len(ws) - 1)]
        links = o["links"][o["link_offsets"][i]:o["link_offsets"][i + 1]]
        rows.append((spans, links))
    return rows


@pytest.mark.parametrize("pooling", ["avg", "first", "last"])
def test_batches_pool_the_right_pieces(tmp_path, wordpiece, pooling):
    import torch

    links = diagonal_links(SAMPLE, tmp_path / "diag.align")
    ds = prepare([SAMPLE], wordpiece, tmp_path / "ds", alignments=links, progress=False)
    indices = np.array([5, 0, 17, 3])
    batch = Batcher(ds, pooling=pooling).batch(indices)
    B, L = batch.english.input_ids.shape
    # Fake hidden states whose value at (b, position) is b * 1000 + position: pooling them with
    # the batch's index arrays must give the mean position of each word's chosen pieces.
    hidden = (torch.arange(B)[:, None] * 1000 + torch.arange(L)[None, :]).double().reshape(-1, 1)
    pooled = torch.zeros(batch.english.n_words, 1, dtype=torch.double).index_add_(
        0, torch.from_numpy(batch.english.piece_words),
        hidden[torch.from_numpy(batch.english.piece_positions)])
    counts = np.bincount(batch.english.piece_words, minlength=batch.english.n_words)
    pooled = pooled[:, 0].numpy() / counts
    expected_english, expected_aligned = [], []
    for b, (spans, pair_links) in enumerate(word_spans_and_links(ds, indices)):
        base = len(expected_english)
        n_pieces = spans["english"][-1][1] - 1
        words = [(0, 1)] + spans["english"] + [(n_pieces + 1, n_pieces + 2)]
        for s, e in words:
            chosen = {"avg": range(s, e), "first": [s], "last": [e - 1]}[pooling]
            expected_english.append(b * 1000 + np.mean(list(chosen)))
        linked = [base + 1 + int(j) for _, j in pair_links]
        expected_aligned += [base, *linked, base + len(words) - 1]
    np.testing.assert_allclose(pooled, expected_english)
    np.testing.assert_array_equal(batch.english_aligned, expected_aligned)
    # Rows hold [CLS] pieces [SEP] and padding, with a matching attention mask.
    first_len = int(batch.english.attention_mask[0].sum())
    assert batch.english.input_ids[0, 0] == wordpiece.cls_token_id
    assert batch.english.input_ids[0, first_len - 1] == wordpiece.sep_token_id
    assert np.all(batch.english.input_ids[0, first_len:] == wordpiece.pad_token_id)


def test_results_do_not_depend_on_thread_count(tmp_path, wordpiece):
    """Prepare in fresh processes with 1 and 2 Rust threads: identical arrays."""
    wordpiece.save_pretrained(tmp_path / "tok")
    links = diagonal_links(SAMPLE, tmp_path / "diag.align")
    big = tmp_path / "big.txt"
    big.write_text(SAMPLE.read_text() * 10)
    big_links = tmp_path / "big.align"
    big_links.write_text(links.read_text() * 10)
    script = (
        "import sys; from transformers import AutoTokenizer; from xadj.data import prepare;"
        "prepare([sys.argv[1]], AutoTokenizer.from_pretrained(sys.argv[2]), sys.argv[3],"
        " alignments=sys.argv[4], progress=False)")
    for threads in (1, 2):
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
        subprocess.run([sys.executable, "-c", script, str(big), str(tmp_path / "tok"),
                        str(tmp_path / f"t{threads}"), str(big_links)], check=True, env=env)
    a, b = PreparedDataset.load(tmp_path / "t1"), PreparedDataset.load(tmp_path / "t2")
    assert a.meta["counts"]["pairs_read"] == 10_000 and a.num_pairs > 9_000
    for name in a.arrays:
        np.testing.assert_array_equal(a.arrays[name], b.arrays[name], err_msg=name)


def test_byte_level_bpe_words_get_their_in_sentence_pieces(tmp_path):
    """RoBERTa-style byte-level BPE: a word inside a sentence is `Ġword`; prepare uses that form."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    lines = [line.replace(" ||| ", " ") for line in SAMPLE.read_text().splitlines()]
    tok.train_from_iterator(lines, trainers.BpeTrainer(
        vocab_size=800, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    bpe = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                  pad_token="<pad>", unk_token="<unk>", cls_token="<s>",
                                  sep_token="</s>", model_max_length=128)
    bitext = write(tmp_path / "b.txt", "deux hommes ||| two men\n")
    links = write(tmp_path / "b.align", "0-0 1-1\n")
    ds = prepare([bitext], bpe, tmp_path / "ds", alignments=links, progress=False)
    batch = Batcher(ds).batch(np.array([0]))
    inner = bpe(" two men", add_special_tokens=False)["input_ids"]
    assert batch.english.input_ids[0].tolist() == [0, *inner, 2]
    assert bpe.convert_ids_to_tokens(inner)[0].startswith("Ġ")
