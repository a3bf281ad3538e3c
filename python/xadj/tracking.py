"""Step metrics of a training job: one JSON line per logged step in ``<output>/metrics.jsonl``
(read back by the curve plots), and optionally TensorBoard / W&B through accelerate's trackers
(``report_to``), as Hugging Face scripts do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"
REPORT_TO = ("none", "tensorboard", "wandb", "all")


def tracker_names(report_to: str) -> list[str]:
    """accelerate's ``log_with`` for a ``--report-to`` value (empty: JSONL only)."""
    if report_to == "none":
        return []
    return ["tensorboard", "wandb"] if report_to == "all" else [report_to]


class StepLog:
    """Appends step metrics to a JSONL file (on the main process only) and to the accelerate
    trackers, if the accelerator was created with ``log_with``. Resuming appends: lines of a step
    logged twice (before a kill, and again after resume) are dropped by :func:`read_metrics`."""

    def __init__(self, path: str | Path, accelerator: Any | None = None, enabled: bool = True):
        self.path = Path(path)
        self.accelerator = accelerator
        self.enabled = enabled
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, step: int, **metrics: float) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, **metrics}) + "\n")
        if self.accelerator is not None and self.accelerator.trackers:
            self.accelerator.log(metrics, step=step)


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The logged steps in order, the last record of each step winning (after a resume)."""
    by_step: dict[int, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                record = json.loads(line)
                by_step[int(record["step"])] = record
    return [by_step[s] for s in sorted(by_step)]
