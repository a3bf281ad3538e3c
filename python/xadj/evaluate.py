"""Zero-shot evaluation of a fine-tuned model (or, for XSR, any encoder) on each test config of a
task: one loop for every task, resumable config by config.

Outputs (a stable interface, read by outside scorers):
``E/results.json`` ``{"task", "model", "config": {...}, "metrics": {"<config>": {..., "n"}}}``
and ``E/predictions/<config>[.<direction>].jsonl``, one object per test item in dataset order
with ``id``, ``gold`` and ``prediction``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xadj.config import check, differences, setting
from xadj.tasks import EVALUATE_TASKS, get_task
from xadj.tasks.base import EvalContext, Outcome, model_limit

log = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
PREDICTIONS_DIR = "predictions"
OWNED = (RESULTS_FILE, PREDICTIONS_DIR)


@dataclass
class EvaluateConfig:
    task: str = setting("xnli", "task to evaluate", choices=EVALUATE_TASKS)
    model: str = setting("", "a finetune output (or its model/ dir); for xsr any encoder",
                         metavar="M")
    languages: list[str] = setting(factory=list, help="test languages (hub config names such as "
                                   "es, or full ones such as xquad.es, mlqa.es.en, spa-eng)")
    output_dir: str = setting("", "results.json and predictions/ go here", metavar="E")
    data: str | None = setting(None, "local copy of the test data in the hub schema: "
                               "DIR/<config>/<split>.jsonl|.json|.parquet or save_to_disk "
                               "(default: the hub datasets)", metavar="DIR")
    bitext: list[str] | None = setting(None, "xsr: a `x ||| en` file, or two line-aligned files "
                                       "(x, en), instead of Tatoeba; one language", metavar="FILE")
    qa_pairs: list[str] = setting(factory=list, help="qa: cross-lingual MLQA configs as "
                                  "context.question, e.g. es.en en.es")
    qa_normalizer: str = setting("squad", "qa: answer normalisation of EM/F1 on MLQA",
                                 choices=("squad", "mlqa"))
    layer: int | None = setting(None, "xsr: hidden layer of the sentence vectors (default: 8 of "
                                "12, the same relative depth otherwise; -1 = last)", min=-1)
    max_length: int | None = setting(None, "pieces per input (default: the task's)", min=8)
    doc_stride: int | None = setting(None, "qa: overlap of context windows (default: the "
                                     "model's finetune setting, else 128)", min=1)
    batch_size: int = setting(32, "inputs per forward pass", min=1)
    max_test_samples: int | None = setting(None, "evaluate the first N rows of each config",
                                           min=1)
    seed: int = setting(42, "seed (recorded; evaluation is deterministic)")
    cpu: bool = setting(False, "run on the CPU even when an accelerator is visible")
    resume: bool = setting(False, "skip configs whose predictions and metrics are already there")
    overwrite: bool = setting(False, "replace an earlier evaluate output in output_dir")


@dataclass
class EvaluateResult:
    metrics: dict[str, dict[str, float]]  # config -> metric -> value (percent), plus "n"
    results_path: Path
    predictions: dict[str, list[Path]] = field(default_factory=dict)  # config -> files
    skipped: list[str] = field(default_factory=list)  # configs found done (resume)


def prediction_paths(out: Path, config: str, suffixes: list[str]) -> list[Path]:
    """``predictions/<config><suffix>.jsonl`` for each of a task's prediction files."""
    return [out / PREDICTIONS_DIR / f"{config}{suffix}.jsonl" for suffix in suffixes]


