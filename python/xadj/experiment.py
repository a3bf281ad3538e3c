"""``experiment``: a whole grid of models x tasks x seeds from one plan file (TOML), resumable,
run through submitit (local processes or SLURM) or inline.

A plan (see ``xadj/plans/README.md`` for the schema and the shipped plans) names models, tasks,
languages and seeds. Every unit of work is a *cell*, a pure function of its :class:`CellSpec`
(:func:`run_cell`), the same in every executor:

- an align cell runs an align recipe once into ``X/models/<name>/run`` (before its dependants);
- a task cell fine-tunes one model on one task with one seed and evaluates it, laid out as
  :data:`xadj.analysis.compare.LAYOUT`: ``X/<model>/<task>/seed-<s>/{finetune,eval}``; XSR needs
  no fine-tuning and is deterministic: one cell per model, under the plan's first seed.

Each cell directory holds ``cell.json`` (its full settings), the job outputs, and ``cell.done``,
written last: a cell is complete only when ``cell.done`` exists (and, for task cells, its
``eval/results.json``). Complete cells are skipped; an incomplete one resumes, because finetune,
align and evaluate resume from their own checkpoints and per-config results.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xadj.config import check, setting, validate_language

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the tomli backport, a dependency on Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

log = logging.getLogger(__name__)

PLANS_DIR = Path(__file__).resolve().parent / "plans"
CELL_FILE = "cell.json"
DONE_FILE = "cell.done"
EXPERIMENT_FILE = "experiment.json"
MODELS_DIR = "models"  # align recipes run into X/models/<name>/run
TASKS = ("xnli", "ner", "qa", "xsr")
EXECUTORS = ("local", "slurm", "inline")
DEFAULT_SEEDS = (1, 2, 3, 4, 5)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
# Settings the runner sets itself in every cell: a plan may not override them.
RUNNER_KEYS = frozenset({"task", "model", "output_dir", "seed", "resume", "overwrite", "languages",
                         "data", "cpu"})

# Work estimates. Row counts of the hub datasets' splits (used when the data is not local).
HUB_ROWS = {
    ("facebook/xnli", "train"): 392_702,  # MultiNLI train = XNLI en train
    ("facebook/xnli", "test"): 5_010,
    ("unimelb-nlp/wikiann", "train"): 20_000,
    ("unimelb-nlp/wikiann", "test"): 10_000,  # es/ru/vi; hi has 1,000
    ("rajpurkar/squad", "train"): 87_599,
    ("google/xquad", "validation"): 1_190,
    ("facebook/mlqa", "test"): 5_000,  # 4,918-5,495 for es/vi/hi (rounded)
    ("mteb/tatoeba-bitext-mining", "test"): 1_000,
}
# WikiMatrix pairs per config (the hub viewer's counts, rounded), before xadj's filters.
WIKIMATRIX_ROWS = {"en-es": 1_570_000, "en-ru": 391_000, "en-vi": 309_000, "en-hi": 36_200,
                   "en-bg": 101_000, "en-de": 345_000, "en-el": 212_000, "en-fr": 1_030_000}
CONTINUAL_COST = 1.5  # assumed: a continual-learning step costs 1.5 plain steps
QA_FEATURES_PER_EXAMPLE = 1.05  # SQuAD windows at 384/128: ~1.0-1.1 features per example
# Throughput in examples (sentence pairs for align) per second, and a fixed cost per cell (model
# and data loading) in seconds. "measured": the tiny model on this project's shared 2-core CPU
# (finetune's metrics.jsonl examples_per_s: 10-60 under load, the low end kept; overhead: mean
# cell.done seconds of the offline-tiny grid, 2.3 s); "assumed": a base-size encoder (mBERT) on
# one A100-class GPU with bf16 and dynamic padding, not measured here.
THROUGHPUT: dict[str, dict[str, float]] = {
    "tiny-cpu (measured)": {"train": 20.0, "train_qa": 10.0, "eval": 150.0, "align": 30.0,
                            "cell": 2.3},
    "base-gpu (assumed)": {"train": 400.0, "train_qa": 120.0, "eval": 2000.0, "align": 300.0,
                           "cell": 30.0},
}


@dataclass
class ExperimentConfig:
    plan: str = setting("", "plan file (TOML), or the name of a shipped plan: efimov2023, "
                        "cao2020, offline-tiny", positional=True, metavar="PLAN")
    output_dir: str = setting("", "experiment directory (<model>/<task>/seed-<s>/eval ...)",
                              short="-o", required=True, metavar="X")
    executor: str = setting("local", "run cells as submitit local jobs, SLURM jobs, or in this "
                            "process (inline)", choices=EXECUTORS)
    parallel: int | None = setting(None, "cells at once (default: 1 on CPU, one per GPU)",
                                   min=1)
    dry_run: bool = setting(False, "print the grid and an estimate of the work; run nothing")
    seeds: list[int] | None = setting(None, "replace the plan's seeds", min=0)
    tasks: list[str] | None = setting(None, "run only these tasks of the plan", choices=TASKS)
    models: list[str] | None = setting(None, "run only these models of the plan")
    cpu: bool = setting(False, "run every cell on the CPU")
    timeout_min: int = setting(24 * 60, "time limit of one cell, in minutes (local and slurm)",
                               min=1)
    slurm_partition: str | None = setting(None, "slurm: partition")
    slurm_account: str | None = setting(None, "slurm: account")
    slurm_gpus_per_job: int = setting(1, "slurm: GPUs per cell", min=0)
    slurm_cpus_per_job: int = setting(8, "slurm: CPUs per cell", min=1)

    def __post_init__(self) -> None:
        check(self)
        if self.seeds is not None and len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"--seeds must be distinct, not {self.seeds}")


# ---------------------------------------------------------------- plan


@dataclass(frozen=True)
class ModelSpec:
    """One model of the plan, after per-language expansion (``adjusted`` -> ``adjusted-es``)."""

    name: str
    model: str | None = None  # a model name, hub id or path ...
    align: dict[str, Any] | None = None  # ... or an align recipe (AlignConfig fields) ...
    base: str | None = None  # ... or another model of the plan (its encoder)
    finetune: dict[str, Any] = field(default_factory=dict)  # FinetuneConfig overrides
    lang: str | None = None  # set for models of a per-language family


@dataclass(frozen=True)
class TaskSpec:
    name: str
    languages: list[str]
    data: str | None
    finetune: dict[str, Any]
    evaluate: dict[str, Any]  # EvaluateConfig overrides, qa_pairs among them
    models: list[str] | None  # plan model names (families unexpanded); None: every model


@dataclass(frozen=True)
class Plan:
    path: Path
    name: str
    description: str
    languages: list[str]
    seeds: list[int]
    baseline: str
    models: list[ModelSpec]
    tasks: list[TaskSpec]
    families: dict[str, str]  # expanded model name -> plan model name


def plan_path(name: str) -> Path:
    """A plan file, or a shipped plan by name (``efimov2023`` -> xadj/plans/efimov2023.toml)."""
    path = Path(name)
    if path.is_file():
        return path
    shipped = PLANS_DIR / f"{name}.toml"
    if "/" not in name and shipped.is_file():
        return shipped
    known = ", ".join(sorted(p.stem for p in PLANS_DIR.glob("*.toml")))
    raise FileNotFoundError(f"{name}: no such plan file (shipped plans: {known})")


class PlanError(ValueError):
    pass


def _fail(path: Path, key: str, message: str) -> PlanError:
    return PlanError(f"{path}:{key}: {message}")


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(value: Any, path: Path, key: str, lang: str | None) -> Any:
    """``${VAR}`` from the environment (``${PLAN_DIR}``: the plan's directory), ``{lang}`` of a
    per-language model, and paths starting with ./ or ../ made absolute against the plan's
    directory (also the FILE parts of LANG=FILE[,ALIGNMENTS] specs)."""
    if isinstance(value, list):
        return [_expand(v, path, f"{key}[{i}]", lang) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _expand(v, path, f"{key}.{k}", lang) for k, v in value.items()}
    if not isinstance(value, str):
        return value

    def var(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "PLAN_DIR":
            return str(path.parent.resolve())
        if name == "EXPERIMENT_DIR":  # filled in per run by build_cells
            return match.group(0)
        if name not in os.environ:
            raise _fail(path, key, f"${{{name}}} is not set: export {name}=... (see the plan's "
                        "comments for what it should point to)")
        return os.environ[name]

    text = _VAR.sub(var, value)
    if lang is not None:
        text = text.replace("{lang}", lang)

    def relative(part: str) -> str:
        return str((path.parent / part).resolve()) if part.startswith(("./", "../")) else part

    if re.match(r"^[a-z]{2,3}(-\w+)?=", text):  # LANG=FILE[,ALIGNMENTS]
        lang_code, _, files = text.partition("=")
        return f"{lang_code}=" + ",".join(relative(p) for p in files.split(","))
    return relative(text)


def _table(raw: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise _fail(path, key, "expected a table")
    return value


def _check_fields(cls: type, values: dict[str, Any], path: Path, key: str,
                  nested: tuple[str, ...] = ()) -> None:
    names = {f.name for f in dataclasses.fields(cls)}
    for k in values:
        if k in RUNNER_KEYS:
            raise _fail(path, f"{key}.{k}", "set by the experiment runner; remove it")
        if k not in names and k not in nested:
            raise _fail(path, f"{key}.{k}", f"not a setting of {cls.__name__}")


def _align_config(recipe: dict[str, Any], output_dir: str, path: Path, key: str) -> Any:
    """An AlignConfig from a flat recipe (CorpusConfig/PrepareConfig fields flattened in, as on
    the command line); errors name the plan key."""
    from xadj.align import AlignConfig
    from xadj.data import CorpusConfig, PrepareConfig

    top = {f.name for f in dataclasses.fields(AlignConfig)} - {"source", "prepare"}
    source_keys = {f.name for f in dataclasses.fields(CorpusConfig)}
    prepare_keys = {f.name for f in dataclasses.fields(PrepareConfig)}
    own, source, prepare = {}, {}, {}
    for k, v in recipe.items():
        if k in ("output_dir", "resume", "overwrite", "prepared_datasets"):
            raise _fail(path, f"{key}.{k}", "set by the experiment runner; remove it")
        if k in top:
            own[k] = v
        elif k in source_keys:
            source[k] = v
        elif k in prepare_keys:
            prepare[k] = v
        else:
            raise _fail(path, f"{key}.{k}", "not a setting of align")
    try:
        config = AlignConfig(**own, output_dir=output_dir, source=CorpusConfig(**source),
                             prepare=PrepareConfig(**prepare))
    except (TypeError, ValueError) as err:
        raise _fail(path, key, str(err)) from None
    if len(config.corpus) + len(config.dataset) > 1 and not config.mix_languages:
        raise _fail(path, key, "an align recipe makes one model: one corpus, or several with "
                    "mix_languages = true")
    return config


def load_plan(name: str) -> Plan:
    """Reads and validates a plan; every error names the file and the key."""
    path = plan_path(name)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise OSError(f"{path}: cannot read: {err.strerror or err}") from err
    except tomllib.TOMLDecodeError as err:
        raise PlanError(f"{path}: not valid TOML: {err}") from None
    allowed = {"name", "description", "languages", "seeds", "baseline", "models", "tasks"}
    for k in raw:
        if k not in allowed:
            raise _fail(path, k, f"unknown key (expected {', '.join(sorted(allowed))})")
    languages = raw.get("languages", [])
    if not isinstance(languages, list) or not all(isinstance(x, str) for x in languages):
        raise _fail(path, "languages", "expected a list of language codes")
    for i, lang in enumerate(languages):
        try:
            validate_language(lang)
        except ValueError as err:
            raise _fail(path, f"languages[{i}]", str(err)) from None
    seeds = raw.get("seeds", list(DEFAULT_SEEDS))
    if (not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
            or len(set(seeds)) != len(seeds)):
        raise _fail(path, "seeds", "expected a non-empty list of distinct integers >= 0")

    models: list[ModelSpec] = []
    families: dict[str, str] = {}
    raw_models = _table(raw, "models", path)
    if not raw_models:
        raise _fail(path, "models", "a plan needs at least one model")
    for name, entry in raw_models.items():
        key = f"models.{name}"
        if not isinstance(entry, dict):
            raise _fail(path, key, "expected a table")
        if not _NAME.match(name) or name == MODELS_DIR:
            raise _fail(path, key, f"model names are letters, digits and _.+- (not {MODELS_DIR!r})")
        unknown = set(entry) - {"model", "align", "base", "finetune", "per_language"}
        if unknown:
            raise _fail(path, f"{key}.{sorted(unknown)[0]}",
                        "unknown key (expected model, align, base, finetune, per_language)")
        given = [k for k in ("model", "align", "base") if k in entry]
        if len(given) != 1:
            raise _fail(path, key, "give exactly one of model (name/path), align (a recipe) or "
                        "base (another model of the plan)")
        per_language = entry.get("per_language", False)
        if not isinstance(per_language, bool):
            raise _fail(path, f"{key}.per_language", "expected true or false")
        if per_language and not languages:
            raise _fail(path, f"{key}.per_language", "needs the plan's top-level languages")
        finetune = entry.get("finetune", {})
        if not isinstance(finetune, dict):
            raise _fail(path, f"{key}.finetune", "expected a table")
        from xadj.finetune import FinetuneConfig

        _check_fields(FinetuneConfig, finetune, path, f"{key}.finetune")
        try:
            check(FinetuneConfig(**finetune))
        except (TypeError, ValueError) as err:
            raise _fail(path, f"{key}.finetune", str(err)) from None
        for lang in (languages if per_language else [None]):
            full = f"{name}-{lang}" if lang else name
            families[full] = name
            align = entry.get("align")
            if align is not None and not isinstance(align, dict):
                raise _fail(path, f"{key}.align", "expected a table of align settings")
            models.append(ModelSpec(
                full,
                model=_expand(entry["model"], path, f"{key}.model", lang) if "model" in entry
                else None,
                align=_expand(align, path, f"{key}.align", lang) if align is not None else None,
                base=entry.get("base"),
                finetune=_expand(finetune, path, f"{key}.finetune", lang), lang=lang))
    by_name = {m.name: m for m in models}
    for m in models:
        if m.base is not None:
            target = f"{m.base}-{m.lang}" if m.lang and f"{m.base}-{m.lang}" in by_name else m.base
            if target not in by_name or target == m.name:
                raise _fail(path, f"models.{families[m.name]}.base",
                            f"{m.base!r} is not another model of the plan")
            if by_name[target].base is not None:
                raise _fail(path, f"models.{families[m.name]}.base",
                            "a base model must itself give model or align")
        if m.align is not None:
            _align_config(m.align, "unused", path, f"models.{families[m.name]}.align")

    tasks: list[TaskSpec] = []
    raw_tasks = _table(raw, "tasks", path)
    if not raw_tasks:
        raise _fail(path, "tasks", "a plan needs at least one task")
    from xadj.evaluate import EvaluateConfig

    for name, entry in raw_tasks.items():
        key = f"tasks.{name}"
        if name not in TASKS:
            raise _fail(path, key, f"unknown task (expected one of {', '.join(TASKS)})")
        if not isinstance(entry, dict):
            raise _fail(path, key, "expected a table")
        unknown = set(entry) - {"languages", "data", "finetune", "evaluate", "models"}
        if unknown:
            raise _fail(path, f"{key}.{sorted(unknown)[0]}", "unknown key (expected languages, "
                        "data, finetune, evaluate, models)")
        langs = entry.get("languages", languages)
        if not isinstance(langs, list) or not langs or not all(isinstance(x, str) for x in langs):
            raise _fail(path, f"{key}.languages", "expected a non-empty list (or top-level "
                        "languages)")
        data = entry.get("data")
        if data is not None and not isinstance(data, str):
            raise _fail(path, f"{key}.data", "expected a directory path")
        data = _expand(data, path, f"{key}.data", None) if data else None
        if data is not None:
            if not Path(data).is_dir():
                raise _fail(path, f"{key}.data", f"{data}: no such directory")
            data = str(Path(data).resolve())  # cells may run in another working directory
        ft, ev = _table(entry, "finetune", path), _table(entry, "evaluate", path)
        if name == "xsr" and ft:
            raise _fail(path, f"{key}.finetune", "xsr evaluates encoders: nothing to fine-tune")
        _check_fields(FinetuneConfig, ft, path, f"{key}.finetune")
        _check_fields(EvaluateConfig, ev, path, f"{key}.evaluate")
        selected = entry.get("models")
        if selected is not None:
            if not isinstance(selected, list) or not all(s in raw_models for s in selected):
                raise _fail(path, f"{key}.models", f"expected names among "
                            f"{', '.join(raw_models)}")
        try:  # the task's own checks: languages and qa_pairs it knows
            from xadj.tasks import get_task

            get_task(name).test_configs(langs, ev.get("qa_pairs", []))
            check(EvaluateConfig(task=name, **ev))
            if name != "xsr":
                check(FinetuneConfig(task=name, **ft))
        except (TypeError, ValueError) as err:
            raise _fail(path, key, str(err)) from None
        tasks.append(TaskSpec(name, langs, data, _expand(ft, path, f"{key}.finetune", None),
                              _expand(ev, path, f"{key}.evaluate", None), selected))
        if name == "xsr":
            for m in models:
                if families[m.name] in (selected or raw_models) and m.finetune:
                    raise _fail(path, f"{key}.models", f"{families[m.name]} differs from its "
                                "encoder only in fine-tuning: list the models xsr evaluates")
    baseline = raw.get("baseline", "original")
    if baseline not in by_name:
        raise _fail(path, "baseline", f"{baseline!r} is not a model of the plan (per-language "
                    f"models are named NAME-LANG): {', '.join(by_name)}")
    return Plan(path, str(raw.get("name", path.stem)), str(raw.get("description", "")),
                languages, list(seeds), baseline, models, tasks, families)


# ---------------------------------------------------------------- cells


@dataclass(frozen=True)
class CellSpec:
    """Everything one cell needs, picklable: run it with :func:`run_cell` anywhere."""

    id: str  # "models/adjusted", "adjusted/xnli/seed-1"
    kind: str  # "align" | "task"
    directory: str
    align: dict[str, Any] | None = None  # AlignConfig, as asdict
    finetune: dict[str, Any] | None = None  # FinetuneConfig kwargs (output_dir included)
    evaluate: dict[str, Any] | None = None  # EvaluateConfig kwargs
    depends: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()  # test configs, for the grid
    seed: int | None = None

    @property
    def done(self) -> bool:
        root = Path(self.directory)
        if not (root / DONE_FILE).is_file():
            return False
        return self.kind == "align" or (root / "eval" / "results.json").is_file()


def _encoder(model: ModelSpec, by_name: dict[str, ModelSpec], root: Path) -> tuple[str, list[str]]:
    """(what finetune/evaluate load, the align cells it depends on)."""
    if model.base is not None:
        target = (by_name.get(f"{model.base}-{model.lang}") if model.lang else None) or \
            by_name[model.base]
        return _encoder(target, by_name, root)
    if model.align is not None:
        cell = root / MODELS_DIR / model.name
        return str(cell / "run"), [f"{MODELS_DIR}/{model.name}"]
    assert model.model is not None
    return model.model, []


def _own_configs(model: ModelSpec, task: TaskSpec, configs: list[str], pairs: list[str]
                 ) -> tuple[list[str], list[str]]:
    """The task languages and QA pairs a per-language model is evaluated on: its own."""
    if model.lang is None:
        return configs, pairs
    lang = model.lang
    own: list[str] = []
    for c in configs:
        parts = c.split(".")
        if c == lang or lang in parts[1:] or (task.name == "xsr" and _tatoeba(c) == _tatoeba(
                lang)):
            own.append(c)
    return own, [p for p in pairs if lang in p.split(".")]


def _tatoeba(lang: str) -> str:
    from xadj.tasks.xsr_task import tatoeba_config

    try:
        return tatoeba_config(lang)
    except ValueError:
        return lang


def _in_experiment(values: dict[str, Any], root: Path) -> dict[str, Any]:
    """``${EXPERIMENT_DIR}`` in a model's settings -> this run's output directory."""
    text = json.dumps(values).replace("${EXPERIMENT_DIR}", str(root))
    return dict(json.loads(text))


def build_cells(plan: Plan, root: Path, config: ExperimentConfig) -> list[CellSpec]:
    """Every cell of the grid, align cells first (in the order their dependants need them)."""
    by_name = {m.name: m for m in plan.models}
    seeds = config.seeds or plan.seeds
    wanted_models = set(config.models) if config.models else None
    if wanted_models:
        unknown = wanted_models - set(by_name) - set(plan.families.values())
        if unknown:
            raise ValueError(f"--models {sorted(unknown)[0]}: not a model of {plan.path} "
                             f"({', '.join(by_name)})")
    cells: list[CellSpec] = []
    needed_align: set[str] = set()
    for task in plan.tasks:
        if config.tasks and task.name not in config.tasks:
            continue
        for model in plan.models:
            family = plan.families[model.name]
            if task.models is not None and family not in task.models:
                continue
            if wanted_models and not ({model.name, family} & wanted_models):
                continue
            languages, pairs = _own_configs(model, task, task.languages,
                                            list(task.evaluate.get("qa_pairs", [])))
            if not languages and not pairs:
                continue
            from xadj.tasks import get_task

            test_configs = get_task(task.name).test_configs(languages, pairs)
            encoder, depends = _encoder(model, by_name, root)
            model_finetune = _in_experiment(model.finetune, root)
            for other in plan.models:  # e.g. continual learning on an align recipe's data
                prefix = str(root / MODELS_DIR / other.name) + os.sep
                if other.align is not None and prefix in json.dumps(model_finetune):
                    depends.append(f"{MODELS_DIR}/{other.name}")
            needed_align.update(depends)
            for seed in (seeds[:1] if task.name == "xsr" else seeds):
                cell = root / model.name / task.name / f"seed-{seed}"
                evaluate = {**task.evaluate, "task": task.name, "languages": languages,
                            "qa_pairs": pairs, "data": task.data, "seed": seed,
                            "output_dir": str(cell / "eval"), "cpu": config.cpu,
                            "model": encoder if task.name == "xsr" else str(cell / "finetune")}
                finetune = None
                if task.name != "xsr":
                    finetune = {**task.finetune, **model_finetune, "task": task.name,
                                "model": encoder, "data": task.data, "seed": seed,
                                "output_dir": str(cell / "finetune"), "cpu": config.cpu}
                cells.append(CellSpec(f"{model.name}/{task.name}/seed-{seed}", "task", str(cell),
                                      finetune=finetune, evaluate=evaluate,
                                      depends=tuple(dict.fromkeys(depends)),
                                      languages=tuple(test_configs), seed=seed))
    aligns = []
    for model in plan.models:
        cell_id = f"{MODELS_DIR}/{model.name}"
        if model.align is not None and cell_id in needed_align:
            directory = root / MODELS_DIR / model.name
            align = _align_config({**model.align, **({"cpu": True} if config.cpu else {})},
                                  str(directory / "run"), plan.path,
                                  f"models.{plan.families[model.name]}.align")
            aligns.append(CellSpec(cell_id, "align", str(directory), align=asdict(align)))
    return aligns + cells


@dataclass
class CellOutcome:
    id: str
    status: str  # "done" (ran now) | "skipped" (complete before)
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    from xadj.outputs import atomic_write_text

    atomic_write_text(path, json.dumps(payload, indent=2, ensure_ascii=False, default=str))


def _recorded(spec: CellSpec) -> dict[str, Any]:
    """What cell.json records of a cell's settings (JSON-normalised, so it compares)."""
    settings = {k: v for k, v in asdict(spec).items()
                if k in ("align", "finetune", "evaluate", "seed", "depends")}
    return dict(json.loads(json.dumps(settings, default=str)))


def check_unchanged(spec: CellSpec) -> None:
    """A complete cell counts only if it was made with the settings the plan gives it now."""
    from xadj.config import differences

    path = Path(spec.directory) / CELL_FILE
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise OSError(f"{path}: cannot read the settings of a complete cell: {err}") from err
    changed = differences({k: recorded.get(k) for k in _recorded(spec)}, _recorded(spec))
    if changed:
        raise ValueError(f"{path}: cell {spec.id} was run with other settings ("
                         + "; ".join(changed[:3]) + (" ..." if len(changed) > 3 else "")
                         + "): restore the plan, or use a new --output-dir")


def run_cell(spec: CellSpec, progress: bool = False) -> CellOutcome:
    """Runs one cell to completion (resuming what a killed run left) unless it is complete."""
    if spec.done:
        return CellOutcome(spec.id, "skipped", 0.0)
    from xadj.finetune import versions

    start = time.perf_counter()
    directory = Path(spec.directory)
    directory.mkdir(parents=True, exist_ok=True)
    _write_json(directory / CELL_FILE, {"id": spec.id, "kind": spec.kind, **_recorded(spec),
                                        "versions": versions()})
    metrics: dict[str, Any] = {}
    if spec.kind == "align":
        from xadj.align import RUN_FILE, AlignConfig, adjust
        from xadj.data import CorpusConfig, PrepareConfig

        assert spec.align is not None
        values = dict(spec.align)
        out = Path(values["output_dir"])
        # Resume needs the run record; a run killed before writing it starts again.
        resume = (out / RUN_FILE).is_file()
        config = AlignConfig(**{**values, "source": CorpusConfig(**values["source"]),
                                "prepare": PrepareConfig(**values["prepare"]), "resume": resume,
                                "overwrite": not resume and out.is_dir() and any(out.iterdir())})
        if not (out / "model" / "config.json").is_file():
            result = adjust(config, progress=progress)
            metrics = {"steps": result.steps}
    else:
        from xadj.evaluate import EvaluateConfig, evaluate
        from xadj.finetune import FinetuneConfig, finetune

        assert spec.evaluate is not None
        if spec.finetune is not None:
            out = Path(spec.finetune["output_dir"])
            finetune(FinetuneConfig(**spec.finetune, resume=out.is_dir()), progress=progress)
        out = Path(spec.evaluate["output_dir"])
        metrics = evaluate(EvaluateConfig(**spec.evaluate, resume=out.is_dir()),
                           progress=progress).metrics
    seconds = time.perf_counter() - start
    _write_json(directory / DONE_FILE, {"id": spec.id, "seconds": seconds, "metrics": metrics})
    return CellOutcome(spec.id, "done", seconds, metrics)


# ---------------------------------------------------------------- estimate


def _local_rows(data: str | None, config: str, split: str) -> int | None:
    if data is None:
        return None
    path = Path(data) / config / f"{split}.jsonl"
    if path.is_file():
        with open(path, "rb") as f:
            return sum(1 for line in f if line.strip())
    return None


def _rows(source: Any, data: str | None) -> tuple[int, bool]:
    """(rows, counted?) of a split: counted in a local jsonl copy, else the hub's known size."""
    counted = _local_rows(data, source.config, source.split)
    if counted is not None:
        return counted, True
    return HUB_ROWS.get((source.hub_id, source.split), 5_000), False


def _profile(model: str | None) -> str:
    return "tiny-cpu (measured)" if model and model.startswith("tiny") else "base-gpu (assumed)"


@dataclass
class CellWork:
    steps: int  # optimizer steps (align or finetune)
    train_examples: int
    eval_items: int
    seconds: float
    profile: str
    counted: bool  # every row count read from local data


def estimate(spec: CellSpec, starting_model: str | None) -> CellWork:
    """Optimizer steps and a time estimate of one cell from its data sizes and THROUGHPUT."""
    from xadj.tasks import get_task

    profile = _profile(starting_model)
    rate = THROUGHPUT[profile]
    if spec.kind == "align":
        assert spec.align is not None
        a = spec.align
        files = [c.split("=", 1)[1].split(",")[0] for c in a["corpus"]] + list(
            a["source"].get("bitext") or [])
        counted = bool(files) and all(Path(f).is_file() and not f.endswith(".gz")
                                      for f in files)
        if counted:  # the largest corpus sets the number of steps
            pairs = max(sum(1 for _ in open(f, "rb")) for f in files)
        elif a["source"].get("hf_dataset"):
            pairs = WIKIMATRIX_ROWS.get(a["source"].get("hf_config") or "", 1_000_000)
        elif not files:  # the shipped sample
            pairs, counted = 1_000, True
        else:
            pairs = 1_000_000  # files not here yet: an assumed size
        for cap in (a["prepare"].get("max_pairs"), a["source"].get("hf_max_rows")):
            pairs = min(pairs, cap) if cap else pairs
        languages = max(1, len(a["corpus"]) + len(a["dataset"]))
        steps = a["epochs"] * math.ceil(pairs / a["pairs_per_step"])
        if a.get("max_steps"):
            steps = min(steps, a["max_steps"])
        examples = steps * a["pairs_per_step"] * languages
        return CellWork(steps, examples, 0, rate["cell"] + examples / rate["align"], profile,
                        counted)
    assert spec.evaluate is not None
    task = get_task(spec.evaluate["task"])
    counted, steps, examples, seconds = True, 0, 0, rate["cell"]
    if spec.finetune is not None:
        ft = spec.finetune
        rows, counted = _rows(task.train_source(), ft.get("data"))
        if ft.get("max_train_samples"):
            rows = min(rows, ft["max_train_samples"])
        features = math.ceil(rows * QA_FEATURES_PER_EXAMPLE) if task.name == "qa" else rows
        epochs = ft.get("epochs") or task.epochs
        steps = epochs * math.ceil(features / ft.get("batch_size", 32))
        examples = epochs * features
        train_seconds = examples / rate["train_qa" if task.name == "qa" else "train"]
        if ft.get("continual"):  # 16 pairs a step through F and F0 on top of the task batch
            train_seconds *= CONTINUAL_COST
        seconds += train_seconds
    items = 0
    for name in task.test_configs(spec.evaluate["languages"], spec.evaluate["qa_pairs"]):
        n, here = _rows(task.test_source(name), spec.evaluate.get("data"))
        if spec.evaluate.get("max_test_samples"):
            n = min(n, spec.evaluate["max_test_samples"])
        items += n * (2 if task.name == "xsr" else 1)
        counted = counted and here
    seconds += items / rate["eval"]
    return CellWork(steps, examples, items, seconds, profile, counted)


def _hours(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def grid_text(plan: Plan, cells: list[CellSpec], root: Path) -> str:
    """The grid (one line per cell, done or to run) and the work estimate, as printed by
    ``--dry-run``."""
    starting: dict[str, str | None] = {}
    for m in plan.models:
        base = m
        if m.base is not None:
            base = next(x for x in plan.models if x.name in (f"{m.base}-{m.lang}", m.base))
        starting[m.name] = base.model or (base.align or {}).get("model")
    lines = [f"plan {plan.name} ({plan.path}): {plan.description}".rstrip(": "),
             f"output {root}; seeds {', '.join(map(str, sorted({c.seed for c in cells if c.seed is not None})))}; "  # noqa: E501
             f"baseline {plan.baseline}", "",
             f"{'cell':<40} {'state':<6} {'steps':>8} {'est.':>9}  test configs"]
    totals: dict[str, list[float]] = {}
    todo = 0
    uncounted = False
    for cell in cells:
        model = cell.id.split("/")[1] if cell.kind == "align" else cell.id.split("/")[0]
        work = estimate(cell, starting.get(model))
        state = "done" if cell.done else "todo"
        uncounted |= not work.counted
        if state == "todo":
            todo += 1
            t = totals.setdefault(work.profile, [0, 0.0])
            t[0] += work.steps
            t[1] += work.seconds
        lines.append(f"{cell.id:<40} {state:<6} {work.steps:>8} {_hours(work.seconds):>9}  "
                     f"{' '.join(cell.languages) or '-'}")
    lines += ["", f"{len(cells)} cells ({sum(c.kind == 'align' for c in cells)} align, "
              f"{sum(c.kind == 'task' for c in cells)} task), {len(cells) - todo} done, "
              f"{todo} to run"]
    for profile, (steps, seconds) in totals.items():
        rate = THROUGHPUT[profile]
        lines.append(f"to run on {profile}: {int(steps):,} optimizer steps, about "
                     f"{_hours(seconds)} on one device (throughput: train {rate['train']:g}, "
                     f"QA train {rate['train_qa']:g}, eval {rate['eval']:g}, align "
                     f"{rate['align']:g} examples/s, {rate['cell']:g} s per cell)")
    lines.append("row counts: " + ("counted in the local data" if not uncounted else
                                   "local data counted where given; otherwise the hub datasets' "
                                   "known sizes (QA features = examples x 1.05)"))
    return "\n".join(lines)


# ---------------------------------------------------------------- execution


@dataclass
class ExperimentResult:
    output_dir: Path
    plan: Path
    cells: list[str]
    text: str  # the grid and estimate (what --dry-run prints)
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # cell id -> error
    dry_run: bool = False


def _gpus() -> int:
    import torch

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


RunStage = Callable[[list[CellSpec]], dict[str, "CellOutcome | Exception"]]


def _inline(progress: bool) -> RunStage:
    def run(cells: list[CellSpec]) -> dict[str, CellOutcome | Exception]:
        results: dict[str, CellOutcome | Exception] = {}
        for cell in cells:
            try:
                results[cell.id] = run_cell(cell, progress)
            except Exception as err:  # one failed cell must not stop the others
                log.exception("cell %s failed", cell.id)
                results[cell.id] = err
        return results

    return run


def _local(config: ExperimentConfig, folder: Path) -> RunStage:
    """submitit's LocalExecutor: at most ``parallel`` cell processes at once, each seeing one
    GPU (CUDA_VISIBLE_DEVICES) when there are GPUs."""
    import submitit

    gpus = 0 if config.cpu else _gpus()
    parallel = config.parallel or max(1, gpus)
    executor = submitit.LocalExecutor(folder=str(folder))
    if not gpus and parallel > 1:  # CPU jobs share the cores instead of each taking all
        threads = max(1, (os.cpu_count() or 1) // parallel)
        executor.update_parameters(setup=[f"export OMP_NUM_THREADS={threads} "
                                          f"MKL_NUM_THREADS={threads}"])

    def run(cells: list[CellSpec]) -> dict[str, CellOutcome | Exception]:
        results: dict[str, CellOutcome | Exception] = {}
        queue = list(cells)
        running: dict[int, tuple[CellSpec, Any]] = {}  # slot -> (cell, job)
        while queue or running:
            for slot in range(parallel):
                if slot not in running and queue:
                    cell = queue.pop(0)
                    executor.update_parameters(
                        timeout_min=config.timeout_min, gpus_per_node=1 if gpus else 0,
                        visible_gpus=[slot % gpus] if gpus else [])
                    running[slot] = (cell, executor.submit(run_cell, cell))
                    log.info("cell %s: submitit local job %s", cell.id, running[slot][1].job_id)
            time.sleep(0.5)
            for slot, (cell, job) in list(running.items()):
                if job.done():
                    try:
                        results[cell.id] = job.result()
                    except Exception as err:
                        log.error("cell %s failed (logs: %s): %s", cell.id, job.paths.stderr,
                                  err)
                        results[cell.id] = err
                    del running[slot]
        return results

    return run


def slurm_executor(config: ExperimentConfig, folder: Path) -> Any:
    """submitit's AutoExecutor for SLURM with the experiment's job settings."""
    import submitit

    executor = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
    extra: dict[str, Any] = {}
    if config.slurm_partition:
        extra["slurm_partition"] = config.slurm_partition
    if config.slurm_account:
        extra["slurm_account"] = config.slurm_account
    if config.parallel:
        extra["slurm_array_parallelism"] = config.parallel
    executor.update_parameters(timeout_min=config.timeout_min,
                               gpus_per_node=config.slurm_gpus_per_job,
                               cpus_per_task=config.slurm_cpus_per_job, nodes=1,
                               tasks_per_node=1, name="xadj-experiment", **extra)
    return executor


def _slurm(config: ExperimentConfig, folder: Path) -> RunStage:
    """One SLURM job array per stage, ``parallel`` at a time; waits for the jobs."""
    executor = slurm_executor(config, folder)

    def run(cells: list[CellSpec]) -> dict[str, CellOutcome | Exception]:
        jobs = executor.map_array(run_cell, cells)
        log.info("submitted %d cells as SLURM jobs %s", len(jobs),
                 ", ".join(j.job_id for j in jobs[:3]) + (" ..." if len(jobs) > 3 else ""))
        results: dict[str, CellOutcome | Exception] = {}
        for cell, job in zip(cells, jobs, strict=True):
            try:
                results[cell.id] = job.result()
            except Exception as err:
                log.error("cell %s failed (logs: %s): %s", cell.id, job.paths.stderr, err)
                results[cell.id] = err
        return results

    return run


def _record(plan: Plan, config: ExperimentConfig, root: Path) -> None:
    from xadj.finetune import versions

    _write_json(root / EXPERIMENT_FILE, {
        "plan": str(plan.path), "plan_text": plan.path.read_text(encoding="utf-8"),
        "baseline": plan.baseline, "seeds": config.seeds or plan.seeds,
        "models": {m.name: plan.families[m.name] for m in plan.models},
        "config": asdict(config), "versions": versions()})


def run_experiment(config: ExperimentConfig, progress: bool = True) -> ExperimentResult:
    """Runs (or, with ``dry_run``, describes) every cell of the plan that is not complete."""
    from xadj.outputs import claim_output_dir

    if not config.output_dir:
        raise ValueError("experiment needs an output directory (--output-dir)")
    plan = load_plan(config.plan)
    root = Path(config.output_dir).resolve()
    cells = build_cells(plan, root, config)
    if not cells:
        raise ValueError(f"{plan.path}: no cells to run with these --tasks/--models")
    if config.dry_run:
        return ExperimentResult(root, plan.path, [c.id for c in cells],
                                grid_text(plan, cells, root), dry_run=True)
    lock = claim_output_dir(root, "experiment", resume=True)
    try:
        _record(plan, config, root)
        text = grid_text(plan, cells, root)
        log.info("experiment grid:\n%s", text)
        if config.executor == "inline":
            runner = _inline(progress)
        elif config.executor == "local":
            runner = _local(config, root / ".submitit")
        else:
            runner = _slurm(config, root / ".submitit")
        result = ExperimentResult(root, plan.path, [c.id for c in cells], text)
        stages = [[c for c in cells if c.kind == "align"], [c for c in cells if c.kind == "task"]]
        for stage in stages:
            pending = []
            for cell in stage:
                if cell.done:
                    check_unchanged(cell)
                    result.skipped.append(cell.id)
                elif blocked := [d for d in cell.depends if d in result.failed]:
                    result.failed[cell.id] = f"not run: {blocked[0]} failed"
                else:
                    pending.append(cell)
            for cell_id, outcome in (runner(pending) if pending else {}).items():
                if isinstance(outcome, Exception):
                    result.failed[cell_id] = f"{type(outcome).__name__}: {outcome}"
                elif outcome.status == "skipped":
                    result.skipped.append(cell_id)
                else:
                    result.ran.append(cell_id)
        log.info("experiment %s: %d cells ran, %d already complete, %d failed", root,
                 len(result.ran), len(result.skipped), len(result.failed))
        return result
    finally:
        lock.release()

