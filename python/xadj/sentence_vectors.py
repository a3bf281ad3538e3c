"""Sentence vectors from one hidden layer of an encoder (XSR, docs/method.md §5), and the
sentence-transformers module files that let ``SentenceTransformer(dir)`` load an xadj model.

A sentence vector is the mean of the token vectors of ``hidden_states[layer]`` over the
sentence's real tokens: padding is always left out, special tokens ([CLS]/[SEP], <s>/</s>) are
left out by default (``include_special=False``), as XTREME-style XSR does for a middle layer.
``SentenceTransformer(dir)`` with the files written here averages every non-padding token of the
last layer, specials included: it equals ``encode(..., layer=-1, include_special=True)``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

XTREME_DEPTH = 2 / 3  # XTREME's mBERT setting: hidden_states[8] of 12 layers


def default_layer(num_hidden_layers: int) -> int:
    """The XSR layer: 8 for a 12-layer model (XTREME), the same relative depth (2/3, rounded)
    for other depths. ``hidden_states[0]`` is the embedding output, so layers count from 1."""
    if num_hidden_layers < 1:
        raise ValueError(f"a model needs at least one hidden layer, got {num_hidden_layers}")
    return max(1, round(num_hidden_layers * XTREME_DEPTH))


def check_layer(layer: int, num_hidden_layers: int) -> int:
    """Validate an index into ``hidden_states`` (0 = embeddings, n = last, -1 = last) and return
    it as a non-negative index."""
    if layer == -1:
        return num_hidden_layers
    if not 0 <= layer <= num_hidden_layers:
        raise ValueError(
            f"layer {layer} is out of range for a model with {num_hidden_layers} hidden layers: "
            f"use -1 (last) or 0..{num_hidden_layers} (0 = embedding output)"
        )
    return layer


def _load(model: str | os.PathLike[str]) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from xadj.model import resolve_model

    path = resolve_model(str(model))
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        loaded = AutoModel.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise OSError(f"cannot load encoder {str(model)!r}: {err}") from err
    return loaded, tokenizer


def _num_layers(model: PreTrainedModel) -> int:
    config = model.config
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layers", None)
    if not isinstance(layers, int):
        raise ValueError(f"cannot tell the depth of {type(model).__name__}: its config has no "
                         "num_hidden_layers")
    return layers


def _max_length(tokenizer: PreTrainedTokenizerBase, max_length: int) -> int:
    # Tokenizers without a limit report a huge sentinel (int(1e30)); keep the caller's value then.
    limit = getattr(tokenizer, "model_max_length", None)
    return min(max_length, limit) if isinstance(limit, int) and limit < 1_000_000 else max_length


def encode(
    model: PreTrainedModel | str | os.PathLike[str],
    tokenizer: PreTrainedTokenizerBase | Sequence[str] | None = None,
    sentences: Sequence[str] | None = None,
    *,
    layer: int | None = None,
    include_special: bool = False,
    batch_size: int = 64,
    max_length: int = 512,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Sentence vectors, float32 ``[len(sentences), hidden]``, in input order.

    ``model`` is a loaded encoder or a name/path as every xadj command takes it (``tiny``, a hub
    id, a local directory); ``tokenizer`` may then be None (loaded from the same place), and
    ``encode(model, sentences, layer=...)`` is the short form of ``encode(model, None, ...)``.
    ``layer`` indexes ``hidden_states`` (None: :func:`default_layer`; -1: last). Vector = mean of
    the non-padding tokens of that layer, without special tokens unless ``include_special``; a
    sentence with no such token gets a zero vector. Sentences are cut at ``max_length`` pieces
    (and the tokenizer's own limit) and run longest first in batches of ``batch_size``; a loaded
    model runs on its own device unless ``device`` is given, and is left in eval mode.
    """
    if sentences is None and not isinstance(tokenizer, PreTrainedTokenizerBase):
        tokenizer, sentences = None, tokenizer  # the short form encode(model, sentences)
    if sentences is None or isinstance(sentences, str):
        raise ValueError("encode needs a list of sentences")
    given = tokenizer if isinstance(tokenizer, PreTrainedTokenizerBase) else None
    if isinstance(model, (str, os.PathLike)):
        model, loaded_tokenizer = _load(model)
        given = loaded_tokenizer if given is None else given
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
    if given is None:
        raise ValueError("encode needs a tokenizer with a loaded model")
    tokenizer = given
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    index = default_layer(_num_layers(model)) if layer is None else layer
    index = check_layer(index, _num_layers(model))
    net: torch.nn.Module = model  # nn.Module's typed to()/eval(), not the model's wrappers
    if device is not None:
        net.to(device)
    target = next(net.parameters()).device
    net.eval()

    encoded = tokenizer(list(sentences), truncation=True, max_length=_max_length(tokenizer,
                        max_length), return_special_tokens_mask=True)
    rows: list[dict[str, Any]] = [
        {key: encoded[key][i] for key in encoded.keys()} for i in range(len(sentences))
    ]
    # Longest first: similar lengths share a batch (little padding), and a too-large batch fails
    # on the first step rather than at the end.
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]["input_ids"]))
    hidden = int(model.config.hidden_size)
    out = np.zeros((len(rows), hidden), dtype=np.float32)
    empty = 0
    with torch.no_grad():
        for start in tqdm(range(0, len(order), batch_size), disable=not progress,
                          desc="encode", unit="batch"):
            chosen = order[start:start + batch_size]
            batch = tokenizer.pad([rows[i] for i in chosen], return_tensors="pt")
            keep = batch.pop("attention_mask").bool()
            special = batch.pop("special_tokens_mask").bool()
            inputs = {k: v.to(target) for k, v in batch.items()}
            states = net(**inputs, attention_mask=keep.long().to(target),
                           output_hidden_states=True).hidden_states[index]
            if not include_special:
                keep &= ~special
            weights = keep.to(target, states.dtype).unsqueeze(-1)
            counts = weights.sum(dim=1)
            empty += int((counts == 0).sum())
            vectors = (states * weights).sum(dim=1) / counts.clamp(min=1)
            out[chosen] = vectors.float().cpu().numpy()
    if empty:
        logger.warning("%d of %d sentences have no token to average: zero vectors", empty,
                       len(rows))
    return out


