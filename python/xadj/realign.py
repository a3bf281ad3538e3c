"""The align -> adjust -> re-align loop of ``align --realign-rounds N`` (see :mod:`xadj.align`):
round k re-aligns the corpus with round k-1's model (SimAlign's mutual argmax, or itermax, at
``realign_layer``), prepares it again and adjusts round k-1's model further, F0 staying the
original; ``realign.json`` records every round (links changed, and AER on appended gold lines).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from xadj.align import (
    REALIGN_FILE,
    ROUNDS_DIR,
    AlignConfig,
    CorpusPlan,
    HeldOut,
    accelerator_available,
    summarize_counts,
    train_and_report,
)
from xadj.data import PreparedDataset

log = logging.getLogger(__name__)


def realign_rounds(
    run_config: AlignConfig, plans: list[CorpusPlan], first: dict[str, PreparedDataset],
    results: dict[str, Any], reports: dict[str, dict[str, Any]], held: HeldOut,
    held_lines: dict[str, set[int]], state: Any, progress: bool, extra: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any]]:
    """Rounds 1..N of the align -> adjust -> re-align loop (see the module docs)."""
    from dataclasses import replace

    from xadj.batches import Batcher
    from xadj.corpus import read_bitext
    from xadj.outputs import atomic_write_text
    from xadj.wordalign_encoder import changed_links
    from xadj.wordaligner import read_gold

    config, out = run_config, Path(run_config.output_dir)
    original = held.original  # held.tokenizer: loaded when asked for, let go in training
    gold = None
    if config.realign_gold is not None:
        gold = read_gold(config.realign_gold, one_based=config.realign_gold_one_based)
    bitexts = {p.lang: read_bitext(*p.paths, unicode_words=config.prepare.unicode_words,
                                   allow_empty=True) for p in plans}
    gold_lines = np.zeros(0, np.int64)
    if gold is not None:
        n_gold, bitext = len(gold.sure[1]) - 1, next(iter(bitexts.values()))
        if n_gold > bitext.num_pairs:
            raise ValueError(f"{config.realign_gold}: {n_gold} gold lines for a corpus of "
                             f"{bitext.num_pairs} pairs (the gold pairs are its last lines)")
        gold_lines = np.arange(bitext.num_pairs - n_gold, bitext.num_pairs, dtype=np.int64)
    # Each round re-aligns the pairs of the first prepared dataset (training and held-out) and
    # the gold pairs: the same sentences every round, whatever --max-pairs sampled.
    lines = {lang: np.union1d(np.asarray(ds.arrays["pair_index"], np.int64), gold_lines)
             for lang, ds in first.items()}
    previous = {p.lang: _first_links(p, bitexts[p.lang], config) for p in plans}
    record: dict[str, Any] = {
        "realign_layer": _realign_layer(config, original), "realign_method": config.realign_method,
        "realign_granularity": config.realign_granularity,
        "gold": config.realign_gold, "gold_lines": len(gold_lines), "rounds": [{
            "round": 0, "aligner": {p.lang: _first_aligner(p, config) for p in plans},
            "aligned_pairs": {lang: len(v) for lang, v in lines.items()},
            "links": {lang: int(np.diff(previous[lang][1])[lines[lang]].sum())
                      for lang in lines},
            **_round_scores(previous, gold, gold_lines),
            "models": {name: str(r.model_dir) for name, r in results.items()},
            "heldout": _report_summary(reports)}]}
    if gold is not None and state.is_main_process:
        links = _encoder_links(original, held.tokenizer, bitexts,
                               {k: gold_lines for k in bitexts},
                               config, progress)
        record["original_encoder"] = _round_scores(links, gold, gold_lines)
    for k in range(1, config.realign_rounds + 1):
        model_of = {lang: r.model_dir for name, r in results.items() for lang in name.split("+")}
        data_dir = out / "data" / f"round-{k}"
        with state.main_process_first():
            reuse = config.resume or not state.is_main_process
            links, datasets = _realigned_corpora(model_of, held.tokenizer, bitexts, lines, data_dir,
                                                 config, reuse, progress)
        links.pop("_layer", None)
        entry: dict[str, Any] = {
            "round": k, "aligned_with": {lang: str(m) for lang, m in model_of.items()},
            "links": {lang: int(np.diff(links[lang][1])[lines[lang]].sum()) for lang in links},
            "links_changed": {lang: changed_links(previous[lang], links[lang], lines[lang])
                              for lang in links},
            **_round_scores(links, gold, gold_lines)}
        previous = links
        training = {}
        for lang, ds in datasets.items():
            corpus_lines = np.asarray(ds.arrays["pair_index"], np.int64) + 1
            keep = np.flatnonzero(~np.isin(corpus_lines, list(held_lines.get(lang, ()))))
            if len(keep) == 0:
                raise ValueError(f"{lang}, round {k}: no sentence pairs left after filtering")
            training[lang] = Batcher(ds, config.pooling, config.special_pairs, pairs=keep)
        round_dir = out / ROUNDS_DIR / str(k)
        paths = {**config.prepared_datasets, **{lang: str(d.path) for lang, d in datasets.items()}}
        step_config = replace(config, anchor_model=config.model, prepared_datasets=paths)
        extra_k = {**extra, "realign_round": k}
        if config.mix_languages or len(training) == 1:
            start = next(iter(results.values())).model_dir
            results, reports = train_and_report(
                replace(step_config, model=str(start), output_dir=str(round_dir)), training,
                held, state, progress, extra_k)
        else:
            results, reports = {}, {}
            for lang, batcher in training.items():
                r, rep = train_and_report(
                    replace(step_config, model=str(model_of[lang]),
                            output_dir=str(round_dir / lang)), {lang: batcher}, held, state,
                    progress, extra_k)
                results.update(r)
                reports.update(rep)
        entry["models"] = {name: str(r.model_dir) for name, r in results.items()}
        entry["heldout"] = _report_summary(reports)
        record["rounds"].append(entry)
        if state.is_main_process:
            atomic_write_text(out / REALIGN_FILE, json.dumps(record, indent=2))
    if gold is not None and state.is_main_process:  # how the final model aligns the gold pairs
        model_of = {lang: r.model_dir for name, r in results.items() for lang in name.split("+")}
        final = _encoder_links(model_of, held.tokenizer, bitexts,
                               {k: gold_lines for k in bitexts},
                               config, progress)
        record["final_encoder"] = _round_scores(final, gold, gold_lines)
    if state.is_main_process:
        atomic_write_text(out / REALIGN_FILE, json.dumps(record, indent=2))
        log.info("re-alignment rounds: %s", out / REALIGN_FILE)
    return results, reports, record


Links = tuple[np.ndarray, np.ndarray]


def _first_links(plan: CorpusPlan, bitext: Any, config: AlignConfig) -> Links:
    """Round 0's links: the given alignments, or the built-in aligner's (as prepare made them)."""
    from xadj.data import align_bitext
    from xadj.wordaligner import read_alignment

    if plan.alignments is not None:
        return read_alignment(plan.alignments)
    found = align_bitext(bitext, config.prepare.symmetrize)  # (links, offsets, stats)
    return found[0], found[1]


def _first_aligner(plan: CorpusPlan, config: AlignConfig) -> str:
    if config.realign_start == "encoder":
        return f"original encoder ({plan.alignments})"
    if plan.alignments is not None:
        return str(plan.alignments)
    return f"built-in ({config.prepare.symmetrize})"


def _round_scores(links: dict[str, Links], gold: Any, gold_lines: np.ndarray) -> dict[str, Any]:
    from xadj.wordaligner import score

    if gold is None:
        return {}
    hyp = next(v for k, v in links.items() if k != "_layer")  # gold: one language (checked)
    found = score(hyp, gold, last=len(gold_lines))
    return {"aer": found["aer"], "precision": found["precision"], "recall": found["recall"],
            "gold_links": int(np.diff(hyp[1])[gold_lines].sum())}


def _report_summary(reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Held-out word retrieval and the unrelated/related L2 ratio of each language, after."""
    keys = ("retrieval_accuracy", "l2_ratio")
    return {name: {lang: {k: v for k, v in r["after"].items() if k in keys}
                   for lang, r in rep.items() if "after" in r}
            for name, rep in reports.items()}


