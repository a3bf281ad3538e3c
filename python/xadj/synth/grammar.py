"""One meaning, two sentences: a sampled clause is spelled out in English (SVO, adjectives
before the noun, ``does not`` before the verb, prepositions) and in the synthetic language
(SOV, adjectives after the noun, negation after the verb, postpositions, no articles), whose
words come from a seeded bijective lexicon of invented words.

Every word a realisation emits carries a *concept*: the two words of a translation share it, so
the gold alignment is the pairs of positions with equal concepts (one-to-one by construction;
words without counterpart, such as English articles and ``does``, or a separate plural marker,
carry none).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from xadj.synth import words as W

Item = TypeVar("Item")

MORPHOLOGY = ("fused", "separate", "none")


@dataclass(frozen=True)
class Token:
    text: str
    concept: str | None  # shared with the word's translation; None: no counterpart
    entity: str | None = None  # PER, LOC or ORG for the words of a named entity


@dataclass(frozen=True)
class Phrase:
    """A noun phrase's meaning: a common noun with its modifiers, or a named entity."""

    kind: str  # semantic class (words.NOUNS kinds, or name / place / org)
    noun: W.Noun | None = None
    plural: bool = False
    determiner: str | None = None  # lemma of words.DETERMINERS; None with a number
    number: str | None = None
    adjectives: tuple[str, ...] = ()
    entity: tuple[str, tuple[str, ...]] | None = None  # (PER | LOC | ORG, its words)


@dataclass(frozen=True)
class Clause:
    subject: Phrase
    verb: W.Verb
    object: Phrase | None
    negated: bool
    past: bool
    place: tuple[str, Phrase] | None = None  # a preposition and its noun phrase
    adverb: str | None = None


ENTITY_KINDS = {"name": "PER", "place": "LOC", "org": "ORG"}


class Sampler:
    """Draws clauses; frequent words first in each list of words.py, with Zipf-like weights."""

    def __init__(self, zipf_exponent: float):
        self.zipf = zipf_exponent
        self.nouns: dict[str, list[W.Noun]] = {}
        for noun in W.NOUNS:
            self.nouns.setdefault(noun.kind, []).append(noun)
        self.transitive = [v for v in W.VERBS if v.objects]
        self.intransitive = [v for v in W.VERBS if not v.objects]
        self._weights: dict[int, list[float]] = {}

    def pick(self, rng: random.Random, items: Sequence[Item]) -> Item:
        n = len(items)
        if n not in self._weights:
            self._weights[n] = [1.0 / (rank + 1) ** self.zipf for rank in range(n)]
        return rng.choices(items, weights=self._weights[n])[0]

    def phrase(self, rng: random.Random, kind: str) -> Phrase:
        if kind == "name":
            words = [self.pick(rng, W.FIRST_NAMES)]
            if rng.random() < 0.4:
                words.append(self.pick(rng, W.SURNAMES))
            return Phrase(kind, entity=("PER", tuple(words)))
        if kind == "place":
            return Phrase(kind, entity=("LOC", tuple(self.pick(rng, W.PLACES))))
        if kind == "org":
            return Phrase(kind, entity=("ORG", tuple(self.pick(rng, W.ORGANISATIONS))))
        noun = self.pick(rng, self.nouns[kind])
        plural = rng.random() < 0.3
        number = None
        if plural and rng.random() < 0.25:
            number = self.pick(rng, W.NUMBERS)
        fitting = [a for a, kinds in W.ADJECTIVES.items() if kind in kinds]
        count = 0 if rng.random() < 0.55 else (1 if rng.random() < 0.8 else 2)
        adjectives: list[str] = []
        while len(adjectives) < count:
            adjective = self.pick(rng, fitting)
            if adjective not in adjectives:
                adjectives.append(adjective)
        determiner = None
        if number is None:
            allowed = [d for d, forms in W.DETERMINERS.items() if forms[1 if plural else 0]]
            determiner = self.pick(rng, allowed)
        return Phrase(kind, noun, plural, determiner, number, tuple(adjectives))

    def clause(self, rng: random.Random, transitive: bool | None = None,
               negated: bool | None = None) -> Clause:
        if transitive is None:
            transitive = rng.random() < 0.75
        verb = self.pick(rng, self.transitive if transitive else self.intransitive)
        subject = self.phrase(rng, rng.choice(verb.subjects))
        obj = self.phrase(rng, rng.choice(verb.objects)) if verb.objects else None
        place = None
        if rng.random() < 0.3:
            preposition = rng.choice(sorted(W.PREPOSITIONS))
            place = (preposition, self.phrase(rng, rng.choice(W.PREPOSITIONS[preposition])))
        adverb = self.pick(rng, W.ADVERBS) if rng.random() < 0.2 else None
        if negated is None:
            negated = rng.random() < 0.2
        return Clause(subject, verb, obj, negated, rng.random() < 0.4, place, adverb)


