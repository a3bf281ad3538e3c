"""``compare``: result tables with statistics over an experiment's evaluations.

Reads every ``results.json`` of an experiment directory laid out as :data:`LAYOUT` (what the
experiment runner writes), or a flat list of ``evaluate`` output directories, and gives for each
task x config (language) x metric: mean ± std over seeds per model, the difference to the
baseline, a paired bootstrap p-value over test items and its Holm-adjusted value.

Rules (also written in the footer):
- the table's values are the ones results.json reports; the bootstrap recomputes them from the
  prediction files (a mismatch is logged);
- seeds pair by value: model seed s against baseline seed s (the experiment uses one seed list
  for every model); only seeds both have enter the test;
- items pair by ``id``; only ids present in every paired run are used (n in the footer);
- one bootstrap per comparison, pooled over seed pairs: each resample of items rescores every run
  and compares the seed-averaged metrics, i.e. the same delta of means the table shows. It
  measures test-set sampling noise; seed-to-seed noise shows in the std;
- Holm-Bonferroni over every comparison of the table (models x tasks x configs x metrics).
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from xadj.analysis.outcomes import Outcomes, outcomes, prediction_file, read_predictions
from xadj.analysis.plots import grouped_bars, new_figure, save_png
from xadj.analysis.stats import (
    DEFAULT_RESAMPLES,
    ItemMetric,
    SeedAverage,
    SeedSummary,
    holm,
    mean_std,
    paired_bootstrap,
)
from xadj.config import check, setting

log = logging.getLogger(__name__)

# Where the experiment runner puts one evaluation; predictions/ sits next to results.json.
LAYOUT = "{root}/{model}/{task}/seed-{seed}/eval/results.json"
RESULTS_FILE = "results.json"
OUTPUT_JSON = "compare.json"
DEFAULT_SELECTION = ("final model of each fine-tuning run (fixed epochs, docs/method.md §5); "
                     "nothing selected on test data")
_SEED_DIR = re.compile(r"^seed-(-?\d+)$")


@dataclass
class CompareConfig:
    inputs: list[str] = setting(
        factory=list, positional=True, metavar="X",
        help="an experiment directory (<model>/<task>/seed-<s>/eval/results.json) or evaluate "
             "output directories")
    baseline: str | None = setting(
        None, "model the others are compared with (default: `original` if present, else the "
              "first model name in sorted order)")
    output_dir: str | None = setting(
        None, "where compare.json and the charts go (default: the experiment directory)")
    resamples: int = setting(DEFAULT_RESAMPLES, "paired bootstrap resamples", min=1000)
    seed: int = setting(0, "seed of the bootstrap resampling")
    alpha: float = setting(0.05, "significance level after Holm", min=0.0, max=1.0,
                           min_open=True)
    confidence: float = setting(0.95, "level of the bootstrap intervals of the deltas",
                                min=0.0, max=1.0, min_open=True)
    plots: bool = setting(True, "write a PNG bar chart per task")


@dataclass(frozen=True)
class Run:
    """One evaluation: a model fine-tuned with one seed, evaluated on one task."""

    model: str
    task: str
    seed: int
    eval_dir: Path
    results: dict[str, Any]


@dataclass
class Row:
    """One task x config x metric line of the table."""

    task: str
    config: str
    metric: str
    summaries: dict[str, SeedSummary]  # per model
    n: dict[str, int]  # items per model, as results.json reports
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)  # per non-baseline model

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "config": self.config, "metric": self.metric,
                "models": {m: {"mean": s.mean, "std": s.std, "seeds": s.seeds,
                               "n": self.n.get(m)} for m, s in self.summaries.items()},
                "vs_baseline": self.tests}


@dataclass
class CompareResult:
    markdown: str
    rows: list[Row]
    baseline: str
    json_path: Path
    charts: dict[str, Path]  # task -> PNG
    figures: dict[str, Figure]  # task -> the chart's Figure
    footer: dict[str, Any]


def _load_results(path: Path) -> dict[str, Any]:
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise OSError(f"{path}: cannot read: {err.strerror or err}") from err
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: not JSON: {err.msg}") from None
    if not isinstance(results, dict) or not {"task", "metrics"} <= results.keys():
        raise ValueError(f"{path}: not an evaluate results file (needs task, metrics)")
    return results


def find_runs(inputs: list[str | Path]) -> list[Run]:
    """Every evaluation under ``inputs``: experiment directories laid out as :data:`LAYOUT`
    (model, task and seed from the path), or evaluate output directories holding results.json
    (model from its config's ``label``, else the ``model`` it names; seed from its config)."""
    runs: list[Run] = []
    for given in inputs:
        root = Path(given)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such directory")
        if (root / RESULTS_FILE).is_file():
            results = _load_results(root / RESULTS_FILE)
            config = results.get("config", {})
            model = str(config.get("label") or results.get("model") or root.name)
            seed = config.get("seed")
            if seed is None:
                raise ValueError(f"{root / RESULTS_FILE}: config records no seed")
            runs.append(Run(model, str(results["task"]), int(seed), root, results))
            continue
        found = sorted(root.glob("*/*/seed-*/eval/" + RESULTS_FILE))
        if not found:
            raise FileNotFoundError(
                f"{root}: no results (expected {LAYOUT.format(root=root, model='MODEL', task='TASK', seed='S')} or an evaluate output directory)")  # noqa: E501
        for path in found:
            eval_dir = path.parent
            seed_match = _SEED_DIR.match(eval_dir.parent.name)
            if seed_match is None:
                continue
            task_dir, model_dir = eval_dir.parent.parent, eval_dir.parent.parent.parent
            results = _load_results(path)
            if results["task"] != task_dir.name:
                raise ValueError(f"{path}: task {results['task']!r} in a {task_dir.name}/ dir")
            runs.append(Run(model_dir.name, task_dir.name, int(seed_match.group(1)), eval_dir,
                            results))
    keys = [(r.model, r.task, r.seed) for r in runs]
    duplicates = {k for k in keys if keys.count(k) > 1}
    if duplicates:
        raise ValueError(f"several results for (model, task, seed) {sorted(duplicates)[0]}")
    return runs


def _plan_baseline(inputs: list[str]) -> str | None:
    """The baseline an experiment's plan names (``X/experiment.json``), if one directory given."""
    if len(inputs) != 1:
        return None
    record = Path(inputs[0]) / "experiment.json"
    try:
        value = json.loads(record.read_text()).get("baseline") if record.is_file() else None
    except (OSError, ValueError):
        return None
    return value if isinstance(value, str) else None


def choose_baseline(models: list[str], requested: str | None) -> str:
    if requested is not None:
        if requested not in models:
            raise ValueError(f"baseline {requested!r} is not among the models: {', '.join(models)}")
        return requested
    return "original" if "original" in models else sorted(models)[0]


def _outcomes(run: Run, config: str, metric: str, cache: dict[tuple[Any, ...], Outcomes]
              ) -> Outcomes | None:
    key = (run.eval_dir, config, metric)
    if key not in cache:
        path = prediction_file(run.eval_dir, run.task, config, metric)
        if not path.is_file():
            return None
        items = read_predictions(path)
        cache[key] = outcomes(items, run.task, metric, config, run.results.get("config", {}),
                              path)
        full = float(cache[key].metric.score(np.arange(cache[key].metric.n)[None, :])[0])
        reported = run.results["metrics"][config][metric]
        if abs(full - float(reported)) > 1e-6 * max(1.0, abs(float(reported))):
            log.warning("%s: recomputed %s = %.6g but results.json reports %.6g", path, metric,
                        full, reported)
    return cache[key]


def _paired_test(base_runs: dict[int, Run], runs: dict[int, Run], config: str, metric: str,
                 settings: CompareConfig, cache: dict[tuple[Any, ...], Outcomes]
                 ) -> dict[str, Any]:
    seeds = sorted(set(base_runs) & set(runs))
    if not seeds:
        return {"p_value": None, "why": "no seed in common with the baseline"}
    pairs = []
    for s in seeds:
        a, b = _outcomes(base_runs[s], config, metric, cache), _outcomes(runs[s], config,
                                                                            metric, cache)
        if a is None or b is None:
            return {"p_value": None, "why": "prediction files missing", "seeds": seeds}
        pairs.append((a, b))
    common = set(pairs[0][0].ids)
    for a, b in pairs:
        common &= set(a.ids) & set(b.ids)
    ids = sorted(common)  # a canonical order: resamples don't depend on the files' line order
    if not ids:
        return {"p_value": None, "why": "no item ids in common", "seeds": seeds}
    base_metric: ItemMetric = SeedAverage(tuple(a.aligned(ids) for a, _ in pairs))
    model_metric: ItemMetric = SeedAverage(tuple(b.aligned(ids) for _, b in pairs))
    test = paired_bootstrap(base_metric, model_metric, resamples=settings.resamples,
                            seed=settings.seed, confidence=settings.confidence)
    return {**test.as_dict(), "seeds": seeds}


def build_rows(runs: list[Run], baseline: str, settings: CompareConfig) -> list[Row]:
    """Table rows with their tests; Holm-adjusted p-values over all rows and models."""
    grouped: dict[tuple[str, str, str], dict[str, dict[int, Run]]] = defaultdict(
        lambda: defaultdict(dict))
    for run in runs:
        for config, values in run.results["metrics"].items():
            for metric in values:
                if metric != "n":
                    grouped[(run.task, config, metric)][run.model][run.seed] = run
    cache: dict[tuple[Any, ...], Outcomes] = {}
    rows = []
    for (task, config, metric), by_model in sorted(grouped.items()):
        summaries = {m: mean_std([r.results["metrics"][config][metric]
                                  for _, r in sorted(seeds.items())])
                     for m, seeds in sorted(by_model.items())}
        n = {m: int(next(iter(seeds.values())).results["metrics"][config].get("n", 0))
             for m, seeds in by_model.items()}
        row = Row(task, config, metric, summaries, n)
        if baseline in by_model:
            for model, seeds in sorted(by_model.items()):
                if model != baseline:
                    test = _paired_test(by_model[baseline], seeds, config, metric, settings,
                                        cache)
                    test["delta_of_means"] = summaries[model].mean - summaries[baseline].mean
                    row.tests[model] = test
        rows.append(row)
    tested = [t for row in rows for t in row.tests.values() if t.get("p_value") is not None]
    for test, adjusted in zip(tested, holm([t["p_value"] for t in tested]), strict=True):
        test["p_holm"] = float(adjusted)
        test["significant"] = bool(adjusted <= settings.alpha)
    return rows


def _cell(row: Row, model: str, baseline: str) -> str:
    text = str(row.summaries[model]) if model in row.summaries else "–"
    test = row.tests.get(model)
    if model == baseline or test is None:
        return text
    delta = f"Δ {test['delta_of_means']:+.2f}"
    if test.get("p_holm") is None:
        return f"{text} ({delta}, p n/a)"
    star = "*" if test["significant"] else ""
    return f"{text} ({delta}, p {test['p_holm']:.3g}{star})"


def markdown(rows: list[Row], models: list[str], baseline: str, footer: dict[str, Any]) -> str:
    lines = []
    ordered = [baseline] + [m for m in models if m != baseline]
    for task in sorted({r.task for r in rows}):
        lines += [f"## {task}", "",
                  "| config | metric | " + " | ".join(
                      f"{m} (baseline)" if m == baseline else m for m in ordered) + " |",
                  "|---|---|" + "---|" * len(ordered)]
        for row in (r for r in rows if r.task == task):
            cells = [_cell(row, m, baseline) for m in ordered]
            lines.append(f"| {row.config} | {row.metric} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["---", ""] + [f"- {k}: {v}" for k, v in footer["lines"].items()]
    return "\n".join(lines) + "\n"


def bar_chart(rows: list[Row], task: str, models: list[str], baseline: str) -> Figure:
    """Languages on x, models as bars (mean over seeds), error bars = std, * = significant."""
    task_rows = [r for r in rows if r.task == task]
    metrics = sorted({r.metric for r in task_rows})
    fig = new_figure(max(5.0, 1.2 * len({r.config for r in task_rows}) * len(models) / 2 + 3),
                     3.2 * len(metrics))
    axes = fig.subplots(len(metrics), 1, squeeze=False)[:, 0]
    models = [baseline] + [m for m in models if m != baseline]
    for ax, metric in zip(axes, metrics, strict=True):
        mrows = sorted((r for r in task_rows if r.metric == metric), key=lambda r: r.config)
        series, errors, marks = {}, {}, {}
        for m in models:
            sums = [r.summaries.get(m) for r in mrows]
            series[m] = [s.mean if s else np.nan for s in sums]
            errors[m] = [s.std if s and s.std is not None else 0.0 for s in sums]
            marks[m] = [bool(r.tests.get(m, {}).get("significant")) for r in mrows]
        grouped_bars(ax, [r.config for r in mrows], series, errors, marks)
        ax.set_xlabel("language (config)")
        ax.set_ylabel(f"{metric} (%)")
        ax.set_title(f"{task}: mean ± std over seeds; * p_Holm ≤ α vs {baseline}")
        ax.margins(y=0.12)  # room for the stars
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def _footer(runs: list[Run], rows: list[Row], baseline: str, settings: CompareConfig
            ) -> dict[str, Any]:
    seeds = {m: sorted({r.seed for r in runs if r.model == m}) for m in sorted({r.model
                                                                               for r in runs})}
    n_items = {f"{r.task}/{r.config}": r.n for r in rows}
    selection = sorted({str(r.results.get("config", {}).get("selection", DEFAULT_SELECTION))
                        for r in runs})
    family = sum(1 for r in rows for t in r.tests.values() if t.get("p_value") is not None)
    lines = {
        "baseline": baseline,
        "seeds": "; ".join(f"{m}: {', '.join(map(str, s))}" for m, s in seeds.items()),
        "n (test items)": "; ".join(
            f"{k}: {', '.join(f'{m} {v}' for m, v in sorted(n.items()))}"
            for k, n in sorted(n_items.items())),
        "selection rule": "; ".join(selection),
        "mean ± std": "over seeds, sample std (ddof 1)",
        "p": (f"paired bootstrap over test items ({settings.resamples} resamples, seed "
              f"{settings.seed}): items paired by id, seeds paired by value, metric recomputed "
              "per resample from the prediction files and averaged over seeds; two-sided"),
        "Holm": f"Holm-Bonferroni over all {family} comparisons; * = p_Holm ≤ {settings.alpha}",
    }
    return {"lines": lines, "seeds": seeds, "n": n_items, "family_size": family,
            "alpha": settings.alpha, "resamples": settings.resamples, "seed": settings.seed}


def versions() -> dict[str, str]:
    """Versions of what computed the statistics, recorded next to the outputs."""
    import matplotlib
    import scipy  # type: ignore[import-untyped, unused-ignore]

    import xadj

    return {"xadj": xadj.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "matplotlib": matplotlib.__version__}


def compare(config: CompareConfig) -> CompareResult:
    """Builds the tables, writes ``compare.json`` and one chart per task; returns the Markdown."""
    from xadj.outputs import atomic_write_text

    check(config)
    if not config.inputs:
        raise ValueError("compare needs an experiment directory or evaluate output directories")
    runs = find_runs(list(config.inputs))
    models = sorted({r.model for r in runs})
    planned = _plan_baseline(config.inputs)  # the plan's own baseline, when it ran here
    baseline = choose_baseline(models, config.baseline or (planned if planned in models else None))
    rows = build_rows(runs, baseline, config)
    if config.output_dir is not None:
        out = Path(config.output_dir)
    elif len(config.inputs) == 1 and not (Path(config.inputs[0]) / RESULTS_FILE).exists():
        out = Path(config.inputs[0])
    else:
        raise ValueError("give an output directory when comparing evaluate output directories")
    footer = _footer(runs, rows, baseline, config)
    text = markdown(rows, models, baseline, footer)
    charts, figures = {}, {}
    if config.plots:
        for task in sorted({r.task for r in rows}):
            figures[task] = bar_chart(rows, task, models, baseline)
            charts[task] = save_png(figures[task], out / f"compare-{task}.png")
    payload = {"baseline": baseline, "models": models, "rows": [r.as_dict() for r in rows],
               "footer": footer, "settings": {k: v for k, v in vars(config).items()},
               "charts": {t: p.name for t, p in charts.items()}, "versions": versions()}
    json_path = out / OUTPUT_JSON
    atomic_write_text(json_path, json.dumps(payload, indent=2, allow_nan=False) + "\n")
    log.info("compared %d runs of %d models: %s", len(runs), len(models), json_path)
    return CompareResult(text, rows, baseline, json_path, charts, figures, footer)
