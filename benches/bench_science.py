"""The papers' findings, rerun offline on the synthetic language pair (issue 12).

generate (seeded) -> pretrain a tiny BERT on monolingual text only -> the `synth-science` plan
(original / adjusted with aligner links / adjusted with gold links / continual learning; word
tagging, the sentence task, XSR; the same seeds for every model) -> compare (table, paired
bootstrap, Holm) -> distance analysis on the held-out test bitext -> four checks with their
figures -> docs/science.md, docs/science/*.png, docs/science/checks.json.

    python benches/bench_science.py                  # the full run (< 30 min on 2 quiet cores)
    python benches/bench_science.py --quick --seeds 1 --output /tmp/science.md   # seconds

The checks report what was measured: the bench exits 0 whether they pass or not.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xadj.config import add_arguments, check, from_args, setting

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the tomli backport, a dependency on Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

log = logging.getLogger("bench_science")

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "python" / "xadj" / "plans" / "synth-science.toml"
LANG = "qaa"
WORD_TASK, WORD_METRIC = "ner", "f1"
MARKER = ".bench-science"  # marks a work directory as this bench's, so --work-dir may be replaced


@dataclass
class ScienceConfig:
    output: str = setting("docs/science.md", "the Markdown page; figures and checks.json go to "
                                             "a folder named like it without .md")
    work_dir: str = setting("runs/science", "data, models and runs (replaced at every run)")
    seeds: list[int] = setting(factory=lambda: [1, 2, 3, 4, 5],
                               help="fine-tuning seeds, the same for every model", min=0)
    data_seed: int = setting(42, "seed of the generator and of pretraining", min=0)
    quick: bool = setting(False, "tiny sizes and a few steps: checks the plumbing, not science")
    pretrain_steps: int | None = setting(None, "pretraining steps (default: 1,000; quick 30)",
                                         min=1)
    threads: int = setting(1, "torch CPU threads (tiny models gain little from more)", min=1)


# Sizes of the full run: the generator's defaults except fewer monolingual sentences (pretraining
# reads at most steps x batch of them anyway).
FULL_SYNTH: dict[str, Any] = {"mono_sentences": 40_000}
FULL_PRETRAIN: dict[str, Any] = {"steps": 1_000, "checkpoint_every": 0}
QUICK_SYNTH: dict[str, Any] = {
    "mono_sentences": 1_500, "bitext_train": 300, "bitext_test": 100, "wikiann_train": 100,
    "wikiann_validation": 20, "wikiann_test": 80, "xnli_train": 100, "xnli_validation": 20,
    "xnli_test": 80, "tatoeba_pairs": 80}
QUICK_PRETRAIN: dict[str, Any] = {
    "steps": 30, "batch_size": 32, "hidden_size": 32, "num_layers": 2, "num_heads": 2,
    "intermediate_size": 64, "checkpoint_every": 0}
# Quick mode: the shipped plan with these settings merged in (fewer steps, nothing else).
QUICK_PLAN: dict[str, Any] = {
    "models": {"adjusted": {"align": {"max_steps": 4, "heldout_pairs": 20}},
               "adjusted-gold": {"align": {"max_steps": 4, "heldout_pairs": 20}},
               "continual": {"finetune": {"continual_pool": 200}}},
    "tasks": {"ner": {"finetune": {"max_train_samples": 48, "epochs": 1, "batch_size": 16}},
              "xnli": {"finetune": {"max_train_samples": 48, "epochs": 1, "batch_size": 16}}},
}


@dataclass
class Check:
    name: str
    passed: bool | None  # None: could not be measured
    statement: str  # what was measured, with the figures
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScienceResult:
    page: Path
    checks: list[Check]
    table: str  # compare's Markdown
    ratios: dict[str, dict[str, float]]  # analysed model -> related/unrelated, l2 and cosine
    seconds: dict[str, float]


# ---------------------------------------------------------------- plan


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out.get(k, {}), v) if isinstance(v, dict) else v
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string for what plans hold
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}"
                                for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml(plan: dict[str, Any]) -> str:
    lines = [f"{k} = {_toml_value(v)}" for k, v in plan.items() if not isinstance(v, dict)]
    for table in ("models", "tasks"):
        for name, entry in plan.get(table, {}).items():
            lines += ["", f"[{table}.{json.dumps(name)}]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in entry.items()]
    return "\n".join(lines) + "\n"


def write_plan(quick: bool, seeds: list[int], path: Path) -> Path:
    """The shipped plan, with the quick sizes merged in; seeds replaced."""
    raw = tomllib.loads(PLAN.read_text(encoding="utf-8"))
    if quick:
        raw = _merge(raw, QUICK_PLAN)
    raw["seeds"] = list(seeds)
    path.write_text(_toml(raw), encoding="utf-8")
    return path


# ---------------------------------------------------------------- stages


def _ratios(summary: dict[str, Any]) -> dict[str, float]:
    # analyze reports mean unrelated / mean related (higher = more aligned); the ratio is
    # its inverse, related / unrelated (lower = more aligned).
    return {kind: 1.0 / float(summary[kind]["ratio_unrelated_related"])
            for kind in ("l2", "cosine")}


def _finetuned(grid: Path, model: str, seed: int) -> str:
    return str(grid / model / WORD_TASK / f"seed-{seed}" / "finetune")


def run_analysis(grid: Path, synth: Path, original: str, seeds: list[int], out: Path,
                 figures_dir: Path) -> dict[str, dict[str, float]]:
    """Related/unrelated distances on the held-out test bitext (gold links): the encoders, then
    the word task's fine-tuned encoders of every seed. Figures of the first seed's models."""
    from xadj.analysis.analyze import AnalyzeConfig, analyze
    from xadj.analysis.plots import save_png

    first = seeds[0]
    models = {"original": original,
              "adjusted": str(grid / "models" / "adjusted" / "run"),
              "adjusted-gold": str(grid / "models" / "adjusted-gold" / "run"),
              f"original+ft s{first}": _finetuned(grid, "original", first),
              f"adjusted+ft s{first}": _finetuned(grid, "adjusted", first),
              f"continual s{first}": _finetuned(grid, "continual", first)}
    for s in seeds[1:]:
        for name in ("original", "adjusted", "continual"):
            label = f"{name}+ft s{s}" if name != "continual" else f"continual s{s}"
            models[label] = _finetuned(grid, name, s)
    common: dict[str, Any] = {
        "bitext": [str(synth / "bitext" / "test.txt")],
        "alignments": str(synth / "bitext" / "test.gold"), "cpu": True, "progress": False,
        "resamples": 1000}
    shown = list(models)[:6]
    ratios: dict[str, dict[str, float]] = {}
    main = analyze(AnalyzeConfig(models=[models[k] for k in shown], labels=shown,
                                 output_dir=str(out / "main"), **common))
    for a in main.models:
        ratios[a.label] = _ratios(a.summary)
    for name, fig in main.figures.items():
        save_png(fig, figures_dir / f"distances-{name}.png")
    rest = list(models)[6:]
    if rest:
        more = analyze(AnalyzeConfig(models=[models[k] for k in rest], labels=rest,
                                     output_dir=str(out / "seeds"), **common))
        for a in more.models:
            ratios[a.label] = _ratios(a.summary)
    return ratios


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def make_checks(ratios: dict[str, dict[str, float]], rows: list[Any], seeds: list[int]
                ) -> list[Check]:
    """The issue's four findings as measured here; PASS/FAIL from the figures, nothing tuned."""
    l2 = {k: v["l2"] for k, v in ratios.items()}
    adjusted_ft = [l2[f"adjusted+ft s{s}"] for s in seeds]
    continual = [l2[f"continual s{s}"] for s in seeds]
    checks = []
    ok = l2["adjusted"] < l2["original"]
    checks.append(Check(
        "1. adjustment lowers the related/unrelated distance ratio", ok,
        f"L2 ratio original {l2['original']:.3f} -> adjusted {l2['adjusted']:.3f} "
        f"(gold links: {l2['adjusted-gold']:.3f})",
        {"original": l2["original"], "adjusted": l2["adjusted"],
         "adjusted-gold": l2["adjusted-gold"]}))
    ok = _mean(adjusted_ft) > l2["adjusted"]
    checks.append(Check(
        "2. English fine-tuning raises it again (forgetting)", ok,
        f"L2 ratio adjusted {l2['adjusted']:.3f} -> adjusted+ft (word task) "
        f"{_mean(adjusted_ft):.3f} (mean of {len(seeds)} seeds: "
        f"{', '.join(f'{v:.3f}' for v in adjusted_ft)})",
        {"adjusted": l2["adjusted"], "adjusted+ft": adjusted_ft}))
    row = next((r for r in rows if r.task == WORD_TASK and r.config == LANG
                and r.metric == WORD_METRIC), None)
    test = row.tests.get("adjusted") if row is not None else None
    if row is None or test is None or test.get("p_holm") is None:
        checks.append(Check("3. the adjusted model beats the original zero-shot on the word task",
                            None, "not measured: no paired test in compare's table"))
    else:
        base, adj = row.summaries["original"], row.summaries["adjusted"]
        ok = bool(test["delta_of_means"] > 0 and test["significant"])
        gold = row.tests.get("adjusted-gold", {})
        checks.append(Check(
            "3. the adjusted model beats the original zero-shot on the word task", ok,
            f"{WORD_TASK} {LANG} entity F1 original {base} -> adjusted {adj} "
            f"(Δ {test['delta_of_means']:+.2f}, Holm-adjusted p {test['p_holm']:.3g}, "
            f"{len(test.get('seeds', []))} seeds; gold links: "
            f"{row.summaries['adjusted-gold']}, p {gold.get('p_holm', float('nan')):.3g})",
            {"original": [base.mean, base.std], "adjusted": [adj.mean, adj.std],
             "delta": test["delta_of_means"], "p_holm": test["p_holm"],
             "significant": test["significant"], "seeds": test.get("seeds")}))
    ok = _mean(continual) < _mean(adjusted_ft)
    checks.append(Check(
        "4. continual learning keeps more alignment than plain fine-tuning", ok,
        f"L2 ratio continual {_mean(continual):.3f} vs adjusted+ft {_mean(adjusted_ft):.3f} "
        f"(means over seeds; continual per seed {', '.join(f'{v:.3f}' for v in continual)})",
        {"continual": continual, "adjusted+ft": adjusted_ft}))
    return checks


