"""Pretrains a tiny BERT with masked language modelling on the two monolingual corpora of a
synthetic pair (``xadj.synth.generate``): never a parallel pair, so whatever cross-lingual
alignment the encoder shows comes from shared structure alone, as in mBERT.

Layout of ``output_dir``: ``model/`` (a BertModel and its fast tokenizer, what
``AutoModel.from_pretrained`` loads, with ``xadj_pretrain.json``), ``checkpoints/step-N/``
(resumable state, the latest two kept), ``metrics.jsonl`` (loss and masked-token accuracy),
``pretrain_config.json`` (the settings, checked on resume).
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertModel,
    PreTrainedTokenizerFast,
    get_linear_schedule_with_warmup,
)

from xadj.config import check, differences, setting
from xadj.corpus import file_sha256

log = logging.getLogger(__name__)

KIND = "synth-pretrain"  # output marker kind (xadj.outputs)
CONFIG_FILE = "pretrain_config.json"
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# Settings that may change between a run and its resumption.
OPERATIONAL = ("resume", "overwrite", "checkpoint_every", "log_every", "cpu")


@dataclass
class PretrainConfig:
    seed: int = setting(42, "seed of the initial weights, batch order, masking and dropout", min=0)
    steps: int = setting(2_000, "optimizer steps (the default takes about 5 minutes on 2 CPU "
                         "cores)", min=1)
    batch_size: int = setting(128, "sentences per step", min=1)
    lr: float = setting(1e-3, "AdamW peak learning rate", min=0.0, min_open=True)
    warmup_fraction: float = setting(0.05, "linear warm-up over this share of the steps, then "
                                     "linear decay to 0", min=0.0, max=1.0)
    weight_decay: float = setting(0.01, "AdamW weight decay", min=0.0)
    mlm_probability: float = setting(0.15, "share of tokens to predict (80% [MASK], 10% random, "
                                     "10% kept)", min=0.0, max=1.0, min_open=True)
    batch_languages: str = setting("mixed", "a batch mixes both languages, or alternates: one "
                                   "language a step", choices=("mixed", "alternate"))
    hidden_size: int = setting(128, "width of the encoder", min=8)
    num_layers: int = setting(4, "transformer layers", min=1)
    num_heads: int = setting(4, "attention heads (must divide hidden_size)", min=1)
    intermediate_size: int = setting(512, "feed-forward width", min=8)
    max_length: int = setting(128, "most tokens an input may have, [CLS] and [SEP] included "
                              "(128: the transfer tasks' default)", min=4)
    max_sentences: int | None = setting(None, "read at most this many sentences of each "
                                        "monolingual corpus", min=1)
    checkpoint_every: int = setting(500, "save a resumable checkpoint every N steps (0: never)",
                                    min=0)
    log_every: int = setting(50, "log the mean loss every N steps", min=1)
    resume: bool = setting(False, "continue from the latest checkpoint in output_dir")
    overwrite: bool = setting(False, "replace an earlier pretraining run in output_dir")
    cpu: bool = setting(False, "train on the CPU even when a GPU is visible")


@dataclass
class PretrainJobConfig:
    """``synth-pretrain``: a tokenizer over both synthetic languages and a small BERT
    MLM-pretrained on each language's monolingual text only (no parallel signal)."""

    synth_dir: str = setting("", "a directory written by `synth`", positional=True)
    output_dir: str = setting("", "where model/ (and checkpoints) go", short="-o", required=True)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)


@dataclass
class PretrainResult:
    model_dir: Path  # BertModel + fast tokenizer + xadj_pretrain.json
    steps: int  # optimizer steps done in total, including resumed ones
    losses: list[float] = field(default_factory=list)  # MLM loss of each step run by this call
    final_loss: float = math.nan  # mean loss over the last 100 steps run by this call


