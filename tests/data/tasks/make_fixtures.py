"""Writes the task fixtures of this directory from the shipped Multi30k English lines (see
README.md). Deterministic: run `python tests/data/tasks/make_fixtures.py` to rebuild them."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
LINES = HERE.parent / "multi30k" / "train.first240.en.gz"
# Made-up entity classes for words of the captions (a shape for NER, not real annotation).
ENTITIES = {"man": "PER", "woman": "PER", "boy": "PER", "girl": "PER", "people": "PER",
            "street": "LOC", "park": "LOC", "beach": "LOC", "city": "LOC", "water": "LOC",
            "team": "ORG", "band": "ORG", "crowd": "ORG", "group": "ORG"}
NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


def cipher(word: str) -> str:
    """The synthetic 'other language' of the tests (tests/conftest.py): reversed + 'o'."""
    return word[::-1].lower() + "o"


def lines() -> list[str]:
    with gzip.open(LINES, "rt", encoding="utf-8") as f:
        return [" ".join(line.split()) for line in f]


def write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def xnli(text: list[str], translate: bool) -> list[dict]:
    rows = []
    for i, premise in enumerate(text):
        words = premise.split()
        label = i % 3
        if label == 0:  # entailment: a prefix of the premise
            hypothesis = " ".join(words[: max(3, len(words) // 2)])
        elif label == 1:  # neutral: the premise with an unrelated addition
            hypothesis = premise.rstrip(".") + " on a sunny day ."
        else:  # contradiction: another caption
            hypothesis = text[(i + 7) % len(text)]
        if translate:
            premise = " ".join(cipher(w) for w in premise.split())
            hypothesis = " ".join(cipher(w) for w in hypothesis.split())
        rows.append({"premise": premise, "hypothesis": hypothesis, "label": label})
    return rows


def ner(text: list[str], lang: str, translate: bool) -> list[dict]:
    rows = []
    for line in text:
        tokens = line.rstrip(".").split()[:24]
        tags = []
        for k, word in enumerate(tokens):
            kind = ENTITIES.get(word.lower())
            if kind is None:
                tags.append(0)
            elif k > 0 and ENTITIES.get(tokens[k - 1].lower()) == kind:
                tags.append(NER_LABELS.index(f"I-{kind}"))
            else:
                tags.append(NER_LABELS.index(f"B-{kind}"))
        if translate:
            tokens = [cipher(w) for w in tokens]
        spans = [f"{NER_LABELS[t][2:]}: {w}" for w, t in zip(tokens, tags, strict=True)
                 if t % 2 == 1]
        rows.append({"tokens": tokens, "ner_tags": tags, "langs": [lang] * len(tokens),
                     "spans": spans})
    return rows


def qa(text: list[str], prefix: str, translate: bool, rng: random.Random) -> list[dict]:
    rows = []
    for i in range(0, len(text) - 2, 3):
        sentences = text[i:i + 3]
        if translate:
            sentences = [" ".join(cipher(w) for w in s.split()) for s in sentences]
        context = " ".join(sentences)
        target = rng.randrange(3)
        words = sentences[target].split()
        start_word = rng.randrange(max(1, len(words) - 3))
        answer = " ".join(words[start_word:start_word + 2])
        before = " ".join(sentences[:target])
        offset = len(before) + (1 if before else 0)
        offset += len(" ".join(words[:start_word])) + (1 if start_word else 0)
        assert context[offset:offset + len(answer)] == answer
        question = f"what comes after {words[start_word - 1]} ?" if start_word else \
            f"how does sentence {target + 1} start ?"
        rows.append({"id": f"{prefix}-{i // 3:03d}", "title": f"captions {i}",
                     "context": context, "question": question,
                     "answers": {"text": [answer], "answer_start": [offset]}})
    return rows


def main() -> None:
    text = lines()
    rng = random.Random(0)
    write(HERE / "xnli" / "en" / "train.jsonl", xnli(text[:48], False))
    write(HERE / "xnli" / "es" / "test.jsonl", xnli(text[48:72], True))
    write(HERE / "wikiann" / "en" / "train.jsonl", ner(text[72:120], "en", False))
    write(HERE / "wikiann" / "es" / "test.jsonl", ner(text[120:144], "es", True))
    write(HERE / "qa" / "plain_text" / "train.jsonl", qa(text[144:192], "squad", False, rng))
    write(HERE / "qa" / "xquad.es" / "validation.jsonl", qa(text[192:216], "xquad", True, rng))
    write(HERE / "qa" / "mlqa.es.en" / "test.jsonl", qa(text[216:240], "mlqa", True, rng))
    pairs = text[:30]
    write(HERE / "xsr" / "spa-eng" / "test.jsonl",
          [{"sentence1": " ".join(cipher(w) for w in s.split()), "sentence2": s} for s in pairs])


if __name__ == "__main__":
    main()
