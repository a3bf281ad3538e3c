"""Cross-lingual adjustment training (METHOD §3-4) with accelerate: checkpoints, exact resume."""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from accelerate import Accelerator, DistributedDataParallelKwargs
from accelerate.logging import get_logger
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from xadj.loss import adjustment_loss, batch_to_device
from xadj.model import frozen_copy, load_encoder
from xadj.sampling import epoch_order

logger = get_logger(__name__)

PROGRESS_FILE = "xadj_progress.json"  # inside each checkpoint: where the run stood
CONFIG_FILE = "xadj_config.json"  # next to the final model: every setting and version


class BatchSource(Protocol):
    """What train() reads for one language: xadj.batches.Batcher (or anything shaped like it)."""

    def batch(self, indices: np.ndarray) -> Any: ...  # -> xadj.batches.AlignmentBatch


@dataclass
class AlignConfig:
    model: str = "bert-base-multilingual-cased"  # hub name or local dir of the encoder to adjust
    datasets: dict[str, str] = field(default_factory=dict)  # language -> prepared dataset dir
    output_dir: str = "xadj-out"  # model/ and checkpoints/ go here (one subdir per language)
    mix_languages: bool = False  # one model for all languages, losses summed each step (Cao)
    loss_variant: str = "current"  # "current" (Efimov): toward F(en); "frozen": toward F0(en)
    reg_weight: float = 1.0  # lambda_reg on L_reg (METHOD §3)
    pooling: str = "avg"  # word vector from pieces: avg | first | last (applied by the Batcher)
    special_pairs: bool = True  # align [CLS]/<s> and [SEP]/</s> as one more pair each
    max_seq_length: int = 512  # a tokenized side longer than this is an error (position limit)
    pairs_per_step: int = 32  # sentence pairs per optimizer step, per language
    grad_accum: int = 1  # split each step into this many chunks to save memory (same update)
    lr: float = 5e-5  # Adam learning rate after warm-up
    warmup_fraction: float = 0.1  # linear warm-up over this share of the steps, then constant
    epochs: int = 1  # passes over the (largest) dataset
    max_steps: int | None = None  # stop after this many optimizer steps (caps the schedule)
    seed: int = 42  # batch order, dropout and everything else random
    mixed_precision: str = "no"  # accelerate's: no | fp16 | bf16
    cpu: bool = False  # run on the CPU even when an accelerator is visible
    checkpoint_every: int | None = 1000  # save a resumable checkpoint every N steps (None: never)
    resume: bool = False  # continue from the latest checkpoint in output_dir
    overwrite: bool = False  # replace an existing finished model in output_dir
    log_every: int = 50  # log the loss parts every N steps


@dataclass
class TrainResult:
    model_dir: Path  # the finished model (save_pretrained layout + xadj_config.json)
    steps: int  # optimizer steps done in total, including resumed ones
    losses: list[float]  # loss of each step run by this call


def train(config: AlignConfig, sources: Mapping[str, BatchSource]) -> dict[str, TrainResult]:
    """One adjusted model per language (default), or one for all with mix_languages."""
    if not sources:
        raise ValueError("no languages to train on")
    if config.mix_languages or len(sources) == 1:
        name = "+".join(sources) if len(sources) > 1 else next(iter(sources))
        return {name: train_run(config, sources)}
    return {
        lang: train_run(
            replace(config, output_dir=str(Path(config.output_dir) / lang)), {lang: src}
        )
        for lang, src in sources.items()
    }


def _num_pairs(source: Any) -> int:
    return int(getattr(source, "num_pairs", None) or source.dataset.num_pairs)


def _meta(source: Any) -> dict:
    meta = getattr(source, "meta", None)
    if meta is None:
        meta = getattr(getattr(source, "dataset", None), "meta", {})
    return dict(meta)


def _step_indices(n: int, per_step: int, seed: int, step: int, cache: dict) -> np.ndarray:
    """Pairs of global step `step` for a dataset of n pairs: a pure function of (seed, step)."""
    steps_per_epoch = math.ceil(n / per_step)
    epoch, j = divmod(step, steps_per_epoch)
    if cache.get("epoch") != epoch:
        cache.update(epoch=epoch, order=np.asarray(epoch_order(n, seed, epoch), dtype=np.int64))
    return cache["order"][j * per_step : (j + 1) * per_step]


