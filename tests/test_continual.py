"""Continual learning (METHOD §6): zero weights give plain fine-tuning exactly; the alignment
terms pull aligned words together; the anchor defaults to the model align started from."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

from tests.conftest import write_pairs
from xadj.batches import Batcher
from xadj.continual import alignment_terms, anchor_for, load_pool
from xadj.finetune import FinetuneConfig, finetune
from xadj.loss import batch_to_device
from xadj.tracking import read_metrics

TASKS = Path(__file__).resolve().parent / "data" / "tasks"


@pytest.fixture(scope="module")
def bitext(corpus, tmp_path_factory) -> tuple[Path, Path]:
    return write_pairs(corpus["train"], tmp_path_factory.mktemp("continual"))


def config(tiny_dirs, out: Path, **overrides) -> FinetuneConfig:
    settings = dict(task="xnli", model=str(tiny_dirs["bert"]), output_dir=str(out),
                    data=str(TASKS / "xnli"), batch_size=8, epochs=1, lr=1e-3, log_every=1,
                    max_train_samples=40)
    return FinetuneConfig(**{**settings, **overrides})


@pytest.fixture(scope="module")
def plain(tiny_dirs, tmp_path_factory):
    logging.getLogger("transformers").setLevel(logging.ERROR)
    return finetune(config(tiny_dirs, tmp_path_factory.mktemp("plain")), progress=False)


def state(model_dir: Path) -> dict[str, torch.Tensor]:
    return AutoModelForSequenceClassification.from_pretrained(model_dir).state_dict()


def test_zero_weights_equal_plain_finetuning(tiny_dirs, bitext, plain, tmp_path):
    text, links = bitext
    zero = finetune(config(tiny_dirs, tmp_path / "zero", continual=str(text),
                           continual_alignments=str(links), align_weight=0.0, reg_weight=0.0),
                    progress=False)
    a, b = state(plain.model_dir), state(zero.model_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # The alignment terms were computed all along (and logged), only weighted by zero.
    logged = read_metrics(tmp_path / "zero" / "metrics.jsonl")
    assert all(r["align"] > 0 and r["reg"] >= 0 for r in logged)
    assert [r["task"] for r in logged] == pytest.approx(plain.losses)
    assert (tmp_path / "zero" / "continual_data" / "pool" / "meta.json").is_file()


def test_alignment_terms_pull_aligned_words_together(tiny_dirs, bitext, plain, tmp_path):
    text, links = bitext
    mixed = finetune(config(tiny_dirs, tmp_path / "mixed", continual=str(text),
                            continual_alignments=str(links), align_weight=1.0),
                     progress=False)
    logged = read_metrics(tmp_path / "mixed" / "metrics.jsonl")
    assert {"task", "align", "reg", "loss", "lr", "examples_per_s"} <= set(logged[0])
    for r in logged:
        assert r["loss"] == pytest.approx(r["task"] + 1.0 * r["align"] + 1.0 * r["reg"],
                                          rel=1e-5)
    # Same held-fixed pairs before and after: L_align falls under continual learning only.
    tokenizer = AutoTokenizer.from_pretrained(tiny_dirs["bert"])
    pool = load_pool(text, tokenizer, tmp_path / "pool", alignments=str(links), pool=1000,
                     seed=0, model_name="tiny")
    batch = batch_to_device(pool.batch(np.arange(32)), "cpu")
    start = AutoModel.from_pretrained(tiny_dirs["bert"]).eval()

    def align_loss(model_dir: Path | None) -> float:
        encoder = start if model_dir is None else AutoModel.from_pretrained(model_dir).eval()
        with torch.no_grad():
            return float(alignment_terms(encoder, start, batch)[0])

    before, after_plain, after_mixed = (align_loss(None), align_loss(plain.model_dir),
                                        align_loss(mixed.model_dir))
    assert after_mixed < 0.8 * before
    assert after_mixed < after_plain
    record = json.loads((mixed.model_dir / "xadj_config.json").read_text())
    assert record["config"]["continual"] == str(text)


def test_pool_is_capped_and_prepared_datasets_are_checked(tiny_dirs, bitext, tmp_path):
    text, links = bitext
    bert = AutoTokenizer.from_pretrained(tiny_dirs["bert"])
    pool = load_pool(text, bert, tmp_path / "p", alignments=str(links), pool=50, seed=1,
                     model_name="tiny")
    assert pool.num_pairs == 50
    again = load_pool(pool.dataset.path, bert, tmp_path / "unused", alignments=None, pool=20,
                      seed=1, model_name="tiny")
    assert isinstance(again, Batcher) and again.num_pairs == 20
    xlmr = AutoTokenizer.from_pretrained(tiny_dirs["xlmr"])
    with pytest.raises(ValueError, match="another tokenizer"):
        load_pool(pool.dataset.path, xlmr, tmp_path / "x", alignments=None, pool=20, seed=1,
                  model_name="tiny-xlmr")


def test_anchor_defaults_to_the_model_align_started_from(tmp_path):
    align_model = tmp_path / "run" / "model"
    align_model.mkdir(parents=True)
    (align_model / "xadj_config.json").write_text(json.dumps({"config": {"model": "base-x"}}))
    assert anchor_for(str(align_model), None) == "base-x"
    assert anchor_for(str(align_model), "explicit") == "explicit"
    assert anchor_for(str(tmp_path / "plain-model"), None) == str(tmp_path / "plain-model")
