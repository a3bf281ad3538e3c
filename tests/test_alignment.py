"""Alignment files, symmetrisation and scoring through the CLI and the Python API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from xadj.wordaligner import read_alignment, read_gold, score_file, symmetrize, write_alignment

DATA = Path(__file__).resolve().parent / "data"
FAST_ALIGN = DATA / "reference" / "fast_align"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xadj.cli", *map(str, args)],
                          capture_output=True, text=True)


@pytest.mark.parametrize("method", ["intersect", "union", "grow-diag", "grow-diag-final",
                                    "grow-diag-final-and"])
def test_symmetrize_cli_matches_atools_line_for_line(method, tmp_path):
    for name in ("enfr", "roen"):
        expected = FAST_ALIGN / f"{name}.{method}"
        out = cli("symmetrize", FAST_ALIGN / f"{name}.fwd", FAST_ALIGN / f"{name}.rev",
                  "--method", method)
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == expected.read_text().splitlines()
        cli("symmetrize", FAST_ALIGN / f"{name}.fwd", FAST_ALIGN / f"{name}.rev",
            "--method", method, "-o", tmp_path / "o")
        assert (tmp_path / "o").read_text().splitlines() == expected.read_text().splitlines()


def test_score_cli_reproduces_published_aer():
    out = cli("score", "--gold", DATA / "gold" / "enfr.gold", "--one-based-gold",
              FAST_ALIGN / "enfr.fwd", FAST_ALIGN / "enfr.intersect",
              FAST_ALIGN / "enfr.grow-diag-final-and")
    assert out.returncode == 0, out.stderr
    aer = [float(line.split("\t")[1]) for line in out.stdout.splitlines()[1:]]
    assert aer == pytest.approx([30.2, 25.1, 29.3], abs=0.05)


def test_score_last_n_lines_of_a_longer_hypothesis(tmp_path):
    gold = read_gold(DATA / "gold" / "enfr.gold", one_based=True)
    hyp = FAST_ALIGN / "enfr.intersect"
    longer = tmp_path / "longer"
    longer.write_text("0-0\n" * 100 + hyp.read_text())
    assert score_file(longer, gold, last=447)["aer"] == pytest.approx(score_file(hyp, gold)["aer"])
    with pytest.raises(ValueError):
        score_file(longer, gold)


def test_round_trip_and_symmetrize_api(tmp_path):
    path = tmp_path / "a.align"
    path.write_text("0-0 1-2\n\n2-1\n")
    links, offsets = read_alignment(path)
    assert links.tolist() == [[0, 0], [1, 2], [2, 1]] and offsets.tolist() == [0, 2, 2, 3]
    write_alignment(tmp_path / "b.align", links, offsets)
    assert (tmp_path / "b.align").read_text() == path.read_text()
    both, off = symmetrize((links, offsets), read_alignment(path), "intersect")
    assert both.tolist() == links.tolist()


@pytest.mark.parametrize("content, message", [
    ("0-0\n1-\n", ":2:"),
    ("0-0 a-b\n", ":1:"),
    ("0-0\n0?1\n", ":2: possible link"),
    ("0-0 -1-2\n", ":1:"),
    ("0-99999999999\n", ":1:"),
])
def test_malformed_alignment_lines_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.align"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        read_alignment(path)
    assert str(path) in str(err.value)
    out = cli("symmetrize", path, path)
    assert out.returncode == 2 and str(path) in out.stderr and "Traceback" not in out.stderr


def test_symmetrize_cli_mismatched_line_counts(tmp_path):
    (tmp_path / "f").write_text("0-0\n1-1\n")
    (tmp_path / "r").write_text("0-0\n")
    out = cli("symmetrize", tmp_path / "f", tmp_path / "r")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{tmp_path / 'f'}:2: {tmp_path / 'r'} ends after 1 lines" in out.stderr
    out = cli("symmetrize", tmp_path / "f", tmp_path / "r", "-o", tmp_path / "out")
    assert out.returncode == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["f", "r"]
