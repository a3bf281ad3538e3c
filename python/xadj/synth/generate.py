"""A synthetic language pair for offline experiments: monolingual corpora, a gold-aligned
bitext, and labelled tasks in the schemas of the hub datasets the transfer suite reads
(WikiANN, XNLI, mteb's Tatoeba), all from one seed.

Layout of the output directory (``<xx>`` is ``SynthConfig.lang``, ``<xxx>`` its ``lang_iso3``)::

    mono/en.txt, mono/<xx>.txt            one sentence a line; disjoint meanings, no translations
    bitext/{train,test}.txt               `<xx words> ||| <English words>`
    bitext/{train,test}.gold              Pharaoh `i-j`, 0-based, i into the <xx> side
    wikiann/en/{train,validation,test}.jsonl, wikiann/<xx>/{validation,test}.jsonl
    xnli/en/{train,validation,test}.jsonl,    xnli/<xx>/{validation,test}.jsonl
    tatoeba/<xxx>-eng/test.jsonl
    synth.json                            config, counts, versions and the lexicon
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from xadj.config import check, setting, validate_language
from xadj.synth import grammar as G
from xadj.synth import words as W

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
KIND = "synth"  # output marker kind (xadj.outputs)
# WikiANN's label order (ClassLabel names of the hub dataset).
NER_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
XNLI_LABELS = ("entailment", "neutral", "contradiction")


@dataclass
class SynthConfig:
    seed: int = setting(42, "seed of the lexicon and of every sentence drawn", min=0)
    lang: str = setting("qaa", "language code of the synthetic language (qaa: ISO 639 local use)")
    lang_iso3: str = setting("qaa", "its three-letter code, as Tatoeba names configs (<iso3>-eng)")
    morphology: str = setting("fused", "plural and past marking in the synthetic language: a "
                              "suffix fused to the word, a separate word, or none",
                              choices=G.MORPHOLOGY)
    share_names: bool = setting(False, "spell names, places and organisations as in English "
                                "(shared anchors) instead of inventing them")
    consonants: str = setting("bdgkmnprstvz", "letters the invented words' syllables start with")
    vowels: str = setting("aeiou", "vowels of the invented words")
    zipf_exponent: float = setting(0.8, "word frequencies within a class fall as 1/rank^this",
                                   min=0.0)
    mono_sentences: int = setting(60_000, "sentences of each monolingual corpus", min=1)
    bitext_train: int = setting(10_000, "sentence pairs of bitext/train", min=1)
    bitext_test: int = setting(1_000, "held-out sentence pairs of bitext/test", min=1)
    wikiann_train: int = setting(5_000, "English WikiANN-style training sentences", min=1)
    wikiann_validation: int = setting(500, "sentences of each WikiANN validation split", min=1)
    wikiann_test: int = setting(1_000, "sentences of each WikiANN test split", min=1)
    xnli_train: int = setting(20_000, "English XNLI-style training pairs", min=1)
    xnli_validation: int = setting(500, "pairs of each XNLI validation split", min=1)
    xnli_test: int = setting(1_000, "pairs of each XNLI test split", min=1)
    tatoeba_pairs: int = setting(1_000, "sentence pairs of tatoeba/<iso3>-eng/test", min=1)
    overwrite: bool = setting(False, "replace an existing synthetic data directory")


# Settings that change where or whether data is written, not what is written.
OPERATIONAL = ("overwrite",)


@dataclass
class SynthJobConfig:
    """``synth``: two artificial languages with known word links, a bitext with gold links and
    task data in the hub schemas (docs/synth.md)."""

    output_dir: str = setting("", "where the corpora, bitext and task data go", short="-o",
                              required=True)
    synth: SynthConfig = field(default_factory=SynthConfig)


@dataclass(frozen=True)
class SynthResult:
    output_dir: Path
    counts: dict[str, int]  # rows of every file written, by relative path
    lexicon_size: int  # lemmas of the bijective lexicon


def generate(config: SynthConfig, output_dir: str | Path, progress: bool = True) -> SynthResult:
    """Writes the synthetic language pair into ``output_dir`` (built in a temporary directory
    next to it, then renamed: the directory appears complete or not at all). The same config
    gives byte-identical files."""
    from xadj.outputs import atomic_dir, is_xadj_output, write_marker

    check(config)
    validate_language(config.lang)
    validate_language(config.lang_iso3)
    if config.lang == "en":
        raise ValueError("lang must differ from en, the other side of every pair")
    output = Path(output_dir)
    if output.exists():
        if not output.is_dir():
            raise FileExistsError(f"{output} exists and is not a directory")
        empty = not any(output.iterdir())
        if not empty and not (config.overwrite and is_xadj_output(output, KIND)):
            raise FileExistsError(
                f"{output} is not empty; choose another directory"
                + (" (it was not written by xadj.synth)" if config.overwrite else
                   ", or pass overwrite to replace synthetic data written there before"))
    lexicon = G.Lexicon(config.seed, config.consonants, config.vowels, config.share_names)
    writer = _Writer(config, lexicon, progress)
    with atomic_dir(output, replace=True) as tmp:
        counts = writer.write_all(tmp)
        record = {
            "format_version": FORMAT_VERSION,
            "xadj_version": _version(),
            "seed": config.seed,
            "config": {k: v for k, v in dataclasses.asdict(config).items()
                       if k not in OPERATIONAL},
            "languages": {"en": "English-like: SVO, adjective before noun, do-support negation",
                          config.lang: "synthetic: SOV, adjective after noun, negation after "
                                       "the verb, postpositions, no articles"},
            "counts": counts,
            "lexicon": {"plural_suffix": lexicon.plural, "past_suffix": lexicon.past,
                        "words": lexicon.words},
        }
        (tmp / "synth.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
        write_marker(tmp, KIND)
    log.info("synthetic pair en-%s written to %s: %s", config.lang, output,
             ", ".join(f"{k} {v}" for k, v in counts.items()))
    return SynthResult(output, counts, len(lexicon.words))


def _version() -> str:
    import xadj

    return str(xadj.__version__)


class _Writer:
    """Draws every part in a fixed order from its own seeded stream; an English sentence is
    used once in the whole directory, so no part repeats another's meaning."""

    def __init__(self, config: SynthConfig, lexicon: G.Lexicon, progress: bool):
        self.config = config
        self.lexicon = lexicon
        self.sampler = G.Sampler(config.zipf_exponent)
        self.seen: set[str] = set()
        c = config
        total = (2 * c.mono_sentences + c.bitext_train + c.bitext_test + c.wikiann_train
                 + 2 * (c.wikiann_validation + c.wikiann_test) + c.xnli_train
                 + 2 * (c.xnli_validation + c.xnli_test) + c.tatoeba_pairs)
        self.bar = tqdm(total=total, desc="synth", unit="sent", disable=not progress)

    def rng(self, part: str) -> random.Random:
        return random.Random(f"{self.config.seed}:{part}")

    def fresh(self, rng: random.Random, draw: Callable[[random.Random], G.Clause]) -> G.Clause:
        """A clause whose English sentence appeared nowhere before."""
        for _ in range(1000):
            clause = draw(rng)
            text = _text(G.english(clause))
            if text not in self.seen:
                self.seen.add(text)
                return clause
        raise ValueError("the grammar ran out of new sentences; ask for fewer")

    def clauses(self, part: str, n: int,
                draw: Callable[[random.Random], G.Clause] | None = None) -> Iterator[G.Clause]:
        rng = self.rng(part)
        for _ in range(n):
            yield self.fresh(rng, draw or self.sampler.clause)
            self.bar.update()

    def other(self, clause: G.Clause) -> list[G.Token]:
        return G.other(clause, self.lexicon, self.config.morphology)

    def write_all(self, root: Path) -> dict[str, int]:
        c, xx = self.config, self.config.lang
        counts: dict[str, int] = {}

        def save(rel: str, lines: Iterator[str]) -> None:
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            n = 0
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                for line in lines:
                    f.write(line + "\n")
                    n += 1
            counts[rel] = n

        save("mono/en.txt", (_text(G.english(k)) for k in self.clauses("mono-en",
                                                                          c.mono_sentences)))
        save(f"mono/{xx}.txt", (_text(self.other(k)) for k in self.clauses(f"mono-{xx}",
                                                                            c.mono_sentences)))
        for split, n in (("train", c.bitext_train), ("test", c.bitext_test)):
            pairs = [(self.other(k), G.english(k)) for k in self.clauses(f"bitext-{split}", n)]
            save(f"bitext/{split}.txt", (f"{_text(o)} ||| {_text(e)}" for o, e in pairs))
            save(f"bitext/{split}.gold", (" ".join(f"{i}-{j}" for i, j in G.links(o, e))
                                          for o, e in pairs))
        with_entity = self._with_entity
        for split, n in (("train", c.wikiann_train), ("validation", c.wikiann_validation),
                         ("test", c.wikiann_test)):
            save(f"wikiann/en/{split}.jsonl", (_json(ner_row(G.english(k), "en")) for k in
                                               self.clauses(f"wikiann-en-{split}", n, with_entity)))
        for split, n in (("validation", c.wikiann_validation), ("test", c.wikiann_test)):
            save(f"wikiann/{xx}/{split}.jsonl", (
                _json(ner_row_projected(self.other(k), G.english(k), xx))
                for k in self.clauses(f"wikiann-{xx}-{split}", n, with_entity)))
        for split, n in (("train", c.xnli_train), ("validation", c.xnli_validation),
                         ("test", c.xnli_test)):
            save(f"xnli/en/{split}.jsonl", self._nli(f"xnli-en-{split}", n, G.english))
        for split, n in (("validation", c.xnli_validation), ("test", c.xnli_test)):
            save(f"xnli/{xx}/{split}.jsonl", self._nli(f"xnli-{xx}-{split}", n, self.other))
        save(f"tatoeba/{c.lang_iso3}-eng/test.jsonl", (
            _json({"sentence1": _text(self.other(k)), "sentence2": _text(G.english(k))})
            for k in self.clauses("tatoeba", c.tatoeba_pairs)))
        self.bar.close()
        return counts

    def _with_entity(self, rng: random.Random) -> G.Clause:
        """WikiANN sentences come from entity links, so each has at least one entity."""
        while True:
            clause = self.sampler.clause(rng)
            if any(t.entity for t in G.english(clause)):
                return clause

    def _nli(self, part: str, n: int, realise: Callable[[G.Clause], list[G.Token]]
             ) -> Iterator[str]:
        rng = self.rng(part + "-hypotheses")

        def premise(r: random.Random) -> G.Clause:
            clause = self.sampler.clause(r, transitive=True, negated=False)
            return dataclasses.replace(clause, place=None)  # a place is what neutral adds

        for clause in self.clauses(part, n, premise):
            label = rng.randrange(3)
            hypothesis = nli_hypothesis(clause, label, self.sampler, rng)
            yield _json({"premise": _text(realise(clause)),
                         "hypothesis": _text(realise(hypothesis)), "label": label})