def _realign_layer(config: AlignConfig, model: Any) -> int:
    from xadj.sentence_vectors import default_layer

    if config.realign_layer is not None:
        return config.realign_layer
    return default_layer(model.config.num_hidden_layers)


def _realign_device(config: AlignConfig) -> str:
    return "cpu" if config.cpu or not accelerator_available() else "cuda"


def _encoder_links(models: Any, tokenizer: Any, bitexts: dict[str, Any],
                   lines: dict[str, np.ndarray], config: AlignConfig, progress: bool,
                   ) -> dict[str, Links]:
    """Each language's pairs ``lines`` aligned by its model (a loaded model, or a dict of model
    directories by language); the layer used is under the key ``_layer``."""
    from xadj.model import load_encoder
    from xadj.wordalign_encoder import align_lines

    found: dict[str, Any] = {}
    loaded: dict[str, Any] = {}  # a mixed run's one model serves every language
    for lang, bitext in bitexts.items():
        if isinstance(models, dict):
            path = str(models[lang])
            model = loaded.get(path) or loaded.setdefault(path, load_encoder(path)[0])
        else:
            model = models
        layer = _realign_layer(config, model)
        found[lang] = align_lines(model, tokenizer, bitext, lines[lang], layer=layer,
                                  method=config.realign_method, pooling=config.pooling,
                                  granularity=config.realign_granularity,
                                  device=_realign_device(config), progress=progress)
        found["_layer"] = layer
    return found


