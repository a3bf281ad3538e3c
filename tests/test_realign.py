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


@pytest.fixture(scope="module")
def hansards(tmp_path_factory) -> tuple[Path, Path]:
    """80 EN-FR Hansards pairs whose last 30 have gold links (1-based, as shipped)."""
    data = Path(__file__).parent / "data"
    root = tmp_path_factory.mktemp("hansards")
    lines = (data / "fixtures" / "enfr.txt").read_text(encoding="utf-8").splitlines()[:80]
    gold = (data / "gold" / "enfr.gold").read_text(encoding="utf-8").splitlines()[50:80]
    (root / "en-fr.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "last30.gold").write_text("\n".join(gold) + "\n", encoding="utf-8")
    return root / "en-fr.txt", root / "last30.gold"


def _realign_config(hansards, out, **kw):
    import xadj
    from xadj.data import CorpusConfig, PrepareConfig

    bitext, gold = hansards
    base = dict(model="tiny", output_dir=str(out), lang="fr", max_steps=3, pairs_per_step=8,
                lr=1e-3, heldout_pairs=10, checkpoint_every=0, realign_rounds=2,
                realign_gold=str(gold), realign_gold_one_based=True,
                source=CorpusConfig(bitext=[str(bitext)]),
                prepare=PrepareConfig(english_first=True))
    return xadj.AlignConfig(**{**base, **kw})


def test_realign_rounds_train_from_the_last_model_and_score_each_alignment(hansards, tmp_path):
    import json

    import xadj
    from xadj.model import load_encoder, resolve_model
    from xadj.wordalign_encoder import align_lines
    from xadj.wordaligner import read_gold, score

    out = tmp_path / "run"
    result = xadj.adjust(_realign_config(hansards, out), progress=False)
    assert result.models == {"fr": out / "rounds" / "2" / "model"}
    record = json.loads((out / "realign.json").read_text())
    assert record == result.realign and record["gold_lines"] == 30
    assert [r["round"] for r in record["rounds"]] == [0, 1, 2]
    assert record["realign_layer"] == 1  # 2/3 of the tiny model's depth
    assert record["rounds"][0]["aligner"] == {"fr": "built-in (intersect)"}
    for entry in record["rounds"][1:]:
        assert 0 <= entry["aer"] <= 1 and entry["links_changed"]["fr"] >= 0
    # Round 1 aligned with round 0's model: the same links scored independently.
    round0 = load_encoder(str(out / "rounds" / "0" / "model"))[0]
    bitext = read_bitext(hansards[0])
    links = align_lines(round0, load_encoder(resolve_model("tiny"))[1], bitext,
                        np.arange(50, 80), layer=1, progress=False)
    gold = read_gold(hansards[1], one_based=True)
    assert score(links, gold, last=30)["aer"] == pytest.approx(record["rounds"][1]["aer"])
    # Round 1's links are what round 1 trained on; it started from round 0, anchored on tiny.
    written = read_alignment(out / "data" / "round-1" / "fr.links")
    np.testing.assert_array_equal(written[0][written[1][50]:], links[0][links[1][50]:])
    meta = json.loads((out / "data" / "round-1" / "fr" / "meta.json").read_text())
    assert meta["corpus"]["alignments"] == str(out / "data" / "round-1" / "fr.links")
    config = json.loads((out / "rounds" / "1" / "model" / "xadj_config.json").read_text())
    assert config["config"]["model"] == str(out / "rounds" / "0" / "model")
    assert config["config"]["anchor_model"] == resolve_model("tiny")
    assert config["realign_round"] == 1
    # Every round reports on the same held-out pairs.
    reports = [json.loads((out / "rounds" / str(k) / "alignment_report.json").read_text())
               for k in range(3)]
    assert len({r["fr"]["before"]["aligned_pairs"] for r in reports}) == 1
    assert 0 <= record["original_encoder"]["aer"] <= 1 and 0 <= record["final_encoder"]["aer"]

    again = xadj.adjust(_realign_config(hansards, out, resume=True), progress=False)
    assert again.realign is not None
    assert [r.get("aer") for r in again.realign["rounds"]] == [r.get("aer")
                                                               for r in record["rounds"]]


def test_realign_at_the_piece_level_with_the_loss_on_that_layer(hansards, tmp_path):
    """--realign-granularity piece re-aligns pieces (a word may get several links) and
    --loss-layer trains the re-alignment layer; both are recorded, and no pair is held out."""
    import json

    import xadj
    from xadj.data import PreparedDataset
    from xadj.model import load_encoder
    from xadj.wordalign_encoder import align_lines

    out = tmp_path / "run"
    config = _realign_config(hansards, out, realign_rounds=1, realign_granularity="piece",
                             loss_layer=1, heldout_pairs=0, freeze_embeddings=True)
    result = xadj.adjust(config, progress=False)
    record = json.loads((out / "realign.json").read_text())
    assert record["realign_granularity"] == "piece" and result.reports == {}
    round0, tokenizer = load_encoder(str(out / "rounds" / "0" / "model"))
    lines = np.union1d(PreparedDataset.load(out / "data" / "fr").arrays["pair_index"],
                       np.arange(50, 80))
    links = align_lines(round0, tokenizer, read_bitext(hansards[0]), lines, layer=1,
                        granularity="piece", progress=False)
    written = read_alignment(out / "data" / "round-1" / "fr.links")
    np.testing.assert_array_equal(written[0], links[0])
    per_pair = [written[0][a:b] for a, b in zip(written[1][:-1], written[1][1:], strict=True)]
    assert all(len(np.unique(seg, axis=0)) == len(seg) for seg in per_pair)  # each link once
    assert any(len(np.unique(seg[:, 0])) < len(seg) for seg in per_pair)  # a word, 2+ links
    saved = json.loads((out / "rounds" / "1" / "model" / "xadj_config.json").read_text())
    assert saved["config"]["loss_layer"] == 1 and saved["config"]["heldout_pairs"] == 0


def test_realign_can_start_from_the_original_encoders_links(hansards, tmp_path):
    """--realign-start encoder: round 0 trains on the original encoder's links (no statistical
    aligner), over every line; the rounds read the same words."""
    import json

    import xadj
    from xadj.model import load_encoder, resolve_model
    from xadj.wordalign_encoder import align_lines

    out = tmp_path / "run"
    xadj.adjust(_realign_config(hansards, out, realign_rounds=1, realign_start="encoder"),
                progress=False)
    record = json.loads((out / "realign.json").read_text())
    assert record["rounds"][0]["aligner"]["fr"].startswith("original encoder")
    assert record["rounds"][0]["aer"] == pytest.approx(record["original_encoder"]["aer"])
    model, tokenizer = load_encoder(resolve_model("tiny"))
    bitext = read_bitext(hansards[0])
    links = align_lines(model, tokenizer, bitext, np.arange(bitext.num_pairs), layer=1,
                        progress=False)
    written = read_alignment(out / "data" / "round-0" / "fr.links")
    np.testing.assert_array_equal(written[0], links[0])
    meta = json.loads((out / "data" / "fr" / "meta.json").read_text())
    assert meta["corpus"]["alignments"] == str(out / "data" / "round-0" / "fr.links")
    with pytest.raises(ValueError, match="realign-rounds"):
        _realign_config(hansards, tmp_path / "x", realign_rounds=0, realign_gold=None,
                        realign_start="encoder")
    links = tmp_path / "given.links"
    links.write_text("0-0\n" * 80)
    with pytest.raises(ValueError, match="drop the alignments"):
        xadj.adjust(xadj.AlignConfig(model="tiny", output_dir=str(tmp_path / "y"),
                                     corpus=[f"fr={hansards[0]},{links}"], realign_rounds=1,
                                     realign_start="encoder"), progress=False)


def test_realign_refusals(hansards, tmp_path):
    import xadj

    with pytest.raises(ValueError, match="realign-rounds"):
        _realign_config(hansards, tmp_path / "a", realign_rounds=0)
    with pytest.raises(ValueError, match="prepared --dataset"):
        xadj.AlignConfig(model="tiny", output_dir=str(tmp_path / "b"), realign_rounds=1,
                         dataset=[f"fr={tmp_path}"])
    with pytest.raises(FileNotFoundError, match="no-such.gold"):
        xadj.adjust(_realign_config(hansards, tmp_path / "c",
                                    realign_gold=str(tmp_path / "no-such.gold")), progress=False)
