"""Cross-lingual adjustment training (docs/method.md §3-4) with accelerate; exact resume."""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator, DistributedDataParallelKwargs
from accelerate.logging import get_logger
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from xadj.align import AlignConfig
from xadj.batches import Batcher
from xadj.config import differences
from xadj.data import PreparedDataset
from xadj.loss import adjustment_loss, batch_to_device
from xadj.model import check_model_source, load_encoder, load_tokenizer
from xadj.sampling import epoch_order
from xadj.sentence_vectors import check_layer
from xadj.tracking import METRICS_FILE, StepLog, tracker_names

logger = get_logger(__name__)

PROGRESS_FILE = "xadj_progress.json"  # inside each checkpoint: where the run stood
CONFIG_FILE = "xadj_config.json"  # next to the final model: every setting and version


__all__ = ["AlignConfig", "TrainResult", "train"]
# Settings a resumed run may change: they do not change what is computed.
RESUMABLE = ("resume", "overwrite", "checkpoint_every", "keep_checkpoints", "log_every",
             "report_to", "output_dir")


@dataclass
class TrainResult:
    model_dir: Path  # the finished model (save_pretrained layout + xadj_config.json)
    steps: int  # optimizer steps done in total, including resumed ones
    losses: list[float]  # loss of each step run by this call


def train(
    config: AlignConfig,
    sources: Mapping[str, Batcher | PreparedDataset],
    progress: bool = True,
    extra_record: dict[str, Any] | None = None,
    *,
    original: torch.nn.Module | None = None,
    tokenizer: Any | None = None,
) -> dict[str, TrainResult]:
    """One adjusted model per language (default), or one for all with mix_languages.

    ``sources`` give each language's pairs: a prepared dataset, or a Batcher over a subset of
    one. Batches are always built from ``config`` (pooling, special pairs): the config is what
    the run records, so it is what the run does.

    A caller that already holds the original encoder (``config.anchor_model``, or
    ``config.model`` when that is unset) passes it as ``original``: it then serves as F0 itself
    (put in eval mode, gradients off, its weights untouched) and, when it is ``config.model``, is
    copied instead of loaded again, so a run holds no third copy of the model. The tokenizer is
    only saved with the model: without ``tokenizer`` it is loaded at the end, not held
    through training."""
    if not sources:
        raise ValueError("no languages to train on")
    check_model_source(config.model)  # a missing model fails before anything else
    batchers = {lang: _batcher(src, config) for lang, src in sources.items()}
    if config.mix_languages or len(batchers) == 1:
        name = "+".join(batchers) if len(batchers) > 1 else next(iter(batchers))
        return {name: train_run(config, batchers, progress, extra_record, original, tokenizer)}
    return {
        lang: train_run(
            replace(config, output_dir=str(Path(config.output_dir) / lang)), {lang: b},
            progress, extra_record, original, tokenizer,
        )
        for lang, b in batchers.items()
    }


def _batcher(source: Batcher | PreparedDataset, config: AlignConfig) -> Batcher:
    if isinstance(source, Batcher):
        if (source.pooling, source.special_pairs) == (config.pooling, config.special_pairs):
            return source
        return Batcher(source.dataset, config.pooling, config.special_pairs, pairs=source.pairs)
    if isinstance(source, PreparedDataset):
        return Batcher(source, config.pooling, config.special_pairs)
    raise TypeError(f"train() takes prepared datasets or Batchers, not {type(source).__name__}")


def _step_indices(n: int, per_step: int, seed: int, step: int, cache: dict[str, Any]
                  ) -> np.ndarray:
    """Pairs of global step `step` for a dataset of n pairs: a pure function of (seed, step)."""
    steps_per_epoch = math.ceil(n / per_step)
    epoch, j = divmod(step, steps_per_epoch)
    if cache.get("epoch") != epoch:
        cache.update(epoch=epoch, order=np.asarray(epoch_order(n, seed, epoch), dtype=np.int64))
    order: np.ndarray = cache["order"]
    return order[j * per_step : (j + 1) * per_step]


def _checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    done = [p for p in root.glob("step-*") if (p / PROGRESS_FILE).is_file()
            and p.name.split("-")[1].isdigit()]
    return sorted(done, key=lambda p: int(p.name.split("-")[1]))


def latest_checkpoint(root: Path) -> Path | None:
    found = _checkpoints(root)
    return found[-1] if found else None


