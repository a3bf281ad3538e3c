"""Encoders: load any hub or local encoder, its frozen copy, and the tiny smoke-test model."""

from __future__ import annotations

import copy
import json
import logging
import math
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from xadj.corpus import file_sha256

logger = logging.getLogger(__name__)

TINY = "tiny"  # `--model tiny`: the random smoke-test model below, never a real encoder
TINY_KINDS = ("bert", "xlmr")
MANIFEST = "xadj_manifest.json"  # sha256 of every file of a model xadj built into the cache


def cache_root() -> Path:
    """xadj's user cache (``$XDG_CACHE_HOME/xadj`` or ``~/.cache/xadj``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xadj"


def write_manifest(directory: Path, **about: object) -> None:
    files = {p.name: file_sha256(p) for p in sorted(directory.iterdir())
             if p.is_file() and p.name != MANIFEST}
    (directory / MANIFEST).write_text(json.dumps({**about, "files": files}, indent=2))


def verify_manifest(directory: Path) -> bool:
    """True when every file the manifest lists is there with its recorded sha256."""
    try:
        files = json.loads((directory / MANIFEST).read_text())["files"]
        return bool(files) and all(file_sha256(directory / name) == digest
                                   for name, digest in files.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def tiny_model_dir(kind: str = "bert", cache: Path | None = None) -> Path:
    """The smoke-test model of ``kind``, built once into the cache (atomically) and verified
    against its manifest before each reuse: a damaged copy is rebuilt, never used."""
    from xadj.corpus import sample_bitext
    from xadj.outputs import atomic_dir

    if kind not in TINY_KINDS:
        raise ValueError(f"unknown tiny model kind {kind!r}: use one of {TINY_KINDS}")
    target = (cache or cache_root() / "models") / f"tiny-{kind}-v1"
    if verify_manifest(target):
        return target
    if target.exists():
        logger.warning("%s is incomplete or damaged; building it again", target)
    lines = [side for line in sample_bitext().read_text(encoding="utf-8").splitlines()
             for side in line.split(" ||| ")]
    with atomic_dir(target, replace=True) as tmp:
        build_tiny_model(kind, lines, tmp, seed=0)
        write_manifest(tmp, model=f"tiny-{kind}", note="random smoke-test encoder, not real")
    return target


def resolve_model(name: str, tiny_kind: str = "bert") -> str:
    """A model name as every command takes it -> what ``from_pretrained`` loads: ``tiny`` (the
    cached smoke-test model), ``e5-small`` (the offline multilingual encoder, xadj.models), a hub
    id or a local directory (unchanged)."""
    if name == TINY:
        return str(tiny_model_dir(tiny_kind))
    if name.startswith("tiny-") and name[5:] in TINY_KINDS:
        return str(tiny_model_dir(name[5:]))
    try:
        from xadj import models
    except ImportError:  # the registry of offline encoders is optional
        return name
    return str(models.get(name))


def check_hub_reachable(repo_id: str, timeout: float = 3.0) -> None:
    """Fails at once, saying what to do, when a hub id can be neither downloaded nor found in the
    local cache, instead of spending a minute in retries: offline mode (``HF_HUB_OFFLINE``) or a
    first connection that fails."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
        return  # cached: transformers loads it without the network
    advice = (f"{repo_id!r} is not in the local Hugging Face cache and the hub cannot be reached: "
              f"download it on a connected machine (huggingface-cli download {repo_id}) or give "
              f"a local model directory; offline, `tiny` and `e5-small` need no download")
    if constants.HF_HUB_OFFLINE:
        raise OSError(advice + " (HF_HUB_OFFLINE is set)")
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        raise OSError(advice) from None


def check_model_source(name_or_path: str) -> str:
    """What ``from_pretrained`` should be given for a model: a local directory that exists, or a
    hub id that is cached or reachable; fails by name otherwise (cheap: nothing is loaded)."""
    path = Path(name_or_path).expanduser()
    # Hub names are "org/name"; anything that exists or starts like a path is a local directory.
    if path.exists() or name_or_path.startswith((".", "/", "~")):
        if not path.is_dir():
            raise FileNotFoundError(f"model directory not found: {name_or_path}")
        return str(path)
    check_hub_reachable(name_or_path)
    return name_or_path


def load_encoder(name_or_path: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load an encoder and its fast tokenizer; fail early and by name when either can't be had."""
    source = check_model_source(name_or_path)
    tokenizer = _tokenizer_from(source, name_or_path)
    try:
        # safetensors only: loading never unpickles (a pickled checkpoint can run code).
        model = AutoModel.from_pretrained(source, use_safetensors=True)
    except (OSError, ValueError) as err:
        raise OSError(f"cannot load encoder {name_or_path!r}: {err}") from err
    return model, tokenizer


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    """An encoder's fast tokenizer alone."""
    return _tokenizer_from(check_model_source(name_or_path), name_or_path)


def _tokenizer_from(source: str, name_or_path: str) -> PreTrainedTokenizerBase:
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as err:
        raise OSError(f"cannot load encoder {name_or_path!r}: {err}") from err
    # Word pooling needs word_ids(), which only tokenizers-backed ("fast") tokenizers give.
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"{name_or_path!r} has no fast tokenizer (tokenizer.json); xadj needs word_ids()"
        )
    return tokenizer


def frozen_copy(model: nn.Module) -> nn.Module:
    """F0 of docs/method.md §3: an eval-mode copy that never trains (use under torch.no_grad())."""
    frozen = copy.deepcopy(model)
    frozen.eval()
    frozen.requires_grad_(False)
    return frozen