def nli_hypothesis(premise: G.Clause, label: int, sampler: G.Sampler,
                   rng: random.Random) -> G.Clause:
    """The hypothesis for ``label`` (XNLI order), from the premise's core (subject, verb and
    object without adjectives or adverb; premises are positive and name no place): entailment
    is the core, neutral the core placed somewhere (``in Paris``: news the premise does not
    confirm), contradiction the negated core. Each label is true NLI, and each shows one cue,
    so a tiny encoder learns the task: what transfers is the meaning of the cue words (the
    negation, after the verb in the other language; the postpositions). Rules that need the two
    sentences' words compared (another subject, or other participants, as neutral) stayed near
    chance between entailment and neutral at this scale."""
    core = dataclasses.replace(premise, subject=_bare(premise.subject),
                               object=_bare(premise.object) if premise.object else None,
                               place=None, adverb=None)
    if label == 1:
        preposition = rng.choice(sorted(W.PREPOSITIONS))
        place = sampler.phrase(rng, rng.choice(W.PREPOSITIONS[preposition]))
        return dataclasses.replace(core, place=(preposition, _bare(place)))
    return dataclasses.replace(core, negated=label == 2)


def _bare(p: G.Phrase) -> G.Phrase:
    return dataclasses.replace(p, adjectives=())


