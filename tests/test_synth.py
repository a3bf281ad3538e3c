"""The synthetic language pair (xadj.synth): determinism, every file's schema, gold links that
are true translations, label projection, the NLI rule, and a tiny pretraining run."""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from pathlib import Path

import pytest

from xadj.synth import SynthConfig, generate
from xadj.synth import grammar as G
from xadj.synth import words as W
from xadj.synth.generate import NER_TAGS, ner_row, ner_row_projected, nli_hypothesis

SMALL = dict(mono_sentences=400, bitext_train=200, bitext_test=50, wikiann_train=60,
             wikiann_validation=20, wikiann_test=30, xnli_train=60, xnli_validation=20,
             xnli_test=30, tatoeba_pairs=40)


def small(**changes) -> SynthConfig:
    return SynthConfig(**{**SMALL, **changes})


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "data"
    generate(small(), out, progress=False)
    return out


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


# ---------------------------------------------------------------- determinism and layout
def test_same_seed_gives_identical_bytes_and_another_seed_other_text(synth, tmp_path):
    generate(small(), tmp_path / "again", progress=False)
    assert files(tmp_path / "again") == files(synth)
    generate(small(seed=7), tmp_path / "other", progress=False)
    assert lines(tmp_path / "other" / "mono" / "en.txt") != lines(synth / "mono" / "en.txt")
    meta = json.loads((tmp_path / "other" / "synth.json").read_text())
    assert meta["lexicon"]["words"] != json.loads((synth / "synth.json").read_text())[
        "lexicon"]["words"]


def test_every_file_is_written_and_counted(synth):
    meta = json.loads((synth / "synth.json").read_text())
    expected = {
        "mono/en.txt": 400, "mono/qaa.txt": 400,
        "bitext/train.txt": 200, "bitext/train.gold": 200,
        "bitext/test.txt": 50, "bitext/test.gold": 50,
        "wikiann/en/train.jsonl": 60, "wikiann/en/validation.jsonl": 20,
        "wikiann/en/test.jsonl": 30, "wikiann/qaa/validation.jsonl": 20,
        "wikiann/qaa/test.jsonl": 30,
        "xnli/en/train.jsonl": 60, "xnli/en/validation.jsonl": 20, "xnli/en/test.jsonl": 30,
        "xnli/qaa/validation.jsonl": 20, "xnli/qaa/test.jsonl": 30,
        "tatoeba/qaa-eng/test.jsonl": 40,
    }
    assert meta["counts"] == expected
    for rel, n in expected.items():
        assert len(lines(synth / rel)) == n, rel
    assert meta["seed"] == 42 and meta["config"]["lang"] == "qaa"
    assert "overwrite" not in meta["config"]  # operational, not part of the data
    assert not list(synth.parent.glob(".*.tmp"))  # the temporary build directory is gone


def test_output_dir_is_never_clobbered(synth, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        generate(small(overwrite=True), foreign, progress=False)
    assert (foreign / "notes.txt").read_text() == "mine"
    again = tmp_path / "again"
    generate(small(), again, progress=False)
    with pytest.raises(FileExistsError, match="overwrite"):
        generate(small(), again, progress=False)
    generate(small(seed=3, overwrite=True), again, progress=False)
    assert json.loads((again / "synth.json").read_text())["seed"] == 3


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="morphology"):
        generate(small(morphology="agglutinative"), tmp_path / "a", progress=False)
    with pytest.raises(ValueError, match="language code"):
        generate(small(lang="Q A"), tmp_path / "b", progress=False)
    with pytest.raises(ValueError, match="mono_sentences"):
        generate(small(mono_sentences=0), tmp_path / "c", progress=False)
    assert not (tmp_path / "a").exists()


# ---------------------------------------------------------------- the two languages
def test_languages_share_no_word_and_parts_share_no_sentence(synth):
    en = lines(synth / "mono" / "en.txt")
    xx = lines(synth / "mono" / "qaa.txt")
    assert not {w for s in en for w in s.split()} & {w for s in xx for w in s.split()}
    bitext = [line.split(" ||| ") for line in lines(synth / "bitext" / "train.txt")]
    bitext += [line.split(" ||| ") for line in lines(synth / "bitext" / "test.txt")]
    tatoeba = jsonl(synth / "tatoeba" / "qaa-eng" / "test.jsonl")
    english = en + [e for _, e in bitext] + [r["sentence2"] for r in tatoeba]
    assert len(set(english)) == len(english)  # each meaning is used once
    assert not set(xx) & ({o for o, _ in bitext} | {r["sentence1"] for r in tatoeba})


