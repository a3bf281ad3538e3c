"""Fine-tuning an encoder on a task's English training data with a fresh head (docs/method.md
§5), with accelerate: one loop for every task, dynamic padding and length-grouped batches,
checkpoints and exact resume, step metrics, optional continual learning (docs/method.md §6,
xadj.continual).

``output_dir`` gets ``model/`` (appears only when complete; loads with the task's
``AutoModelFor...``), ``checkpoints/step-N/``, ``metrics.jsonl`` and, with a bitext for
``--continual``, ``continual_data/`` (the prepared pool).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xadj.config import check, setting
from xadj.tasks import FINETUNE_TASKS, get_task
from xadj.tasks.base import Features, Task, collate, length_grouped_order, model_limit
from xadj.tracking import METRICS_FILE, REPORT_TO, StepLog, tracker_names
from xadj.train import PROGRESS_FILE, latest_checkpoint, save_checkpoint

log = logging.getLogger(__name__)

CONFIG_FILE = "xadj_config.json"  # next to the final model: every setting, seed and version
OWNED = ("model", "checkpoints", METRICS_FILE, "continual_data", "trackers")


@dataclass
class FinetuneConfig:
    task: str = setting("xnli", "task to fine-tune on", choices=FINETUNE_TASKS)
    model: str = setting("", "encoder: hub id, local dir, xadj align output dir, or tiny",
                         metavar="M")
    output_dir: str = setting("", "model/, checkpoints/ and metrics.jsonl go here", metavar="D")
    data: str | None = setting(None, "local copy of the task data in the hub schema: "
                               "DIR/<config>/<split>.jsonl|.json|.parquet or save_to_disk "
                               "(default: the hub dataset)", metavar="DIR")
    seed: int = setting(42, "seed of the head's initialisation, batch order and dropout")
    lr: float | None = setting(None, "AdamW learning rate (default: the task's, "
                               "docs/method.md §5)",
                               min=0.0, min_open=True)
    epochs: int | None = setting(None, "passes over the training data (default: the task's)",
                                 min=1)
    batch_size: int = setting(32, "examples per optimizer step", min=1)
    max_length: int | None = setting(None, "pieces per input (default: 128; QA 384)", min=8)
    doc_stride: int | None = setting(None, "QA: overlap between context windows (default 128)",
                                     min=1)
    max_train_samples: int | None = setting(None, "train on the first N rows only", min=1)
    mixed_precision: str = setting("no", "accelerate's mixed precision",
                                   choices=("no", "fp16", "bf16"))
    cpu: bool = setting(False, "run on the CPU even when an accelerator is visible")
    checkpoint_every: int | None = setting(500, "save a resumable checkpoint every N steps",
                                           min=1)
    keep_checkpoints: int = setting(1, "how many of the latest checkpoints to keep", min=1)
    log_every: int = setting(10, "log step metrics every N steps", min=1)
    resume: bool = setting(False, "continue from the latest checkpoint in output_dir")
    overwrite: bool = setting(False, "replace an earlier finetune output in output_dir")
    report_to: str = setting("none", "also log to these trackers", choices=REPORT_TO)
    continual: str | None = setting(None, "continual learning on this bitext (`x ||| en`) or "
                                    "prepared dataset (docs/method.md §6)", metavar="SRC")
    continual_alignments: str | None = setting(None, "Pharaoh links of the --continual bitext "
                                               "(default: built-in aligner)", metavar="FILE")
    continual_lang: str | None = setting(None, "language code of the --continual bitext's other "
                                         "side (names its prepared pool)")
    align_weight: float = setting(0.01, "weight of L_align in continual learning", min=0.0)
    reg_weight: float = setting(1.0, "weight of L_reg in continual learning", min=0.0)
    continual_pairs: int = setting(16, "sentence pairs per step for the alignment terms", min=1)
    continual_pool: int = setting(30000, "sample from at most this many filtered pairs", min=1)
    anchor_model: str | None = setting(None, "F0 of continual learning (default: the base model "
                                       "an align output records, else the starting model)")


@dataclass
class FinetuneResult:
    model_dir: Path
    steps: int  # optimizer steps in total, resumed ones included
    losses: list[float] = field(default_factory=list)  # total loss of each step run by this call
    final: dict[str, float] = field(default_factory=dict)  # last step's loss parts


def resolve_start_model(name: str) -> str:
    """A model as every xadj command takes it: ``tiny`` and other named models, a hub id, a local
    model dir, or an xadj output dir (its ``model/`` subdirectory is used)."""
    from xadj.model import resolve_model

    path = resolve_model(name)
    if (Path(path) / "model" / "config.json").is_file():
        return str(Path(path) / "model")
    return path


def _step_indices(lengths: np.ndarray, batch_size: int, seed: int, step: int,
                  cache: dict[str, Any]) -> np.ndarray:
    """Examples of global step ``step``: a pure function of (seed, step), so resume is exact."""
    from xadj.sampling import epoch_order

    n = len(lengths)
    epoch, j = divmod(step, math.ceil(n / batch_size))
    if cache.get("epoch") != epoch:
        permutation = np.asarray(epoch_order(n, seed, epoch), dtype=np.int64)
        cache.update(epoch=epoch, order=length_grouped_order(lengths, permutation, batch_size))
    order: np.ndarray = cache["order"]
    return order[j * batch_size:(j + 1) * batch_size]


def versions() -> dict[str, str]:
    import accelerate
    import datasets
    import transformers

    import xadj

    return {"xadj": xadj.__version__, "torch": torch.__version__,
            "transformers": transformers.__version__, "accelerate": accelerate.__version__,
            "datasets": datasets.__version__}


def finetune(config: FinetuneConfig, progress: bool = True) -> FinetuneResult:
    """Fine-tunes ``config.model`` on ``config.task`` and writes ``output_dir/model``."""
    from accelerate import PartialState

    from xadj.outputs import claim_output_dir

    check(config)
    if not config.model:
        raise ValueError("finetune needs a model (--model)")
    if not config.output_dir:
        raise ValueError("finetune needs an output directory (--output-dir)")
    state = PartialState(cpu=config.cpu)
    lock = None
    if state.is_main_process:
        lock = claim_output_dir(config.output_dir, "finetune", overwrite=config.overwrite,
                                resume=config.resume, owned=OWNED)
    try:
        return _finetune(config, get_task(config.task), progress)
    finally:
        if lock is not None:
            lock.release()


def _finetune(config: FinetuneConfig, task: Task, progress: bool) -> FinetuneResult:
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup

    from xadj.tasks.data import load_rows

    out = Path(config.output_dir)
    final_dir, ckpt_root = out / "model", out / "checkpoints"
    if final_dir.exists() and config.resume:
        record = json.loads((final_dir / CONFIG_FILE).read_text())
        log.warning("%s is already finished; nothing to resume", final_dir)
        return FinetuneResult(final_dir, int(record["steps"]))
    start_model = resolve_start_model(config.model)
    lr = config.lr if config.lr is not None else task.lr
    epochs = config.epochs if config.epochs is not None else task.epochs
    max_length = config.max_length if config.max_length is not None else task.max_length
    doc_stride = config.doc_stride if config.doc_stride is not None else task.doc_stride
    accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=config.cpu,
                              log_with=tracker_names(config.report_to) or None,
                              project_dir=str(out / "trackers"))

    rows = load_rows(task.train_source(), config.data, config.max_train_samples)
    labels = task.label_names(rows)
    try:
        tokenizer = AutoTokenizer.from_pretrained(start_model)
    except (OSError, ValueError) as err:
        raise OSError(f"cannot load the tokenizer of {config.model!r}: {err}") from err
    model_limit(tokenizer, max_length)
    features: Features = task.train_features(rows, tokenizer, labels, max_length, doc_stride)
    if not features.inputs:
        raise ValueError(f"{task.name}: no training examples")
    lengths = np.array([len(f["input_ids"]) for f in features.inputs], dtype=np.int64)

    # Alignment pool and anchor first: loading them must not move the task's seeded RNG.
    continual = None
    if config.continual:
        continual = _continual_terms(config, start_model, tokenizer, out, accelerator.device)

    set_seed(config.seed)
    head_kwargs: dict[str, Any] = {}
    if labels is not None:
        head_kwargs = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                       "label2id": {name: i for i, name in enumerate(labels)}}
    try:
        model = task.model_class().from_pretrained(start_model, **head_kwargs)
    except (OSError, ValueError) as err:
        raise OSError(f"cannot load {config.model!r} as a {task.name} model: {err}") from err
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    per_epoch = math.ceil(len(lengths) / config.batch_size)
    total = epochs * per_epoch
    # Linear decay to 0, no warm-up (METHOD §5).
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, total)  # type: ignore[no-untyped-call]
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)

    identity = {"task": task.name, "seed": config.seed, "batch_size": config.batch_size,
                "examples": len(lengths), "total_steps": total}
    start = 0
    if config.resume and (ckpt := latest_checkpoint(ckpt_root)) is not None:
        saved = json.loads((ckpt / PROGRESS_FILE).read_text())
        if {k: saved.get(k) for k in identity} != identity:
            raise ValueError(f"cannot resume from {ckpt}: it was made by "
                             f"{ {k: saved.get(k) for k in identity} }, not {identity}")
        accelerator.load_state(str(ckpt))  # weights, AdamW moments, schedule and RNG states
        start = int(saved["step"])
    settings = {**asdict(config), "lr": lr, "epochs": epochs, "max_length": max_length,
                "doc_stride": doc_stride, "model_path": start_model}
    if accelerator.trackers is not None and config.report_to != "none":
        accelerator.init_trackers("xadj-finetune", config={k: str(v) for k, v in settings.items()})
    log.info("***** xadj finetune *****\n  task = %s, model = %s\n  examples = %d (%d features), "
             "steps = %d (%d per epoch, %d epochs, start at %d)\n  batch = %d, lr = %g linear "
             "decay, max length = %d\n  continual = %s\n  device = %s, processes = %d, "
             "mixed precision = %s, seed = %d", task.name, config.model, len(rows),
             len(lengths), total, per_epoch, epochs, start, config.batch_size, lr, max_length,
             config.continual or "no", accelerator.device, accelerator.num_processes,
             config.mixed_precision, config.seed)

    steplog = StepLog(out / METRICS_FILE, accelerator, enabled=accelerator.is_main_process)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    cache: dict[str, Any] = {}
    losses: list[float] = []
    parts: dict[str, float] = {}
    model.train()
    bar = tqdm(range(start, total), initial=start, total=total, desc=f"finetune {task.name}",
               disable=not (progress and accelerator.is_local_main_process))
    examples, clock = 0, time.perf_counter()
    for step in bar:
        idx = _step_indices(lengths, config.batch_size, config.seed, step, cache)
        mine = idx[accelerator.process_index::accelerator.num_processes]
        batch = collate([features.inputs[i] for i in mine], pad_id)
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        with accelerator.autocast():
            task_loss = model(**batch).loss
            loss = task_loss
            parts = {"task": task_loss.item()}
            if continual is not None:
                encoder = accelerator.unwrap_model(model).base_model
                extra, align, reg = continual.loss(encoder, step, accelerator.device)
                loss = loss + extra
                parts.update(align=align.item(), reg=reg.item())
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(f"non-finite loss ({value}) at step {step + 1} ({parts})")
        accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(value)
        examples += len(idx)
        done = step + 1
        if done % config.log_every == 0 or done == total:
            elapsed = time.perf_counter() - clock
            steplog.log(done, loss=value, **parts, lr=scheduler.get_last_lr()[0],
                        examples_per_s=examples / elapsed if elapsed > 0 else 0.0)
            bar.set_postfix(loss=f"{value:.4f}")
            examples, clock = 0, time.perf_counter()
        if config.checkpoint_every and done % config.checkpoint_every == 0 and done < total:
            save_checkpoint(accelerator, ckpt_root, done, {"step": done, **identity},
                            config.keep_checkpoints)
    bar.close()
    if config.report_to != "none":
        accelerator.end_training()
    record = {"kind": "finetune", "task": task.name, "config": settings, "seed": config.seed,
              "labels": labels, "steps": total, "examples": len(rows),
              "features": len(lengths), "versions": versions()}
    _save_model(accelerator, model, tokenizer, record, final_dir, config.overwrite)
    return FinetuneResult(final_dir, total, losses, {"loss": losses[-1], **parts}
                          if losses else {})


def _continual_terms(config: FinetuneConfig, start_model: str, tokenizer: Any, out: Path,
                     device: torch.device) -> Any:
    from xadj.config import validate_language
    from xadj.continual import ContinualTerms, anchor_for, load_pool
    from xadj.model import frozen_copy, load_encoder

    lang = validate_language(config.continual_lang) if config.continual_lang else "pool"
    anchor_name = anchor_for(start_model, config.anchor_model)
    from xadj.model import resolve_model

    anchor, _ = load_encoder(resolve_model(anchor_name))
    assert config.continual is not None
    pool = load_pool(config.continual, tokenizer, out / "continual_data" / lang,
                     alignments=config.continual_alignments, pool=config.continual_pool,
                     seed=config.seed, model_name=start_model)
    log.info("continual learning: %d pairs in the pool, %d per step, anchor %s, weights "
             "align %g reg %g", pool.num_pairs, config.continual_pairs, anchor_name,
             config.align_weight, config.reg_weight)
    return ContinualTerms(pool, frozen_copy(anchor).to(device), config.continual_pairs,
                          config.seed, config.align_weight, config.reg_weight)


def _save_model(accelerator: Any, model: Any, tokenizer: Any, record: dict[str, Any],
                final_dir: Path, replace: bool) -> None:
    """The fine-tuned model in a temporary dir renamed when complete, with its settings and a
    sentence-transformers module config."""
    from xadj.outputs import atomic_dir

    accelerator.wait_for_everyone()
    state = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        with atomic_dir(final_dir, replace=replace) as tmp:
            accelerator.unwrap_model(model).save_pretrained(tmp, state_dict=state)
            tokenizer.save_pretrained(tmp)
            (tmp / CONFIG_FILE).write_text(json.dumps(record, indent=2, default=str))
            _write_sentence_transformers_config(tmp)
    accelerator.wait_for_everyone()


def _write_sentence_transformers_config(model_dir: Path) -> None:
    from xadj.sentence_vectors import write_sentence_transformers_config

    write_sentence_transformers_config(model_dir)