def ner_row(tokens: list[G.Token], lang: str) -> dict[str, Any]:
    """A WikiANN row: BIO tags from the tokens' entities (a new entity starts at a new concept
    group, so two adjacent entities of one type stay two)."""
    tags: list[str] = []
    for k, t in enumerate(tokens):
        if t.entity is None:
            tags.append("O")
            continue
        prev = tokens[k - 1] if k else None
        inside = (prev is not None and prev.entity == t.entity and prev.concept is not None
                  and t.concept is not None and _group(prev.concept) == _group(t.concept))
        tags.append(("I-" if inside else "B-") + t.entity)
    return _wikiann(tokens, tags, lang)


def ner_row_projected(other: list[G.Token], english: list[G.Token], lang: str
                      ) -> dict[str, Any]:
    """A WikiANN row for the synthetic side: English tags carried through the gold links. A
    word continues an entity (I-) when it follows the translation of the English word before
    its own translation, and that English word is inside the same entity."""
    en_tags = [NER_TAGS[i] for i in ner_row(english, "en")["ner_tags"]]
    link = dict(G.links(other, english))
    tags: list[str] = []
    for i in range(len(other)):
        j = link.get(i)
        if j is None or en_tags[j] == "O":
            tags.append("O")
            continue
        kind = en_tags[j][2:]
        inside = en_tags[j].startswith("I-") and i > 0 and link.get(i - 1) == j - 1
        tags.append(("I-" if inside else "B-") + kind)
    return _wikiann(other, tags, lang)


def _group(concept: str) -> str:
    return concept.split(".", 1)[0]


def _wikiann(tokens: list[G.Token], tags: list[str], lang: str) -> dict[str, Any]:
    words = [t.text for t in tokens]
    spans, start = [], None
    for k, tag in enumerate([*tags, "O"]):
        if start is not None and not tag.startswith("I-"):
            spans.append(f"{tags[start][2:]}: {' '.join(words[start:k])}")
            start = None
        if tag.startswith("B-"):
            start = k
    return {"tokens": words, "ner_tags": [NER_TAGS.index(t) for t in tags],
            "langs": [lang] * len(words), "spans": spans or ["None"]}


def _text(tokens: list[G.Token]) -> str:
    return " ".join(t.text for t in tokens)


def _json(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False)
