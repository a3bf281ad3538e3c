"""Input edge cases at the Rust boundary: line ends, byte order marks, FIFOs, empty sides, counts
that add up, integer dtypes, tampered arrays, safe writes, Ctrl-C, and a binding that never
prints."""

from __future__ import annotations

import _thread
import hashlib
import io
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from xadj import _native
from xadj.corpus import export_hf_dataset, read_bitext


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def words(bitext, side: str, row: int) -> list[str]:
    values, offsets = getattr(bitext, side)
    return [bitext.vocab[i] for i in values[offsets[row]:offsets[row + 1]]]


def ragged(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=offsets[1:])
    return np.array([v for r in rows for v in r], dtype=np.int32), offsets


def link_rows(rows: list[list[tuple[int, int]]]) -> tuple[np.ndarray, np.ndarray]:
    flat, offsets = ragged([[v for link in r for v in link] for r in rows])
    return flat.reshape(-1, 2), offsets // 2


# ------------------------------------------------------------------ reading
def test_a_line_with_several_separators_is_an_error(tmp_path):
    path = write(tmp_path / "b.txt", b"a ||| b\nc ||| d ||| e\n")
    with pytest.raises(ValueError, match=r"b.txt:2: more than one ' \|\|\| ' separator"):
        read_bitext(path)


def test_cr_crlf_and_lf_line_ends_all_end_a_line(tmp_path):
    mac = read_bitext(write(tmp_path / "mac.txt", b"le chat ||| the cat\run ||| a\r"))
    mixed = read_bitext(write(tmp_path / "mixed.txt", b"le chat ||| the cat\r\nun ||| a\n"))
    for b in (mac, mixed):
        assert b.num_pairs == 2
        assert words(b, "target", 0) == ["the", "cat"] and words(b, "source", 1) == ["un"]
    links, offsets = _native.read_alignment(write(tmp_path / "a.align", b"0-0 1-1\r1-0\r\n\r"))
    assert offsets.tolist() == [0, 2, 3, 3]
    assert links.tolist() == [[0, 0], [1, 1], [1, 0]]


def test_a_byte_order_mark_is_dropped_by_every_reader(tmp_path):
    bom = b"\xef\xbb\xbf"
    joined = read_bitext(write(tmp_path / "j.txt", bom + b"le chat ||| the cat\n"))
    split = read_bitext(write(tmp_path / "s.txt", bom + b"le chat\n"),
                        write(tmp_path / "t.txt", bom + b"the cat\n"))
    for b in (joined, split):
        assert words(b, "source", 0) == ["le", "chat"]
        assert words(b, "target", 0) == ["the", "cat"]
    links, _ = _native.read_alignment(write(tmp_path / "a.align", bom + b"0-1\n"))
    assert links.tolist() == [[0, 1]]
    sure, _, possible, _ = _native.read_gold(write(tmp_path / "g.gold", bom + b"1-1 2p2\n"),
                                             one_based=True)
    assert sure.tolist() == [[0, 0]] and possible.tolist() == [[0, 0], [1, 1]]


