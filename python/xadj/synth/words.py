"""The English side's words: a few hundred, grouped by what they may combine with.

Semantic classes give the text real distributional structure (``eat`` takes food, ``drive`` a
vehicle, ``tasty`` describes food), so that a model pretrained on each language alone learns
word-specific vectors, and the two languages share the same co-occurrence statistics without
sharing a single token. Irregular forms are spelled out; everything here is plain data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Noun:
    singular: str
    plural: str
    kind: str  # semantic class: animal, person, food, vehicle, building, thing, text


@dataclass(frozen=True)
class Verb:
    base: str  # after plural subjects, "do not" and "did not"
    third: str  # present tense after a singular subject
    past: str
    subjects: tuple[str, ...]  # classes allowed as subject ("name" = a person's name, "org")
    objects: tuple[str, ...] = ()  # classes allowed as object; empty: intransitive


def _nouns(kind: str, words: str) -> list[Noun]:
    """``dog cat mouse/mice``: regular plurals get an s, irregular ones follow a slash."""
    out = []
    for word in words.split():
        singular, _, plural = word.partition("/")
        out.append(Noun(singular, plural or singular + "s", kind))
    return out


NOUNS: list[Noun] = [
    *_nouns("animal", "dog cat horse bird fish/fish cow fox/foxes wolf/wolves bear mouse/mice "
                      "rabbit goat duck lion tiger frog snake owl pig"),
    *_nouns("person", "man/men woman/women child/children teacher doctor farmer student baker "
                      "soldier king queen girl boy friend driver nurse pilot singer"),
    *_nouns("food", "apple bread cake egg orange banana pie cookie sandwich/sandwiches "
                    "carrot potato/potatoes tomato/tomatoes lemon pear soup"),
    *_nouns("vehicle", "car bus/buses truck bike boat train plane ship tractor van"),
    *_nouns("building", "house school church/churches shop tower bridge castle farm hotel "
                        "library/libraries station market garden hospital museum"),
    *_nouns("thing", "box/boxes ball key chair table lamp cup bottle hat coat pen clock ring "
                     "rope knife/knives bag door window"),
    *_nouns("text", "book letter map newspaper poem note story/stories song"),
]

ANIMATE = ("animal", "person", "name")
PEOPLE = ("person", "name")
AGENTS = ("person", "name", "org")  # who can buy, sell, build, help...
CONCRETE = ("animal", "food", "vehicle", "building", "thing", "text")
PORTABLE = ("food", "thing", "text")


def _verb(forms: str, subjects: tuple[str, ...], objects: tuple[str, ...] = ()) -> Verb:
    base, third, past = forms.split()
    return Verb(base, third, past, subjects, objects)


VERBS: list[Verb] = [
    _verb("see sees saw", ANIMATE, (*ANIMATE, *CONCRETE, "place")),
    _verb("like likes liked", ANIMATE, (*ANIMATE, *CONCRETE, "place", "org")),
    _verb("eat eats ate", ANIMATE, ("food",)),
    _verb("cook cooks cooked", PEOPLE, ("food",)),
    _verb("buy buys bought", AGENTS, ("food", "thing", "text", "vehicle", "building")),
    _verb("sell sells sold", AGENTS, ("food", "thing", "text", "vehicle", "building")),
    _verb("drive drives drove", PEOPLE, ("vehicle",)),
    _verb("ride rides rode", PEOPLE, ("vehicle", "animal")),
    _verb("read reads read", PEOPLE, ("text",)),
    _verb("write writes wrote", PEOPLE, ("text",)),
    _verb("build builds built", AGENTS, ("building", "vehicle", "thing")),
    _verb("paint paints painted", PEOPLE, ("building", "vehicle", "thing")),
    _verb("chase chases chased", ANIMATE, ("animal", "person", "name", "vehicle")),
    _verb("find finds found", ANIMATE, ("thing", "text", "food", "animal")),
    _verb("carry carries carried", ANIMATE, PORTABLE),
    _verb("open opens opened", PEOPLE, ("thing", "building", "text")),
    _verb("wash washes washed", PEOPLE, ("animal", "vehicle", "thing")),
    _verb("visit visits visited", AGENTS, ("building", "place", "person", "name", "org")),
    _verb("help helps helped", (*ANIMATE, "org"), ("person", "name", "animal", "org")),
    _verb("call calls called", PEOPLE, ("person", "name", "animal", "org")),
    _verb("feed feeds fed", PEOPLE, ("animal", "person", "name")),
    _verb("catch catches caught", ANIMATE, ("animal", "thing")),
    _verb("hold holds held", PEOPLE, PORTABLE),
    _verb("lose loses lost", AGENTS, ("thing", "text", "food")),
    _verb("bring brings brought", PEOPLE, (*PORTABLE, "animal")),
    _verb("fix fixes fixed", AGENTS, ("vehicle", "thing", "building")),
    _verb("watch watches watched", ANIMATE, ("animal", "person", "name", "vehicle")),
    _verb("follow follows followed", ANIMATE, ("animal", "person", "name", "vehicle")),
    _verb("join joins joined", PEOPLE, ("org",)),
    _verb("leave leaves left", AGENTS, ("building", "place", "org")),
    _verb("sleep sleeps slept", ANIMATE),
    _verb("run runs ran", ANIMATE),
    _verb("walk walks walked", ANIMATE),
    _verb("swim swims swam", ANIMATE),
    _verb("sing sings sang", ("person", "name", "animal")),
    _verb("dance dances danced", PEOPLE),
    _verb("laugh laughs laughed", PEOPLE),
    _verb("wait waits waited", ANIMATE),
    _verb("smile smiles smiled", PEOPLE),
    _verb("jump jumps jumped", ANIMATE),
    _verb("work works worked", AGENTS),
    _verb("cry cries cried", PEOPLE),
    _verb("arrive arrives arrived", (*ANIMATE, "vehicle")),
    _verb("fall falls fell", (*ANIMATE, "thing")),
    _verb("shout shouts shouted", PEOPLE),
]


def _adjectives(kinds: tuple[str, ...], words: str) -> dict[str, tuple[str, ...]]:
    return {word: kinds for word in words.split()}


ADJECTIVES: dict[str, tuple[str, ...]] = {
    **_adjectives(("animal", "vehicle", "building", "thing", "food"), "big small"),
    **_adjectives(("animal", "person", "vehicle", "building", "thing", "text"), "old"),
    **_adjectives(("vehicle", "building", "thing", "text"), "new"),
    **_adjectives(("animal", "vehicle", "building", "thing"), "red blue green white black"),
    **_adjectives(("animal", "person"), "happy sad angry tired young brave hungry quiet"),
    **_adjectives(("person",), "clever kind lazy"),
    **_adjectives(("food",), "fresh sweet sour hot tasty"),
    **_adjectives(("vehicle",), "fast slow"),
    **_adjectives(("building",), "tall empty famous dark"),
    **_adjectives(("thing", "vehicle"), "heavy broken cheap"),
    **_adjectives(("text",), "long short funny"),
}

# Prepositions and the classes of their object; the other language puts them after it.
PREPOSITIONS: dict[str, tuple[str, ...]] = {
    "in": ("place", "building"),
    "near": ("place", "building"),
    "from": ("place", "building", "org"),
    "with": ("person", "name", "animal", "thing"),
    "behind": ("building", "vehicle"),
    "at": ("building", "org"),
}

ADVERBS = "quickly slowly often again today together quietly happily".split()

# Determiners: (singular, plural) forms of one lemma; "" where a form does not exist.
DETERMINERS: dict[str, tuple[str, str]] = {
    "the": ("the", "the"),
    "a": ("a", ""),  # "an" before a vowel
    "this": ("this", "these"),
    "that": ("that", "those"),
    "every": ("every", ""),
    "some": ("", "some"),
}
# The articles have no counterpart in the other language (as in Russian or Hindi).
ARTICLES = ("the", "a", "an")

NUMBERS = "two three four five six seven eight nine ten".split()

# Entities (named-entity tags PER, LOC, ORG). Several words an entity: B- then I- tags.
FIRST_NAMES = ("Anna Maria John Peter Laura David Sarah Tom Emma Lucas Olga Ivan Nina Paul "
               "Rosa Omar Mei Kenji Amir Elena Hugo Clara Felix Ada Leo Iris Max Sofia Victor "
               "Zoe").split()
SURNAMES = "Smith Brown Novak Garcia Weber Rossi Kim Silva Meyer Khan Jensen Petrov Costa".split()
PLACES = [p.split() for p in (
    "Paris", "London", "Berlin", "Rome", "Cairo", "Tokyo", "Lima", "Oslo", "Madrid", "Vienna",
    "Dublin", "Boston", "Chicago", "Sydney", "Prague", "Lisbon", "Athens", "Nairobi", "Delhi",
    "New York", "Buenos Aires", "Hong Kong", "Cape Town", "San Diego", "Los Angeles",
    "Tel Aviv", "Abu Dhabi", "Kuala Lumpur",
)]
ORGANISATIONS = [o.split() for o in (
    "Google", "Microsoft", "Toyota", "Nike", "Siemens", "Nokia", "FIFA", "NASA", "UNESCO",
    "Red Cross", "World Bank", "Air France", "General Motors", "United Nations", "Royal Navy",
    "Deutsche Bank", "Star Media Group", "North Sea Oil", "Apex Motors", "Delta Press",
)]
