"""Short CPU runs of the adjustment loop on the tiny models."""

import json
import math

import pytest
import torch
from conftest import PairSource
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

import xadj.train
from xadj.alignment_report import compare, report
from xadj.model import load_encoder
from xadj.train import AlignConfig, train


def _config(tiny_dir, tmp_path, **kw):
    base = dict(
        model=str(tiny_dir),
        output_dir=str(tmp_path / "out"),
        pairs_per_step=8,
        lr=1e-3,
        epochs=1,
        checkpoint_every=0,
        log_every=1000,
    )
    return AlignConfig(**{**base, **kw})


def _sources(tiny_dir, corpus, **kw):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    return {"xx": PairSource(tokenizer, corpus["train"], **kw)}


def _heldout(tiny_dir, corpus):
    src = PairSource(AutoTokenizer.from_pretrained(tiny_dir), corpus["heldout"])
    return [src.batch(range(i, i + 8)) for i in range(0, 40, 8)]


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
def test_loss_falls_and_translations_move_closer(tiny_dirs, corpus, tmp_path, kind):
    cfg = _config(tiny_dirs[kind], tmp_path, lr=2e-3)
    result = train(cfg, _sources(tiny_dirs[kind], corpus))["xx"]
    assert result.steps == 25 and len(result.losses) == 25
    assert sum(result.losses[-5:]) < 0.8 * sum(result.losses[2:7])  # after the warm-up
    original, _ = load_encoder(str(tiny_dirs[kind]))
    adjusted = AutoModel.from_pretrained(result.model_dir)
    out = compare(
        original, adjusted, {"xx": _heldout(tiny_dirs[kind], corpus)}, tmp_path / "report.json"
    )
    before, after = out["xx"]["before"], out["xx"]["after"]
    assert after["l2_ratio"] > before["l2_ratio"] and after["cos_ratio"] > before["cos_ratio"]
    assert after["retrieval_accuracy"] >= before["retrieval_accuracy"]
    assert before["english_drift_l2"] == 0 and after["english_drift_l2"] > 0
    assert json.loads((tmp_path / "report.json").read_text())["xx"]["after"] == after


def test_regularisation_limits_english_drift(tiny_dirs, corpus, tmp_path):
    d = tiny_dirs["bert"]
    original, _ = load_encoder(str(d))
    drift = {}
    for w in (0.0, 1.0):
        cfg = _config(d, tmp_path / str(w), reg_weight=w, max_steps=10)
        model_dir = train(cfg, _sources(d, corpus))["xx"].model_dir
        drift[w] = report(AutoModel.from_pretrained(model_dir), original, _heldout(d, corpus))[
            "english_drift_l2"
        ]
    assert drift[1.0] < drift[0.0]


class _KilledAfter(PairSource):
    """Dies (as if the job were killed) when asked for its n-th batch."""

    def __init__(self, *args, calls: int, **kw):
        super().__init__(*args, **kw)
        self.calls = calls

    def batch(self, indices):
        self.calls -= 1
        if self.calls < 0:
            raise KeyboardInterrupt("killed")
        return super().batch(indices)