def feed_fifo(path: Path, chunks: list[bytes]) -> threading.Thread:
    def feed() -> None:
        try:
            with open(path, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
                    f.flush()
        except BrokenPipeError:  # the reader stopped early
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    return writer


def test_a_fifo_is_read_once_and_hashed_as_read(tmp_path):
    text = b"".join(b"le chat %d ||| the cat %d\n" % (k, k) for k in range(5000))
    pipe = tmp_path / "bitext.pipe"
    os.mkfifo(pipe)
    writer = feed_fifo(pipe, [text[k:k + 4096] for k in range(0, len(text), 4096)])
    bitext = read_bitext(pipe)
    writer.join(timeout=30)
    assert bitext.num_pairs == 5000
    assert words(bitext, "target", 4999) == ["the", "cat", "4999"]
    assert bitext.sha256 == hashlib.sha256(text).hexdigest()
    # Two files: one digest per file, and one for the corpus made from both.
    src, tgt = write(tmp_path / "s.txt", b"a\nb\n"), write(tmp_path / "t.txt", b"x\ny\n")
    pair = read_bitext(src, tgt)
    digests = (hashlib.sha256(b"a\nb\n").hexdigest(), hashlib.sha256(b"x\ny\n").hexdigest())
    assert pair.file_sha256 == digests
    assert pair.sha256 == hashlib.sha256("\n".join(digests).encode()).hexdigest()


def test_empty_sides_are_kept_as_rows_counted_and_warned_about(tmp_path, caplog):
    lines = [b"a ||| b", b" ||| b", b"c ||| d"] + [b"e |||"] * 6
    path = write(tmp_path / "e.txt", b"\n".join(lines) + b"\n")
    with caplog.at_level(logging.WARNING, logger="xadj.corpus"):
        bitext = read_bitext(path)
    assert (bitext.num_pairs, bitext.empty_pairs) == (9, 7)
    assert bitext.empty_lines == (2, 4, 5, 6, 7)
    assert words(bitext, "source", 1) == [] and words(bitext, "source", 2) == ["c"]
    assert "7 pairs with an empty side (line 2, 4, 5, 6, 7, ...)" in caplog.text
    with pytest.raises(ValueError, match=r"e.txt:2: empty source side"):
        read_bitext(path, strict=True)
    with pytest.raises(ValueError, match=r"e.txt:2: empty source side"):
        read_bitext(path, allow_empty=False)  # the older spelling of strict


def test_a_datasets_corpus_is_exported_whole_one_sentence_a_line(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"english": "the\\ncat", "non_english": "le chat"}\n'
                    '{"english": "a", "non_english": null}\n')
    other, english = export_hf_dataset(str(rows), tmp_path / "out")
    assert (other.read_text(), english.read_text()) == ("le chat\n\n", "the cat\na\n")
    assert sorted(p.name for p in other.parent.iterdir()) == ["english.txt", "other.txt"]
    assert read_bitext(other, english).empty_lines == (2,)


# ------------------------------------------------------------------ counts
def test_every_pair_read_is_kept_or_dropped_under_exactly_one_reason():
    # Vocabulary: word w has pieces table[w]; word 5 has none, word 4 has three.
    table = ragged([[1], [2], [3, 4], [5], [6, 7, 8], []])
    pairs = [  # (source words, target words, links), reasons overlapping on purpose
        ([], [0, 1, 2, 3, 4], []),  # empty side AND too many words
        ([0, 1, 2, 3], [1], [(0, 0), (3, 0)]),  # too many words AND too many pieces
        ([4, 4], [1], [(0, 0)]),  # too many pieces (6 > 5) AND ...
        ([2, 5], [5, 1], [(1, 0)]),  # ... its only link to a word without pieces: no links left
        ([1, 2], [1, 2], [(0, 0), (1, 1)]),  # identical links only: no links left
        ([0, 1], [2, 3], [(0, 0), (1, 1)]),  # kept
        ([0], [], []),  # empty target
        ([4], [3, 3], [(0, 1)]),  # kept
    ]
    source = ragged([p[0] for p in pairs])
    target = ragged([p[1] for p in pairs])
    links = link_rows([p[2] for p in pairs])
    out_links, out_offsets, f, kept = _native.filter_links(
        source, target, links, max_words=3, return_kept=True)
    arrays, m = _native.map_corpus(source, target, (out_links, out_offsets), table,
                                   max_pieces=5, kept=kept)
    assert kept.tolist() == [False, False, True, True, True, True, False, True]
    assert (f["pairs_empty"], f["pairs_too_long"], f["pairs_out"]) == (2, 1, 5)
    assert (m["pairs_in"], m["pairs_too_many_pieces"], m["pairs_without_links"]) == (5, 1, 2)
    assert m["pairs_kept"] == 2 and arrays["pair_index"].tolist() == [5, 7]
    dropped = (f["pairs_empty"] + f["pairs_too_long"] + m["pairs_empty"]
               + m["pairs_too_many_pieces"] + m["pairs_without_links"])
    assert dropped + m["pairs_kept"] == len(pairs)
    assert f["links_in"] == (f["links_of_dropped_pairs"] + f["links_duplicate"]
                             + f["links_not_one_to_one"] + f["links_identical"] + f["links_out"])
    # Without the verdicts (the older call) the mapping still drops an empty side, once.
    _, alone = _native.map_corpus(source, target, (out_links, out_offsets), table, max_pieces=5)
    assert alone["pairs_empty"] == 2 and alone["pairs_kept"] == 2


