"""Extractive QA around the model: question/context windows in, answer text out, EM/F1 scores.

- :func:`prepare_features`: question first, context second, the context cut into overlapping
  windows (``doc_stride`` tokens of overlap); per window its example, its token offsets into the
  context (None for question and special tokens) and, for training, the answer's token span
  (the [CLS] position when the answer is not wholly inside the window). The approach of the
  Hugging Face ``run_qa.py`` example.
- :func:`postprocess`: for each example, the best span over all its windows: the ``n_best``
  highest start and end logits of each window, spans that are inside the context, not reversed
  and at most ``max_answer_length`` tokens; score = start + end logit; text from the offsets.
- Scoring: SQuAD v1.1's normalisation (lower case, ASCII punctuation, English articles,
  whitespace) or MLQA's (per-language articles, all Unicode punctuation, Chinese split into
  characters); exact match and token F1, each the maximum over the gold answers; in percent.
"""

from __future__ import annotations

import logging
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

Offset = tuple[int, int] | None


@dataclass
class QaFeatures:
    """One entry per window. ``inputs[i]``: the model inputs (token lists; with training
    answers also ``start_positions``/``end_positions``); ``example_index[i]``: the example it
    came from; ``offsets[i][t]``: the (start, end) characters of token t in that example's
    context, None for question, special and padding tokens."""

    inputs: list[dict[str, Any]] = field(default_factory=list)
    example_index: list[int] = field(default_factory=list)
    offsets: list[list[Offset]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.inputs)


def _answer_span(answer: Mapping[str, Any], offsets: list[Offset], cls_index: int,
                 example: int) -> tuple[int, int]:
    """Token (start, end) of the first gold answer in this window, else (cls, cls)."""
    texts, starts = answer.get("text") or [], answer.get("answer_start") or []
    if len(texts) != len(starts):
        raise ValueError(f"example {example}: {len(texts)} answer texts but {len(starts)} "
                         "answer_start values")
    if not texts:
        return cls_index, cls_index
    start_char = int(starts[0])
    end_char = start_char + len(texts[0])
    context = [t for t, o in enumerate(offsets) if o is not None]
    first, last = context[0], context[-1]
    first_offset, last_offset = offsets[first], offsets[last]
    assert first_offset is not None and last_offset is not None
    if first_offset[0] > start_char or last_offset[1] < end_char:
        return cls_index, cls_index  # not wholly inside this window
    # run_qa.py's rule: the last token starting at or before the answer's first character, the
    # first token ending at or after its last.
    spans = {t: o for t, o in enumerate(offsets) if o is not None}
    start = max(t for t, o in spans.items() if o[0] <= start_char)
    end = min(t for t, o in spans.items() if o[1] >= end_char)
    return start, end


def _check_room(tokenizer: Any, questions: Sequence[str], contexts: Sequence[str],
                ids: Sequence[Any] | None, max_length: int, doc_stride: int) -> None:
    """Windows need more context room than the stride; tokenizers panics otherwise, so say
    which example breaks the rule (only pairs that must be cut at all are concerned)."""
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    lengths = [len(q) for q in tokenizer(list(questions), add_special_tokens=False)["input_ids"]]
    for i, length in enumerate(lengths):
        room = max_length - specials - length
        if room > doc_stride:
            continue
        context = len(tokenizer(contexts[i], add_special_tokens=False)["input_ids"])
        if length + context + specials > max_length:
            name = f"example {i}" + ("" if ids is None else f" (id {ids[i]!r})")
            raise ValueError(
                f"{name}: its question has {length} tokens, leaving {max(room, 0)} of "
                f"max_length {max_length} for the context, not more than doc_stride "
                f"{doc_stride}; raise max_length or lower doc_stride")


