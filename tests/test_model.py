"""Encoder loading and the tiny smoke-test models."""

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from xadj.model import build_tiny_model, encode, frozen_copy, load_encoder


@pytest.mark.parametrize(
    "kind, first, last, model_type",
    [("bert", "[CLS]", "[SEP]", "bert"), ("xlmr", "<s>", "</s>", "xlm-roberta")],
)
def test_tiny_model_loads_like_a_hub_model(tiny_dirs, kind, first, last, model_type):
    model = AutoModel.from_pretrained(tiny_dirs[kind])
    tokenizer = AutoTokenizer.from_pretrained(tiny_dirs[kind])
    assert model.config.model_type == model_type and model.config.hidden_size == 64
    assert tokenizer.is_fast and tokenizer.pad_token_id == model.config.pad_token_id
    enc = tokenizer(["Two", "dogs", "run"], is_split_into_words=True)
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    assert tokens[0] == first and tokens[-1] == last
    assert enc.word_ids()[0] is None and enc.word_ids()[1] == 0
    hidden = encode(model, torch.tensor([enc["input_ids"]]), torch.tensor([enc["attention_mask"]]))
    assert hidden.shape == (1, len(tokens), 64)


def test_tiny_model_is_seeded(tmp_path, english_lines):
    a = build_tiny_model("bert", english_lines[:50], tmp_path / "a", seed=3)
    b = build_tiny_model("bert", english_lines[:50], tmp_path / "b", seed=3)
    wa, wb = AutoModel.from_pretrained(a).state_dict(), AutoModel.from_pretrained(b).state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    with pytest.raises(ValueError, match="kind"):
        build_tiny_model("gpt", english_lines[:5], tmp_path / "c")


def test_missing_model_is_named(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        load_encoder(str(missing))
    (tmp_path / "empty").mkdir()
    with pytest.raises(OSError, match="empty"):
        load_encoder(str(tmp_path / "empty"))


def test_frozen_copy_is_independent(tiny_dirs):
    model, _ = load_encoder(str(tiny_dirs["xlmr"]))
    frozen = frozen_copy(model)
    assert not frozen.training and not any(p.requires_grad for p in frozen.parameters())
    assert all(p.requires_grad for p in model.parameters())
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    assert not torch.equal(next(model.parameters()), next(frozen.parameters()))