def _lemma_forms(key: str) -> set[str]:
    """English surface forms of a lexicon entry, straight from the word lists."""
    category, lemma = key.split(":", 1)
    if category == "noun":
        noun = next(n for n in W.NOUNS if n.singular == lemma)
        return {noun.singular, noun.plural}
    if category == "verb":
        verb = next(v for v in W.VERBS if v.base == lemma)
        return {verb.base, verb.third, verb.past}
    if category == "det":
        return {f for f in W.DETERMINERS[lemma] if f}
    return {lemma}


def _check_gold(bitext: Path, gold: Path, meta: dict, morphology: str) -> int:
    lex = meta["lexicon"]
    suffixes = {"noun": lex["plural_suffix"], "verb": lex["past_suffix"]}
    stems = {word: key for key, word in lex["words"].items()}
    pairs = lines(bitext)
    links = lines(gold)
    assert len(pairs) == len(links)
    total = 0
    for number, (pair, line) in enumerate(zip(pairs, links, strict=True), 1):
        other, english = (side.split() for side in pair.split(" ||| "))
        found = [tuple(map(int, link.split("-"))) for link in line.split()]
        assert found, f"line {number} has no links"
        assert len({i for i, _ in found}) == len(found) == len({j for _, j in found})
        for i, j in found:
            assert 0 <= i < len(other) and 0 <= j < len(english), (number, i, j)
            word = other[i]
            key = stems.get(word)
            if key is None and morphology == "fused":  # an inflected form: stem + suffix
                for category, suffix in suffixes.items():
                    stem = word[:-len(suffix)]
                    if word.endswith(suffix) and stems.get(stem, "").startswith(category):
                        key = stems[stem]
            assert key is not None, f"line {number}: {word!r} is not in the lexicon"
            assert english[j] in _lemma_forms(key), (number, word, key, english[j])
        unlinked = set(range(len(english))) - {j for _, j in found}
        # English words without a counterpart are articles and do-support only.
        assert {english[j] for j in unlinked} <= {"the", "a", "an", "do", "does", "did"}
        total += len(found)
    return total


def test_gold_links_join_translations_one_to_one(synth):
    meta = json.loads((synth / "synth.json").read_text())
    for split in ("train", "test"):
        assert _check_gold(synth / "bitext" / f"{split}.txt", synth / "bitext" / f"{split}.gold",
                           meta, "fused") > 0


@pytest.mark.parametrize("morphology", ["separate", "none"])
def test_other_morphologies(tmp_path, morphology):
    out = tmp_path / morphology
    generate(small(morphology=morphology, mono_sentences=50), out, progress=False)
    meta = json.loads((out / "synth.json").read_text())
    _check_gold(out / "bitext" / "train.txt", out / "bitext" / "train.gold", meta, morphology)
    plural = meta["lexicon"]["plural_suffix"]
    other_words = [line.split(" ||| ")[0].split() for line in lines(out / "bitext/train.txt")]
    standalone = sum(words.count(plural) for words in other_words)
    assert (standalone > 0) == (morphology == "separate")


def test_shared_names_are_spelt_as_in_english(tmp_path):
    out = tmp_path / "common-names"
    generate(small(share_names=True, mono_sentences=50), out, progress=False)
    words = json.loads((out / "synth.json").read_text())["lexicon"]["words"]
    assert all(word == key[5:] for key, word in words.items() if key.startswith("name:"))
    assert not any(word == key.split(":")[1] for key, word in words.items()
                   if not key.startswith("name:"))
    rows = jsonl(out / "wikiann" / "qaa" / "test.jsonl")
    names = set(G._name_words())
    assert all((w in names) == (t != 0) for r in rows for w, t in zip(r["tokens"], r["ner_tags"],
                                                                       strict=True))


def test_word_orders_differ():
    lex = G.Lexicon(0, "bdgkmnprstvz", "aeiou")
    dog = next(n for n in W.NOUNS if n.singular == "dog")
    cat = next(n for n in W.NOUNS if n.singular == "cat")
    see = next(v for v in W.VERBS if v.base == "see")
    clause = G.Clause(G.Phrase("animal", dog, determiner="the", adjectives=("big", "red")), see,
                      G.Phrase("animal", cat, plural=True, determiner="some"), negated=True,
                      past=True, place=("in", G.Phrase("place", entity=("LOC", ("New", "York")))))
    english = [t.text for t in G.english(clause)]
    assert english == "the big red dog did not see some cats in New York".split()
    other = [t.text for t in G.other(clause, lex, "separate")]
    assert other == [lex["noun:dog"], lex["adj:red"], lex["adj:big"], lex["name:New"],
                     lex["name:York"], lex["adp:in"], lex["det:some"], lex["noun:cat"],
                     lex.plural, lex["verb:see"], lex.past, lex["neg:not"]]
    fused = [t.text for t in G.other(clause, lex, "fused")]
    assert lex["noun:cat"] + lex.plural in fused and lex["verb:see"] + lex.past in fused