# ---------------------------------------------------------------- page


def _load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def render_page(config: ScienceConfig, table: str, checks: list[Check],
                ratios: dict[str, dict[str, float]], seconds: dict[str, float],
                figures: dict[str, str], loads: dict[str, str], command: str) -> str:
    mode = "quick (plumbing only, tiny sizes)" if config.quick else "full"
    lines = [
        "# The papers' findings on the synthetic language pair",
        "",
        f"Generated by `{command}` ({mode}; {len(config.seeds)} seed(s): "
        f"{', '.join(map(str, config.seeds))}; data and pretraining seed {config.data_seed}). "
        "Do not edit by hand. The data and the tiny encoder are described in "
        "[synth.md](synth.md); the grid is the shipped plan `synth-science` "
        "(python/xadj/plans/synth-science.toml).",
        "",
        "## The four checks",
        "",
        "The distance ratio is **related / unrelated** mean distance of word pairs on the "
        "held-out test bitext (gold links; lower = more aligned). `analyze` reports its inverse, "
        "unrelated / related; the figures below are inverted from it.",
        "",
    ]
    for c in checks:
        verdict = "n/a" if c.passed is None else ("PASS" if c.passed else "FAIL")
        lines.append(f"- **{verdict}** {c.name}: {c.statement}")
    lines += ["", "## Related/unrelated distance ratios", "",
              "| model | L2 related/unrelated | cosine related/unrelated |", "|---|---|---|"]
    lines += [f"| {k} | {v['l2']:.3f} | {v['cosine']:.3f} |" for k, v in ratios.items()]
    lines += ["", "`+ft`: the word task's English fine-tuning of that model (seed s); "
              "`continual`: the original model fine-tuned on the word task with the alignment "
              "terms on the training bitext (continual learning).", ""]
    for name, rel in figures.items():
        lines += [f"![{name}]({rel})", ""]
    lines += ["## Zero-shot results (compare: mean ± std over seeds, paired bootstrap, Holm)", "",
              "ner: entity F1 (seqeval); xnli: accuracy; xsr: retrieval accuracy@1; `en` is "
              "the English test set of the task the models were fine-tuned on.", "",
              re.sub(r"^## ", "### ", table, flags=re.MULTILINE), ""]
    lines += ["## Wall time", "",
              "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.0f} |" for k, v in seconds.items()]
    lines += ["", f"Machine: {os.cpu_count()} CPU cores, {config.threads} torch threads; "
              f"load average (1, 5, 15 min) at the start {loads['start']}, at the end "
              f"{loads['end']} (the machine may be shared: wall time grows with the load).",
              f"Python {platform.python_version()}.", "",
              "## Regenerate", "", "```bash", command, "```", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- run


def run(config: ScienceConfig, command: str = "python benches/bench_science.py"
        ) -> ScienceResult:
    import torch

    from xadj.analysis.compare import CompareConfig, compare
    from xadj.analysis.plots import save_png
    from xadj.experiment import ExperimentConfig, run_experiment
    from xadj.outputs import atomic_write_text
    from xadj.synth import PretrainConfig, SynthConfig, generate, pretrain

    check(config)
    if not config.seeds or len(set(config.seeds)) != len(config.seeds):
        raise ValueError("--seeds: give distinct seeds")
    torch.set_num_threads(config.threads)
    page = Path(config.output)
    figures_dir = page.with_suffix("")
    work = Path(config.work_dir).resolve()
    if work.exists():
        if not (work / MARKER).is_file():
            raise ValueError(f"{work}: exists and is not a bench_science work directory")
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / MARKER).write_text("bench_science work directory\n", encoding="utf-8")
    figures_dir.mkdir(parents=True, exist_ok=True)
    loads = {"start": _load_average()}
    seconds: dict[str, float] = {}
    start = clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = now - clock
        clock = now
        log.info("%s: %.0f s", name, seconds[name])

    synth = work / "synth"
    sizes = QUICK_SYNTH if config.quick else FULL_SYNTH
    generate(SynthConfig(seed=config.data_seed, **sizes), synth, progress=False)
    lap("generate")
    settings = dict(QUICK_PRETRAIN if config.quick else FULL_PRETRAIN)
    if config.pretrain_steps is not None:
        settings["steps"] = config.pretrain_steps
    trained = pretrain(synth, work / "pretrain", PretrainConfig(seed=config.data_seed, cpu=True,
                                                                **settings), progress=False)
    original = str(trained.model_dir)
    lap("pretrain")

    os.environ["XADJ_SYNTH"], os.environ["XADJ_SYNTH_MODEL"] = str(synth), original
    plan = write_plan(config.quick, config.seeds, work / "synth-science.toml")
    grid = work / "grid"
    result = run_experiment(ExperimentConfig(plan=str(plan), output_dir=str(grid),
                                             executor="inline", cpu=True), progress=False)
    if result.failed:
        raise RuntimeError("experiment cells failed: " + "; ".join(
            f"{k}: {v}" for k, v in sorted(result.failed.items())))
    lap("experiment (align, fine-tune, evaluate)")

    compared = compare(CompareConfig(inputs=[str(grid)], output_dir=str(work / "compare")))
    figures: dict[str, str] = {}
    for task, fig in sorted(compared.figures.items()):
        path = save_png(fig, figures_dir / f"compare-{task}.png")
        figures[f"compare: {task}"] = f"{figures_dir.name}/{path.name}"
    lap("compare")

    ratios = run_analysis(grid, synth, original, config.seeds, work / "analysis", figures_dir)
    for name in ("histograms", "differences"):
        figures[f"distances: {name}"] = f"{figures_dir.name}/distances-{name}.png"
    lap("analyze")
    checks = make_checks(ratios, compared.rows, config.seeds)
    seconds["total"] = time.perf_counter() - start
    loads["end"] = _load_average()

    payload = {"checks": [asdict(c) for c in checks], "ratios_related_unrelated": ratios,
               "compare": json.loads(compared.json_path.read_text(encoding="utf-8"))["rows"],
               "config": asdict(config), "seconds": seconds, "load_average": loads,
               "pretrain_final_loss": trained.final_loss}
    atomic_write_text(figures_dir / "checks.json", json.dumps(payload, indent=2) + "\n")
    text = render_page(config, compared.markdown, checks, ratios, seconds, figures, loads,
                       command)
    atomic_write_text(page, text)
    return ScienceResult(page, checks, compared.markdown, ratios, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser, ScienceConfig)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("xadj", "transformers", "datasets", "accelerate"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import transformers

    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # load reports
    config = from_args(ScienceConfig, args)
    command = "python benches/bench_science.py " + " ".join(argv if argv is not None
                                                             else sys.argv[1:])
    result = run(config, command.strip())
    for c in result.checks:
        verdict = "n/a " if c.passed is None else ("PASS" if c.passed else "FAIL")
        print(f"{verdict} {c.name}: {c.statement}")
    print(f"wall time {result.seconds['total']:.0f} s; page {result.page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