def test_resume_after_kill_equals_uninterrupted_run(tiny_dirs, corpus, tmp_path):
    d = tiny_dirs["bert"]
    tokenizer = AutoTokenizer.from_pretrained(d)
    kw = dict(max_steps=6, checkpoint_every=3, grad_accum=2, pairs_per_step=4)
    whole = train(_config(d, tmp_path / "a", **kw), _sources(d, corpus))["xx"]
    cfg = _config(d, tmp_path / "b", **kw)
    with pytest.raises(KeyboardInterrupt):  # dies in step 5, after the step-3 checkpoint...
        train(cfg, {"xx": _KilledAfter(tokenizer, corpus["train"], calls=2 * 4 + 1)})
    ckpts = sorted(p.name for p in (tmp_path / "b/out/checkpoints").iterdir())
    assert ckpts == ["step-3"] and not (tmp_path / "b/out/model").exists()
    progress = json.loads((tmp_path / "b/out/checkpoints/step-3/xadj_progress.json").read_text())
    assert progress["step"] == 3 and progress["seed"] == 42
    resumed = train(AlignConfig(**{**cfg.__dict__, "resume": True}), _sources(d, corpus))["xx"]
    # ...and the resumed run picks up at step 3 with the same batches, moments and RNG.
    assert len(resumed.losses) == 3 and resumed.losses == whole.losses[3:]
    a, b = (load_file(r.model_dir / "model.safetensors") for r in (whole, resumed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_output_is_a_loadable_model_with_its_record(tiny_dirs, corpus, tmp_path):
    d = tiny_dirs["xlmr"]
    cfg = _config(d, tmp_path, max_steps=2)
    model_dir = train(cfg, _sources(d, corpus))["xx"].model_dir
    assert AutoModel.from_pretrained(model_dir).config.model_type == "xlm-roberta"
    assert AutoTokenizer.from_pretrained(model_dir).is_fast
    record = json.loads((model_dir / "xadj_config.json").read_text())
    assert record["config"]["seed"] == 42 and record["steps"] == 2
    assert record["languages"]["xx"]["num_pairs"] == 200
    assert {"xadj", "torch", "transformers", "accelerate"} <= record["versions"].keys()
    with pytest.raises(FileExistsError):  # a finished model is never overwritten silently
        train(cfg, _sources(d, corpus))


def test_languages_separate_by_default_or_mixed(tiny_dirs, corpus, tmp_path):
    d = tiny_dirs["bert"]
    sources = {**_sources(d, corpus), "yy": _sources(d, corpus)["xx"]}
    separate = train(_config(d, tmp_path / "s", max_steps=2), sources)
    assert set(separate) == {"xx", "yy"}
    assert all(r.model_dir == tmp_path / f"s/out/{lang}/model" for lang, r in separate.items())
    mixed = train(_config(d, tmp_path / "m", max_steps=2, mix_languages=True), sources)
    assert list(mixed) == ["xx+yy"] and mixed["xx+yy"].model_dir == tmp_path / "m/out/model"


def test_nan_loss_stops_with_a_clear_error(tiny_dirs, corpus, tmp_path, monkeypatch):
    real, calls = xadj.train.adjustment_loss, []

    def poisoned(*args, **kw):
        loss, parts = real(*args, **kw)
        calls.append(1)
        return (loss * float("nan"), parts) if len(calls) == 4 else (loss, parts)

    monkeypatch.setattr(xadj.train, "adjustment_loss", poisoned)
    cfg = _config(tiny_dirs["bert"], tmp_path, max_steps=10, checkpoint_every=2)
    with pytest.raises(FloatingPointError, match=r"non-finite loss .* step 4 .*step-2"):
        train(cfg, _sources(tiny_dirs["bert"], corpus))
    assert (tmp_path / "out/checkpoints/step-2/xadj_progress.json").exists()
    assert not (tmp_path / "out/model").exists()


def test_missing_model_fails_before_training(corpus, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        train(
            AlignConfig(model=str(tmp_path / "nowhere"), output_dir=str(tmp_path)), {"xx": object()}
        )


def test_resume_of_a_finished_run_does_nothing(tiny_dirs, corpus, tmp_path):
    d = tiny_dirs["bert"]
    cfg = _config(d, tmp_path, max_steps=2)
    first = train(cfg, _sources(d, corpus))["xx"]
    again = train(AlignConfig(**{**cfg.__dict__, "resume": True}), _sources(d, corpus))["xx"]
    assert again.model_dir == first.model_dir and again.steps == 2 and again.losses == []


def test_any_automodel_encoder_trains_distilbert(tiny_dirs, corpus, tmp_path):
    """Nothing is tied to BertModel: a DistilBERT (no token_type_ids, no pooler) adjusts too."""
    from transformers import DistilBertConfig, DistilBertModel

    tokenizer = AutoTokenizer.from_pretrained(tiny_dirs["bert"])
    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=len(tokenizer), dim=32, n_layers=2, n_heads=2,
                              hidden_dim=64, max_position_embeddings=128)
    distil = tmp_path / "distil"
    DistilBertModel(config).save_pretrained(distil)
    tokenizer.save_pretrained(distil)
    cfg = _config(distil, tmp_path, max_steps=4)
    result = train(cfg, _sources(distil, corpus))["xx"]
    assert result.steps == 4 and all(math.isfinite(x) for x in result.losses)
    loaded = AutoModel.from_pretrained(result.model_dir)
    assert type(loaded).__name__ == "DistilBertModel"