def _realigned_corpora(
    model_of: dict[str, Path], tokenizer: Any, bitexts: dict[str, Any],
    lines: dict[str, np.ndarray], data_dir: Path, config: AlignConfig, reuse: bool,
    progress: bool,
) -> tuple[dict[str, Any], dict[str, PreparedDataset]]:
    """Round k's links and prepared datasets: the corpus words written once as two
    pre-tokenized files (so raw text keeps the words the links count), the links as Pharaoh."""
    from dataclasses import replace

    from xadj.data import prepare
    from xadj.wordaligner import read_alignment

    files = {lang: _round_files(data_dir, lang) for lang in bitexts}
    if reuse and all(p.is_file() for f in files.values() for p in f):
        links: dict[str, Any] = {lang: read_alignment(f[2]) for lang, f in files.items()}
    else:
        links = _encoder_links(model_of, tokenizer, bitexts, lines, config, progress)
        for lang, paths in files.items():
            _write_round_files(paths, bitexts[lang], links[lang])
    options = replace(config.prepare, unicode_words=False)  # the files hold the words
    datasets = {}
    for lang, (first, second, pharaoh) in files.items():
        target = data_dir / lang
        if reuse and (target / "meta.json").is_file():
            datasets[lang] = PreparedDataset.load(target)
            continue
        datasets[lang] = prepare([first, second], tokenizer, target, alignments=pharaoh,
                                 options=options, tokenizer_name=config.model, progress=progress,
                                 overwrite=True)
        log.info("%s, re-aligned (%s): %s", lang, data_dir.name,
                 summarize_counts(datasets[lang].meta["counts"]))
    return links, datasets


def start_from_encoder(plans: list[CorpusPlan], config: AlignConfig, original: Any,
                       tokenizer: Any, out: Path, reuse: bool, progress: bool
                       ) -> tuple[list[CorpusPlan], AlignConfig]:
    """``--realign-start encoder``: every corpus aligned by the original encoder, as round 0's
    input: its words and links in ``data/round-0/<lang>.{first,second,links}``. The returned
    config reads those files' words as they are (no second word tokenization), in every round."""
    from dataclasses import replace

    from xadj.corpus import read_bitext

    data_dir = out / "data" / "round-0"
    data_dir.mkdir(parents=True, exist_ok=True)
    started = []
    for plan in plans:
        paths = _round_files(data_dir, plan.lang)
        if not (reuse and all(p.is_file() for p in paths)):
            bitext = read_bitext(*plan.paths, unicode_words=config.prepare.unicode_words,
                                 allow_empty=True)
            links = _encoder_links(original, tokenizer, {plan.lang: bitext},
                                   {plan.lang: np.arange(bitext.num_pairs)}, config, progress)
            _write_round_files(paths, bitext, links[plan.lang])
            log.info("%s: round 0 aligned by the original encoder (layer %d)", plan.lang,
                     links["_layer"])
        started.append(CorpusPlan(plan.lang, list(paths[:2]), paths[2]))
    return started, replace(config, prepare=replace(config.prepare, unicode_words=False))


def _round_files(data_dir: Path, lang: str) -> tuple[Path, Path, Path]:
    """A round's corpus words (first side, second side) and links of one language."""
    return (data_dir / f"{lang}.first", data_dir / f"{lang}.second", data_dir / f"{lang}.links")


def _write_round_files(paths: tuple[Path, Path, Path], bitext: Any, links: Links) -> None:
    """The bitext's words written as two pre-tokenized files (so raw text keeps the words the
    links count) and the links as Pharaoh, each file atomically."""
    from xadj.outputs import atomic_write_text
    from xadj.wordalign_encoder import bitext_pairs
    from xadj.wordaligner import write_alignment

    first, second, pharaoh = paths
    pairs = bitext_pairs(bitext)
    atomic_write_text(first, "".join(" ".join(s) + "\n" for s, _ in pairs))
    atomic_write_text(second, "".join(" ".join(t) + "\n" for _, t in pairs))
    tmp = pharaoh.with_name(f".{pharaoh.name}.tmp")
    write_alignment(tmp, *links)
    tmp.replace(pharaoh)
