"""Sentence vectors (xadj.encode) against a slow one-sentence-at-a-time reference, the XSR layer
rule, and the sentence-transformers files: SentenceTransformer(dir) equals encode(last layer,
specials included)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from xadj.sentence_vectors import (
    check_layer,
    default_layer,
    encode,
    write_sentence_transformers_config,
)

SENTENCES = [
    "a man in a blue shirt is riding a bike .",
    "two dogs",
    "une femme marche dans la rue avec son chien noir et un grand parapluie rouge .",
    "",
    "children play",
    "a group of people stand in front of a building while one of them points up",
    "dog",
]


def reference_vectors(model, tokenizer, sentences, layer, include_special):
    """One sentence at a time, no padding at all: mean of the chosen tokens' vectors."""
    specials = set(tokenizer.all_special_ids)
    out = []
    with torch.no_grad():
        for sentence in sentences:
            enc = tokenizer(sentence, return_tensors="pt")
            states = model(**enc, output_hidden_states=True).hidden_states[layer][0]
            ids = enc["input_ids"][0].tolist()
            keep = [t for t, i in enumerate(ids) if include_special or i not in specials]
            out.append(states[keep].mean(0).numpy() if keep else np.zeros(states.shape[1]))
    return np.stack(out).astype(np.float32)


def test_default_layer_is_xtremes_relative_depth():
    assert default_layer(12) == 8  # XTREME: hidden_states[8] of mBERT
    assert default_layer(24) == 16
    assert default_layer(6) == 4
    assert default_layer(2) == 1
    assert default_layer(1) == 1
    with pytest.raises(ValueError):
        default_layer(0)


def test_check_layer_accepts_last_and_the_valid_range_only():
    assert check_layer(-1, 12) == 12
    assert check_layer(0, 12) == 0
    assert check_layer(12, 12) == 12
    for bad in (13, -2):
        with pytest.raises(ValueError, match=r"-1 \(last\) or 0\.\.12"):
            check_layer(bad, 12)


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
def test_encode_matches_unpadded_reference_in_input_order(tiny_dirs, kind):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dirs[kind])
    model = AutoModel.from_pretrained(tiny_dirs[kind])
    model.eval()
    for layer, include_special in [(1, False), (-1, False), (0, True)]:
        got = encode(model, tokenizer, SENTENCES, layer=layer, include_special=include_special,
                     batch_size=2, progress=False)
        want = reference_vectors(model, tokenizer, SENTENCES, layer, include_special)
        assert got.dtype == np.float32 and got.shape == (len(SENTENCES), model.config.hidden_size)
        np.testing.assert_allclose(got, want, atol=1e-5)
    # The sentence without a single non-special token gets a zero vector, the others don't.
    plain = encode(model, tokenizer, SENTENCES, layer=1, progress=False)
    assert not plain[3].any()
    assert np.all(np.abs(np.delete(plain, 3, axis=0)).sum(axis=1) > 0)


def test_encode_default_layer_and_path_loading(tiny_dirs):
    path = tiny_dirs["bert"]
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path)
    by_default = encode(model, tokenizer, SENTENCES, progress=False)  # 2 layers -> layer 1
    explicit = encode(model, tokenizer, SENTENCES, layer=1, progress=False)
    other = encode(model, tokenizer, SENTENCES, layer=2, progress=False)
    np.testing.assert_array_equal(by_default, explicit)
    assert not np.allclose(explicit, other)
    from_path = encode(str(path), None, SENTENCES, layer=1, device="cpu", progress=False)
    np.testing.assert_allclose(from_path, explicit, atol=1e-6)
    short_form = encode(str(path), SENTENCES, layer=1, device="cpu", progress=False)
    np.testing.assert_array_equal(short_form, from_path)
    with pytest.raises(ValueError, match="list of sentences"):
        encode(model, tokenizer, "one string", progress=False)


def test_encode_rejects_a_layer_beyond_the_model(tiny_dirs):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dirs["bert"])
    model = AutoModel.from_pretrained(tiny_dirs["bert"])
    with pytest.raises(ValueError, match=r"0\.\.2"):
        encode(model, tokenizer, SENTENCES, layer=3, progress=False)


def test_encode_truncates_at_max_length(tiny_dirs):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dirs["bert"])
    model = AutoModel.from_pretrained(tiny_dirs["bert"])
    long = " ".join(["dog"] * 500)  # beyond the tiny model's 128 positions
    short = " ".join(["dog"] * 8)
    cut = encode(model, tokenizer, [long], max_length=10, layer=-1, progress=False)
    same = encode(model, tokenizer, [short], max_length=10, layer=-1, progress=False)
    np.testing.assert_allclose(cut, same, atol=1e-6)  # 8 pieces + 2 specials = 10
    assert np.isfinite(encode(model, tokenizer, [long], layer=-1, progress=False)).all()


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
def test_sentence_transformers_loads_the_dir_and_matches_encode(tiny_dirs, tmp_path, kind):
    from sentence_transformers import SentenceTransformer

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_dirs[kind], model_dir)
    write_sentence_transformers_config(model_dir)
    modules = json.loads((model_dir / "modules.json").read_text())
    assert [m["type"] for m in modules] == ["sentence_transformers.models.Transformer",
                                            "sentence_transformers.models.Pooling"]
    st = SentenceTransformer(str(model_dir), device="cpu")
    assert not [p for p in model_dir.iterdir() if p.name.startswith(".")]  # no temp files left
    sentences = [s for s in SENTENCES if s]
    theirs = st.encode(sentences, convert_to_numpy=True, batch_size=3)
    ours = encode(str(model_dir), None, sentences, layer=-1, include_special=True,
                  device="cpu", progress=False)
    np.testing.assert_allclose(theirs, ours, atol=1e-5)
    # ST's mean pooling counts [CLS]/[SEP]; XSR's default does not, and the difference shows.
    xsr = encode(str(model_dir), None, sentences, layer=-1, device="cpu", progress=False)
    assert np.abs(theirs - xsr).max() > 1e-3


def test_sentence_transformers_reads_a_fine_tuned_dir_as_its_encoder(tiny_dirs, tmp_path):
    """finetune writes the files next to a model with a task head: ST loads the encoder."""
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModelForSequenceClassification

    model_dir = tmp_path / "classifier"
    AutoModelForSequenceClassification.from_pretrained(tiny_dirs["bert"], num_labels=3) \
        .save_pretrained(model_dir)
    AutoTokenizer.from_pretrained(tiny_dirs["bert"]).save_pretrained(model_dir)
    write_sentence_transformers_config(model_dir)
    sentences = SENTENCES[:3]
    theirs = SentenceTransformer(str(model_dir), device="cpu").encode(sentences)
    ours = encode(str(model_dir), None, sentences, layer=-1, include_special=True,
                  device="cpu", progress=False)
    np.testing.assert_allclose(theirs, ours, atol=1e-5)


def test_sentence_transformers_config_needs_a_saved_model(tmp_path):
    with pytest.raises(OSError, match=str(tmp_path)):
        write_sentence_transformers_config(tmp_path)
