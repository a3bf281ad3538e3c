"""``analyze``: distances of related and unrelated words for several models on held-out parallel
pairs (Efimov et al.'s analysis, docs/method.md §7), e.g. the original encoder, the adjusted one,
and the adjusted-then-fine-tuned one (a ``finetune`` output: ``AutoModel`` loads its encoder,
dropping the task head).

Writes to ``output_dir``: ``analysis.json`` (settings, versions, per model: means with bootstrap
intervals of related and unrelated distances and of their paired differences, the ratio),
``histograms.png`` (per model, related vs unrelated, L2 and cosine), ``differences.png`` (the
paired differences of every model on one figure) and, when asked, ``curves.png`` (training
curves of several runs).
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from xadj.analysis.distances import KINDS, WordDistances, word_distances
from xadj.analysis.plots import histograms, new_figure, plot_curves, save_png
from xadj.analysis.stats import DEFAULT_RESAMPLES
from xadj.config import check, setting

log = logging.getLogger(__name__)

OUTPUT_JSON = "analysis.json"
HISTOGRAMS, DIFFERENCES, CURVES = "histograms.png", "differences.png", "curves.png"
OWNED = (OUTPUT_JSON, HISTOGRAMS, DIFFERENCES, CURVES)
KIND_LABEL = {"l2": "L2 distance", "cosine": "cosine distance (1 - cos)"}


@dataclass
class AnalyzeConfig:
    models: list[str] = setting(
        factory=list, metavar="MODEL", required=True,
        help="models to compare: tiny, a hub id, a model dir, or an xadj align/finetune output "
             "(its model/ is used; a fine-tuned model's encoder without its head)")
    output_dir: str = setting("", "where analysis.json and the figures go", required=True,
                              metavar="Y")
    bitext: list[str] = setting(
        factory=list, metavar="FILE", required=True,
        help="held-out pairs: one `other ||| English` file, or two line-aligned files")
    alignments: str | None = setting(None, "Pharaoh links of the bitext (default: the built-in "
                                            "aligner)")
    labels: list[str] | None = setting(None, "names of the models in the figures and JSON "
                                             "(default: as given)")
    english_first: bool = setting(False, "lines are `English ||| other`")
    layer: int = setting(-1, "hidden layer (hidden_states index: 0 embeddings, -1 last)")
    pooling: str = setting("avg", "word vector from its pieces", choices=("avg", "first", "last"))
    max_pairs: int | None = setting(None, "use a seeded random subset of this many pairs", min=1)
    max_words: int = setting(64, "drop pairs with a side longer than this (0: no limit)", min=0)
    batch_size: int = setting(32, "sentence pairs per forward pass", min=1)
    resamples: int = setting(DEFAULT_RESAMPLES, "bootstrap resamples of the intervals", min=1000)
    confidence: float = setting(0.95, "level of the bootstrap intervals", min=0.0, max=1.0,
                                min_open=True)
    bins: int = setting(50, "histogram bins", min=1)
    seed: int = setting(0, "seed of the pair subset and the bootstrap")
    curves: list[str] | None = setting(
        None, metavar="RUN", help="also plot the training curves of these runs (output dirs or "
                                  "metrics.jsonl files) into curves.png")
    curve_keys: list[str] = setting(factory=lambda: ["loss"], help="metrics.jsonl keys to plot")
    cpu: bool = setting(False, "stay on the CPU even with a GPU")
    overwrite: bool = setting(False, "replace an earlier analysis in output_dir")
    progress: bool = setting(True, "progress bar over models", cli=False)


@dataclass
class ModelAnalysis:
    label: str
    source: str  # the directory or hub id the encoder was loaded from
    distances: WordDistances
    summary: dict[str, Any]

    def summary_line(self) -> str:
        """``label: N pairs; L2 unrelated-related +0.46 [0.22, 0.70], ratio 1.06; cosine ...``"""
        parts = []
        for kind in KINDS:
            s = self.summary[kind]
            d = s["difference"]
            parts.append(f"{kind} unrelated-related {d['mean']:+.3g} [{d['ci_low']:.3g}, "
                         f"{d['ci_high']:.3g}], ratio {s['ratio_unrelated_related']:.3f}")
        return f"{self.label}: {self.distances.pairs} pairs; " + "; ".join(parts)


@dataclass
class AnalyzeResult:
    models: list[ModelAnalysis]
    json_path: Path
    figures: dict[str, Figure]  # histograms, differences[, curves]
    paths: dict[str, Path]  # the same names -> PNG files


def model_source(name: str) -> str:
    """``tiny``/named models resolved; an xadj align or finetune output -> its ``model/``."""
    from xadj.model import resolve_model

    path = Path(resolve_model(name))
    if (path / "model" / "config.json").is_file():
        return str(path / "model")
    return str(path) if path.exists() else name


def _tokenizer_key(tokenizer: Any) -> str:
    """Identity of a tokenizer's behaviour: models that share it share one prepared dataset."""
    return hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode()).hexdigest()