def _write_json(path: Path, content: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(content, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_sentence_transformers_config(model_dir: Path, max_seq_length: int = 512) -> None:
    """Write the standard sentence-transformers module files into a saved model directory, so
    ``SentenceTransformer(str(model_dir))`` loads it as Transformer -> mean pooling of the last
    layer over non-padding tokens (specials included), with no custom code:
    ``modules.json``, ``sentence_bert_config.json`` and ``1_Pooling/config.json``.

    The result equals ``encode(model_dir, None, sentences, layer=-1, include_special=True)``.
    ``max_seq_length`` is capped at the tokenizer's own limit."""
    from transformers import AutoConfig

    model_dir = Path(model_dir)
    try:
        config = AutoConfig.from_pretrained(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    except (OSError, ValueError) as err:
        raise OSError(f"{model_dir}: not a saved model with its tokenizer: {err}") from err
    hidden = getattr(config, "hidden_size", None)
    if not isinstance(hidden, int):
        raise ValueError(f"{model_dir}/config.json has no hidden_size")
    _write_json(model_dir / "sentence_bert_config.json", {
        "max_seq_length": _max_length(tokenizer, max_seq_length),
        "do_lower_case": False,  # the tokenizer does its own casing
    })
    _write_json(model_dir / "1_Pooling" / "config.json", {
        "word_embedding_dimension": hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    })
    # modules.json last: a directory that has it has every file it names.
    _write_json(model_dir / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
    ])
