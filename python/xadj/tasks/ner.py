"""WikiANN NER (unimelb-nlp/wikiann): token classification, the label predicted on a word's
first piece (other pieces ignored), entity-level F1 with seqeval."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datasets import Dataset

from xadj.tasks.base import PAD_LABEL, EvalContext, Features, Outcome, forward_batches, row_ids
from xadj.tasks.data import Source

HUB_ID = "unimelb-nlp/wikiann"
LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]  # WikiANN's ClassLabel order


def tag_names(rows: Dataset) -> list[str]:
    """The data's own label names (ClassLabel), else WikiANN's order."""
    feature = rows.features.get("ner_tags")
    names = getattr(getattr(feature, "feature", None), "names", None)
    return list(names) if names else list(LABELS)


def tags_as_strings(rows: Dataset) -> list[list[str]]:
    """Gold tags per word as strings, whether the data stores ints or names."""
    names = tag_names(rows)
    out = []
    for i, tags in enumerate(rows["ner_tags"]):
        try:
            out.append([t if isinstance(t, str) else names[t] for t in tags])
        except (IndexError, TypeError):
            raise ValueError(f"NER row {i}: tags {tags!r} are not label ids 0..{len(names) - 1} "
                             f"or names ({', '.join(names)})") from None
    return out


def first_piece_positions(word_ids: Sequence[int | None]) -> dict[int, int]:
    """word -> position of its first piece (words cut off by truncation are absent)."""
    first: dict[int, int] = {}
    for position, word in enumerate(word_ids):
        if word is not None and word not in first:
            first[word] = position
    return first


def _encode(rows: Dataset, tokenizer: Any, max_length: int) -> tuple[list[dict[str, Any]], Any]:
    enc = tokenizer(list(rows["tokens"]), is_split_into_words=True, truncation=True,
                    max_length=max_length)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    return [{k: enc[k][i] for k in keys} for i in range(len(rows))], enc


def entity_scores(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, float]:
    """seqeval's entity-level precision, recall and F1 (its default conlleval rules), percent."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    return {"f1": 100.0 * float(f1_score(gold, predicted)),
            "precision": 100.0 * float(precision_score(gold, predicted)),
            "recall": 100.0 * float(recall_score(gold, predicted))}


class NerTask:
    name = "ner"
    lr = 2e-5
    epochs = 3
    max_length = 128
    doc_stride = 0
    prediction_suffixes: tuple[str, ...] = ("",)

    def train_source(self) -> Source:
        return Source(HUB_ID, "en", "train")

    def test_configs(self, languages: Sequence[str], qa_pairs: Sequence[str]) -> list[str]:
        return list(languages)

    def test_source(self, config: str) -> Source:
        return Source(HUB_ID, config, "test")

    def label_names(self, rows: Dataset) -> list[str] | None:
        names = tag_names(rows)
        seen = {t for tags in tags_as_strings(rows) for t in tags}
        return names + sorted(seen - set(names))  # names the data uses beyond WikiANN's

    def model_class(self) -> Any:
        from transformers import AutoModelForTokenClassification

        return AutoModelForTokenClassification

    def train_features(self, rows: Dataset, tokenizer: Any, labels: list[str] | None,
                       max_length: int, doc_stride: int) -> Features:
        label_id = {name: i for i, name in enumerate(labels or LABELS)}
        inputs, enc = _encode(rows, tokenizer, max_length)
        for i, tags in enumerate(tags_as_strings(rows)):
            word_ids = enc.word_ids(i)
            first = first_piece_positions(word_ids)
            labels_i = [PAD_LABEL] * len(word_ids)
            for word, position in first.items():
                labels_i[position] = label_id[tags[word]]
            inputs[i]["labels"] = labels_i
        return Features(inputs, list(range(len(rows))))

    def evaluate(self, model: Any, tokenizer: Any, rows: Dataset, config: str,
                 ctx: EvalContext) -> Outcome:
        inputs, enc = _encode(rows, tokenizer, ctx.max_length or self.max_length)
        features = Features(inputs, list(range(len(rows))))
        best = forward_batches(model, features, tokenizer.pad_token_id, ctx,
                               lambda out, j: out.logits[j].argmax(-1).tolist(), f"ner {config}")
        id2label = {int(k): v for k, v in model.config.id2label.items()}
        gold = tags_as_strings(rows)
        predicted = []
        for i, words in enumerate(gold):
            first = first_piece_positions(enc.word_ids(i))
            # A word cut off by max_length gets "O", so each prediction has one tag per word.
            predicted.append([id2label[best[i][first[w]]] if w in first else "O"
                              for w in range(len(words))])
        items = [{"id": i, "gold": g, "prediction": p}
                 for i, g, p in zip(row_ids(rows), gold, predicted, strict=True)]
        return Outcome({**entity_scores(gold, predicted), "n": len(gold)}, {"": items})