def _heldout_batches(config: AnalyzeConfig, tokenizer: Any, work: Path) -> list[Any]:
    from xadj.batches import Batcher
    from xadj.data import PrepareOptions, prepare

    options = PrepareOptions(max_words=config.max_words, max_pairs=config.max_pairs,
                             seed=config.seed, english_first=config.english_first)
    dataset = prepare(list(config.bitext), tokenizer, work / "data",
                      alignments=config.alignments, options=options, progress=False)
    if dataset.num_pairs == 0:
        raise ValueError(f"{', '.join(config.bitext)}: no sentence pairs with links left after "
                         f"filtering: {json.dumps(dataset.meta['counts'])}")
    batcher = Batcher(dataset, config.pooling, special_pairs=True)
    n = batcher.num_pairs
    return [batcher.batch(np.arange(s, min(s + config.batch_size, n)))
            for s in range(0, n, config.batch_size)]


def histogram_figure(analyses: list[ModelAnalysis], bins: int) -> Figure:
    """One row per model, one column per distance: related vs unrelated, overlaid."""
    fig = new_figure(10.0, 2.8 * len(analyses))
    axes = fig.subplots(len(analyses), len(KINDS), squeeze=False)
    for row, a in zip(axes, analyses, strict=True):
        for ax, kind in zip(row, KINDS, strict=True):
            histograms(ax, {"related": a.distances.related[kind],
                            "unrelated": a.distances.unrelated[kind]},
                       bins, KIND_LABEL[kind], a.label)
    return fig


def difference_figure(analyses: list[ModelAnalysis], bins: int) -> Figure:
    """Paired differences d(unrelated) - d(related) of every model, one panel per distance."""
    fig = new_figure(10.0, 3.2)
    axes = fig.subplots(1, len(KINDS), squeeze=False)[0]
    for ax, kind in zip(axes, KINDS, strict=True):
        histograms(ax, {a.label: a.distances.differences(kind) for a in analyses}, bins,
                   f"{KIND_LABEL[kind]}: unrelated - related", "paired differences",
                   outline=True)
        ax.axvline(0.0, color="black", linewidth=0.8)
    return fig


def analyze(config: AnalyzeConfig) -> AnalyzeResult:
    """Loads each model, computes its related/unrelated distances on the held-out pairs
    (prepared once per distinct tokenizer), summarises them and draws the figures."""
    import torch
    from tqdm.auto import tqdm

    from xadj.model import load_encoder
    from xadj.outputs import atomic_write_text, claim_output_dir

    check(config)
    if not config.models:
        raise ValueError("analyze needs at least one model")
    if not config.bitext or len(config.bitext) > 2:
        raise ValueError("analyze needs held-out pairs: one `other ||| English` file or two files")
    labels = list(config.labels) if config.labels else list(config.models)
    if len(labels) != len(config.models) or len(set(labels)) != len(labels):
        raise ValueError("give one distinct label per model")
    if not config.output_dir:
        raise ValueError("analyze needs an output directory")
    for path in config.bitext + ([config.alignments] if config.alignments else []):
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such file")
    device = "cuda" if torch.cuda.is_available() and not config.cpu else "cpu"
    out = Path(config.output_dir)
    lock = claim_output_dir(out, "analyze", overwrite=config.overwrite, owned=OWNED)
    try:
        analyses: list[ModelAnalysis] = []
        prepared: dict[str, list[Any]] = {}
        with tempfile.TemporaryDirectory(prefix=".analyze-", dir=out) as tmp:
            for label, name in tqdm(list(zip(labels, config.models, strict=True)),
                                    desc="analyze", disable=not config.progress):
                source = model_source(name)
                model, tokenizer = load_encoder(source)
                key = _tokenizer_key(tokenizer)
                if key not in prepared:
                    prepared[key] = _heldout_batches(config, tokenizer, Path(tmp) / key[:16])
                encoder: torch.nn.Module = model  # transformers' stubs mistype .to()
                encoder.to(device)
                distances = word_distances(encoder, prepared[key], config.layer)
                summary = distances.summary(config.resamples, config.seed, config.confidence)
                analyses.append(ModelAnalysis(label, source, distances, summary))
                log.info("%s: %d pairs, L2 unrelated/related %.3f", label, distances.pairs,
                         summary["l2"]["ratio_unrelated_related"])
                del model, encoder
        figures = {"histograms": histogram_figure(analyses, config.bins),
                   "differences": difference_figure(analyses, config.bins)}
        if config.curves:
            figures["curves"] = plot_curves(config.curves, None, config.curve_keys)
        names = {"histograms": HISTOGRAMS, "differences": DIFFERENCES, "curves": CURVES}
        paths = {k: save_png(fig, out / names[k]) for k, fig in figures.items()}
        payload = {
            "models": {a.label: {"source": a.source, **a.summary} for a in analyses},
            "settings": asdict(config), "figures": {k: p.name for k, p in paths.items()},
            "versions": _versions(),
        }
        json_path = out / OUTPUT_JSON
        atomic_write_text(json_path, json.dumps(_finite(payload), indent=2) + "\n")
    finally:
        lock.release()
    return AnalyzeResult(analyses, json_path, figures, paths)


def _finite(value: Any) -> Any:
    """NaN (no pairs to measure) becomes null: strict JSON has no NaN."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _versions() -> dict[str, str]:
    import torch
    import transformers

    from xadj.analysis.compare import versions

    return {**versions(), "torch": torch.__version__, "transformers": transformers.__version__}