def _finetune_settings(model_dir: Path) -> dict[str, Any]:
    """The settings a finetune output records (its inputs' max_length and doc_stride are the
    evaluation's defaults), or {} for any other model."""
    from xadj.finetune import CONFIG_FILE

    try:
        record = json.loads((model_dir / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if record.get("kind") != "finetune" or not isinstance(record.get("config"), dict):
        return {}
    return dict(record["config"])


def _jsonl(items: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)


def evaluate(config: EvaluateConfig, progress: bool = True) -> EvaluateResult:
    """Evaluates ``config.model`` on every test config of ``config.task``."""
    from xadj.outputs import claim_output_dir

    check(config)
    for name, value in (("model", config.model), ("output_dir", config.output_dir)):
        if not value:
            raise ValueError(f"evaluate needs --{name.replace('_', '-')}")
    task = get_task(config.task)
    configs = task.test_configs(config.languages, config.qa_pairs)
    if config.bitext is not None and (config.task != "xsr" or len(configs) != 1):
        raise ValueError("--bitext is for the xsr task, with one language")
    if not configs:
        raise ValueError("no test configs: pass --languages (and --qa-pairs for MLQA)")
    lock = claim_output_dir(config.output_dir, "evaluate", overwrite=config.overwrite,
                            resume=config.resume, owned=OWNED)
    try:
        return _evaluate(config, task, configs, progress)
    finally:
        lock.release()


def _evaluate(config: EvaluateConfig, task: Any, configs: list[str],
              progress: bool) -> EvaluateResult:
    from accelerate import PartialState
    from transformers import AutoTokenizer

    from xadj.finetune import resolve_start_model, versions
    from xadj.outputs import atomic_write_text
    from xadj.tasks.data import load_rows

    out = Path(config.output_dir)
    model_path = resolve_start_model(config.model)
    settings = {**asdict(config), "model_path": model_path, "versions": versions()}
    results_path = out / RESULTS_FILE
    results: dict[str, Any] = {"task": task.name, "model": config.model, "config": settings,
                               "metrics": {}}
    if config.resume and results_path.is_file():
        earlier = json.loads(results_path.read_text())
        keep = ("languages", "qa_pairs", "max_test_samples", "resume", "overwrite", "versions",
                "batch_size", "cpu", "resolved")
        changed = differences(
            {k: v for k, v in earlier.get("config", {}).items() if k not in keep},
            {k: v for k, v in settings.items() if k not in keep})
        if changed:
            raise ValueError(f"{results_path} was made with other settings: {'; '.join(changed)}")
        results["metrics"] = earlier.get("metrics", {})
        results["config"] = {**earlier.get("config", {}), **settings}

    device = PartialState(cpu=config.cpu).device
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        model = task.model_class().from_pretrained(model_path).to(device)
    except (OSError, ValueError) as err:
        raise OSError(f"cannot load {config.model!r} for {task.name}: {err}") from err
    trained = _finetune_settings(Path(model_path))
    max_length = config.max_length or trained.get("max_length")
    if max_length:
        model_limit(tokenizer, max_length)
    ctx = EvalContext(device=device, batch_size=config.batch_size, max_length=max_length,
                      doc_stride=config.doc_stride or trained.get("doc_stride") or None,
                      layer=config.layer,
                      qa_normalizer=config.qa_normalizer, progress=progress)
    # What the run actually used where a setting was left to a default (tasks add theirs).
    ctx.info.update(results["config"].get("resolved", {}))
    ctx.info.update(max_length=max_length or task.max_length,
                    doc_stride=ctx.doc_stride or task.doc_stride or None)
    done: dict[str, list[Path]] = {}
    skipped = []
    for name in configs:
        files = prediction_paths(out, name, list(task.prediction_suffixes))
        if config.resume and name in results["metrics"] and all(p.is_file() for p in files):
            log.info("%s: already evaluated, skipped", name)
            skipped.append(name)
            done[name] = files
            continue
        rows = (task.bitext_rows(config.bitext, config.max_test_samples)
                if config.bitext is not None else
                load_rows(task.test_source(name), config.data, config.max_test_samples))
        outcome: Outcome = task.evaluate(model, tokenizer, rows, name, ctx)
        paths = prediction_paths(out, name, list(outcome.predictions))
        for path, items in zip(paths, outcome.predictions.values(), strict=True):
            atomic_write_text(path, _jsonl(items))
        # Metrics last: a config counts as done only once its predictions are all written.
        results["metrics"][name] = outcome.metrics
        results["config"]["resolved"] = ctx.info
        atomic_write_text(results_path, json.dumps(results, indent=2, ensure_ascii=False))
        done[name] = paths
        log.info("%s %s: %s", task.name, name,
                 ", ".join(f"{k} {v:.2f}" for k, v in outcome.metrics.items() if k != "n"))
    metrics = {name: results["metrics"][name] for name in configs}
    return EvaluateResult(metrics, results_path, done, skipped)