# ---------------------------------------------------------------- tasks
def test_wikiann_rows(synth):
    meta = json.loads((synth / "synth.json").read_text())
    names = {w for k, w in meta["lexicon"]["words"].items() if k.startswith("name:")}
    for lang, splits in (("en", ("train", "validation", "test")),
                         ("qaa", ("validation", "test"))):
        for split in splits:
            for row in jsonl(synth / "wikiann" / lang / f"{split}.jsonl"):
                assert set(row) == {"tokens", "ner_tags", "langs", "spans"}
                n = len(row["tokens"])
                assert len(row["ner_tags"]) == n and row["langs"] == [lang] * n
                assert all(0 <= t < len(NER_TAGS) for t in row["ner_tags"])
                tags = [NER_TAGS[t] for t in row["ner_tags"]]
                for k, tag in enumerate(tags):  # I-X only continues X
                    if tag.startswith("I-"):
                        assert k > 0 and tags[k - 1][2:] == tag[2:]
                starts = [k for k, tag in enumerate(tags) if tag.startswith("B-")]
                assert starts, "every WikiANN sentence has an entity"
                assert len(row["spans"]) == len(starts)
                assert all(s.split(": ")[0] in ("PER", "ORG", "LOC") for s in row["spans"])
                for word, tag in zip(row["tokens"], tags, strict=True):
                    assert word[0].isupper() == (tag != "O")
                    if lang == "qaa":
                        assert (word in names) == (tag != "O")


def _clause(subject: G.Phrase, obj: G.Phrase, verb: str = "see") -> G.Clause:
    return G.Clause(subject, next(v for v in W.VERBS if v.base == verb), obj, negated=False,
                    past=False)


def test_tags_follow_the_links_and_adjacent_entities_stay_apart():
    lex = G.Lexicon(0, "bdgkmnprstvz", "aeiou")
    anna = G.Phrase("name", entity=("PER", ("Anna", "Smith")))
    john = G.Phrase("name", entity=("PER", ("John",)))
    clause = _clause(anna, john)  # "Anna Smith sees John" / "Anna Smith John see"
    english = G.english(clause)
    assert [NER_TAGS[t] for t in ner_row(english, "en")["ner_tags"]] == [
        "B-PER", "I-PER", "O", "B-PER"]
    row = ner_row_projected(G.other(clause, lex, "fused"), english, "qaa")
    assert [NER_TAGS[t] for t in row["ner_tags"]] == ["B-PER", "I-PER", "B-PER", "O"]
    assert row["spans"] == [f"PER: {lex['name:Anna']} {lex['name:Smith']}",
                            f"PER: {lex['name:John']}"]


def test_xnli_rows(synth):
    words = json.loads((synth / "synth.json").read_text())["lexicon"]["words"]
    cues = {"en": ({"not"}, set(W.PREPOSITIONS)),
            "qaa": ({words["neg:not"]}, {words[f"adp:{p}"] for p in W.PREPOSITIONS})}
    for lang, splits in (("en", ("train", "validation", "test")),
                         ("qaa", ("validation", "test"))):
        labels = []
        negation, places = cues[lang]
        for split in splits:
            for row in jsonl(synth / "xnli" / lang / f"{split}.jsonl"):
                assert set(row) == {"premise", "hypothesis", "label"}
                premise, hypothesis = set(row["premise"].split()), set(row["hypothesis"].split())
                assert not premise & (negation | places)
                assert bool(hypothesis & negation) == (row["label"] == 2)
                assert bool(hypothesis & places) == (row["label"] == 1)
                labels.append(row["label"])
        assert set(labels) == {0, 1, 2}


def test_nli_rule():
    """Entailment is the premise's core, neutral places it somewhere, contradiction negates it."""
    sampler = G.Sampler(0.8)
    rng = random.Random(0)
    for _ in range(200):
        premise = dataclasses.replace(sampler.clause(rng, transitive=True, negated=False),
                                      place=None)
        for label in range(3):
            h = nli_hypothesis(premise, label, sampler, rng)
            assert h.adverb is None and h.past == premise.past and h.verb == premise.verb
            assert h.subject == dataclasses.replace(premise.subject, adjectives=())
            assert h.object == dataclasses.replace(premise.object, adjectives=())
            assert h.negated == (label == 2)
            assert (h.place is not None) == (label == 1)
            if h.place is not None:
                assert h.place[1].kind in W.PREPOSITIONS[h.place[0]]


