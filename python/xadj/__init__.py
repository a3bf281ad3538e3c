"""xadj: cross-lingual adjustment of multilingual encoders (Cao et al. 2020; Efimov et al. 2023).

The jobs of the command line, as functions taking their config dataclass and returning a result
object (they log, never print)::

    import xadj

    result = xadj.adjust(xadj.AlignConfig(model="tiny", output_dir="runs/tiny", max_steps=5))

Names load on first use, so ``import xadj`` stays light (torch is imported by the jobs). The
fine-tuning and analysis jobs are ``xadj.finetune.finetune``, ``xadj.evaluate.evaluate``,
``xadj.analysis.compare.compare`` and ``xadj.analysis.analyze.analyze``; their configs are here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it
_EXPORTS = {
    "AlignConfig": "xadj.align",
    "AlignResult": "xadj.align",
    "adjust": "xadj.align",
    "CorpusConfig": "xadj.data",
    "PrepareConfig": "xadj.data",
    "PrepareJobConfig": "xadj.api",
    "PrepareResult": "xadj.api",
    "prepare": "xadj.api",
    "AlignerOptions": "xadj.wordaligner",
    "WordalignConfig": "xadj.api",
    "WordalignResult": "xadj.api",
    "wordalign": "xadj.api",
    "SymmetrizeConfig": "xadj.api",
    "symmetrize": "xadj.api",
    "ScoreConfig": "xadj.api",
    "ScoreResult": "xadj.api",
    "score": "xadj.api",
    "ReportConfig": "xadj.api",
    "report": "xadj.api",
    "encode": "xadj.sentence_vectors",
    "FinetuneConfig": "xadj.finetune",
    "EvaluateConfig": "xadj.evaluate",
    "CompareConfig": "xadj.analysis.compare",
    "AnalyzeConfig": "xadj.analysis.analyze",
}

__all__ = [
    "__version__",
    "AlignConfig",
    "AlignResult",
    "adjust",
    "CorpusConfig",
    "PrepareConfig",
    "PrepareJobConfig",
    "PrepareResult",
    "prepare",
    "AlignerOptions",
    "WordalignConfig",
    "WordalignResult",
    "wordalign",
    "SymmetrizeConfig",
    "symmetrize",
    "ScoreConfig",
    "ScoreResult",
    "score",
    "ReportConfig",
    "report",
    "encode",
    "FinetuneConfig",
    "EvaluateConfig",
    "CompareConfig",
    "AnalyzeConfig",
]

if TYPE_CHECKING:
    from xadj.align import AlignConfig, AlignResult, adjust
    from xadj.analysis.analyze import AnalyzeConfig
    from xadj.analysis.compare import CompareConfig
    from xadj.api import (
        PrepareJobConfig,
        PrepareResult,
        ReportConfig,
        ScoreConfig,
        ScoreResult,
        SymmetrizeConfig,
        WordalignConfig,
        WordalignResult,
        prepare,
        report,
        score,
        symmetrize,
        wordalign,
    )
    from xadj.data import CorpusConfig, PrepareConfig
    from xadj.evaluate import EvaluateConfig
    from xadj.finetune import FinetuneConfig
    from xadj.sentence_vectors import encode
    from xadj.wordaligner import AlignerOptions


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'xadj' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this hook
    return value