# ------------------------------------------------------------------ symmetrisation
def chain(n: int) -> tuple[np.ndarray, np.ndarray]:
    """An anti-diagonal chain seeded at its far end: atools' passes add one point each."""
    fwd = np.array([(k, n - 1 - k) for k in range(n)], dtype=np.int32)
    return fwd, fwd[-1:]


def test_grow_diag_on_a_line_with_40k_links_finishes(tmp_path):
    fwd, rev = chain(40_000)
    for method in ("grow-diag", "grow-diag-final", "grow-diag-final-and"):
        links, offsets = _native.symmetrize_links(
            (fwd, [0, len(fwd)]), (rev, [0, 1]), method)
        assert offsets.tolist() == [0, 40_000]
        np.testing.assert_array_equal(links, fwd)  # the whole chain, sorted by (i, j)
    f, r = tmp_path / "c.fwd", tmp_path / "c.rev"
    _native.write_alignment((fwd, [0, len(fwd)]), f)
    _native.write_alignment((rev, [0, 1]), r)
    assert _native.symmetrize_files(f, r, "grow-diag-final-and", tmp_path / "c.gdfa") == 1
    assert len((tmp_path / "c.gdfa").read_text().split()) == 40_000


def test_ctrl_c_stops_symmetrize_files_promptly(tmp_path):
    """The forward file is a pipe: Ctrl-C arrives after 1,500 lines, while 3,600 are coming.
    Checked every 1,024 lines, the work stops before the end and leaves no output behind."""
    line = b"0-0 1-1\n"
    pipe, rev, out = tmp_path / "f.pipe", tmp_path / "r.align", tmp_path / "out.gdfa"
    os.mkfifo(pipe)
    write(rev, line * 3600)
    sent = threading.Event()

    def feed() -> None:
        try:
            with open(pipe, "wb") as f:
                f.write(line * 1500)
                f.flush()
                sent.set()
                _thread.interrupt_main()
                f.write(line * 2100)
        except BrokenPipeError:  # the reader stopped: what this test wants
            pass

    # A shell's background job inherits SIGINT ignored, and interrupt_main() then does nothing:
    # Python's own Ctrl-C handler is put in place for the test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    writer = threading.Thread(target=feed, daemon=True)
    try:
        writer.start()
        with pytest.raises(KeyboardInterrupt):
            _native.symmetrize_files(pipe, rev, "grow-diag-final-and", out)
    finally:
        signal.signal(signal.SIGINT, previous)
    writer.join(timeout=30)
    assert sent.is_set()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pipe", "r.align"]


# ------------------------------------------------------------------ writes
def test_outputs_go_to_python_file_objects_and_stdout(tmp_path, capsys):
    f = write(tmp_path / "a.fwd", b"0-0 1-1\n\n")
    r = write(tmp_path / "a.rev", b"0-0\n0-0\n")
    sink = io.BytesIO()
    assert _native.symmetrize_files(f, r, "union", sink) == 2
    assert sink.getvalue() == b"0-0 1-1\n0-0\n"
    # None: Python's sys.stdout, so redirection and capture see it.
    assert _native.symmetrize_files(f, r, "intersect") == 2
    assert capsys.readouterr().out == "0-0\n\n"

    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b) -> int:
            raise OSError(28, "No space left on device", "disk.out")

    with pytest.raises(OSError, match="No space left on device") as err:
        _native.symmetrize_files(f, r, "union", Full())
    assert err.value.errno == 28


FULL_DISK = r"""
import resource, signal, sys
import numpy as np
from xadj import _native
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
out, fwd = sys.argv[1], sys.argv[2]
links = np.array([(k, k) for k in range(10_000)], dtype=np.int32)
for call in (lambda: _native.write_alignment((links, [0, 5000, 10_000]), out),
             lambda: _native.symmetrize_files(fwd, fwd, "union", out)):
    try:
        call()
    except OSError as e:
        print(e.errno, e.filename, e.strerror, sep="|")
"""


def test_a_failed_write_names_the_path_and_leaves_no_file(tmp_path):
    fwd = write(tmp_path / "big.fwd", b"0-0 1-1 2-2 3-3\n" * 2000)
    out = tmp_path / "out" / "links.align"
    out.parent.mkdir()
    result = subprocess.run([sys.executable, "-c", FULL_DISK, str(out), str(fwd)],
                            capture_output=True, text=True, timeout=120, check=True)
    reports = result.stdout.splitlines()
    assert reports == [f"27|{out}|File too large"] * 2, result.stderr
    assert list(out.parent.iterdir()) == []  # neither the file nor a temporary one
    # A write that succeeds replaces the file in one step.
    _native.write_alignment(link_rows([[(0, 1)]]), out)
    assert out.read_text() == "0-1\n" and len(list(out.parent.iterdir())) == 1