def _latest_checkpoint(root: Path) -> Path | None:
    done = [p for p in root.glob("step-*") if (p / PROGRESS_FILE).is_file()]
    return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (np.ndarray, set, tuple)):
        return list(obj)
    return str(obj)


def train_run(config: AlignConfig, sources: Mapping[str, BatchSource]) -> TrainResult:
    """One model trained on `sources` (summing their losses each step); the accelerate loop."""
    if config.pairs_per_step < config.grad_accum:
        raise ValueError("pairs_per_step must be at least grad_accum")
    out = Path(config.output_dir)
    final_dir, ckpt_root = out / "model", out / "checkpoints"
    # The pooler of BERT-like models is computed but never in the loss: DDP must allow that.
    accelerator = Accelerator(
        mixed_precision=config.mixed_precision,
        cpu=config.cpu,
        step_scheduler_with_optimizer=False,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    if final_dir.exists() and config.resume and not config.overwrite:
        logger.warning("%s is already finished; nothing to resume", final_dir)
        steps = json.loads((final_dir / CONFIG_FILE).read_text())["steps"]
        return TrainResult(model_dir=final_dir, steps=steps, losses=[])
    if final_dir.exists() and not config.overwrite:
        raise FileExistsError(f"{final_dir} already holds a finished model (use overwrite/resume)")
    set_seed(config.seed)
    model, tokenizer = load_encoder(config.model)  # fails here, before any training, if missing
    frozen = frozen_copy(model).to(accelerator.device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.lr, betas=(0.9, 0.98), eps=1e-9, weight_decay=0.0
    )
    sizes = {lang: _num_pairs(src) for lang, src in sources.items()}
    steps_per_epoch = max(math.ceil(n / config.pairs_per_step) for n in sizes.values())
    total = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    warmup = int(config.warmup_fraction * total)
    # Like Efimov's script, the first step already moves (lr/warmup); full lr from step `warmup`.
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) if warmup > 0 else 1.0
    )
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)

    identity = {
        "seed": config.seed,
        "pairs_per_step": config.pairs_per_step,
        "languages": sorted(sources),
        "total_steps": total,
    }
    start = 0
    if config.resume and (ckpt := _latest_checkpoint(ckpt_root)) is not None:
        progress = json.loads((ckpt / PROGRESS_FILE).read_text())
        saved = {k: progress.get(k) for k in identity}
        if saved != identity:
            raise ValueError(f"cannot resume from {ckpt}: it was made by {saved}, not {identity}")
        accelerator.load_state(str(ckpt))  # weights, Adam moments, schedule and RNG states
        start = progress["step"]
    last_good = _latest_checkpoint(ckpt_root) if ckpt_root.exists() else None

    logger.info(
        "***** xadj adjustment *****\n  model = %s\n  pairs = %s\n  steps = %d (%d per epoch, "
        "%d epochs, start at %d)\n  pairs/step = %d per language in %d chunk(s)\n  lr = %g, "
        "warm-up %d steps then constant\n  loss = %s, reg_weight = %g, pooling = %s, special "
        "pairs = %s\n  processes = %d, device = %s, mixed precision = %s, seed = %d",
        config.model,
        sizes,
        total,
        steps_per_epoch,
        config.epochs,
        start,
        config.pairs_per_step,
        config.grad_accum,
        config.lr,
        warmup,
        config.loss_variant,
        config.reg_weight,
        config.pooling,
        config.special_pairs,
        accelerator.num_processes,
        accelerator.device,
        config.mixed_precision,
        config.seed,
        main_process_only=True,
    )

    caches: dict[str, dict] = {lang: {} for lang in sources}
    losses: list[float] = []
    model.train()
    bar = tqdm(
        range(start, total),
        initial=start,
        total=total,
        desc="adjusting",
        disable=not accelerator.is_local_main_process,
    )
    for step in bar:
        # Every process takes its own share of the step's pairs: a step is always 32 pairs.
        chunks = []
        for lang, src in sources.items():
            idx = _step_indices(sizes[lang], config.pairs_per_step, config.seed, step, caches[lang])
            if len(idx) < accelerator.num_processes:  # a short last step: every rank needs a pair,
                idx = np.resize(idx, accelerator.num_processes)  # or DDP waits for it forever
            mine = idx[accelerator.process_index :: accelerator.num_processes]
            chunks += [(lang, src, c) for c in np.array_split(mine, config.grad_accum) if len(c)]
        step_loss = 0.0
        for i, (lang, src, chunk) in enumerate(chunks):
            batch = src.batch(chunk)
            longest = max(batch.english.input_ids.shape[1], batch.other.input_ids.shape[1])
            if longest > config.max_seq_length:
                raise ValueError(f"{lang}: a sentence has more than {config.max_seq_length} pieces")
            tensors = batch_to_device(batch, accelerator.device)
            # Gradients of all chunks add up; DDP syncs them once, on the last chunk.
            sync = nullcontext() if i == len(chunks) - 1 else accelerator.no_sync(model)
            with sync:
                with accelerator.autocast():
                    loss, parts = adjustment_loss(
                        model, frozen, tensors, config.loss_variant, config.reg_weight
                    )
                    loss = loss / config.grad_accum  # chunks average; languages sum (Cao)
                value = loss.item()
                if not math.isfinite(value):  # before backward: the weights stay good
                    raise FloatingPointError(
                        f"non-finite loss ({value}) in step {step + 1} on {lang} "
                        f"(align {parts['align'].item()}, reg {parts['reg'].item()}); stopped. "
                        f"Last good checkpoint: {last_good or 'none'}"
                    )
                accelerator.backward(loss)
            step_loss += value
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(step_loss)
        if (step + 1) % config.log_every == 0:
            bar.set_postfix(loss=f"{step_loss:.4f}")
            logger.info(
                "step %d loss %.5f lr %.3g",
                step + 1,
                step_loss,
                scheduler.get_last_lr()[0],
                main_process_only=True,
            )
        done = step + 1
        if config.checkpoint_every and done % config.checkpoint_every == 0 and done < total:
            last_good = _save_checkpoint(accelerator, ckpt_root, done, steps_per_epoch, identity)

    model_dir = _save_final(accelerator, model, tokenizer, config, sources, sizes, total, final_dir)
    return TrainResult(model_dir=model_dir, steps=total, losses=losses)


