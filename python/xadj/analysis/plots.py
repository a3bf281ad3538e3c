"""Figures of the analysis jobs, drawn with matplotlib's object API on the Agg canvas (no display,
no pyplot global state): each function returns its ``Figure`` (tests inspect axes and artists)
and writes a PNG atomically when given a path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 120


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: str | Path) -> Path:
    """Writes ``fig`` to ``path`` through a temporary file in the same directory."""
    from xadj.outputs import atomic_file

    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def grouped_bars(
    ax: Axes,
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    errors: Mapping[str, Sequence[float]],
    marks: Mapping[str, Sequence[bool]],
) -> None:
    """Bars of each series (models) side by side per group (languages), error bars, and a star
    above every bar whose mark is set (a significant difference from the baseline)."""
    x = np.arange(len(groups))
    width = 0.8 / max(len(series), 1)
    for k, (name, values) in enumerate(series.items()):
        offsets = x - 0.4 + width * (k + 0.5)
        heights = np.asarray(values, dtype=np.float64)
        err = np.asarray(errors[name], dtype=np.float64)
        ax.bar(offsets, heights, width, yerr=err, capsize=3, label=name)
        for xi, h, e, marked in zip(offsets, heights, err, marks[name], strict=True):
            if marked and np.isfinite(h):
                ax.annotate("*", (xi, h + (e if np.isfinite(e) else 0.0)), ha="center",
                            va="bottom", fontsize=12)
    ax.set_xticks(x, list(groups))


def histograms(
    ax: Axes, samples: Mapping[str, np.ndarray], bins: int, xlabel: str, title: str,
    outline: bool = False,
) -> None:
    """Overlaid density histograms of several samples over common bin edges (``outline``: one
    step line per sample, legible with more than two samples)."""
    finite = [v[np.isfinite(v)] for v in samples.values()]
    pooled = np.concatenate(finite) if finite else np.zeros(0)
    edges = np.histogram_bin_edges(pooled if len(pooled) else np.zeros(1), bins=bins)
    for (name, _), values in zip(samples.items(), finite, strict=True):
        style: dict[str, Any] = ({"histtype": "step", "linewidth": 1.5} if outline
                                 else {"alpha": 0.5})
        ax.hist(values, bins=list(edges), density=True, **style,
                label=f"{name} (mean {values.mean():.3g})" if len(values) else name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize="small")


def plot_curves(
    paths: Mapping[str, str | Path] | Sequence[str | Path],
    out_png: str | Path | None = None,
    keys: Sequence[str] = ("loss",),
) -> Figure:
    """Training curves of several runs on one figure, one panel per key, from their
    ``metrics.jsonl`` (:func:`xadj.tracking.read_metrics`; x = ``step``). ``paths`` maps a run
    label to its metrics file or output directory; a plain list is labelled by directory name."""
    from xadj.tracking import METRICS_FILE, read_metrics

    labelled = (dict(paths) if isinstance(paths, Mapping)
                else {_run_label(Path(p)): p for p in paths})
    if not labelled or not keys:
        raise ValueError("plot_curves needs at least one run and one key")
    fig = new_figure(6.0, 3.0 * len(keys))
    axes = fig.subplots(len(keys), 1, squeeze=False)[:, 0]
    for label, where in labelled.items():
        path = Path(where)
        path = path / METRICS_FILE if path.is_dir() else path
        records = read_metrics(path)
        for ax, key in zip(axes, keys, strict=True):
            points = [(r["step"], r[key]) for r in records if key in r]
            if points:
                steps, values = zip(*points, strict=True)
                ax.plot(steps, values, label=label)
    for ax, key in zip(axes, keys, strict=True):
        ax.set_xlabel("step")
        ax.set_ylabel(key)
        ax.legend(fontsize="small")
    if out_png is not None:
        save_png(fig, out_png)
    return fig


def _run_label(path: Path) -> str:
    return path.name if path.is_dir() else path.parent.name
