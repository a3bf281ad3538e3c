"""Encoder word alignment as a command (`wordalign --encoder`) and the align -> adjust ->
re-align loop (`align --realign-rounds N`) on the tiny smoke-test model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xadj.corpus import read_bitext, sample_bitext
from xadj.wordaligner import read_alignment


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xadj.cli", *map(str, args)],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def small_bitext(tmp_path_factory) -> Path:
    lines = sample_bitext().read_text(encoding="utf-8").splitlines()[:24]
    path = tmp_path_factory.mktemp("bitext") / "fr-en.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_wordalign_encoder_writes_the_encoders_links(small_bitext, tmp_path):
    from xadj.model import load_encoder, resolve_model
    from xadj.wordalign_encoder import align_with_encoder, bitext_pairs

    out = tmp_path / "enc.align"
    run = cli("wordalign", small_bitext, "--encoder", "tiny", "--layer", "1", "--method",
              "itermax", "-o", out)
    assert run.returncode == 0, run.stderr
    links, offsets = read_alignment(out)
    assert len(offsets) - 1 == 24 and len(links) > 24
    bitext = read_bitext(small_bitext)
    pairs = bitext_pairs(bitext)
    for k, (src, tgt) in enumerate(pairs):  # every link inside its sentence
        row = links[offsets[k]:offsets[k + 1]]
        assert (row[:, 0] < len(src)).all() and (row[:, 1] < len(tgt)).all()
    model, tokenizer = load_encoder(resolve_model("tiny"))
    want, want_offsets = align_with_encoder(model, tokenizer, pairs, layer=1, method="itermax",
                                            progress=False)
    np.testing.assert_array_equal(offsets, want_offsets)
    np.testing.assert_array_equal(links, want)


def test_wordalign_encoder_default_layer_and_raw_text(small_bitext, tmp_path):
    import xadj
    from xadj.api import ENCODER_METHODS
    from xadj.wordalign_encoder import METHODS

    assert ENCODER_METHODS == METHODS
    result = xadj.wordalign(xadj.WordalignConfig(input=[str(small_bitext)], encoder="tiny",
                                                 raw_text=True, output=str(tmp_path / "a")),
                            progress=False)
    assert result.stats["layer"] == 1  # 2/3 of the tiny model's 2 layers
    assert result.outputs == [tmp_path / "a"] and result.links == len(read_alignment(
        tmp_path / "a")[0])


def test_wordalign_encoder_user_errors(small_bitext, tmp_path):
    run = cli("wordalign", small_bitext, "--encoder", "tiny", "--both", "--output-prefix",
              tmp_path / "p")
    assert run.returncode == 2 and "--encoder" in run.stderr and "Traceback" not in run.stderr
    run = cli("wordalign", small_bitext, "--encoder", tmp_path / "no-such-model", "-o",
              tmp_path / "x")
    assert run.returncode == 2 and "no-such-model" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "x").exists()
