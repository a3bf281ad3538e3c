"""Frozen word embeddings (`align --freeze-embeddings`): no gradient, not in the optimizer, and
the frozen original F0 shares the one matrix instead of holding a copy; F0 has no pooler."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import PairSource
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

from xadj.train import AlignConfig, anchor, train, word_embeddings


def _config(tiny_dir, tmp_path, **kw):
    base = dict(model=str(tiny_dir), output_dir=str(tmp_path / "out"), pairs_per_step=8,
                lr=1e-3, max_steps=4, checkpoint_every=0, log_every=1000)
    return AlignConfig(**{**base, **kw})


def _ptrs(module: torch.nn.Module) -> set[int]:
    return {p.data_ptr() for p in module.parameters()}


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
def test_anchor_shares_only_the_frozen_word_embeddings(tiny_dirs, kind):
    model = AutoModel.from_pretrained(tiny_dirs[kind])
    emb = word_embeddings(model)
    emb.requires_grad_(False)
    frozen = anchor(model, share_embeddings=True)
    assert word_embeddings(frozen).data_ptr() == emb.data_ptr()  # one matrix, two models
    assert _ptrs(frozen) & _ptrs(model) == {emb.data_ptr()}  # nothing else shared
    assert frozen.pooler is None and model.pooler is not None  # F0 needs no pooler
    assert not frozen.training and not any(p.requires_grad for p in frozen.parameters())
    assert any(p.requires_grad for p in model.parameters())  # the model still trains
    ids = torch.tensor([[0, 5, 6, 7, 2]])
    with torch.no_grad():  # the same encoder output without its pooler
        torch.testing.assert_close(frozen(input_ids=ids).last_hidden_state,
                                   model.eval()(input_ids=ids).last_hidden_state)

    unshared = anchor(model)
    assert not _ptrs(unshared) & _ptrs(model)
    # An anchor loaded from disk (re-alignment rounds) shares only identical values.
    loaded = anchor(model, str(tiny_dirs[kind]), share_embeddings=True)
    assert word_embeddings(loaded).data_ptr() == emb.data_ptr() and loaded.pooler is None
    with torch.no_grad():
        emb[0, 0] += 1.0
    other = anchor(model, str(tiny_dirs[kind]), share_embeddings=True)
    assert word_embeddings(other).data_ptr() != emb.data_ptr()


def test_frozen_embeddings_train_everything_else(tiny_dirs, corpus, tmp_path, monkeypatch):
    tiny = tiny_dirs["bert"]
    seen: list[list[torch.Tensor]] = []
    adam = torch.optim.Adam

    def spy(params, **kw):  # the optimizer train() builds
        params = list(params)
        seen.append(params)
        return adam(params, **kw)

    monkeypatch.setattr(torch.optim, "Adam", spy)
    source = {"xx": PairSource(AutoTokenizer.from_pretrained(tiny), corpus["train"])}
    result = train(_config(tiny, tmp_path, freeze_embeddings=True), source, progress=False)["xx"]
    original = AutoModel.from_pretrained(tiny)
    total = sum(p.numel() for p in original.parameters())
    vocab = word_embeddings(original).numel()
    assert sum(p.numel() for p in seen[0]) == total - vocab  # no Adam state for the matrix
    after = load_file(result.model_dir / "model.safetensors")
    before = original.state_dict()
    key = next(k for k in after if k.endswith("word_embeddings.weight"))
    assert torch.equal(after[key], before[key.removeprefix("bert.")])
    moved = [k for k in after if "encoder.layer" in k
             and not torch.equal(after[k], before[k.removeprefix("bert.")])]
    assert len(moved) > 10  # every other part trained
    record = json.loads((result.model_dir / "xadj_config.json").read_text())
    assert record["config"]["freeze_embeddings"] is True

    full = train(_config(tiny, tmp_path / "full"), source, progress=False)["xx"]
    assert not torch.equal(load_file(full.model_dir / "model.safetensors")[key],
                           before[key.removeprefix("bert.")])
    assert sum(p.numel() for p in seen[1]) == total


@pytest.mark.parametrize("freeze", [False, True])
def test_a_held_original_is_f0_and_nothing_is_loaded_again(tiny_dirs, corpus, tmp_path,
                                                           monkeypatch, freeze):
    """`align` holds the original (for its report) and its tokenizer: train() copies it instead
    of loading a second model and tokenizer, uses it as F0, leaves its weights as they were,
    and trains exactly what it trains from disk."""
    import xadj.train

    tiny = tiny_dirs["bert"]
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    source = {"xx": PairSource(tokenizer, corpus["train"])}
    from_disk = train(_config(tiny, tmp_path / "disk", freeze_embeddings=freeze), source,
                      progress=False)["xx"]
    original = AutoModel.from_pretrained(tiny)
    before = {k: v.clone() for k, v in original.state_dict().items()}

    def no_loading(*args, **kwargs):
        raise AssertionError("train() loaded the model or tokenizer again")

    monkeypatch.setattr(xadj.train, "load_encoder", no_loading)
    monkeypatch.setattr(xadj.train, "load_tokenizer", no_loading)
    held = train(_config(tiny, tmp_path / "held", freeze_embeddings=freeze), source,
                 progress=False, original=original, tokenizer=tokenizer)["xx"]
    a = load_file(from_disk.model_dir / "model.safetensors")
    b = load_file(held.model_dir / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(v, before[k]) for k, v in original.state_dict().items())
    assert not original.training and not any(p.requires_grad for p in original.parameters())


def test_a_model_trained_from_a_held_original_shares_its_frozen_embeddings(tiny_dirs):
    from xadj.train import trainable_copy

    original = AutoModel.from_pretrained(tiny_dirs["xlmr"])
    model = trainable_copy(original, freeze_embeddings=True)
    frozen = anchor(model, original, share_embeddings=True)
    assert frozen is original and original.pooler is not None  # the caller's, as it is
    assert _ptrs(model) & _ptrs(original) == {word_embeddings(original).data_ptr()}
    assert not word_embeddings(model).requires_grad
    assert all(p.requires_grad for n, p in model.named_parameters() if "word_emb" not in n)
    # A model loaded from elsewhere (round k of re-alignment) gives up its equal copy.
    loaded = AutoModel.from_pretrained(tiny_dirs["xlmr"])
    word_embeddings(loaded).requires_grad_(False)
    anchor(loaded, original, share_embeddings=True)
    assert word_embeddings(loaded) is word_embeddings(original)
    full = trainable_copy(original, freeze_embeddings=False)
    assert not _ptrs(full) & _ptrs(original) and all(p.requires_grad for p in full.parameters())