def _settings(config: AlignConfig) -> dict[str, Any]:
    """What a resumed run must share with the run it continues."""
    return {k: v for k, v in asdict(config).items() if k not in RESUMABLE}


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (np.ndarray, set, tuple)):
        return list(obj)
    return str(obj)


def train_run(
    config: AlignConfig,
    sources: Mapping[str, Batcher],
    progress: bool = True,
    extra_record: dict[str, Any] | None = None,
    original: torch.nn.Module | None = None,
    tokenizer: Any | None = None,
) -> TrainResult:
    """One model trained on `sources` (summing their losses each step); the accelerate loop.
    ``original`` and ``tokenizer``: see :func:`train`."""
    out = Path(config.output_dir)
    final_dir, ckpt_root = out / "model", out / "checkpoints"
    # The pooler of BERT-like models is computed but never in the loss: DDP must allow that.
    accelerator = Accelerator(
        mixed_precision=config.mixed_precision,
        cpu=config.cpu,
        step_scheduler_with_optimizer=False,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        log_with=tracker_names(config.report_to) or None,
        project_dir=str(out),
    )
    if final_dir.exists() and config.resume:
        logger.warning("%s is already finished; nothing to resume", final_dir)
        steps = json.loads((final_dir / CONFIG_FILE).read_text())["steps"]
        return TrainResult(model_dir=final_dir, steps=steps, losses=[])
    if final_dir.exists() and not config.overwrite:
        raise FileExistsError(f"{final_dir} already holds a finished model (use overwrite/resume)")
    latest = latest_checkpoint(ckpt_root) if ckpt_root.exists() else None
    if latest is not None and not (config.resume or config.overwrite):
        raise FileExistsError(f"{ckpt_root} holds checkpoints of an earlier run (newest {latest}): "
                              f"resume it, or overwrite")
    set_seed(config.seed)
    if original is not None and config.anchor_model is None:  # original is config.model
        model = trainable_copy(original, config.freeze_embeddings)
        frozen = anchor(model, original, share_embeddings=config.freeze_embeddings)
    else:
        model, _ = load_encoder(config.model)  # fails here, before any training, if missing
        if config.freeze_embeddings:
            word_embeddings(model).requires_grad_(False)
        frozen = anchor(model, original if original is not None else config.anchor_model,
                        share_embeddings=config.freeze_embeddings)
    depth = int(getattr(model, "config").num_hidden_layers)  # noqa: B009 (nn.Module type)
    loss_layer = None if config.loss_layer is None else check_layer(config.loss_layer, depth)
    if loss_layer == depth:
        loss_layer = None  # the last hidden state: no need to keep every layer's
    home = next(frozen.parameters()).device  # a caller's original goes back there at the end
    frozen.to(accelerator.device)
    optimizer = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad],
        lr=config.lr, betas=(0.9, 0.98), eps=1e-9, weight_decay=0.0,
    )
    sizes = {lang: src.num_pairs for lang, src in sources.items()}
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
        "settings": _settings(config),
    }
    start, first_loss = 0, None
    if config.resume and latest is not None:
        saved = json.loads((latest / PROGRESS_FILE).read_text())
        changed = differences({k: saved.get(k) for k in identity}, identity)
        if changed:
            raise ValueError(f"cannot resume from {latest}: settings differ (old -> new):\n  "
                             + "\n  ".join(changed))
        if not any(latest.glob("random_states_*.pkl")):
            logger.warning("%s has no RNG states: the resumed run will not replay the "
                           "uninterrupted one exactly", latest)
        # weights (safetensors), Adam moments, schedule and RNG states; never unpickle code
        accelerator.load_state(str(latest), load_kwargs={"weights_only": True})
        start, first_loss = saved["step"], saved.get("first_loss")
    last_good = latest
    if accelerator.is_main_process:
        accelerator.init_trackers("xadj-align", config={
            k: v for k, v in asdict(config).items() if isinstance(v, (int, float, str, bool))})
    steplog = StepLog(out / METRICS_FILE, accelerator, enabled=accelerator.is_main_process)

    logger.info(
        "***** xadj adjustment *****\n  model = %s\n  pairs = %s\n  steps = %d (%d per epoch, "
        "%d epochs, start at %d)\n  pairs/step = %d per language in %d chunk(s)\n  trained "
        "parameters = %d of %d (word embeddings %s)\n  anchor F0 = %s\n  lr = %g, "
        "warm-up %d steps then constant\n  loss = %s (layer %s), reg_weight = %g, pooling = %s, "
        "special pairs = %s\n  processes = %d, device = %s, mixed precision = %s, seed = %d",
        config.model,
        sizes,
        total,
        steps_per_epoch,
        config.epochs,
        start,
        config.pairs_per_step,
        config.grad_accum,
        sum(p.numel() for p in model.parameters() if p.requires_grad),
        sum(p.numel() for p in model.parameters()),
        "frozen" if config.freeze_embeddings else "trained",
        config.anchor_model or config.model,
        config.lr,
        warmup,
        config.loss_variant,
        "last" if loss_layer is None else loss_layer,
        config.reg_weight,
        config.pooling,
        config.special_pairs,
        accelerator.num_processes,
        accelerator.device,
        config.mixed_precision,
        config.seed,
        main_process_only=True,
    )

    caches: dict[str, dict[str, Any]] = {lang: {} for lang in sources}
    losses: list[float] = []
    model.train()
    bar = tqdm(
        range(start, total),
        initial=start,
        total=total,
        desc="adjusting",
        unit="step",
        disable=not (progress and accelerator.is_local_main_process),
    )
    for step in bar:
        t0 = time.perf_counter()
        # Every process takes its own share of the step's pairs: a step is always 32 pairs.
        chunks = []
        for lang, src in sources.items():
            idx = _step_indices(sizes[lang], config.pairs_per_step, config.seed, step, caches[lang])
            if len(idx) < accelerator.num_processes:  # a short last step: every rank needs a pair,
                idx = np.resize(idx, accelerator.num_processes)  # or DDP waits for it forever
            mine = idx[accelerator.process_index :: accelerator.num_processes]
            chunks += [(lang, src, c) for c in np.array_split(mine, config.grad_accum) if len(c)]
        step_loss, step_parts = 0.0, {"align": 0.0, "reg": 0.0}
        pairs = sum(len(c) for _, _, c in chunks)
        for i, (lang, src, chunk) in enumerate(chunks):
            tensors = batch_to_device(src.batch(chunk), accelerator.device)
            # Gradients of all chunks add up; DDP syncs them once, on the last chunk.
            sync = nullcontext() if i == len(chunks) - 1 else accelerator.no_sync(model)
            with sync:
                with accelerator.autocast():
                    loss, parts = adjustment_loss(
                        model, frozen, tensors, config.loss_variant, config.reg_weight,
                        loss_layer,
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
            for k in step_parts:
                step_parts[k] += parts[k].item() / config.grad_accum
        if first_loss is None:
            first_loss = step_loss
        elif step_loss > config.max_loss_ratio * max(first_loss, 1e-12):
            raise FloatingPointError(
                f"the loss diverged: {step_loss:.4g} in step {step + 1}, more than "
                f"{config.max_loss_ratio:g}x the first step's {first_loss:.4g} (learning rate "
                f"{config.lr:g} too high?); stopped. Last good checkpoint: {last_good or 'none'}"
            )
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(step_loss)
        rate = pairs * accelerator.num_processes / max(time.perf_counter() - t0, 1e-9)
        bar.set_postfix(loss=f"{step_loss:.4f}", pairs_s=f"{rate:.1f}", refresh=False)
        if (step + 1) % config.log_every == 0 or step + 1 == total:
            lr = scheduler.get_last_lr()[0]
            steplog.log(step + 1, loss=step_loss, **step_parts, lr=lr, pairs_per_s=rate)
            logger.info("step %d loss %.5f lr %.3g", step + 1, step_loss, lr,
                        main_process_only=True)
        done = step + 1
        if config.checkpoint_every and done % config.checkpoint_every == 0 and done < total:
            progress_record = {"step": done, "epoch": done // steps_per_epoch,
                               "first_loss": first_loss, **identity}
            last_good = save_checkpoint(accelerator, ckpt_root, done, progress_record,
                                         config.keep_checkpoints)
    bar.close()
    # The tokenizer is loaded only now, if not given: not held through training (~0.3 GB for
    # a 250k-piece vocabulary).
    model_dir = _save_final(accelerator, model, tokenizer or load_tokenizer(config.model), config,
                            sources, sizes, total, final_dir, extra_record or {})
    frozen.to(home)
    for tracker in accelerator.trackers:  # not end_training(): the process group lives on
        tracker.finish()
    return TrainResult(model_dir=model_dir, steps=total, losses=losses)


def word_embeddings(model: Any) -> torch.nn.Parameter:
    """The input word-embedding matrix of any transformers encoder."""
    weight = model.get_input_embeddings().weight
    if not isinstance(weight, torch.nn.Parameter):
        raise TypeError(f"{type(model).__name__}: its input embeddings have no weight matrix")
    return weight


def trainable_copy(original: torch.nn.Module, freeze_embeddings: bool) -> torch.nn.Module:
    """The model to train, copied from an ``original`` the caller holds (no second load); with
    ``freeze_embeddings`` both hold the one word-embedding tensor, frozen."""
    shared = word_embeddings(original)
    model = copy.deepcopy(original, {id(shared): shared} if freeze_embeddings else {})
    model.requires_grad_(True)
    if freeze_embeddings:
        word_embeddings(model).requires_grad_(False)
    return model


def anchor(model: torch.nn.Module, original: str | torch.nn.Module | None = None,
           share_embeddings: bool = False) -> torch.nn.Module:
    """F0 of docs/method.md §3, no larger than the loss needs: eval mode, no gradients, and no
    pooler (L_reg reads the last hidden layer only). A copy of ``model``; or ``original``: a
    model the caller holds (used as it is, pooler included; it is the caller's), or a path
    loaded from disk when training starts from an adjusted model (re-alignment rounds).

    With ``share_embeddings`` (the word embeddings are frozen), F0 holds the very same word
    embedding tensor as ``model`` instead of a second copy: for e5-small that is 96 M of its
    118 M parameters. An ``original`` shares it only when the values are identical."""
    shared = word_embeddings(model) if share_embeddings else None
    if isinstance(original, torch.nn.Module):
        frozen = original
        own = word_embeddings(frozen)
        if shared is not None and own is not shared:  # the model gives up its copy, not F0
            _share_if_equal(model, own, "the given original")
    elif original is None:
        pooler = getattr(model, "pooler", None)
        memo: dict[int, Any] = {} if shared is None else {id(shared): shared}
        if isinstance(pooler, torch.nn.Module):
            memo[id(pooler)] = None  # the copy gets no pooler; the model keeps its own
        frozen = copy.deepcopy(model, memo)
    else:
        frozen, _ = load_encoder(original)
        if isinstance(getattr(frozen, "pooler", None), torch.nn.Module):
            setattr(frozen, "pooler", None)  # noqa: B010 (any encoder class)
        if shared is not None:
            _share_if_equal(frozen, shared, original)
    frozen.eval()
    frozen.requires_grad_(False)  # the shared matrix is frozen in the model too
    return frozen


def _share_if_equal(holder: torch.nn.Module, shared: torch.nn.Parameter, name: str) -> None:
    """``holder`` drops its word embeddings for ``shared`` when the two are equal."""
    own = word_embeddings(holder)
    if own.shape == shared.shape and torch.equal(own, shared):
        getattr(holder, "get_input_embeddings")().weight = shared  # noqa: B009 (any encoder)
    else:
        logging.getLogger(__name__).warning(
            "%s: its word embeddings differ from the model's; F0 keeps its own copy", name)


def save_checkpoint(
    accelerator: Accelerator, root: Path, step: int, progress: dict[str, Any], keep: int
) -> Path:
    """save_state into a temp dir, renamed when whole; then drop checkpoints beyond the newest
    ``keep`` (never one newer than this step: that would be another run's)."""
    final, tmp = root / f"step-{step}", root / f".step-{step}.tmp"
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / PROGRESS_FILE).write_text(json.dumps(progress, indent=2, default=_json_default))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        older = [p for p in _checkpoints(root) if int(p.name.split("-")[1]) <= step]
        for old in older[:-keep]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def _save_final(
    accelerator: Accelerator,
    model: torch.nn.Module,
    tokenizer: Any,
    config: AlignConfig,
    sources: Mapping[str, Batcher],
    sizes: dict[str, int],
    total: int,
    final_dir: Path,
    extra_record: dict[str, Any],
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
                lang: {"num_pairs": sizes[lang], "meta": dict(src.meta)}
                for lang, src in sources.items()
            },
            **extra_record,
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