def test_io_errors_keep_errno_and_file_name(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        read_bitext(tmp_path / "nope.txt")
    assert err.value.filename == str(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError, match="no-dir"):
        _native.write_alignment(link_rows([[(0, 0)]]), tmp_path / "no-dir" / "x.align")


# ------------------------------------------------------------------ integer inputs
def strided(a: np.ndarray) -> np.ndarray:
    """The same values in a view that is not C-contiguous."""
    return np.repeat(a, 2)[::2] if a.ndim == 1 else np.asfortranarray(a)


@pytest.mark.parametrize("convert", [
    lambda a: a.astype(np.int8),
    lambda a: a.astype(np.uint16),
    lambda a: a.astype(np.int64),
    lambda a: a.tolist(),
    strided,
], ids=["int8", "uint16", "int64", "list", "strided"])
def test_integer_inputs_take_any_integer_dtype_and_lists(convert):
    source = ragged([[0, 1, 2], [3]])
    target = ragged([[4, 1], [5]])
    links = link_rows([[(0, 0), (1, 1), (2, 0)], [(0, 0)]])
    c = {k: tuple(convert(a) for a in v)
         for k, v in dict(source=source, target=target, links=links).items()}
    expected = _native.filter_links(source, target, links, drop_identical=False)
    got = _native.filter_links(c["source"], c["target"], c["links"], drop_identical=False)
    for e, g in zip(expected[:2], got[:2], strict=True):
        np.testing.assert_array_equal(e, g)
    assert _native.symmetrize_links(c["links"], c["links"], "grow-diag")[1].tolist() == [0, 3, 4]
    assert _native.score_links(c["links"], c["links"], c["links"]) == (4, 4, 4, 4)
    assert _native.write_alignment(c["links"]) == b"0-0 1-1 2-0\n0-0\n"
    table = ragged([[7], [8, 9], [10], [11], [12], [13]])
    arrays, stats = _native.map_corpus(c["source"], c["target"], c["links"],
                                       tuple(convert(a) for a in table), drop_unlinked=False)
    assert arrays["src_pieces"].tolist() == [7, 8, 9, 10, 11] and stats["pairs_kept"] == 2
    fwd = _native.word_align(c["source"], c["target"], 6, "forward", iterations=2)
    baseline = _native.word_align(source, target, 6, "forward", iterations=2)
    np.testing.assert_array_equal(fwd[0], baseline[0])
    np.testing.assert_array_equal(fwd[1], baseline[1])


def test_non_integer_and_out_of_range_inputs_are_clear_errors():
    source = ragged([[0, 1]])
    links = link_rows([[(0, 0)]])
    with pytest.raises(TypeError, match=r"argument 'source'.*integers, got dtype float64"):
        _native.filter_links((source[0].astype(float), source[1]), source, links)
    with pytest.raises(TypeError, match=r"integers, got dtype bool"):
        _native.filter_links(source, (np.array([True, False]), source[1]), links)
    a = prepared_arrays()
    with pytest.raises(TypeError, match=r"argument 'indices'.*got dtype float64"):
        _native.assemble_batch(
            (a["o_pieces"], a["o_off"], a["o_starts"], a["o_soff"]),
            (a["e_pieces"], a["e_off"], a["e_starts"], a["e_soff"]),
            a["links"], a["l_off"], [0.0], [101], [102], 0)
    with pytest.raises(TypeError, match=r"argument 'indices': expected an array or a sequence"):
        _native.assemble_batch(
            (a["o_pieces"], a["o_off"], a["o_starts"], a["o_soff"]),
            (a["e_pieces"], a["e_off"], a["e_starts"], a["e_soff"]),
            a["links"], a["l_off"], 0, [101], [102], 0)
    with pytest.raises(ValueError, match=r"value 4294967296 does not fit int32"):
        _native.filter_links(([0, 2**32], [0, 2]), source, link_rows([[]]))
    with pytest.raises(ValueError, match=r"fwd must have shape \[n, 2\], not \[1, 3\]"):
        _native.symmetrize_links((np.zeros((1, 3), np.int32), [0, 1]), links, "union")
    with pytest.raises(ValueError, match="negative link index"):
        _native.write_alignment(([[0, -1]], [0, 1]))


# ------------------------------------------------------------------ tampered datasets
def prepared_arrays() -> dict[str, np.ndarray]:
    """Two pairs as `prepare` saves them: other words [5 6][7] / [4], English [8][9] / [3]."""
    return {
        "o_pieces": np.array([5, 6, 7, 4], np.int32), "o_off": np.array([0, 3, 4]),
        "o_starts": np.array([0, 2, 3, 0, 1], np.int32), "o_soff": np.array([0, 3, 5]),
        "e_pieces": np.array([8, 9, 3], np.int32), "e_off": np.array([0, 2, 3]),
        "e_starts": np.array([0, 1, 2, 0, 1], np.int32), "e_soff": np.array([0, 3, 5]),
        "links": np.array([[0, 1], [1, 0], [0, 0]], np.int32), "l_off": np.array([0, 2, 3]),
    }


def batch(a: dict[str, np.ndarray], indices) -> tuple:
    return _native.assemble_batch(
        (a["o_pieces"], a["o_off"], a["o_starts"], a["o_soff"]),
        (a["e_pieces"], a["e_off"], a["e_starts"], a["e_soff"]),
        a["links"], a["l_off"], indices, [101], [102], 0)


@pytest.mark.parametrize("name, value, message", [
    ("o_off", [0, 3, 9], "other pieces: row 1 is out of range"),
    ("o_off", [0, 5, 4], "other pieces: row 0 is out of range"),
    ("e_soff", [0, 3, 2], "english word starts: row 1 is out of range"),
    ("o_starts", [0, 2, 30, 0, 1], "other word starts of pair 0 do not rise from 0 to its 3"),
    ("e_starts", [0, 2, 1, 0, 1], "english word starts of pair 0 do not rise"),
    ("e_pieces", [8, -9, 3], "english pieces of pair 0: negative piece id"),
    ("links", [[0, 1], [1, 7], [0, 0]], "pair 0: link to English word 7 of 2"),
    ("links", [[9, 1], [1, 0], [0, 0]], "word 9 has no pieces or is out of range"),
    ("l_off", [0, 9, 3], "links: row 0 is out of range"),
])
def test_a_tampered_dataset_gives_a_value_error(name, value, message):
    a = prepared_arrays()
    batch(a, [0, 1])  # the untouched arrays are fine
    a[name] = np.array(value, dtype=a[name].dtype)
    with pytest.raises(ValueError, match=message):
        batch(a, [0, 1])


def test_pair_indices_beyond_the_dataset_and_bad_links_in_mapping_are_value_errors():
    with pytest.raises(ValueError, match="row 2 is out of range"):
        batch(prepared_arrays(), [2])
    with pytest.raises(ValueError, match="negative pair index"):
        batch(prepared_arrays(), [-1])
    side = ragged([[0], [0]])
    with pytest.raises(ValueError, match="links of pair 1: link 0-3 out of range"):
        _native.map_corpus(side, side, link_rows([[(0, 0)], [(0, 3)]]), ragged([[1]]))
    with pytest.raises(ValueError, match="word id 4 outside the piece table of 1 words"):
        _native.map_corpus(ragged([[4], [0]]), side, link_rows([[], []]), ragged([[1]]))


# ------------------------------------------------------------------ no printing
def test_the_binding_prints_nothing_and_writes_only_what_it_is_asked(tmp_path, capfd):
    bitext = write(tmp_path / "b.txt", b"le chat ||| the cat\n ||| x\nun ||| a\n")
    b = read_bitext(bitext)
    fwd = _native.word_align(b.source, b.target, len(b.vocab), "both", iterations=2)
    out = tmp_path / "x.align"
    _native.write_alignment(fwd[0][:2], out)
    _native.symmetrize_files(out, out, "grow-diag", tmp_path / "x.gd")
    filtered = _native.filter_links(b.source, b.target, fwd[0][:2], return_kept=True)
    assert filtered[3].tolist() == [True, False, True]
    assert capfd.readouterr() == ("", "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.txt", "x.align", "x.gd"]