def _save_checkpoint(
    accelerator: Accelerator, root: Path, step: int, steps_per_epoch: int, identity: dict
) -> Path:
    """save_state into a temp dir, renamed when whole; then drop the older checkpoints."""
    final, tmp = root / f"step-{step}", root / f".step-{step}.tmp"
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        progress = {"step": step, "epoch": step // steps_per_epoch, **identity}
        (tmp / PROGRESS_FILE).write_text(json.dumps(progress, indent=2))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in root.glob("step-*"):
            if old != final:
                shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def _save_final(
    accelerator: Accelerator,
    model: torch.nn.Module,
    tokenizer: Any,
    config: AlignConfig,
    sources: Mapping[str, BatchSource],
    sizes: dict[str, int],
    total: int,
    final_dir: Path,
) -> Path:
    """The adjusted encoder, written to a temp dir and renamed: it appears only when complete."""
    accelerator.wait_for_everyone()
    state = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        import accelerate
        import transformers

        import xadj

        tmp = final_dir.parent / ".model.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        accelerator.unwrap_model(model).save_pretrained(tmp, state_dict=state)
        tokenizer.save_pretrained(tmp)
        record = {
            "config": asdict(config),
            "steps": total,
            "languages": {
                lang: {"num_pairs": sizes[lang], "meta": _meta(src)}
                for lang, src in sources.items()
            },
            "versions": {
                "xadj": xadj.__version__,
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "accelerate": accelerate.__version__,
            },
        }
        (tmp / CONFIG_FILE).write_text(json.dumps(record, indent=2, default=_json_default))
        if final_dir.exists():
            shutil.rmtree(final_dir)
        os.replace(tmp, final_dir)
    accelerator.wait_for_everyone()
    return final_dir
