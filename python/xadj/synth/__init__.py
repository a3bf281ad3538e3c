"""A synthetic language pair for offline science: two artificial languages with known word
correspondences (``generate``), and a tiny encoder pretrained on each language's monolingual text
only (``pretrain``). See docs/synth.md."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xadj.synth.generate import SynthConfig, SynthResult, generate

if TYPE_CHECKING:
    from xadj.synth.pretrain import PretrainConfig, PretrainResult, pretrain

__all__ = ["PretrainConfig", "PretrainResult", "SynthConfig", "SynthResult", "generate",
           "pretrain"]


def __getattr__(name: str) -> Any:
    # Pretraining needs torch and transformers; generating data does not wait for them.
    if name in ("PretrainConfig", "PretrainResult", "pretrain"):
        import importlib

        module = importlib.import_module("xadj.synth.pretrain")
        # Importing the submodule bound its name here; the function takes it back.
        globals().update(PretrainConfig=module.PretrainConfig,
                         PretrainResult=module.PretrainResult, pretrain=module.pretrain)
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