def prepare_features(
    tokenizer: Any,
    questions: Sequence[str],
    contexts: Sequence[str],
    ids: Sequence[Any] | None = None,
    *,
    answers: Sequence[Mapping[str, Any]] | None = None,
    max_length: int = 384,
    doc_stride: int = 128,
    pad: bool = False,
) -> QaFeatures:
    """Windows of (question, context) pairs for a fast tokenizer; see the module docstring.

    ``answers`` (hub schema: ``{"text": [...], "answer_start": [...]}`` per example) adds the
    training labels of the first answer. ``pad`` pads every window to ``max_length`` (the
    default leaves padding to the batch collator). ``ids`` is accepted for the caller's records
    only: windows point to examples by position (``example_index``)."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("QA features need a fast tokenizer (offset mappings)")
    if len(questions) != len(contexts) or (ids is not None and len(ids) != len(questions)):
        raise ValueError(f"{len(questions)} questions, {len(contexts)} contexts"
                         + ("" if ids is None else f" and {len(ids)} ids") + ": they must match")
    if answers is not None and len(answers) != len(questions):
        raise ValueError(f"{len(answers)} answers for {len(questions)} questions")
    if not 0 <= doc_stride < max_length:
        raise ValueError(f"doc_stride {doc_stride} must be below max_length {max_length}")
    # Leading spaces in SQuAD questions only waste window room (run_qa.py strips them too).
    stripped = [q.lstrip() for q in questions]
    _check_room(tokenizer, stripped, contexts, ids, max_length, doc_stride)
    encoded = tokenizer(
        stripped, list(contexts), truncation="only_second", max_length=max_length,
        stride=doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True,
        padding="max_length" if pad else False,
    )
    features = QaFeatures()
    mapping = encoded.pop("overflow_to_sample_mapping")
    offset_mapping = encoded.pop("offset_mapping")
    cls_id = tokenizer.cls_token_id
    for i, example in enumerate(mapping):
        sequence_ids = encoded.sequence_ids(i)
        offsets: list[Offset] = [
            (int(o[0]), int(o[1])) if s == 1 else None
            for o, s in zip(offset_mapping[i], sequence_ids, strict=True)
        ]
        inputs = {key: encoded[key][i] for key in encoded.keys()}
        if answers is not None:
            ids_i = inputs["input_ids"]
            cls_index = ids_i.index(cls_id) if cls_id in ids_i else 0
            start, end = _answer_span(answers[example], offsets, cls_index, example)
            inputs["start_positions"], inputs["end_positions"] = start, end
        features.inputs.append(inputs)
        features.example_index.append(int(example))
        features.offsets.append(offsets)
    return features


def postprocess(
    examples: Sequence[Mapping[str, Any]],
    features: QaFeatures,
    start_logits: Sequence[np.ndarray] | np.ndarray,
    end_logits: Sequence[np.ndarray] | np.ndarray,
    *,
    n_best: int = 20,
    max_answer_length: int = 30,
) -> dict[Any, str]:
    """``{example id: answer text}`` for examples with ``id`` and ``context``, from each window's
    start/end logits (positions past the window's tokens, e.g. batch padding, are ignored). An
    example with no valid span answers "". Equal scores: the first window, then the higher-ranked
    start, then end, wins."""
    if len(start_logits) != len(features) or len(end_logits) != len(features):
        raise ValueError(f"{len(start_logits)} start and {len(end_logits)} end logit rows for "
                         f"{len(features)} windows")
    if n_best < 1 or max_answer_length < 1:
        raise ValueError("n_best and max_answer_length must be at least 1")
    best: dict[int, tuple[float, str]] = {}
    windows = zip(features.example_index, features.offsets, strict=True)
    for i, (example, offsets) in enumerate(windows):
        starts = np.asarray(start_logits[i], dtype=np.float64)[: len(offsets)]
        ends = np.asarray(end_logits[i], dtype=np.float64)[: len(offsets)]
        context = examples[example]["context"]
        # Stable descending order: among equal logits the earlier position ranks first.
        top_starts = np.argsort(-starts, kind="stable")[:n_best]
        top_ends = np.argsort(-ends, kind="stable")[:n_best]
        for s in top_starts:
            for e in top_ends:
                first, last = offsets[s], offsets[e]
                if first is None or last is None or e < s or e - s + 1 > max_answer_length:
                    continue
                score = float(starts[s] + ends[e])
                if example not in best or score > best[example][0]:
                    best[example] = (score, context[first[0]:last[1]])
    return {row["id"]: best[k][1] if k in best else "" for k, row in enumerate(examples)}


# -- normalisation and scores ------------------------------------------------------------------

_SQUAD_PUNCTUATION = frozenset(string.punctuation)
_SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b")

# MLQA's official evaluation script (mlqa_evaluation_v1.py): articles per language; Hindi and
# Chinese have none. The Arabic pattern is the script's own (it removes every "ال").
MLQA_ARTICLES: dict[str, re.Pattern[str] | None] = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "hi": None,
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "ar": re.compile("\\sال^|ال"),
    "zh": None,
}
_MLQA_CHINESE = re.compile("[\u4e00-\u9fa5]")  # the script's CJK range for character splitting


def _mlqa_punctuation(ch: str) -> bool:
    """The script's PUNCT: every Unicode 'P*' character plus ASCII string.punctuation."""
    return ch in _SQUAD_PUNCTUATION or unicodedata.category(ch).startswith("P")


def squad_normalize(text: str) -> str:
    """SQuAD v1.1: lower case, drop ASCII punctuation, drop a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _SQUAD_PUNCTUATION)
    return " ".join(_SQUAD_ARTICLES.sub(" ", text).split())


def _mixed_segmentation(text: str) -> list[str]:
    """Chinese characters and punctuation are tokens of their own; the rest splits on spaces."""
    tokens: list[str] = []
    pending = ""
    for ch in text:
        if _MLQA_CHINESE.match(ch) or _mlqa_punctuation(ch):
            tokens += pending.split()
            pending = ""
            tokens.append(ch)
        else:
            pending += ch
    return tokens + pending.split()


def mlqa_normalize(text: str, lang: str) -> str:
    """MLQA's normalisation for the answer language ``lang`` (en es de vi hi ar zh): lower case,
    drop Unicode punctuation, drop that language's articles, then whitespace tokens (Chinese:
    characters) joined by single spaces."""
    if lang not in MLQA_ARTICLES:
        raise ValueError(f"MLQA's normaliser knows {', '.join(MLQA_ARTICLES)}, not {lang!r}; "
                         "use the squad normaliser")
    text = "".join(ch for ch in text.lower() if not _mlqa_punctuation(ch))
    articles = MLQA_ARTICLES[lang]
    if articles is not None:
        text = articles.sub(" ", text)
    tokens = _mixed_segmentation(text) if lang == "zh" else text.split()
    return " ".join(t for t in tokens if t.strip())


NORMALIZERS = ("squad", "mlqa")


def get_normalizer(name: str = "squad", lang: str = "en") -> Callable[[str], str]:
    """The normalising function called ``name``; MLQA's needs the answer (context) language."""
    if name == "squad":
        return squad_normalize
    if name == "mlqa":
        if lang not in MLQA_ARTICLES:
            raise ValueError(f"MLQA's normaliser knows {', '.join(MLQA_ARTICLES)}, not "
                             f"{lang!r}; use the squad normaliser")
        return partial(mlqa_normalize, lang=lang)
    raise ValueError(f"unknown QA normaliser {name!r}: use one of {', '.join(NORMALIZERS)}")


