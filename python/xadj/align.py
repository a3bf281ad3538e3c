"""The align job (``python -m xadj.cli align``, ``xadj.adjust``): check every input and the output
directory first, resolve the model, prepare each language's corpus (aligning it when no
alignments are given), hold out pairs for the report, train, report.

Layout of ``output_dir`` (every path below is xadj's own; ``--overwrite`` removes only these):
``xadj_run.json`` the run's settings and corpus fingerprints (``--resume`` must match them),
``data/<lang>/`` prepared datasets, ``heldout.json`` the held-out pair indices of each language,
and what :func:`xadj.train.train` writes (``model/``, ``checkpoints/``, ``metrics.jsonl``; one
sub-directory per language unless languages are mixed), plus ``alignment_report.json`` next to
each model.

With ``realign_rounds`` N > 0 (the align -> adjust -> re-align loop): round 0 is the ordinary
adjustment and round k re-aligns the training pairs with round k-1's model (SimAlign's mutual
argmax at ``realign_layer``), prepares them again and adjusts round k-1's model further, the
anchor F0 of L_reg staying the ORIGINAL model. What train() writes for round k goes to
``rounds/<k>/`` (the final model: ``rounds/<N>/model``, or ``rounds/<N>/<lang>/model``); round
k's words and links to ``data/round-<k>/<lang>.{first,second,links}`` and its prepared dataset to
``data/round-<k>/<lang>/``; ``realign.json`` has each round's links changed against the previous
round and, with ``realign_gold``, AER on the corpus's last lines. The held-out pairs of round 0
stay out of every round's training and are the pairs of every round's report.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xadj.api import ENCODER_GRANULARITIES, ENCODER_METHODS
from xadj.config import check, differences, setting, validate_language
from xadj.data import CorpusConfig, PrepareConfig, PreparedDataset
from xadj.model import TINY_KINDS
from xadj.tracking import REPORT_TO

log = logging.getLogger(__name__)

RUN_FILE = "xadj_run.json"
REALIGN_FILE = "realign.json"
ROUNDS_DIR = "rounds"
HELDOUT_FILE = "heldout.json"
SAMPLE_LANG = "fr"  # the shipped sample is French-English
# Settings that may change when a run resumes (they do not change what is computed).
RESUMABLE = ("resume", "overwrite", "checkpoint_every", "keep_checkpoints", "log_every",
             "report_to")


@dataclass
class AlignConfig:
    """Every setting of the align job (docs/method.md §1-4 for the method's defaults)."""

    model: str = setting(
        "bert-base-multilingual-cased",
        "hub id or local dir of any AutoModel encoder; `e5-small`: multilingual-e5-small, offline; "
        "`tiny`: a small random SMOKE-TEST model built offline (not a real encoder)")
    tiny_kind: str = setting("bert", "architecture and tokenizer type of --model tiny",
                             choices=TINY_KINDS)
    output_dir: str = setting("xadj-out", "run directory (see README: what align writes)",
                              short="-o", required=True)
    lang: str | None = setting(
        None, "language code of the other side of --bitext (required with your own bitext, "
        "unless its file names carry it, e.g. train.de.gz; the sample is fr)")
    corpus: list[str] = setting(
        factory=list, help="one corpus per language, LANG=FILE[,ALIGNMENTS] (repeat); one model "
        "each unless --mix-languages", metavar="LANG=FILE[,ALIGNMENTS]", repeat=True)
    dataset: list[str] = setting(
        factory=list, help="a dataset made by `prepare` with the model's tokenizer, LANG=DIR "
        "(repeat)", metavar="LANG=DIR", repeat=True)
    mix_languages: bool = setting(
        False, "one model for all languages, a batch of each in every step (Cao et al.)")
    loss_variant: str = setting(
        "current", "pull toward the current English vectors (Efimov) or the frozen ones (Cao)",
        choices=("current", "frozen"), flag="--loss")
    reg_weight: float = setting(1.0, "weight of the English anchor L_reg", min=0.0)
    pooling: str = setting("avg", "word vector from its pieces", choices=("avg", "first", "last"))
    special_pairs: bool = setting(
        True, "do not align the first/last special tokens ([CLS]/[SEP], <s>/</s>); they stay "
        "in L_reg either way, as in the reference code")
    pairs_per_step: int = setting(32, "sentence pairs per optimizer step, per language", min=1)
    grad_accum: int = setting(
        1, "chunks per step, to save memory (same update; 8 chunks of 4 pairs is the "
        "reference's chunked loss exactly)", min=1)
    lr: float = setting(5e-5, "Adam learning rate after warm-up", min=0.0, min_open=True)
    warmup_fraction: float = setting(0.1, "linear warm-up over this share of the steps", min=0.0,
                                     max=1.0)
    epochs: int = setting(1, "passes over the (largest) corpus", min=1)
    max_steps: int | None = setting(None, "stop after this many optimizer steps", min=1)
    seed: int = setting(42, "seed of the batch order, held-out split, dropout", min=0)
    mixed_precision: str = setting("no", "accelerate's mixed precision",
                                   choices=("no", "fp16", "bf16"))
    cpu: bool = setting(False, "stay on the CPU even with a GPU")
    checkpoint_every: int = setting(1000, "save a resumable checkpoint every N steps (0: never)",
                                    min=0)
    keep_checkpoints: int = setting(1, "how many of the newest checkpoints to keep", min=1)
    resume: bool = setting(False, "continue the run in --output-dir from its last checkpoint")
    overwrite: bool = setting(False, "replace an earlier xadj run in --output-dir")
    heldout_pairs: int = setting(200, "pairs kept out of training for the alignment report",
                                 min=0)
    max_loss_ratio: float = setting(
        100.0, "stop as diverged when a step's loss exceeds this multiple of the first step's",
        min=1.0, min_open=True)
    log_every: int = setting(50, "log the loss parts every N steps", min=1)
    report_to: str = setting("none", "also log step metrics to these trackers (accelerate)",
                             choices=REPORT_TO)
    freeze_embeddings: bool = setting(
        False, "train every weight but the input word embeddings (no gradient, no Adam state; "
        "the frozen original shares them): cheaper on large vocabularies")
    loss_layer: int | None = setting(
        None, "hidden_states index the loss compares (default: the last layer, as the papers; "
        "with --realign-rounds, the re-alignment layer trains what the loop aligns with)",
        min=-1)
    realign_rounds: int = setting(
        0, "after adjusting, re-align the corpus with the adjusted encoder and adjust again, N "
        "times (rounds/<k>/ holds round k; the anchor stays the original model)", min=0)
    realign_layer: int | None = setting(
        None, "hidden_states index for re-alignment (default: 2/3 of the depth, 8 of 12)",
        min=-1)
    realign_method: str = setting("argmax", "re-alignment links: mutual argmax or itermax",
                                  choices=ENCODER_METHODS)
    realign_granularity: str = setting(
        "word", "re-alignment links between words (pieces pooled), or between pieces, mapped to "
        "their words (SimAlign's subword level)", choices=ENCODER_GRANULARITIES)
    realign_gold: str | None = setting(
        None, "gold links of the LAST lines of the corpus (appended test pairs): each round's "
        "AER goes into realign.json")
    realign_gold_one_based: bool = setting(False, "--realign-gold indices start at 1")
    realign_start: str = setting(
        "aligner", "round 0's links: the built-in aligner's (or the given alignments), or the "
        "original encoder's own (mutual argmax at --realign-layer, over the whole corpus)",
        choices=("aligner", "encoder"))
    source: CorpusConfig = field(default_factory=CorpusConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    # Set by the job, recorded with the model:
    prepared_datasets: dict[str, str] = setting(factory=dict, cli=False)
    anchor_model: str | None = setting(None, "F0 when training starts from an adjusted model",
                                       cli=False)

    def __post_init__(self) -> None:
        check(self)
        self.prepare.seed = self.seed  # one seed for the whole run
        if self.lang is not None:
            validate_language(self.lang)
        if self.pairs_per_step < self.grad_accum:
            raise ValueError("pairs_per_step must be at least grad_accum")
        if self.source.hf_dataset:  # dataset text is untokenized, English in its own column
            self.prepare.unicode_words, self.prepare.english_first = True, False
        if self.realign_gold is not None and not self.realign_rounds:
            raise ValueError("--realign-gold scores re-alignment rounds: set --realign-rounds N")
        if self.realign_start != "aligner" and not self.realign_rounds:
            raise ValueError("--realign-start starts re-alignment rounds: set --realign-rounds N")
        if self.realign_rounds and self.dataset:
            raise ValueError("--realign-rounds re-aligns the corpus text: give --corpus or "
                             "--bitext, not a prepared --dataset")


@dataclass
class CorpusPlan:
    lang: str
    paths: list[Path] = field(default_factory=list)  # `other ||| English` file, or two files
    alignments: Path | None = None  # Pharaoh links; None: the built-in aligner
    prepared: Path | None = None  # an already prepared dataset (made with the model's tokenizer)


@dataclass
class AlignResult:
    """What an align run produced, per trained model (``es``, or ``es+ru`` when mixed)."""

    output_dir: Path
    models: dict[str, Path]
    steps: dict[str, int]
    reports: dict[str, dict[str, Any]]
    main_process: bool = True
    realign: dict[str, Any] | None = None  # what realign.json holds (realign_rounds > 0)


_LANG_IN_NAME = re.compile(r"(?:^|[._-])([a-z]{2,3})(?=[._-]|$)")
_NOT_LANGS = {"en", "txt", "gz", "tsv", "tok", "raw", "train", "test", "dev", "val", "all"}


def language_from_names(paths: list[Path]) -> str | None:
    """A language code carried by file names: ``train.de.gz`` (two files), ``de-en.txt``."""
    candidates = {m for p in paths for m in _LANG_IN_NAME.findall(p.name)} - _NOT_LANGS
    return candidates.pop() if len(candidates) == 1 else None


def plan_corpora(config: AlignConfig, work_dir: Path | None) -> list[CorpusPlan]:
    """Each language's corpus, from --dataset, --corpus or --bitext/--hf-dataset/the sample;
    languages validated and unique, files checked to exist: all before any work. A datasets
    source is exported into ``work_dir`` (with None, only checked: its paths stay empty)."""
    from xadj.data import resolve_corpus

    plans: list[CorpusPlan] = []
    sources = sum(bool(x) for x in (config.dataset, config.corpus,
                                    config.source.bitext or config.source.hf_dataset))
    if sources > 1:
        raise ValueError("give corpora one way: --dataset, --corpus, or --bitext/--hf-dataset")
    for spec in config.dataset:
        lang, _, path = spec.partition("=")
        if not lang or not path:
            raise ValueError(f"--dataset {spec!r}: expected LANG=DIR")
        if not (Path(path) / "meta.json").is_file():
            raise FileNotFoundError(f"--dataset {spec!r}: {path} is not a prepared dataset")
        plans.append(CorpusPlan(validate_language(lang), prepared=Path(path)))
    for spec in config.corpus:
        lang, _, files = spec.partition("=")
        parts = files.split(",")
        if not lang or not parts[0] or len(parts) > 2:
            raise ValueError(f"--corpus {spec!r}: expected LANG=FILE[,ALIGNMENTS]")
        for p in parts:
            if not Path(p).exists():
                raise FileNotFoundError(f"--corpus {spec!r}: {p}: no such file")
        plans.append(CorpusPlan(validate_language(lang), [Path(parts[0])],
                                Path(parts[1]) if len(parts) > 1 else None))
    if not plans:
        src = config.source
        paths = [] if src.hf_dataset and work_dir is None else resolve_corpus(src, work_dir
                                                                              or Path("."))
        named = config.lang or src.hf_lang
        if not (src.bitext or src.hf_dataset):
            if named not in (None, SAMPLE_LANG):
                raise ValueError(f"--lang {named}: the shipped sample is French-English; give "
                                 f"--bitext with your {named} corpus")
            named = SAMPLE_LANG
        elif named is None:
            named = language_from_names(paths)
            if named is None:
                raise ValueError("say which language the other side of the bitext is in: --lang "
                                 "CODE (e.g. --lang de)")
            log.info("language %s read from the file name(s) %s", named,
                     ", ".join(p.name for p in paths))
        plans.append(CorpusPlan(validate_language(named), paths,
                                Path(src.alignments) if src.alignments else None))
    langs = [p.lang for p in plans]
    if len(set(langs)) != len(langs):
        raise ValueError(f"a language is given twice: {', '.join(langs)}")
    if config.realign_gold is not None:
        if len(plans) != 1:
            raise ValueError("--realign-gold scores the last lines of one corpus: give one "
                             "language")
        if not Path(config.realign_gold).is_file():
            raise FileNotFoundError(f"--realign-gold {config.realign_gold}: no such file")
    for plan in plans:
        if plan.alignments is not None and config.realign_start == "encoder":
            raise ValueError(f"--realign-start encoder aligns the corpus with the encoder: drop "
                             f"the alignments given for {plan.lang} ({plan.alignments})")
        if plan.alignments is not None and config.prepare.unicode_words:
            raise ValueError("--raw-text with external --alignments would shift the word indices "
                             "the alignments refer to: give the pre-tokenized text they were made "
                             "on, or drop --alignments to use the built-in aligner")
    return plans


def owned_paths(plans: list[CorpusPlan], mixed: bool) -> tuple[str, ...]:
    """Everything an align run writes into its output directory (what --overwrite replaces)."""
    per_run = ("model", "checkpoints", "metrics.jsonl", "alignment_report.json")
    langs = tuple(p.lang for p in plans) if len(plans) > 1 and not mixed else ()
    return (RUN_FILE, HELDOUT_FILE, REALIGN_FILE, ROUNDS_DIR, "data", "hf", *per_run, *langs)


def run_record(config: AlignConfig, plans: list[CorpusPlan]) -> dict[str, Any]:
    """What a resumed run must agree with: every setting and the corpus files' fingerprints."""
    from xadj.corpus import fingerprint

    settings = {k: v for k, v in asdict(config).items()
                if k not in RESUMABLE and k != "prepared_datasets"}
    files = {}
    for plan in plans:
        for p in [*plan.paths, *([plan.alignments] if plan.alignments else [])]:
            if p.is_file():  # a pipe can be read only once: it is not fingerprinted
                files[str(p)] = fingerprint([p])
    return {"settings": settings, "files": files}


def check_resume(out: Path, record: dict[str, Any]) -> None:
    path = out / RUN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{out}: nothing to resume ({RUN_FILE} missing)")
    old = json.loads(path.read_text())
    changed = differences(old.get("settings", {}), record["settings"])
    changed += differences({"files": old.get("files", {})}, {"files": record["files"]})
    if changed:
        raise ValueError(f"{out}: cannot resume with different settings (old -> new):\n  "
                         + "\n  ".join(changed)
                         + "\nrun with the old settings, or use a new --output-dir")


def split_heldout(n: int, heldout: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, held-out) pair indices; at most a fifth of the pairs is held out."""
    from xadj.sampling import subset

    k = min(heldout, n // 5)
    held = subset(n, k, seed + 1) if k > 0 else np.zeros(0, dtype=np.int64)
    train = np.setdiff1d(np.arange(n, dtype=np.int64), held)
    return train, held


def summarize_counts(c: dict[str, Any]) -> str:
    """One line of what prepare kept and why it dropped the rest (full counts: meta.json)."""
    return (f"{c['pairs_read']} pairs read, {c['pairs_out']} kept with {c['links_out']} links; "
            f"dropped pairs: empty side {c.get('filter_pairs_empty', 0)}, too long "
            f"{c['filter_pairs_too_long']}, too many pieces {c['map_pairs_too_many_pieces']}, "
            f"no links left {c['map_pairs_without_links']}; dropped links: not one-to-one "
            f"{c['filter_links_not_one_to_one']}, identical {c['filter_links_identical']}, "
            f"word without pieces {c['map_links_zero_pieces']}")


def prepare_corpora(plans: list[CorpusPlan], config: AlignConfig, tokenizer: Any, out: Path,
                    reuse: bool, progress: bool) -> dict[str, PreparedDataset]:
    from xadj.data import prepare, tokenizer_info

    datasets = {}
    for plan in plans:
        if plan.prepared is not None:
            ds = PreparedDataset.load(plan.prepared)
            expected = {k: v for k, v in vars(tokenizer_info(tokenizer)).items()
                        if k != "max_length"}
            found = {k: ds.meta["tokenizer"].get(k) for k in expected}
            if found != expected:
                raise ValueError(f"{plan.prepared}: prepared with another tokenizer "
                                 f"({ds.tokenizer_name!r}: {found}, model: {expected})")
            datasets[plan.lang] = ds
            continue
        target = out / "data" / plan.lang
        if reuse and (target / "meta.json").exists():
            datasets[plan.lang] = PreparedDataset.load(target)  # verified on load
            continue
        datasets[plan.lang] = prepare(list(plan.paths), tokenizer, target,
                                      alignments=plan.alignments, options=config.prepare,
                                      tokenizer_name=config.model, progress=progress,
                                      overwrite=True)
        log.info("%s: %s", plan.lang, summarize_counts(datasets[plan.lang].meta["counts"]))
    return datasets


def heldout_sentences(plans: list[CorpusPlan], lang: str, ds: PreparedDataset, pairs: list[int],
                      options: PrepareConfig) -> tuple[list[str], list[str]] | None:
    """The held-out pairs as text (words joined by spaces, as the model saw them), read again
    from the corpus files; None when they cannot be read twice (a pipe) or were prepared
    elsewhere."""
    from xadj.corpus import read_bitext

    plan = next(p for p in plans if p.lang == lang)
    if not plan.paths or not all(p.is_file() for p in plan.paths) or not pairs:
        return None
    bitext = read_bitext(*plan.paths, unicode_words=options.unicode_words, allow_empty=True)
    lines = ds.arrays["pair_index"][np.asarray(pairs, dtype=np.int64)]

    def text(side: tuple[np.ndarray, np.ndarray], i: int) -> str:
        values, offsets = side
        return " ".join(bitext.vocab[w] for w in values[offsets[i]:offsets[i + 1]])

    first = [text(bitext.source, int(i)) for i in lines]
    second = [text(bitext.target, int(i)) for i in lines]
    return (second, first) if options.english_first else (first, second)


def accelerator_available() -> bool:
    import torch

    return bool(torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available()))


def adjust(config: AlignConfig, progress: bool = True) -> AlignResult:
    """Runs the align job: prepare, train and report (see the module docs for the layout).

    Under ``accelerate launch``/``torchrun`` every process runs this: the main process checks,
    locks and prepares first, the others then load what it wrote."""
    from accelerate import PartialState

    from xadj.model import check_model_source, resolve_model
    from xadj.outputs import claim_output_dir, clean_temporaries

    check(config)
    out = Path(config.output_dir)
    # Without any accelerator, CPU mode is what lets several processes (torchrun) use gloo.
    cpu = config.cpu or not accelerator_available()
    state = PartialState(cpu=cpu)  # the same state the trainer's Accelerator will use
    lock = None
    with state.main_process_first():
        if state.is_main_process:
            plans = plan_corpora(config, None)  # checks everything before any work
            check_model_source(resolve_model(config.model, config.tiny_kind))
            lock = claim_output_dir(out, "align", overwrite=config.overwrite,
                                    resume=config.resume,
                                    owned=owned_paths(plans, config.mix_languages))
        plans = plan_corpora(config, out / "hf")
    try:
        return _run(config, plans, out, state, progress, cpu)
    finally:
        if lock is not None:
            lock.release()
            clean_temporaries(out)


def _run(config: AlignConfig, plans: list[CorpusPlan], out: Path, state: Any, progress: bool,
         cpu: bool) -> AlignResult:
    from dataclasses import replace

    from xadj.batches import Batcher
    from xadj.model import load_encoder, resolve_model
    from xadj.outputs import atomic_write_text
    from xadj.realign import realign_rounds, start_from_encoder

    with state.main_process_first():
        record = run_record(config, plans)
        if state.is_main_process:
            if config.resume:
                check_resume(out, record)
            atomic_write_text(out / RUN_FILE, json.dumps(record, indent=2))
        model_path = resolve_model(config.model, config.tiny_kind)
        original, tokenizer = load_encoder(model_path)  # fails early on a bad model
        reuse = config.resume or not state.is_main_process
        if config.realign_start == "encoder":
            plans, config = start_from_encoder(plans, config, original, tokenizer, out, reuse,
                                               progress)
        datasets = prepare_corpora(plans, config, tokenizer, out, reuse, progress)
    run_config = replace(config, model=model_path, cpu=cpu, output_dir=str(out),
                         prepared_datasets={lang: str(ds.path) for lang, ds in datasets.items()})
    training, heldout, held_record = {}, {}, {}
    for lang, ds in datasets.items():
        train_idx, held_idx = split_heldout(ds.num_pairs, config.heldout_pairs, config.seed)
        if len(train_idx) == 0:
            raise ValueError(f"{lang}: no sentence pairs left after filtering: "
                             f"{json.dumps(ds.meta['counts'])}")
        training[lang] = Batcher(ds, config.pooling, config.special_pairs, pairs=train_idx)
        held_record[lang] = {"dataset": str(ds.path), "pairs": held_idx.tolist(),
                             "corpus_lines": (ds.arrays["pair_index"][held_idx] + 1).tolist()}
        if len(held_idx):
            held = Batcher(ds, config.pooling, config.special_pairs, pairs=held_idx)
            heldout[lang] = [held.batch(np.arange(s, min(s + 32, len(held_idx))))
                             for s in range(0, len(held_idx), 32)]
    if state.is_main_process:
        atomic_write_text(out / HELDOUT_FILE, json.dumps(held_record))
    extra = {"model_name": config.model, "heldout": {
        lang: {"pairs": len(r["pairs"]), "file": HELDOUT_FILE} for lang, r in held_record.items()}}
    sentences = {lang: heldout_sentences(plans, lang, datasets[lang], r["pairs"], config.prepare)
                 for lang, r in held_record.items()} if state.is_main_process else {}
    held_out = HeldOut(heldout, sentences, original, model_path, tokenizer)
    del tokenizer  # held_out lets it go during training
    first = out / ROUNDS_DIR / "0" if config.realign_rounds else out
    results, reports = train_and_report(replace(run_config, output_dir=str(first)), training,
                                         held_out, state, progress, extra)
    realign = None
    if config.realign_rounds:
        held_lines = {lang: set(r["corpus_lines"]) for lang, r in held_record.items()}
        results, reports, realign = realign_rounds(
            run_config, plans, datasets, results, reports, held_out, held_lines, state, progress,
            extra)
    models = {name: r.model_dir for name, r in results.items()}
    steps = {name: r.steps for name, r in results.items()}
    return AlignResult(out, models, steps, reports, state.is_main_process, realign)


@dataclass
class HeldOut:
    """What every report of a run compares on: the held-out batches and sentences, the original
    model and its tokenizer. The tokenizer is let go while a model trains (a 250k-piece fast
    tokenizer holds ~0.3 GB) and loaded again from ``model_path`` when next asked for."""

    batches: dict[str, list[Any]]
    sentences: dict[str, tuple[list[str], list[str]] | None]
    original: Any
    model_path: str
    loaded_tokenizer: Any = None

    @property
    def tokenizer(self) -> Any:
        from xadj.model import load_tokenizer

        if self.loaded_tokenizer is None:
            self.loaded_tokenizer = load_tokenizer(self.model_path)
        return self.loaded_tokenizer

    def release_tokenizer(self) -> None:
        self.loaded_tokenizer = None


def train_and_report(run_config: AlignConfig, training: dict[str, Any], held: HeldOut,
                      state: Any, progress: bool, extra: dict[str, Any]
                      ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Trains (one model per language, or one for all) and writes each model's report."""
    from transformers import AutoModel

    from xadj.alignment_report import compare, sentence_retrieval
    from xadj.outputs import atomic_write_text
    from xadj.train import train

    held.release_tokenizer()  # train() loads one only to save it with the model
    results = train(run_config, training, progress=progress, extra_record=extra,
                    original=held.original)
    reports: dict[str, dict[str, Any]] = {}
    if not state.is_main_process:
        return results, reports
    for name, result in results.items():
        batches = {lang: held.batches[lang] for lang in name.split("+") if lang in held.batches}
        if not batches:
            continue
        adjusted = AutoModel.from_pretrained(result.model_dir, use_safetensors=True)
        path = result.model_dir.parent / "alignment_report.json"
        reports[name] = compare(held.original, adjusted, batches)
        for lang in batches:
            sentences = held.sentences.get(lang)
            if sentences is not None:
                reports[name][lang]["sentence_retrieval"] = sentence_retrieval(
                    held.original, adjusted, held.tokenizer, *sentences)
        atomic_write_text(path, json.dumps(reports[name], indent=2))
        log.info("alignment report: %s", path)
    return results, reports
