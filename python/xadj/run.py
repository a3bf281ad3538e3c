"""The main job behind ``python -m xadj.cli align``: resolve the model, prepare each language's
corpus (aligning it when no alignments are given), hold out pairs for the report, train, report.

Layout of ``output_dir``: ``data/<lang>/`` prepared datasets, ``tiny-<kind>/`` the smoke-test
model when ``--model tiny``, and what :func:`xadj.train.train` writes (``model/``,
``checkpoints/``; one sub-directory per language unless languages are mixed), plus
``alignment_report.json`` next to each model.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xadj.data import PreparedDataset, PrepareOptions, prepare

log = logging.getLogger(__name__)


@dataclass
class Corpus:
    lang: str  # language code of the other side, e.g. es
    paths: list[Path] = field(default_factory=list)  # `other ||| English` file, or two files
    alignments: Path | None = None  # Pharaoh links; None: the built-in aligner
    prepared: Path | None = None  # an already prepared dataset (made with the model's tokenizer)


@dataclass
class RunSpec:
    corpora: list[Corpus]
    output_dir: Path
    prepare: PrepareOptions = field(default_factory=PrepareOptions)
    heldout_pairs: int = 200  # pairs kept out of training for the alignment report
    tiny_kind: str = "bert"  # architecture of `--model tiny`: bert | xlmr


def materialize_model(name: str, where: Path, kind: str = "bert") -> str:
    """`tiny` becomes a freshly built smoke-test model in ``where``; anything else is returned."""
    from xadj.model import TINY, build_tiny_model

    if name != TINY:
        return name
    target = where / f"tiny-{kind}"
    if not (target / "config.json").exists():
        from xadj.corpus import sample_bitext

        lines = [side for line in sample_bitext().read_text(encoding="utf-8").splitlines()
                 for side in line.split(" ||| ")]
        build_tiny_model(kind, lines, target, seed=0)
    return str(target)


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
            f"dropped pairs: too long {c['filter_pairs_too_long']}, too many pieces "
            f"{c['map_pairs_too_many_pieces']}, no links left {c['map_pairs_without_links']}; "
            f"dropped links: not one-to-one {c['filter_links_not_one_to_one']}, identical "
            f"{c['filter_links_identical']}, word without pieces {c['map_links_zero_pieces']}")


def prepare_corpora(spec: RunSpec, tokenizer: Any, model_name: str, reuse: bool
                    ) -> dict[str, PreparedDataset]:
    from xadj.data import tokenizer_info

    datasets = {}
    for corpus in spec.corpora:
        if corpus.prepared is not None:
            ds = PreparedDataset.load(corpus.prepared)
            expected = {k: v for k, v in vars(tokenizer_info(tokenizer)).items()
                        if k != "max_length"}
            found = {k: ds.meta["tokenizer"].get(k) for k in expected}
            if found != expected:
                raise ValueError(f"{corpus.prepared}: prepared with another tokenizer "
                                 f"({ds.tokenizer_name!r}: {found}, model: {expected})")
            datasets[corpus.lang] = ds
            continue
        out = spec.output_dir / "data" / corpus.lang
        if reuse and (out / "meta.json").exists():
            datasets[corpus.lang] = PreparedDataset.load(out)
            continue
        datasets[corpus.lang] = prepare(corpus.paths, tokenizer, out, alignments=corpus.alignments,
                                        options=spec.prepare, tokenizer_name=model_name)
        log.info("%s: %s", corpus.lang, summarize_counts(datasets[corpus.lang].meta["counts"]))
    return datasets


def run_align(spec: RunSpec, config: Any) -> dict[str, Any]:
    """Prepares, trains (``config`` is an :class:`xadj.train.AlignConfig`) and reports.

    Under ``accelerate launch`` every process runs this: the main process builds the tiny model
    and prepares the data first, the others then load what it wrote."""
    from accelerate import PartialState
    from transformers import AutoModel

    from xadj.batches import Batcher
    from xadj.model import load_encoder
    from xadj.report import compare
    from xadj.train import train

    state = PartialState(cpu=config.cpu)  # the same state the trainer's Accelerator will use
    spec.output_dir.mkdir(parents=True, exist_ok=True)
    with state.main_process_first():
        config.model = materialize_model(config.model, spec.output_dir, spec.tiny_kind)
        original, tokenizer = load_encoder(config.model)  # fails early on a bad model path
        reuse = config.resume or not state.is_main_process
        datasets = prepare_corpora(spec, tokenizer, config.model, reuse=reuse)
    config.output_dir = str(spec.output_dir)
    config.datasets = {lang: str(ds.path) for lang, ds in datasets.items()}
    sources, heldout = {}, {}
    for lang, ds in datasets.items():
        train_idx, held_idx = split_heldout(ds.num_pairs, spec.heldout_pairs, config.seed)
        if len(train_idx) == 0:
            raise ValueError(f"{lang}: no sentence pairs left after filtering: "
                             f"{json.dumps(ds.meta['counts'])}")
        sources[lang] = Batcher(ds, config.pooling, config.special_pairs, pairs=train_idx)
        if len(held_idx):
            held = Batcher(ds, config.pooling, config.special_pairs, pairs=held_idx)
            heldout[lang] = [held.batch(np.arange(s, min(s + 32, len(held_idx))))
                             for s in range(0, len(held_idx), 32)]
    results = train(config, sources)
    reports: dict[str, Any] = {}
    if not state.is_main_process:
        return {"results": results, "reports": reports, "main_process": False}
    for name, result in results.items():
        langs = name.split("+")
        batches = {lang: heldout[lang] for lang in langs if lang in heldout}
        if not batches:
            continue
        adjusted = AutoModel.from_pretrained(result.model_dir)
        path = result.model_dir.parent / "alignment_report.json"
        reports[name] = compare(original, adjusted, batches, path)
        log.info("alignment report: %s", path)
    return {"results": results, "reports": reports, "main_process": True}