def _token_f1(prediction: str, gold: str) -> float:
    predicted, expected = prediction.split(), gold.split()
    same = sum((Counter(predicted) & Counter(expected)).values())
    if same == 0:
        return 0.0  # also when either side is empty, as in SQuAD v1.1's script
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, golds: Sequence[str],
                normalize: Callable[[str], str] = squad_normalize) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer, else 0.0."""
    _check_golds(golds)
    predicted = normalize(prediction)
    return max(float(predicted == normalize(g)) for g in golds)


def f1(prediction: str, golds: Sequence[str],
       normalize: Callable[[str], str] = squad_normalize) -> float:
    """Token-overlap F1 (0..1) of the normalised prediction, the best over the gold answers."""
    _check_golds(golds)
    predicted = normalize(prediction)
    return max(_token_f1(predicted, normalize(g)) for g in golds)


def _check_golds(golds: Sequence[str]) -> None:
    if isinstance(golds, str) or not golds:
        raise ValueError("golds must be a non-empty list of answer texts")


def qa_metrics(predictions: Mapping[Any, str] | Sequence[str],
               golds: Mapping[Any, Sequence[str]] | Sequence[Sequence[str]],
               normalizer: str = "squad", lang: str = "en") -> dict[str, float]:
    """``{"exact_match", "f1"}`` in percent over every gold item, and ``"n"``. Items pair up by
    id (two mappings) or by position (two lists). As in the SQuAD and MLQA scripts, an item
    without a prediction scores 0; predictions for unknown ids are ignored. ``lang`` (MLQA) is
    the language of the answers, i.e. of the context."""
    normalize = get_normalizer(normalizer, lang)
    if isinstance(predictions, Mapping) != isinstance(golds, Mapping):
        raise ValueError("predictions and golds must both be mappings (by id) or both lists")
    if not isinstance(predictions, Mapping) or not isinstance(golds, Mapping):
        if len(predictions) != len(golds):
            raise ValueError(f"{len(predictions)} predictions for {len(golds)} gold items")
        predictions, golds = dict(enumerate(predictions)), dict(enumerate(golds))
    missing = [k for k in golds if k not in predictions]
    if missing:
        logger.warning("%d of %d items have no prediction and score 0 (first: %r)",
                       len(missing), len(golds), missing[0])
    scored = [(predictions[k], g) for k, g in golds.items() if k in predictions]
    em = sum(exact_match(p, g, normalize) for p, g in scored)
    f = sum(f1(p, g, normalize) for p, g in scored)
    n = len(golds)
    return {"exact_match": 100.0 * em / n if n else 0.0, "f1": 100.0 * f / n if n else 0.0,
            "n": n}