# ---------------------------------------------------------------- tokenizer
def build_tokenizer(corpora: list[Path], max_length: int) -> PreTrainedTokenizerFast:
    """A WordPiece tokenizer whose vocabulary is every word of the corpora (the languages are
    small) plus single characters, so that an unseen word still has pieces. Counted, not
    trained: tokenizers' trainers break ties differently from run to run."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    pre = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for path in corpora:
        with open(path, encoding="utf-8") as f:
            for line in f:
                counts.update(w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(line)))
    chars = sorted({ch for word in counts for ch in word})
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    vocab: dict[str, int] = {}
    for token in [*SPECIALS, *words, *chars, *(f"##{ch}" for ch in chars)]:
        vocab.setdefault(token, len(vocab))
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer, tok.pre_tokenizer = normalizer, pre
    tok.decoder = decoders.WordPiece()
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, model_max_length=max_length, unk_token="[UNK]",
        pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


# ---------------------------------------------------------------- data
@dataclass(frozen=True)
class Corpus:
    """Token ids of one language's sentences, ragged: ``ids[offsets[i]:offsets[i+1]]``."""

    ids: np.ndarray  # int64, [CLS] ... [SEP] per sentence
    offsets: np.ndarray  # int64 [n + 1]

    @property
    def size(self) -> int:
        return len(self.offsets) - 1


