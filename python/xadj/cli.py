"""Command line: ``python -m xadj.cli <command>``. Each subcommand's options are derived from its
config dataclass (xadj.config), so every default and help text has one home; the handlers call
the Python API and are the only place that prints or picks exit codes. Heavy imports (torch,
transformers) happen inside the handlers so ``--help`` stays instant."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from xadj.config import add_arguments, from_args

Handler = Callable[[argparse.Namespace], int]


def _parser(sub: Any, name: str, help: str, config: type, func: Handler) -> argparse.ArgumentParser:
    doc = config.__doc__ or ""
    if doc.startswith(f"{config.__name__}("):  # dataclass's generated signature, not a text
        doc = help
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=doc.strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p, config)
    p.set_defaults(func=func, config=config)
    return p


def _config(args: argparse.Namespace) -> Any:
    return from_args(args.config, args)


# ---------------------------------------------------------------- align
def cmd_align(args: argparse.Namespace) -> int:
    from xadj.align import adjust

    result = adjust(_config(args), progress=not args.quiet)
    if not result.main_process:  # under accelerate launch / torchrun: one process reports
        return 0
    for name, model_dir in result.models.items():
        print(f"{name}: {result.steps[name]} steps -> {model_dir}")
        report = result.reports.get(name, {})
        for lang in name.split("+"):
            if lang not in report:
                continue
            b, a = report[lang]["before"], report[lang]["after"]
            print(f"  {lang} held-out: L2 unrelated/related {b['l2_ratio']:.3f} -> "
                  f"{a['l2_ratio']:.3f}, word retrieval {b['retrieval_accuracy']:.3f} -> "
                  f"{a['retrieval_accuracy']:.3f}, English drift {a['english_drift_l2']:.3f}")
            retrieval = report[lang].get("sentence_retrieval", {})
            for layer, r in retrieval.get("layers", {}).items():
                b, a = r["before"], r["after"]
                print(f"  {lang} held-out sentence retrieval, layer {layer} (% xx->en / en->xx): "
                      f"{b['xx2en']:.1f}/{b['en2xx']:.1f} -> {a['xx2en']:.1f}/{a['en2xx']:.1f}")
    return 0


# ---------------------------------------------------------------- prepare
def cmd_prepare(args: argparse.Namespace) -> int:
    from xadj.api import prepare

    result = prepare(_config(args), progress=not args.quiet)
    print(json.dumps(result.counts, indent=2))
    print(f"prepared {result.num_pairs} pairs into {result.path}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- wordalign
def cmd_wordalign(args: argparse.Namespace) -> int:
    from xadj.api import wordalign

    result = wordalign(_config(args), progress=not args.quiet)
    if result.empty_pairs or result.too_long_pairs:
        print(f"{result.empty_pairs} pairs with an empty side and {result.too_long_pairs} too "
              f"long got empty alignment lines", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- symmetrize
def cmd_symmetrize(args: argparse.Namespace) -> int:
    from xadj.api import symmetrize

    symmetrize(_config(args))
    return 0


# ---------------------------------------------------------------- score
def cmd_score(args: argparse.Namespace) -> int:
    from xadj.api import score

    result = score(_config(args))
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print("file\tAER\tprecision\trecall")
    for hyp, s in result.scores.items():
        print(f"{hyp}\t{100 * s['aer']:.2f}\t{100 * s['precision']:.2f}\t{100 * s['recall']:.2f}")
    return 0


# ---------------------------------------------------------------- report
def cmd_report(args: argparse.Namespace) -> int:
    from xadj.api import report

    print(json.dumps(report(_config(args)), indent=2))
    return 0


# ---------------------------------------------------------------- finetune / evaluate
def cmd_finetune(args: argparse.Namespace) -> int:
    from xadj.finetune import finetune

    result = finetune(_config(args), progress=not args.quiet)
    parts = ", ".join(f"{k} {v:.4f}" for k, v in result.final.items())
    print(f"{result.steps} steps -> {result.model_dir}" + (f" (last step: {parts})" if parts
                                                          else ""))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from xadj.evaluate import evaluate

    result = evaluate(_config(args), progress=not args.quiet)
    for config, metrics in result.metrics.items():
        shown = ", ".join(f"{k} {v:.2f}" for k, v in metrics.items() if k != "n")
        print(f"{config}: {shown} (n={int(metrics.get('n', 0))})")
    print(f"results: {result.results_path}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- compare / analyze
def cmd_compare(args: argparse.Namespace) -> int:
    from xadj.analysis.compare import compare

    result = compare(_config(args))
    print(result.markdown)
    print(f"JSON: {result.json_path}; charts: {', '.join(map(str, result.charts.values()))}",
          file=sys.stderr)
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from xadj.analysis.analyze import analyze

    result = analyze(_config(args))
    for m in result.models:
        print(m.summary_line() if hasattr(m, "summary_line") else m)
    print(f"JSON: {result.json_path}; figures: {', '.join(map(str, result.paths.values()))}",
          file=sys.stderr)
    return 0


# ---------------------------------------------------------------- experiment
def cmd_experiment(args: argparse.Namespace) -> int:
    from xadj.experiment import run_experiment

    result = run_experiment(_config(args), progress=not args.quiet)
    print(result.text)
    if not result.dry_run:
        print(f"cells: {len(result.ran)} ran, {len(result.skipped)} already done, "
              f"{len(result.failed)} failed", file=sys.stderr)
        for cell, error in result.failed.items():
            print(f"  {cell}: {error}", file=sys.stderr)
    return 1 if result.failed else 0


# ---------------------------------------------------------------- synth
def cmd_synth(args: argparse.Namespace) -> int:
    from xadj.synth.generate import SynthConfig, generate

    result = generate(from_args(SynthConfig, args), args.output_dir, progress=not args.quiet)
    for path, rows in sorted(result.counts.items()):
        print(f"{rows:>8}  {path}")
    print(f"lexicon: {result.lexicon_size} lemmas -> {result.output_dir}", file=sys.stderr)
    return 0


def cmd_synth_pretrain(args: argparse.Namespace) -> int:
    from xadj.synth.pretrain import PretrainConfig, pretrain

    result = pretrain(args.synth_dir, args.output_dir, from_args(PretrainConfig, args),
                      progress=not args.quiet)
    print(f"{result.steps} steps, final MLM loss {result.final_loss:.3f} -> {result.model_dir}")
    return 0


def _commands() -> list[tuple[str, str, type, Handler]]:
    from xadj.align import AlignConfig
    from xadj.analysis.analyze import AnalyzeConfig
    from xadj.analysis.compare import CompareConfig
    from xadj.api import (
        PrepareJobConfig,
        ReportConfig,
        ScoreConfig,
        SymmetrizeConfig,
        WordalignConfig,
    )
    from xadj.evaluate import EvaluateConfig
    from xadj.experiment import ExperimentConfig
    from xadj.finetune import FinetuneConfig
    from xadj.synth.generate import SynthJobConfig
    from xadj.synth.pretrain import PretrainJobConfig

    commands: list[tuple[str, str, type, Handler]] = [
        ("align", "adjust an encoder on a parallel corpus (the main job)", AlignConfig,
         cmd_align),
        ("prepare", "bitext + alignments -> subword arrays for training", PrepareJobConfig,
         cmd_prepare),
        ("wordalign", "built-in word aligner (fast_align's model, -d -o -v)", WordalignConfig,
         cmd_wordalign),
        ("symmetrize", "join forward and reverse alignments (atools -c)", SymmetrizeConfig,
         cmd_symmetrize),
        ("score", "AER, precision and recall against a gold alignment", ScoreConfig, cmd_score),
        ("report", "alignment report: adjusted vs original on held-out pairs", ReportConfig,
         cmd_report),
        ("finetune", "fine-tune an encoder on an English task (XNLI, NER, QA), optionally with "
         "continual alignment", FinetuneConfig, cmd_finetune),
        ("evaluate", "zero-shot evaluation per language (XNLI, NER, QA, XSR)", EvaluateConfig,
         cmd_evaluate),
        ("experiment", "run a plan's grid of models x tasks x seeds (resumable, submitit)",
         ExperimentConfig, cmd_experiment),
        ("compare", "tables with statistics over seeds and models, and bar charts",
         CompareConfig, cmd_compare),
        ("analyze", "distances of related and unrelated words, with histograms", AnalyzeConfig,
         cmd_analyze),
        ("synth", "generate the synthetic language pair and its tasks (offline science)",
         SynthJobConfig, cmd_synth),
        ("synth-pretrain", "MLM-pretrain a small BERT on the synthetic monolingual text",
         PretrainJobConfig, cmd_synth_pretrain),
    ]
    return commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m xadj.cli",
        description="Cross-lingual adjustment of multilingual encoders.")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logs, all libraries")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help, config, func in _commands():
        _parser(sub, name, help, config, func)
    return parser


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    if not {"-v", "--verbose"} & set(words):  # xadj's bars and summaries; the libraries' with -v
        for var, value in (("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
                           ("HF_DATASETS_DISABLE_PROGRESS_BARS", "1"),
                           ("TRANSFORMERS_VERBOSITY", "error")):
            os.environ.setdefault(var, value)  # before the parser imports the libraries
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # xadj's own run summaries and step logs show by default; other libraries' only with -v.
    logging.getLogger("xadj").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return int(args.func(args))
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:  # a non-finite or diverging loss: names the last checkpoint
        print(f"error: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
