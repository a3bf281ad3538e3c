"""Extractive QA: train on SQuAD v1.1 (rajpurkar/squad), test on XQuAD (google/xquad) and MLQA
(facebook/mlqa, incl. cross-lingual context.question pairs); windows, n-best post-processing and
EM/F1 from xadj.tasks.qa_post. XQuAD is scored with SQuAD's normalisation, MLQA with the chosen
``qa_normalizer`` in the context's language."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datasets import Dataset

from xadj.tasks.base import EvalContext, Features, Outcome, forward_batches, row_ids
from xadj.tasks.data import Source
from xadj.tasks.qa_post import postprocess, prepare_features, qa_metrics

SQUAD = Source("rajpurkar/squad", "plain_text", "train")
XQUAD_ID, MLQA_ID = "google/xquad", "facebook/mlqa"
XQUAD_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
MLQA_LANGUAGES = ("ar", "de", "en", "es", "hi", "vi", "zh")
MAX_ANSWER_LENGTH = 30


def _examples(rows: Dataset) -> list[dict[str, Any]]:
    ids = row_ids(rows)
    return [{"id": i, "context": c} for i, c in zip(ids, rows["context"], strict=True)]


class QaTask:
    name = "qa"
    lr = 3e-5
    epochs = 2
    max_length = 384
    doc_stride = 128
    prediction_suffixes: tuple[str, ...] = ("",)

    def train_source(self) -> Source:
        return SQUAD

    def test_configs(self, languages: Sequence[str], qa_pairs: Sequence[str]) -> list[str]:
        """``xquad.L`` and ``mlqa.L.L`` for each language the dataset has (a name with a dot is
        a config already), then ``mlqa.C.Q`` for each ``C.Q`` pair."""
        configs: list[str] = []
        for lang in languages:
            if "." in lang:
                configs.append(lang)
                continue
            if lang not in XQUAD_LANGUAGES and lang not in MLQA_LANGUAGES:
                raise ValueError(f"QA: neither XQuAD nor MLQA has language {lang!r}")
            if lang in XQUAD_LANGUAGES:
                configs.append(f"xquad.{lang}")
            if lang in MLQA_LANGUAGES:
                configs.append(f"mlqa.{lang}.{lang}")
        for pair in qa_pairs:
            parts = pair.split(".")
            if len(parts) != 2 or not all(p in MLQA_LANGUAGES for p in parts):
                raise ValueError(f"--qa-pairs {pair!r}: expected context.question with MLQA "
                                 f"languages ({', '.join(MLQA_LANGUAGES)}), e.g. es.en")
            configs.append(f"mlqa.{pair}")
        return list(dict.fromkeys(configs))

    def test_source(self, config: str) -> Source:
        if config.startswith("xquad."):
            return Source(XQUAD_ID, config, "validation")
        if config.startswith("mlqa."):
            return Source(MLQA_ID, config, "test")
        raise ValueError(f"QA config {config!r}: expected xquad.L or mlqa.C.Q")

    def label_names(self, rows: Dataset) -> list[str] | None:
        return None

    def model_class(self) -> Any:
        from transformers import AutoModelForQuestionAnswering

        return AutoModelForQuestionAnswering

    def train_features(self, rows: Dataset, tokenizer: Any, labels: list[str] | None,
                       max_length: int, doc_stride: int) -> Features:
        windows = prepare_features(tokenizer, rows["question"], rows["context"], row_ids(rows),
                                   answers=rows["answers"], max_length=max_length,
                                   doc_stride=doc_stride)
        return Features(windows.inputs, windows.example_index)

    def evaluate(self, model: Any, tokenizer: Any, rows: Dataset, config: str,
                 ctx: EvalContext) -> Outcome:
        windows = prepare_features(tokenizer, rows["question"], rows["context"], row_ids(rows),
                                   max_length=ctx.max_length or self.max_length,
                                   doc_stride=ctx.doc_stride or self.doc_stride)
        logits = forward_batches(
            model, Features(windows.inputs, windows.example_index), tokenizer.pad_token_id, ctx,
            lambda out, j: (out.start_logits[j].float().cpu().numpy(),
                            out.end_logits[j].float().cpu().numpy()), f"qa {config}")
        examples = _examples(rows)
        answers = postprocess(examples, windows, [s for s, _ in logits], [e for _, e in logits],
                              max_answer_length=MAX_ANSWER_LENGTH)
        golds = {ex["id"]: list(a["text"]) for ex, a in zip(examples, rows["answers"],
                                                              strict=True)}
        if config.startswith("mlqa."):
            normalizer, lang = ctx.qa_normalizer, config.split(".")[1]
        else:
            normalizer, lang = "squad", "en"
        metrics = qa_metrics(answers, golds, normalizer=normalizer, lang=lang)
        ctx.info.setdefault("qa_normalizers", {})[config] = normalizer  # recorded in results
        items = [{"id": i, "gold": golds[i], "prediction": answers[i]} for i in golds]
        return Outcome(metrics, {"": items})