def test_tatoeba_rows(synth):
    rows = jsonl(synth / "tatoeba" / "qaa-eng" / "test.jsonl")
    assert len(rows) == 40
    assert all(set(r) == {"sentence1", "sentence2"} for r in rows)
    english = G._english_vocabulary()
    assert all(set(r["sentence2"].split()) <= english for r in rows)
    assert not any(set(r["sentence1"].split()) & english for r in rows)


# ---------------------------------------------------------------- pretraining
TINY = dict(steps=4, batch_size=16, hidden_size=32, num_layers=1, num_heads=2,
            intermediate_size=64, checkpoint_every=2, log_every=2)


def _weights(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))


def test_pretraining_gives_a_loadable_encoder_and_resumes_exactly(synth, tmp_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from xadj.data import PrepareOptions, prepare
    from xadj.synth import PretrainConfig, pretrain

    logging.getLogger("transformers").setLevel(logging.ERROR)
    config = PretrainConfig(**TINY)
    result = pretrain(synth, tmp_path / "a", config, progress=False)
    assert result.steps == 4 and len(result.losses) == 4
    assert all(torch.isfinite(torch.tensor(result.losses)))
    model, info = AutoModel.from_pretrained(result.model_dir, output_loading_info=True)
    assert type(model).__name__ == "BertModel"
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert model.config.hidden_size == 32 and model.config.num_hidden_layers == 1
    tokenizer = AutoTokenizer.from_pretrained(result.model_dir)
    assert tokenizer.is_fast
    # Every word of either corpus is one token of the vocabulary: nothing is unknown.
    words = {w for lang in ("en", "qaa") for line in lines(synth / "mono" / f"{lang}.txt")
             for w in line.split()}
    pieces = tokenizer(sorted(words), add_special_tokens=False)["input_ids"]
    assert all(len(p) == 1 and p[0] != tokenizer.unk_token_id for p in pieces)
    about = json.loads((result.model_dir / "xadj_pretrain.json").read_text())
    assert about["steps"] == 4 and about["settings"]["seed"] == 42
    assert about["languages"] == ["en", "qaa"]
    metrics = lines(tmp_path / "a" / "metrics.jsonl")
    assert [json.loads(m)["step"] for m in metrics] == [2, 4]

    # The gold bitext goes through xadj's data path with every link kept.
    prepared = prepare([synth / "bitext" / "test.txt"], tokenizer, tmp_path / "prepared",
                       alignments=synth / "bitext" / "test.gold", options=PrepareOptions(),
                       progress=False)
    gold_links = sum(len(line.split()) for line in lines(synth / "bitext" / "test.gold"))
    assert prepared.num_pairs == 50 and prepared.meta["counts"]["links_out"] == gold_links

    # Same seed, same weights; interrupted after step 2 and resumed, still the same weights.
    again = pretrain(synth, tmp_path / "b", config, progress=False)
    first = _weights(result.model_dir)
    assert all(torch.equal(first[k], v) for k, v in _weights(again.model_dir).items())
    import shutil

    shutil.rmtree(tmp_path / "b" / "checkpoints" / "step-4")
    shutil.rmtree(tmp_path / "b" / "model")
    resumed = pretrain(synth, tmp_path / "b", dataclasses.replace(config, resume=True),
                       progress=False)
    assert resumed.steps == 4 and len(resumed.losses) == 2
    assert resumed.losses == result.losses[2:]
    assert all(torch.equal(first[k], v) for k, v in _weights(resumed.model_dir).items())

    with pytest.raises(FileExistsError, match="not empty"):
        pretrain(synth, tmp_path / "a", config, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        pretrain(synth, tmp_path / "b", dataclasses.replace(config, resume=True, lr=1e-4),
                 progress=False)


def test_pretraining_needs_a_synthetic_directory(tmp_path):
    from xadj.synth import PretrainConfig, pretrain

    with pytest.raises(FileNotFoundError, match="synth.json"):
        pretrain(tmp_path, tmp_path / "out", PretrainConfig(**TINY), progress=False)
    with pytest.raises(ValueError, match="num_heads"):
        pretrain(tmp_path, tmp_path / "out", PretrainConfig(**{**TINY, "num_heads": 3}),
                 progress=False)