def encode(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Last hidden layer [B, L, H] (docs/method.md §2: last layer, no normalisation)."""
    hidden: torch.Tensor = model(input_ids=input_ids,
                                 attention_mask=attention_mask).last_hidden_state
    return hidden


def build_tiny_model(
    kind: str,
    corpus_lines: Iterable[str],
    out_dir: str | Path,
    seed: int = 0,
    vocab_size: int = 800,
    max_length: int = 128,
) -> Path:
    """SMOKE-TEST ONLY: a random 2-layer encoder and a tokenizer trained on `corpus_lines`.

    kind "bert" gives a WordPiece tokenizer with [CLS] x [SEP] and a BertModel; kind "xlmr" a
    Unigram/Metaspace tokenizer with <s> x </s> and an XLMRobertaModel. Saved in the hub layout,
    so AutoModel/AutoTokenizer.from_pretrained(out_dir) load it like any real encoder.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, PreTrainedTokenizerFast, XLMRobertaConfig

    lines = [line.strip() for line in corpus_lines if line.strip()]
    if kind == "bert":
        specials = {
            "pad": "[PAD]",
            "unk": "[UNK]",
            "cls": "[CLS]",
            "sep": "[SEP]",
            "mask": "[MASK]",
        }
        normalizer: Any = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
        pre: Any = pre_tokenizers.BertPreTokenizer()
    elif kind == "xlmr":
        # XLM-R's id order: <s>=0 <pad>=1 </s>=2 <unk>=3; <mask> is last in the real one.
        specials = {"cls": "<s>", "pad": "<pad>", "sep": "</s>", "unk": "<unk>", "mask": "<mask>"}
        normalizer = normalizers.NFKC()
        pre = pre_tokenizers.Sequence(
            [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(prepend_scheme="always")]
        )
    else:
        raise ValueError(f"unknown tiny model kind {kind!r}: use 'bert' or 'xlmr'")
    counts = Counter(
        word for line in lines for word, _ in pre.pre_tokenize_str(normalizer.normalize_str(line))
    )
    pieces = _tiny_vocab(counts, vocab_size - len(specials), "##" if kind == "bert" else "")
    if kind == "bert":
        vocab = {token: i for i, token in enumerate([*specials.values(), *pieces])}
        tok = Tokenizer(models.WordPiece(vocab, unk_token=specials["unk"]))
        tok.decoder = decoders.WordPiece()
    else:
        total = sum(pieces.values())
        scored = [(t, 0.0) for t in specials.values()]
        scored += [(piece, math.log(c / total)) for piece, c in pieces.items()]
        tok = Tokenizer(models.Unigram(scored, unk_id=3, byte_fallback=False))
        tok.decoder = decoders.Metaspace(prepend_scheme="always")
    tok.normalizer, tok.pre_tokenizer = normalizer, pre
    bos, eos = specials["cls"], specials["sep"]
    ids = {name: tok.token_to_id(token) for name, token in specials.items()}
    pair = f"{bos} $A {eos} $B:1 {eos}:1" if kind == "bert" else f"{bos} $A {eos} {eos} $B {eos}"
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=pair, special_tokens=[(bos, ids["cls"]), (eos, ids["sep"])]
    )
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok,
        model_max_length=max_length,
        unk_token=specials["unk"],
        pad_token=specials["pad"],
        cls_token=specials["cls"],
        sep_token=specials["sep"],
        mask_token=specials["mask"],
        **({"bos_token": bos, "eos_token": eos} if kind == "xlmr" else {}),
    )

    sizes: dict[str, Any] = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=128)
    vocab_size = tok.get_vocab_size()
    config: Any
    if kind == "bert":
        config = BertConfig(
            vocab_size=vocab_size, max_position_embeddings=max_length, pad_token_id=ids["pad"],
            **sizes,
        )
        model_cls = "BertModel"
    else:
        # RoBERTa-style position ids start after padding_idx, hence the +2.
        config = XLMRobertaConfig(
            vocab_size=vocab_size,
            max_position_embeddings=max_length + 2,
            pad_token_id=ids["pad"],
            bos_token_id=ids["cls"],
            eos_token_id=ids["sep"],
            **sizes,
        )
        model_cls = "XLMRobertaModel"
    import transformers

    torch.manual_seed(seed)

    model = getattr(transformers, model_cls)(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    logger.info("built tiny %s smoke-test model in %s (vocab %d)", kind, out, vocab_size)
    return out


def _tiny_vocab(counts: Counter[str], size: int, continuation: str) -> dict[str, int]:
    """Deterministic subword vocabulary: every character, then frequent words and word endings.

    Counted rather than trained: the tokenizers trainers break ties differently from run to
    run, and a smoke-test model must come out the same every time. Every character is kept
    (also as a continuation piece), so any word of the corpus has a segmentation.
    """
    pieces: Counter[str] = Counter()
    chars: Counter[str] = Counter()
    for word, c in counts.items():
        pieces[word] += c
        body = word.lstrip("\u2581")  # Metaspace's word-start mark is not part of the ending
        for k in range(2, min(5, len(body))):
            pieces[continuation + body[-k:]] += c
        for i, ch in enumerate(word):
            chars[ch if i == 0 else continuation + ch] += c
            chars[ch] += 0  # bare characters too, for words whose first char is rare
    ranked = sorted(pieces.items(), key=lambda kv: (-kv[1], kv[0]))
    vocab = dict(sorted(chars.items(), key=lambda kv: (-kv[1], kv[0])))
    for piece, c in ranked:
        if len(vocab) >= size:
            break
        vocab.setdefault(piece, c)
    return {piece: max(c, 1) for piece, c in vocab.items()}