def read_corpus(path: Path, tokenizer: PreTrainedTokenizerFast, max_sentences: int | None
                ) -> Corpus:
    lines: list[str] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if max_sentences is not None and len(lines) >= max_sentences:
                break
            if not line.strip():
                raise ValueError(f"{path}:{number}: empty line (one sentence a line expected)")
            lines.append(line.rstrip("\n"))
    if not lines:
        raise ValueError(f"{path}: no sentences")
    encoded = tokenizer(lines, truncation=True, max_length=tokenizer.model_max_length,
                        return_attention_mask=False, return_token_type_ids=False)["input_ids"]
    lengths = np.array([len(x) for x in encoded], dtype=np.int64)
    offsets = np.zeros(len(lines) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.fromiter((t for x in encoded for t in x), dtype=np.int64, count=int(offsets[-1]))
    return Corpus(ids, offsets)


def step_sentences(corpora: list[Corpus], config: PretrainConfig, step: int
                   ) -> list[tuple[int, int]]:
    """(language, sentence) pairs of step ``step``: a pure function of (seed, step), so a resumed
    run draws the batches the uninterrupted one would have. Epochs are seeded permutations;
    a last partial batch of an epoch is skipped."""
    if config.batch_languages == "alternate":
        lang = step % len(corpora)
        pools = [(lang, corpora[lang].size)]
        position = step // len(corpora)
    else:
        pools = [(k, c.size) for k, c in enumerate(corpora)]
        position = step
    total = sum(n for _, n in pools)
    batch = min(config.batch_size, total)
    per_epoch = total // batch
    epoch, slot = divmod(position, per_epoch)
    order = np.random.default_rng([config.seed, pools[0][0], epoch]).permutation(total)
    chosen = order[slot * batch:(slot + 1) * batch]
    out = []
    for index in chosen.tolist():
        for lang, n in pools:
            if index < n:
                out.append((lang, index))
                break
            index -= n
    return out


def make_batch(corpora: list[Corpus], chosen: list[tuple[int, int]], pad_id: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [corpora[lang].ids[corpora[lang].offsets[i]:corpora[lang].offsets[i + 1]]
            for lang, i in chosen]
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for b, row in enumerate(rows):
        ids[b, :len(row)] = row
        mask[b, :len(row)] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


def mask_tokens(ids: torch.Tensor, attention: torch.Tensor, config: PretrainConfig, step: int,
                mask_id: int, first_word_id: int, vocab_size: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's recipe: pick ``mlm_probability`` of the real tokens; 80% become [MASK], 10% a
    random word, 10% stay. Drawn from a generator seeded by (seed, step) for exact resumes."""
    gen = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    candidates = (attention == 1) & (ids >= first_word_id)  # never a special token
    picked = (torch.rand(ids.shape, generator=gen) < config.mlm_probability) & candidates
    labels = torch.where(picked, ids, torch.full_like(ids, -100))
    roll = torch.rand(ids.shape, generator=gen)
    random_ids = torch.randint(first_word_id, vocab_size, ids.shape, generator=gen)
    inputs = torch.where(picked & (roll < 0.8), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(picked & (roll >= 0.8) & (roll < 0.9), random_ids, inputs)
    return inputs, labels


# ---------------------------------------------------------------- training
def pretrain(synth_dir: str | Path, output_dir: str | Path, config: PretrainConfig,
             progress: bool = True) -> PretrainResult:
    """MLM-pretrains a tiny BertModel on ``synth_dir``'s monolingual corpora; returns where the
    model is. Seeded; resumable from ``checkpoints/`` with ``config.resume``."""
    from xadj.outputs import claim_output_dir

    check(config)
    if config.hidden_size % config.num_heads:
        raise ValueError(f"num_heads {config.num_heads} must divide hidden_size "
                         f"{config.hidden_size}")
    synth = Path(synth_dir)
    meta_path = synth / "synth.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        lang = str(meta["config"]["lang"])
    except FileNotFoundError:
        raise FileNotFoundError(f"{synth}: not a synthetic data directory (no synth.json); "
                                f"make one with xadj.synth.generate") from None
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{meta_path}: unreadable ({err})") from err
    paths = [synth / "mono" / "en.txt", synth / "mono" / f"{lang}.txt"]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: monolingual corpus missing")
    out = Path(output_dir)
    lock = claim_output_dir(out, KIND, overwrite=config.overwrite, resume=config.resume,
                            owned=("model", "checkpoints", "metrics.jsonl", CONFIG_FILE))
    try:
        return _run(config, paths, out, meta_path, progress)
    finally:
        lock.release()


def _run(config: PretrainConfig, paths: list[Path], out: Path, meta_path: Path,
         progress: bool) -> PretrainResult:
    from xadj.outputs import atomic_write_text
    from xadj.tracking import StepLog

    settings = {k: v for k, v in asdict(config).items() if k not in OPERATIONAL}
    saved = out / CONFIG_FILE
    start_state = _latest_checkpoint(out) if config.resume else None
    if start_state is not None and saved.exists():
        changed = differences(json.loads(saved.read_text()), settings)
        if changed:
            raise ValueError(f"{out}: cannot resume with other settings: {'; '.join(changed)}")
    atomic_write_text(saved, json.dumps(settings, indent=2))

    tokenizer = build_tokenizer(paths, config.max_length)
    corpora = [read_corpus(p, tokenizer, config.max_sentences) for p in paths]
    vocab_size = len(tokenizer)
    device = torch.device("cuda" if torch.cuda.is_available() and not config.cpu else "cpu")
    torch.manual_seed(config.seed)
    bert_config = BertConfig(
        vocab_size=vocab_size, hidden_size=config.hidden_size,
        num_hidden_layers=config.num_layers, num_attention_heads=config.num_heads,
        intermediate_size=config.intermediate_size, max_position_embeddings=config.max_length,
        pad_token_id=tokenizer.pad_token_id)
    model = BertForMaskedLM(bert_config)
    model.to(device)  # type: ignore[arg-type]  # transformers' stub types `to` too narrowly
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
    scheduler = get_linear_schedule_with_warmup(  # type: ignore[no-untyped-call]
        optimizer, int(config.warmup_fraction * config.steps), config.steps)
    step = 0
    if start_state is not None:
        state = torch.load(start_state / "state.pt", map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        if device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"])
        step = int(state["step"])
        log.info("resuming %s from step %d", out, step)
    elif config.resume:
        log.info("no checkpoint in %s: starting from step 0", out)

    sizes = {p.name: c.size for p, c in zip(paths, corpora, strict=True)}
    log.info("pretraining a %d-layer BERT (hidden %d, vocab %d, %.2fM parameters) on %s for "
             "%d steps of %d sentences", config.num_layers, config.hidden_size, vocab_size,
             sum(p.numel() for p in model.parameters()) / 1e6, sizes, config.steps,
             config.batch_size)
    metrics = StepLog(out / "metrics.jsonl")
    first_word = len(SPECIALS)
    mask_id = int(tokenizer.mask_token_id)
    pad_id = int(tokenizer.pad_token_id)
    losses: list[float] = []
    window: list[tuple[float, float]] = []
    bar = tqdm(total=config.steps, initial=step, desc="pretrain", disable=not progress)
    model.train()
    while step < config.steps:
        ids, attention = make_batch(corpora, step_sentences(corpora, config, step), pad_id)
        inputs, labels = mask_tokens(ids, attention, config, step, mask_id, first_word,
                                     vocab_size)
        output = model(input_ids=inputs.to(device), attention_mask=attention.to(device),
                       labels=labels.to(device))
        loss = output.loss
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite MLM loss at step {step}; lower lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        step += 1
        with torch.no_grad():
            target = labels.to(device) != -100
            hits = (output.logits.argmax(-1)[target] == labels.to(device)[target]).float()
        losses.append(loss.item())
        window.append((losses[-1], hits.mean().item() if hits.numel() else math.nan))
        bar.update()
        if step % config.log_every == 0 or step == config.steps:
            mean_loss = float(np.mean([w[0] for w in window]))
            accuracy = float(np.nanmean([w[1] for w in window]))
            metrics.log(step, loss=mean_loss, mlm_accuracy=accuracy,
                        lr=scheduler.get_last_lr()[0])
            bar.set_postfix(loss=f"{mean_loss:.3f}", acc=f"{accuracy:.3f}")
            log.debug("step %d: loss %.4f, masked-token accuracy %.3f", step, mean_loss,
                      accuracy)
            window = []
        if config.checkpoint_every and (step % config.checkpoint_every == 0
                                        or step == config.steps):
            _save_checkpoint(out, step, model, optimizer, scheduler, device)
    bar.close()

    final = float(np.mean(losses[-100:])) if losses else math.nan
    about = {"synth_dir": str(meta_path.parent), "synth_json_sha256": file_sha256(meta_path),
             "languages": ["en", paths[1].stem], "sentences": sizes, "steps": step,
             "final_loss": final, "settings": settings, "versions": _versions()}
    model_dir = _save_model(out, model, tokenizer, about)
    log.info("pretrained model in %s (final loss %.3f)", model_dir, final)
    return PretrainResult(model_dir, step, losses, final)


def _save_model(out: Path, mlm: BertForMaskedLM, tokenizer: PreTrainedTokenizerFast,
                about: dict[str, Any]) -> Path:
    """The encoder alone as a BertModel: its pooler (unused by MLM) gets seeded initial
    weights, so ``AutoModel.from_pretrained`` finds every weight it expects."""
    from xadj.outputs import atomic_dir

    torch.manual_seed(int(about["settings"]["seed"]))
    encoder = BertModel(mlm.config, add_pooling_layer=True)
    missing, unexpected = encoder.load_state_dict(mlm.bert.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("pooler.") for k in missing), (missing, unexpected)
    target = out / "model"
    with atomic_dir(target, replace=True) as tmp:
        encoder.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "xadj_pretrain.json").write_text(json.dumps(about, indent=2))
    return target


def _save_checkpoint(out: Path, step: int, model: BertForMaskedLM,
                     optimizer: torch.optim.Optimizer, scheduler: Any, device: torch.device
                     ) -> None:
    from xadj.outputs import atomic_dir, remove

    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "step": step, "rng": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state()
    root = out / "checkpoints"
    with atomic_dir(root / f"step-{step}", replace=True) as tmp:
        torch.save(state, tmp / "state.pt")
    for old in _checkpoints(out)[:-2]:
        remove(old)


def _checkpoints(out: Path) -> list[Path]:
    root = out / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.glob("step-*") if p.name[5:].isdigit() and (p / "state.pt").is_file()]
    return sorted(found, key=lambda p: int(p.name[5:]))


def _latest_checkpoint(out: Path) -> Path | None:
    found = _checkpoints(out)
    return found[-1] if found else None


def _versions() -> dict[str, str]:
    import tokenizers
    import transformers

    import xadj

    return {"xadj": xadj.__version__, "torch": torch.__version__,
            "transformers": transformers.__version__, "tokenizers": tokenizers.__version__}
