"""`analyze` end to end on the tiny model and synthetic held-out pairs with known links: the
three situations (original, adjusted, adjusted-then-fine-tuned), distances checked against a
plain per-sentence computation, the summary's statistics, the figures' axes and artists, and
the training-curve plot."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from conftest import write_pairs
from transformers import AutoModel, AutoTokenizer, BertForTokenClassification

from xadj.analysis.analyze import AnalyzeConfig, analyze
from xadj.analysis.plots import plot_curves
from xadj.tracking import StepLog


@pytest.fixture(scope="module")
def three_models(tiny_dirs, tmp_path_factory):
    """original; `adjusted`: a perturbed copy; `finetuned`: adjusted + a token-classification
    head, saved as a finetune output (its model/), encoder untouched."""
    logging.getLogger("transformers").setLevel(logging.ERROR)
    root = tmp_path_factory.mktemp("models")
    original = tiny_dirs["bert"]
    tokenizer = AutoTokenizer.from_pretrained(original)
    adjusted = AutoModel.from_pretrained(original)
    torch.manual_seed(3)
    with torch.no_grad():
        for p in adjusted.parameters():
            p.add_(0.05 * torch.randn_like(p))
    adjusted.save_pretrained(root / "adjusted")
    tokenizer.save_pretrained(root / "adjusted")
    head = BertForTokenClassification.from_pretrained(root / "adjusted", num_labels=7)
    head.save_pretrained(root / "finetuned" / "model")
    tokenizer.save_pretrained(root / "finetuned" / "model")
    return {"original": str(original), "adjusted": str(root / "adjusted"),
            "finetuned": str(root / "finetuned")}


@pytest.fixture(scope="module")
def heldout(corpus, tmp_path_factory):
    pairs = corpus["heldout"][:24]
    bitext, links = write_pairs(pairs, tmp_path_factory.mktemp("heldout"))
    return pairs, bitext, links


@pytest.fixture(scope="module")
def result(three_models, heldout, tmp_path_factory):
    _, bitext, links = heldout
    out = tmp_path_factory.mktemp("analysis") / "y"
    config = AnalyzeConfig(models=list(three_models.values()), labels=list(three_models),
                           bitext=[str(bitext)], alignments=str(links), output_dir=str(out),
                           batch_size=8, progress=False)
    return analyze(config)


def word_vectors_by_hand(model, tokenizer, words):
    """Mean of each word's pieces in the last layer, one sentence alone (no padding)."""
    enc = tokenizer(words, is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state[0]
    ids = enc.word_ids(0)
    return [hidden[[t for t, w in enumerate(ids) if w == k]].mean(0) for k in range(len(words))]


def test_related_distances_match_a_plain_computation(result, three_models, heldout):
    pairs, _, _ = heldout
    model = AutoModel.from_pretrained(three_models["original"]).eval()
    tokenizer = AutoTokenizer.from_pretrained(three_models["original"])
    expected = []
    for other, english, links in pairs[:2]:  # the first batch starts with these pairs
        o, e = word_vectors_by_hand(model, tokenizer, other), word_vectors_by_hand(
            model, tokenizer, english)
        expected += [float((o[i] - e[j]).norm()) for i, j in sorted(links)]
    got = result.models[0].distances.related["l2"][:len(expected)]
    assert np.allclose(got, expected, atol=1e-4)


def test_three_situations(result):
    by_label = {a.label: a for a in result.models}
    assert list(by_label) == ["original", "adjusted", "finetuned"]
    assert by_label["finetuned"].source.endswith("finetuned/model")
    n = by_label["original"].distances.pairs
    assert n > 100 and all(a.distances.pairs == n for a in result.models)
    # A perturbed model measures differently; the fine-tuned model's encoder is the adjusted
    # one (the head is dropped), so its distances are the adjusted model's.
    assert not np.allclose(by_label["original"].distances.related["l2"],
                           by_label["adjusted"].distances.related["l2"])
    for kind in ("l2", "cosine"):
        assert np.allclose(by_label["finetuned"].distances.related[kind],
                           by_label["adjusted"].distances.related[kind], atol=1e-5)


def test_summary_statistics(result):
    for a in result.models:
        d = a.distances
        for kind in ("l2", "cosine"):
            s = a.summary[kind]
            diff = d.unrelated[kind] - d.related[kind]
            diff = diff[np.isfinite(diff)]
            assert s["related"]["mean"] == pytest.approx(d.related[kind].mean())
            assert s["difference"]["mean"] == pytest.approx(diff.mean())
            assert s["pairs_with_unrelated"] == len(diff) > 0
            assert s["share_positive_difference"] == pytest.approx(np.mean(diff > 0))
            assert s["ratio_unrelated_related"] == pytest.approx(
                np.nanmean(d.unrelated[kind]) / d.related[kind].mean())
            for part in ("related", "unrelated", "difference"):
                assert s[part]["ci_low"] < s[part]["mean"] < s[part]["ci_high"]
            assert (d.related[kind] >= 0).all()


def test_json_and_figures(result):
    saved = json.loads(result.json_path.read_text())
    assert list(saved["models"]) == ["original", "adjusted", "finetuned"]
    assert saved["settings"]["layer"] == -1 and "torch" in saved["versions"]
    assert saved["models"]["adjusted"]["l2"]["difference"]["mean"] == pytest.approx(
        result.models[1].summary["l2"]["difference"]["mean"])
    for name in ("histograms", "differences"):
        png = result.paths[name]
        assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 1000
    hist = result.figures["histograms"].axes
    assert len(hist) == 6  # 3 models x (L2, cosine)
    assert [ax.get_title() for ax in hist[::2]] == ["original", "adjusted", "finetuned"]
    assert hist[0].get_xlabel() == "L2 distance" and hist[1].get_xlabel().startswith("cosine")
    for ax in hist:
        assert ax.get_ylabel() == "density"
        assert [t.get_text().split(" (")[0] for t in ax.get_legend().get_texts()] == [
            "related", "unrelated"]
        assert len(ax.patches) == 2 * 50  # two histograms of 50 bins
    diffs = result.figures["differences"].axes
    assert len(diffs) == 2 and diffs[0].get_xlabel() == "L2 distance: unrelated - related"
    for ax in diffs:
        labels = [t.get_text().split(" (")[0] for t in ax.get_legend().get_texts()]
        assert labels == ["original", "adjusted", "finetuned"]
        assert len(ax.patches) == 3  # one step outline per model


def test_layer_choice_and_errors(three_models, heldout, result, tmp_path):
    _, bitext, links = heldout
    base = dict(models=[three_models["original"]], bitext=[str(bitext)],
                alignments=str(links), batch_size=8, progress=False)
    first = analyze(AnalyzeConfig(**base, output_dir=str(tmp_path / "l0"), layer=0))
    last = analyze(AnalyzeConfig(**base, output_dir=str(tmp_path / "l2"), layer=2))
    default = result  # the same model, pairs and batches with the default layer (-1)
    # hidden_states[2] of a 2-layer model is the last layer; the embeddings differ from it.
    assert np.allclose(last.models[0].distances.related["l2"],
                       default.models[0].distances.related["l2"], atol=1e-5)
    assert not np.allclose(first.models[0].distances.related["l2"],
                           default.models[0].distances.related["l2"])
    with pytest.raises(ValueError, match="layer 5 is outside"):
        analyze(AnalyzeConfig(**base, output_dir=str(tmp_path / "bad"), layer=5))
    with pytest.raises(FileExistsError, match="not empty"):
        analyze(AnalyzeConfig(**base, output_dir=str(tmp_path / "l0")))
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        analyze(AnalyzeConfig(**{**base, "bitext": [str(tmp_path / "missing.txt")]},
                              output_dir=str(tmp_path / "m")))
    with pytest.raises(ValueError, match="one distinct label per model"):
        analyze(AnalyzeConfig(**base, labels=["a", "b"], output_dir=str(tmp_path / "x")))


def test_plot_curves(tmp_path):
    for name, scale in (("run-a", 1.0), ("run-b", 2.0)):
        log = StepLog(tmp_path / name / "metrics.jsonl")
        for step in range(1, 11):
            log.log(step, loss=scale / step, lr=1e-3)
    fig = plot_curves([tmp_path / "run-a", tmp_path / "run-b" / "metrics.jsonl"],
                      tmp_path / "curves.png", keys=["loss", "lr"])
    assert (tmp_path / "curves.png").stat().st_size > 1000
    loss_ax, lr_ax = fig.axes
    assert loss_ax.get_xlabel() == "step" and loss_ax.get_ylabel() == "loss"
    assert lr_ax.get_ylabel() == "lr"
    lines = loss_ax.get_lines()
    assert [line.get_label() for line in lines] == ["run-a", "run-b"]
    assert list(lines[1].get_xdata()) == list(range(1, 11))
    assert lines[1].get_ydata()[0] == pytest.approx(2.0)
