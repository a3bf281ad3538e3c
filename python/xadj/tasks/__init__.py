"""The zero-shot transfer tasks, by name: one module per task behind the :class:`Task` protocol
(xadj.tasks.base); the finetune and evaluate loops look tasks up here."""

from __future__ import annotations

from xadj.tasks.base import Task

FINETUNE_TASKS = ("xnli", "ner", "qa")
EVALUATE_TASKS = ("xnli", "ner", "qa", "xsr")


def get_task(name: str) -> Task:
    """The task called ``name`` (xnli, ner, qa, xsr)."""
    if name == "xnli":
        from xadj.tasks.xnli import XnliTask

        return XnliTask()
    if name == "ner":
        from xadj.tasks.ner import NerTask

        return NerTask()
    if name == "qa":
        from xadj.tasks.qa import QaTask

        return QaTask()
    if name == "xsr":
        from xadj.tasks.xsr_task import XsrTask

        return XsrTask()
    raise ValueError(f"unknown task {name!r}: use one of {', '.join(EVALUATE_TASKS)}")


__all__ = ["EVALUATE_TASKS", "FINETUNE_TASKS", "Task", "get_task"]
