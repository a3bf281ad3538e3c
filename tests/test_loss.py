"""Word pooling and the adjustment loss (METHOD §2-3)."""

import numpy as np
import pytest
import torch
from conftest import PairSource, build_alignment_batch

from xadj.loss import adjustment_loss, batch_to_device, pool_words
from xadj.model import frozen_copy, load_encoder


def test_pool_words_equals_per_word_loop():
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 7, 5, generator=g)
    n_words = 6
    positions = torch.randperm(21, generator=g)[:15]
    words = torch.cat([torch.arange(n_words), torch.randint(0, n_words, (9,), generator=g)])
    pooled = pool_words(hidden, positions, words, n_words)
    flat = hidden.reshape(-1, 5)
    for w in range(n_words):
        mine = [flat[p] for p, ww in zip(positions, words, strict=True) if ww == w]
        expected = torch.stack(mine).mean(0)
        torch.testing.assert_close(pooled[w], expected)


@pytest.fixture(scope="module")
def bert(tiny_dirs):
    model, tokenizer = load_encoder(str(tiny_dirs["bert"]))
    return model, tokenizer


@pytest.mark.parametrize("special_pairs", [True, False])
@pytest.mark.parametrize("pooling", ["avg", "first", "last"])
@pytest.mark.parametrize("kind", ["bert", "xlmr"])
def test_rust_batcher_equals_the_slow_reference(tiny_dirs, corpus, kind, pooling, special_pairs):
    """prepare + Batcher (per-word pieces, Rust assembly) == whole-sentence tokenization. Without
    special pairs the special tokens are still English words: L_reg keeps them (reference)."""
    _, tokenizer = load_encoder(str(tiny_dirs[kind]))
    pairs = corpus["train"][:12]
    fast = PairSource(tokenizer, pairs, pooling=pooling, special_pairs=special_pairs).batch(
        np.array([3, 0, 7, 11]))
    slow = build_alignment_batch(tokenizer, [pairs[i] for i in (3, 0, 7, 11)], pooling=pooling,
                                 special_pairs=special_pairs)
    for side in ("other", "english"):
        a, b = getattr(fast, side), getattr(slow, side)
        for field in ("input_ids", "attention_mask", "piece_positions", "piece_words"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
        assert a.n_words == b.n_words
    np.testing.assert_array_equal(fast.english_aligned, slow.english_aligned)


def test_batch_builder_matches_contract(bert, corpus):
    _, tokenizer = bert
    batch = build_alignment_batch(tokenizer, corpus["train"][:3], pooling="first")
    en, other = batch.english, batch.other
    n_en_words = sum(len(p[1]) for p in corpus["train"][:3]) + 2 * 3  # + [CLS], [SEP] each
    assert en.n_words == n_en_words and len(en.piece_words) == n_en_words  # first: one piece
    assert other.n_words == len(batch.english_aligned)
    # the first pooled English word is [CLS] at position 0 and other's first word aligns to it
    assert en.piece_positions[0] == 0 and batch.english_aligned[0] == 0


def test_loss_variants_and_frozen_gets_no_gradient(bert, corpus):
    model, tokenizer = bert
    torch.manual_seed(0)
    frozen = frozen_copy(model)
    model.eval()  # no dropout: the terms compare exactly
    with torch.no_grad():  # move the trained copy away from the original so the variants differ
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    batch = batch_to_device(build_alignment_batch(tokenizer, corpus["train"][:4]), "cpu")
    cur, cur_parts = adjustment_loss(model, frozen, batch, "current", 1.0)
    fro, fro_parts = adjustment_loss(model, frozen, batch, "frozen", 1.0)
    torch.testing.assert_close(cur_parts["reg"], fro_parts["reg"])  # L_reg is the same
    assert not torch.isclose(cur_parts["align"], fro_parts["align"])
    no_reg, parts0 = adjustment_loss(model, frozen, batch, "current", 0.0)
    torch.testing.assert_close(no_reg, cur_parts["align"])
    torch.testing.assert_close(cur, cur_parts["align"] + cur_parts["reg"])
    (cur + fro).backward()
    assert all(p.grad is None for p in frozen.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    with pytest.raises(ValueError, match="variant"):
        adjustment_loss(model, frozen, batch, "cao")


@pytest.mark.parametrize("layer", [None, 1])
def test_loss_matches_per_word_reference(bert, corpus, layer):
    """The joint padded forward and vectorized pooling agree with a plain per-word computation,
    on the last layer (the papers) and on an inner one (--loss-layer)."""
    model, tokenizer = bert
    model.eval()
    frozen = frozen_copy(model)
    raw = build_alignment_batch(tokenizer, corpus["train"][4:7])
    loss, _ = adjustment_loss(model, frozen, batch_to_device(raw, "cpu"), "current", 0.0,
                              layer=layer)

    def words(side):
        with torch.no_grad():
            out = model(
                input_ids=torch.from_numpy(side.input_ids),
                attention_mask=torch.from_numpy(side.attention_mask), output_hidden_states=True,
            )
            h = out.last_hidden_state if layer is None else out.hidden_states[layer]
        flat = h.reshape(-1, h.shape[-1])
        return torch.stack(
            [flat[side.piece_positions[side.piece_words == w]].mean(0) for w in range(side.n_words)]
        )

    other, en = words(raw.other), words(raw.english)
    expected = ((other - en[raw.english_aligned]) ** 2).mean()
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-4, atol=1e-6)
    assert np.all(raw.english_aligned < raw.english.n_words)