# ---------------------------------------------------------------- English
def _english_phrase(p: Phrase, role: str) -> list[Token]:
    if p.entity is not None:
        tag, words = p.entity
        return [Token(w, f"{role}.e{k}", tag) for k, w in enumerate(words)]
    assert p.noun is not None
    out: list[Token] = []
    if p.number is not None:
        out.append(Token(p.number, f"{role}.num"))
    adjectives = [Token(a, f"{role}.a{k}") for k, a in enumerate(p.adjectives)]
    noun = Token(p.noun.plural if p.plural else p.noun.singular, f"{role}.n")
    if p.determiner is not None:
        form = W.DETERMINERS[p.determiner][1 if p.plural else 0]
        if form == "a" and (adjectives or [noun])[0].text[0] in "aeiou":
            form = "an"
        out.append(Token(form, None if form in W.ARTICLES else f"{role}.det"))
    return out + adjectives + [noun]


def english(c: Clause) -> list[Token]:
    out = _english_phrase(c.subject, "s")
    plural_subject = c.subject.plural
    if c.negated:
        aux = "did" if c.past else ("do" if plural_subject else "does")
        out += [Token(aux, None), Token("not", "neg"), Token(c.verb.base, "v")]
    else:
        form = c.verb.past if c.past else (c.verb.base if plural_subject else c.verb.third)
        out.append(Token(form, "v"))
    if c.object is not None:
        out += _english_phrase(c.object, "o")
    if c.place is not None:
        out.append(Token(c.place[0], "p.adp"))
        out += _english_phrase(c.place[1], "p")
    if c.adverb is not None:
        out.append(Token(c.adverb, "adv"))
    return out


# ---------------------------------------------------------------- the synthetic language
class Lexicon:
    """Seeded bijection from English lemmas (``noun:dog``, ``name:Anna``, ...) to invented
    words, plus the plural and past suffixes. Invented words never equal an English word, and
    no invented form (a stem, or a stem with its suffix) equals another."""

    def __init__(self, seed: int, consonants: str, vowels: str, share_names: bool = False):
        if len(set(consonants)) < 3 or len(set(vowels)) < 2:
            raise ValueError("the synthetic language needs at least 3 consonants and 2 vowels")
        rng = random.Random(f"{seed}:lexicon")
        self.consonants, self.vowels = consonants, vowels
        english_forms = {t.lower() for t in _english_vocabulary()}
        taken = set(english_forms)
        self.plural = self._fresh(rng, 1, taken, coda=False)
        self.past = self._fresh(rng, 1, taken, coda=False)
        self.words: dict[str, str] = {}
        entries: list[tuple[str, int]] = []  # (key, syllables); 0: a name
        entries += [(f"det:{d}", 1) for d in W.DETERMINERS if d not in W.ARTICLES]
        entries += [(f"adp:{p}", 1) for p in W.PREPOSITIONS] + [("neg:not", 1)]
        entries += [(f"num:{n}", 2) for n in W.NUMBERS]
        entries += [(f"noun:{n.singular}", 2) for n in W.NOUNS]
        entries += [(f"verb:{v.base}", 2) for v in W.VERBS]
        entries += [(f"adj:{a}", 2) for a in W.ADJECTIVES]
        entries += [(f"adv:{a}", 3) for a in W.ADVERBS]
        entries += [(f"name:{n}", 0) for n in _name_words()]
        for key, syllables in entries:
            if syllables == 0 and share_names:
                self.words[key] = key.split(":", 1)[1]
                continue
            if syllables == 0:
                word = self._fresh(rng, rng.choice((2, 2, 3)), taken, coda=True)
                self.words[key] = word[0].upper() + word[1:]
                continue
            suffixes = {"noun": self.plural, "verb": self.past}.get(key.split(":")[0], "")
            self.words[key] = self._fresh(rng, syllables, taken, coda=True, suffix=suffixes)

    def _fresh(self, rng: random.Random, syllables: int, taken: set[str], coda: bool,
               suffix: str = "") -> str:
        for _ in range(10_000):
            word = "".join(rng.choice(self.consonants) + rng.choice(self.vowels)
                           for _ in range(syllables))
            if coda and rng.random() < 0.3:
                word += rng.choice(self.consonants)
            forms = {word, word + suffix} if suffix else {word}
            if not forms & taken:
                taken.update(forms)
                return word
        raise ValueError(f"cannot invent enough distinct words from consonants "
                         f"{self.consonants!r} and vowels {self.vowels!r}; give more letters")

    def __getitem__(self, key: str) -> str:
        return self.words[key]


