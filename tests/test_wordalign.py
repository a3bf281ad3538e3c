"""The built-in aligner through the CLI and the API: fast_align's output on the fixtures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from xadj.corpus import read_bitext
from xadj.wordaligner import AlignerOptions, align_words, read_gold, score

DATA = Path(__file__).resolve().parent / "data"


def same_lines(a: list[str], b: list[str]) -> float:
    assert len(a) == len(b)
    return sum(x.split() == y.split() for x, y in zip(a, b, strict=True)) / len(a)


@pytest.mark.parametrize("direction", ["fwd", "rev"])
def test_cli_prints_what_fast_align_prints(direction, tmp_path):
    fixture = DATA / "fixtures" / "enfr.txt"
    args = [sys.executable, "-m", "xadj.cli", "wordalign", str(fixture), "-o", str(tmp_path / "o")]
    if direction == "rev":
        args.append("--reverse")
    subprocess.run(args, check=True, capture_output=True)
    ours = (tmp_path / "o").read_text().splitlines()
    ref = (DATA / "reference" / "fast_align" / f"enfr.{direction}").read_text().splitlines()
    assert same_lines(ours, ref) >= 0.998


def test_both_directions_symmetrised_and_scored(tmp_path):
    subprocess.run([sys.executable, "-m", "xadj.cli", "wordalign", str(DATA / "fixtures" /
                    "roen.txt"), "--both", "--symmetrize", "grow-diag-final-and",
                    "--output-prefix", str(tmp_path / "roen")], check=True, capture_output=True)
    for ext in ("fwd", "rev", "grow-diag-final-and"):
        ours = (tmp_path / f"roen.{ext}").read_text().splitlines()
        ref = (DATA / "reference" / "fast_align" / f"roen.{ext}").read_text().splitlines()
        assert same_lines(ours, ref) >= 0.998, ext
    bitext = read_bitext(DATA / "fixtures" / "enfr.txt")
    links, offsets, _ = align_words(bitext, both=True, symmetrize="intersect", progress=False)
    gold = read_gold(DATA / "gold" / "enfr.gold", one_based=True)
    assert 100 * score((links, offsets), gold)["aer"] == pytest.approx(25.1, abs=0.1)


def test_empty_sides_keep_line_counts_in_step(tmp_path):
    path = tmp_path / "b.txt"
    path.write_text("a b ||| x y\n ||| z\nb a ||| y x\nc |||\n")
    out = subprocess.run([sys.executable, "-m", "xadj.cli", "wordalign", str(path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")[:-1]
    assert len(lines) == 4 and lines[1] == "" and lines[3] == ""
    assert "2 pairs with an empty side" in out.stderr


def test_options_switch_the_model():
    bitext = read_bitext_from_text("a b c ||| x y z\n" * 20 + "a c ||| x z\n" * 5)
    base = align_words(bitext, progress=False)[0]
    for change in ({"use_null": False}, {"favor_diagonal": False},
                   {"variational_bayes": False}, {"iterations": 1}):
        links = align_words(bitext, options=AlignerOptions(**change), progress=False)[0]
        assert len(links) > 0
    # A consistent word mapping is found whatever the switches.
    assert base[:3].tolist() == [[0, 0], [1, 1], [2, 2]]


def test_progress_callback_errors_stop_the_aligner():
    from xadj import _native

    bitext = read_bitext_from_text("a b ||| x y\n" * 50)

    def boom(*_):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        _native.word_align(bitext.source, bitext.target, len(bitext.vocab), "both", boom)


def read_bitext_from_text(text: str):
    import tempfile

    path = Path(tempfile.mkdtemp()) / "b.txt"
    path.write_text(text)
    return read_bitext(path)
