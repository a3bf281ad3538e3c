"""Command line: ``python -m xadj.cli <command>``. One parser function per subcommand; heavy
imports (torch, transformers) happen inside the handlers so ``--help`` stays instant."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

SYMMETRIZE_METHODS = ("intersect", "union", "grow-diag", "grow-diag-final", "grow-diag-final-and")


def _add_filter_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("filters (METHOD.md §1)")
    g.add_argument("--max-words", type=int, default=64,
                   help="drop pairs with a side longer than this many words (0: no limit)")
    g.add_argument("--keep-many-to-many", action="store_true",
                   help="keep links that are not one-to-one")
    g.add_argument("--keep-identical", action="store_true",
                   help="keep links between identical strings (Efimov et al. drop them)")
    g.add_argument("--keep-unlinked", action="store_true", help="keep pairs left without links")
    g.add_argument("--max-seq-length", type=int, default=None,
                   help="most subword pieces per side incl. special tokens (default: the model's)")
    g.add_argument("--max-pairs", type=int, default=None,
                   help="keep a seeded random subset of this many pairs")


def _add_bitext_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("parallel corpus")
    g.add_argument("--bitext", nargs="+", metavar="FILE",
                   help="one `other ||| English` file, or two line-aligned files (other, English); "
                        ".gz is fine; default: the sample shipped with xadj")
    g.add_argument("--alignments", help="Pharaoh links for the bitext (default: built-in aligner)")
    g.add_argument("--english-first", action="store_true",
                   help="lines are `English ||| other` (links English index first)")
    g.add_argument("--raw-text", action="store_true",
                   help="split raw text with the built-in Unicode word tokenizer "
                        "(default: text is pre-tokenized, words separated by spaces)")
    g.add_argument("--hf-dataset", help="a datasets id, saved dataset dir or json/parquet file")
    g.add_argument("--hf-config", help="dataset config, e.g. en-es")
    g.add_argument("--hf-split", default="train")
    g.add_argument("--hf-lang", help="other language key of a `translation` dict, e.g. es")
    g.add_argument("--hf-columns", nargs=2, metavar=("OTHER", "ENGLISH"),
                   help="column names (default: non_english english)")
    g.add_argument("--hf-max-rows", type=int, default=None)


def resolve_bitext(args: argparse.Namespace, work_dir: Path) -> list[Path]:
    if args.hf_dataset:
        from xadj.corpus import export_hf_dataset

        other_col, english_col = args.hf_columns or (None, None)
        paths = export_hf_dataset(
            args.hf_dataset, work_dir / "hf-export", config=args.hf_config, split=args.hf_split,
            other_lang=args.hf_lang, other_column=other_col, english_column=english_col,
            max_rows=args.hf_max_rows)
        args.raw_text = True  # dataset text is untokenized
        args.english_first = False
        return list(paths)
    if not args.bitext:
        from xadj.corpus import sample_bitext

        return [sample_bitext()]
    return [Path(p) for p in args.bitext]


def prepare_options(args: argparse.Namespace):
    from xadj.data import PrepareOptions

    return PrepareOptions(
        max_words=args.max_words, one_to_one=not args.keep_many_to_many,
        drop_identical=not args.keep_identical, drop_unlinked=not args.keep_unlinked,
        max_seq_length=args.max_seq_length, max_pairs=args.max_pairs, seed=args.seed,
        english_first=args.english_first, unicode_words=args.raw_text)


# ---------------------------------------------------------------- prepare
def cmd_prepare(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer

    from xadj.data import prepare
    from xadj.run import materialize_model

    output = Path(args.output)
    paths = resolve_bitext(args, output.parent / f".{output.name}.work")
    name = materialize_model(args.tokenizer, output.parent / f".{output.name}.models")
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as err:
        raise OSError(f"cannot load tokenizer {args.tokenizer!r}: {err}") from err
    ds = prepare(paths, tokenizer, output, alignments=args.alignments,
                 options=prepare_options(args), tokenizer_name=args.tokenizer)
    print(json.dumps(ds.meta["counts"], indent=2))
    print(f"prepared {ds.num_pairs} pairs into {output}", file=sys.stderr)
    return 0


def add_prepare(sub) -> None:
    p = sub.add_parser("prepare", help="bitext + alignments -> subword arrays for training")
    _add_bitext_args(p)
    p.add_argument("--tokenizer", required=True,
                   help="hub id or local path of a fast tokenizer, or `tiny` (smoke test)")
    p.add_argument("--output", "-o", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=42)
    _add_filter_args(p)
    p.set_defaults(func=cmd_prepare)


# ---------------------------------------------------------------- symmetrize
def cmd_symmetrize(args: argparse.Namespace) -> int:
    from xadj.alignment import symmetrize_files

    symmetrize_files(args.fwd, args.rev, args.method, args.output)
    return 0


def add_symmetrize(sub) -> None:
    p = sub.add_parser("symmetrize", help="join forward and reverse alignments (atools -c)")
    p.add_argument("fwd", help="forward Pharaoh file")
    p.add_argument("rev", help="reverse Pharaoh file (source index first, as fast_align -r)")
    p.add_argument("--method", "-c", choices=SYMMETRIZE_METHODS, default="grow-diag-final-and")
    p.add_argument("--output", "-o", help="output file (default: stdout)")
    p.set_defaults(func=cmd_symmetrize)


# ---------------------------------------------------------------- score
def cmd_score(args: argparse.Namespace) -> int:
    from xadj.alignment import read_gold, score_file

    gold = read_gold(args.gold, one_based=args.one_based_gold)
    print("file\tAER\tprecision\trecall")
    for hyp in args.hyp:
        s = score_file(hyp, gold, last=args.last)
        print(f"{hyp}\t{100 * s['aer']:.2f}\t{100 * s['precision']:.2f}\t{100 * s['recall']:.2f}")
    return 0


def add_score(sub) -> None:
    p = sub.add_parser("score", help="AER, precision and recall against a gold alignment")
    p.add_argument("--gold", required=True, help="gold file: `i-j` sure, `ipj`/`i?j` possible")
    p.add_argument("--one-based-gold", action="store_true", help="gold indices start at 1")
    p.add_argument("--last", type=int, default=None,
                   help="score only the last N hypothesis lines (test pairs appended to training)")
    p.add_argument("hyp", nargs="+", help="hypothesis Pharaoh files")
    p.set_defaults(func=cmd_score)


# ---------------------------------------------------------------- wordalign
def cmd_wordalign(args: argparse.Namespace) -> int:
    from xadj.alignment import wordalign_cli

    return wordalign_cli(args)


def add_wordalign(sub) -> None:
    p = sub.add_parser("wordalign", help="built-in word aligner (fast_align's model, -d -o -v)")
    p.add_argument("input", help="`source ||| target` file (fast_align's input format)")
    p.add_argument("--reverse", "-r", action="store_true", help="align in the reverse direction")
    p.add_argument("--output", "-o", help="output file (default: stdout)")
    p.add_argument("--both", action="store_true", help="both directions, then symmetrise")
    p.add_argument("--symmetrize", choices=SYMMETRIZE_METHODS, default="intersect")
    p.add_argument("--output-prefix", help="with --both: writes P.fwd, P.rev and P.<method>")
    p.add_argument("--iterations", "-I", type=int, default=5)
    p.add_argument("--p0", type=float, default=0.08, help="NULL alignment probability")
    p.add_argument("--tension", "-T", type=float, default=4.0, help="initial diagonal tension")
    p.add_argument("--alpha", type=float, default=0.01, help="variational Bayes concentration")
    p.add_argument("--no-diagonal", action="store_true", help="no diagonal prior (IBM Model 1)")
    p.add_argument("--no-optimize-tension", action="store_true")
    p.add_argument("--no-variational-bayes", action="store_true")
    p.add_argument("--no-null", action="store_true", help="no NULL word")
    p.add_argument("--lowercase", action="store_true", help="align on lowercased words")
    p.add_argument("--threads", type=int, default=None, help="worker threads (default: all)")
    p.set_defaults(func=cmd_wordalign)


# ---------------------------------------------------------------- align
def cmd_align(args: argparse.Namespace) -> int:
    from xadj.run import Corpus, RunSpec, run_align
    from xadj.train import AlignConfig

    out = Path(args.output_dir)
    if args.dataset:
        corpora = []
        for spec in args.dataset:
            lang, _, path = spec.partition("=")
            if not lang or not path:
                raise ValueError(f"--dataset {spec!r}: expected LANG=DIR")
            corpora.append(Corpus(lang, prepared=Path(path)))
    elif args.corpus:
        corpora = []
        for spec in args.corpus:
            lang, _, files = spec.partition("=")
            parts = files.split(",")
            if not lang or not parts[0]:
                raise ValueError(f"--corpus {spec!r}: expected LANG=FILE[,ALIGNMENTS]")
            corpora.append(Corpus(lang, [Path(parts[0])],
                                  Path(parts[1]) if len(parts) > 1 else None))
    else:
        corpora = [Corpus(args.lang, resolve_bitext(args, out / "hf"),
                          Path(args.alignments) if args.alignments else None)]
    config = AlignConfig(
        model=args.model, mix_languages=args.mix_languages, loss_variant=args.loss,
        reg_weight=args.reg_weight, pooling=args.pooling, special_pairs=not args.no_special_pairs,
        pairs_per_step=args.pairs_per_step, grad_accum=args.grad_accum, lr=args.lr,
        warmup_fraction=args.warmup_fraction, epochs=args.epochs, max_steps=args.max_steps,
        seed=args.seed, mixed_precision=args.mixed_precision,
        # Without any accelerator, CPU mode is what lets several processes (torchrun) use gloo.
        cpu=args.cpu or not _accelerator_available(),
        checkpoint_every=args.checkpoint_every or None, resume=args.resume,
        overwrite=args.overwrite)
    spec = RunSpec(corpora, out, prepare_options(args), heldout_pairs=args.heldout_pairs,
                   tiny_kind=args.tiny_kind)
    outcome = run_align(spec, config)
    if not outcome["main_process"]:  # under accelerate launch / torchrun: one process reports
        return 0
    for name, result in outcome["results"].items():
        print(f"{name}: {result.steps} steps -> {result.model_dir}")
        report = outcome["reports"].get(name, {}).get(name)
        if report:
            b, a = report["before"], report["after"]
            print(f"  held-out L2 unrelated/related {b['l2_ratio']:.3f} -> {a['l2_ratio']:.3f}, "
                  f"word retrieval {b['retrieval_accuracy']:.3f} -> "
                  f"{a['retrieval_accuracy']:.3f}, English drift {a['english_drift_l2']:.3f}")
    return 0


def _accelerator_available() -> bool:
    import torch

    return torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available())


def add_align(sub) -> None:
    p = sub.add_parser("align", help="adjust an encoder on a parallel corpus (the main job)")
    p.add_argument("--model", default="bert-base-multilingual-cased",
                   help="hub id or local dir of any AutoModel encoder; `tiny` = a small random "
                        "SMOKE-TEST model built offline (not a real encoder)")
    p.add_argument("--tiny-kind", choices=("bert", "xlmr"), default="bert",
                   help="architecture and tokenizer type of --model tiny")
    p.add_argument("--output-dir", "-o", required=True)
    _add_bitext_args(p)
    p.add_argument("--lang", default="fr", help="language code of the other side of --bitext")
    p.add_argument("--corpus", action="append", metavar="LANG=FILE[,ALIGNMENTS]",
                   help="one corpus per language (repeat); one model each unless --mix-languages")
    p.add_argument("--dataset", action="append", metavar="LANG=DIR",
                   help="a dataset made by `prepare` with the model's tokenizer (repeat)")
    p.add_argument("--mix-languages", action="store_true",
                   help="one model for all languages, a batch of each in every step (Cao et al.)")
    g = p.add_argument_group("method (METHOD.md §2-4)")
    g.add_argument("--loss", choices=("current", "frozen"), default="current",
                   help="pull toward the current English vectors (Efimov) or the frozen ones")
    g.add_argument("--reg-weight", type=float, default=1.0, help="weight of the English anchor")
    g.add_argument("--pooling", choices=("avg", "first", "last"), default="avg")
    g.add_argument("--no-special-pairs", action="store_true",
                   help="do not align the first/last special tokens ([CLS]/[SEP], <s>/</s>)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--pairs-per-step", type=int, default=32)
    g.add_argument("--grad-accum", type=int, default=1, help="chunks per step (saves memory)")
    g.add_argument("--lr", type=float, default=5e-5)
    g.add_argument("--warmup-fraction", type=float, default=0.1)
    g.add_argument("--epochs", type=int, default=1)
    g.add_argument("--max-steps", type=int, default=None)
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no")
    g.add_argument("--cpu", action="store_true", help="stay on the CPU even with a GPU")
    g.add_argument("--checkpoint-every", type=int, default=1000, help="steps (0: never)")
    g.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    g.add_argument("--overwrite", action="store_true", help="replace a finished model")
    g.add_argument("--heldout-pairs", type=int, default=200,
                   help="pairs kept out of training for the alignment report")
    _add_filter_args(p)
    p.set_defaults(func=cmd_align)


# ---------------------------------------------------------------- report
def cmd_report(args: argparse.Namespace) -> int:
    import numpy as np
    from transformers import AutoModel

    from xadj.batches import Batcher
    from xadj.data import PreparedDataset
    from xadj.model import load_encoder
    from xadj.report import compare

    original, _ = load_encoder(args.original)
    adjusted = AutoModel.from_pretrained(args.model)
    batches = {}
    for spec in args.dataset:
        lang, _, path = spec.rpartition("=")
        ds = PreparedDataset.load(path)
        pairs = np.arange(min(args.pairs, ds.num_pairs)) if args.pairs else None
        batcher = Batcher(ds, args.pooling, pairs=pairs)
        batches[lang or Path(path).name] = [
            batcher.batch(np.arange(s, min(s + 32, batcher.num_pairs)))
            for s in range(0, batcher.num_pairs, 32)]
    out = compare(original, adjusted, batches, args.output)
    print(json.dumps(out, indent=2))
    return 0


def add_report(sub) -> None:
    p = sub.add_parser("report", help="alignment report: adjusted vs original on held-out pairs")
    p.add_argument("--model", required=True, help="adjusted model dir")
    p.add_argument("--original", required=True, help="the model it was adjusted from")
    p.add_argument("--dataset", nargs="+", required=True, metavar="[LANG=]DIR",
                   help="prepared datasets of held-out pairs (made with the model's tokenizer)")
    p.add_argument("--pairs", type=int, default=None, help="use the first N pairs of each")
    p.add_argument("--pooling", choices=("avg", "first", "last"), default="avg")
    p.add_argument("--output", "-o", help="also write the JSON here")
    p.set_defaults(func=cmd_report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m xadj.cli",
        description="Cross-lingual adjustment of multilingual encoders.")
    parser.add_argument("--verbose", "-v", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (add_align, add_prepare, add_wordalign, add_symmetrize, add_score, add_report):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # xadj's own run summaries and step logs show by default; other libraries' only with -v.
    logging.getLogger("xadj").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return args.func(args)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:  # a non-finite loss: the message names the last checkpoint
        print(f"error: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