def _name_words() -> list[str]:
    seen: dict[str, None] = {}
    for w in [*W.FIRST_NAMES, *W.SURNAMES,
              *(w for p in W.PLACES for w in p), *(w for o in W.ORGANISATIONS for w in o)]:
        seen.setdefault(w, None)
    return list(seen)


def _english_vocabulary() -> set[str]:
    forms = {w for n in W.NOUNS for w in (n.singular, n.plural)}
    forms |= {w for v in W.VERBS for w in (v.base, v.third, v.past)}
    forms |= set(W.ADJECTIVES) | set(W.PREPOSITIONS) | set(W.ADVERBS) | set(W.NUMBERS)
    forms |= {f for pair in W.DETERMINERS.values() for f in pair if f}
    forms |= {"an", "not", "do", "does", "did"} | set(_name_words())
    return forms


def _other_phrase(p: Phrase, role: str, lex: Lexicon, morphology: str) -> list[Token]:
    if p.entity is not None:
        tag, words = p.entity
        return [Token(lex[f"name:{w}"], f"{role}.e{k}", tag) for k, w in enumerate(words)]
    assert p.noun is not None
    out: list[Token] = []
    if p.determiner is not None and p.determiner not in W.ARTICLES:
        out.append(Token(lex[f"det:{p.determiner}"], f"{role}.det"))
    out += _inflect(lex[f"noun:{p.noun.singular}"], lex.plural if p.plural else "",
                    f"{role}.n", morphology)
    # Adjectives follow the noun, mirrored: "big red dog" -> dog red big.
    out += [Token(lex[f"adj:{a}"], f"{role}.a{k}") for k, a in reversed(list(enumerate(
        p.adjectives)))]
    if p.number is not None:
        out.append(Token(lex[f"num:{p.number}"], f"{role}.num"))
    return out


def _inflect(stem: str, suffix: str, concept: str, morphology: str) -> list[Token]:
    if not suffix or morphology == "none":
        return [Token(stem, concept)]
    if morphology == "fused":
        return [Token(stem + suffix, concept)]
    return [Token(stem, concept), Token(suffix, None)]  # separate: the marker aligns to nothing


def other(c: Clause, lex: Lexicon, morphology: str) -> list[Token]:
    """The clause in the synthetic language: S [PP] [O] [ADV] V [NEG]."""
    out = _other_phrase(c.subject, "s", lex, morphology)
    if c.place is not None:
        out += _other_phrase(c.place[1], "p", lex, morphology)
        out.append(Token(lex[f"adp:{c.place[0]}"], "p.adp"))
    if c.object is not None:
        out += _other_phrase(c.object, "o", lex, morphology)
    if c.adverb is not None:
        out.append(Token(lex[f"adv:{c.adverb}"], "adv"))
    out += _inflect(lex[f"verb:{c.verb.base}"], lex.past if c.past else "", "v", morphology)
    if c.negated:
        out.append(Token(lex["neg:not"], "neg"))
    return out


def links(other_tokens: Sequence[Token], english_tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """Gold links (other index, English index) between words sharing a concept, sorted."""
    where = {t.concept: j for j, t in enumerate(english_tokens) if t.concept is not None}
    return sorted((i, where[t.concept]) for i, t in enumerate(other_tokens)
                  if t.concept is not None)
