"""Cross-lingual sentence retrieval as an evaluate task: Tatoeba (mteb/tatoeba-bitext-mining,
configs ``<iso3>-eng``, ``sentence1`` the other language, ``sentence2`` English) or any bitext;
sentence vectors from xadj.encode (mean of non-special tokens of one hidden layer), retrieval in
both directions from xadj.tasks.xsr. No fine-tuning: any encoder works."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset

from xadj.tasks.base import EvalContext, Features, Outcome
from xadj.tasks.data import Source

HUB_ID = "mteb/tatoeba-bitext-mining"
# Tatoeba's ISO 639-3 codes for the languages of XTREME/Efimov et al. and other common ones.
ISO3 = {"ar": "ara", "bg": "bul", "de": "deu", "el": "ell", "es": "spa", "et": "est", "fa": "pes",
        "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin", "hu": "hun", "id": "ind", "it": "ita",
        "ja": "jpn", "ko": "kor", "nl": "nld", "pl": "pol", "pt": "por", "ru": "rus", "sw": "swh",
        "th": "tha", "tr": "tur", "uk": "ukr", "ur": "urd", "vi": "vie", "zh": "cmn"}


def tatoeba_config(language: str) -> str:
    """``es`` -> ``spa-eng``; a three-letter code or a full config name is taken as is."""
    if "-" in language:
        return language
    if len(language) == 3:
        return f"{language}-eng"
    if language not in ISO3:
        raise ValueError(f"XSR: no Tatoeba code known for {language!r}; pass the config name "
                         f"(e.g. spa-eng) or the ISO 639-3 code")
    return f"{ISO3[language]}-eng"


def _lines(path: Path) -> list[str]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f]
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 ({err.reason})") from None


def read_sentence_pairs(paths: Sequence[str | Path]) -> tuple[list[str], list[str]]:
    """(other, English) sentences of a ``other ||| English`` file or of two line-aligned files;
    errors name the file and line."""
    files = [Path(p) for p in paths]
    if len(files) == 1:
        other, english = [], []
        for number, line in enumerate(_lines(files[0]), 1):
            if " ||| " not in line:
                raise ValueError(f"{files[0]}:{number}: no ' ||| ' between the two sentences")
            x, en = line.split(" ||| ", 1)
            other.append(x.strip())
            english.append(en.strip())
    elif len(files) == 2:
        other, english = _lines(files[0]), _lines(files[1])
        if len(other) != len(english):
            raise ValueError(f"{files[0]} has {len(other)} lines, {files[1]} {len(english)}")
    else:
        raise ValueError("--bitext takes one `x ||| en` file or two line-aligned files")
    for number, (x, en) in enumerate(zip(other, english, strict=True), 1):
        if not x or not en:
            raise ValueError(f"{files[0]}:{number}: an empty sentence")
    return other, english


class XsrTask:
    name = "xsr"
    lr = 0.0  # no fine-tuning
    epochs = 0
    max_length = 512
    doc_stride = 0
    prediction_suffixes: tuple[str, ...] = (".xx2en", ".en2xx")

    def train_source(self) -> Source:
        raise ValueError("xsr needs no fine-tuning: evaluate any encoder directly")

    def test_configs(self, languages: Sequence[str], qa_pairs: Sequence[str]) -> list[str]:
        return [tatoeba_config(lang) for lang in languages]

    def test_source(self, config: str) -> Source:
        return Source(HUB_ID, config, "test")

    def label_names(self, rows: Dataset) -> list[str] | None:
        return None

    def model_class(self) -> Any:
        from transformers import AutoModel

        return AutoModel

    def bitext_rows(self, paths: Sequence[str], max_rows: int | None) -> Dataset:
        other, english = read_sentence_pairs(paths)
        rows = Dataset.from_dict({"sentence1": other, "sentence2": english})
        return rows.select(range(max_rows)) if max_rows and max_rows < len(rows) else rows

    def train_features(self, rows: Dataset, tokenizer: Any, labels: list[str] | None,
                       max_length: int, doc_stride: int) -> Features:
        raise ValueError("xsr needs no fine-tuning")

    def evaluate(self, model: Any, tokenizer: Any, rows: Dataset, config: str,
                 ctx: EvalContext) -> Outcome:
        from xadj.sentence_vectors import check_layer, default_layer, encode
        from xadj.tasks.xsr import retrieve

        depth = int(model.config.num_hidden_layers)
        layer = check_layer(default_layer(depth) if ctx.layer is None else ctx.layer, depth)
        ctx.info["layer"] = layer
        vectors = {
            column: encode(model, tokenizer, list(rows[column]), layer=layer,
                           batch_size=ctx.batch_size, device=ctx.device,
                           max_length=ctx.max_length or self.max_length, progress=ctx.progress)
            for column in ("sentence1", "sentence2")  # other language, English
        }
        other, english = vectors["sentence1"], vectors["sentence2"]
        result = retrieve(other, english)
        items = {
            suffix: [{"id": i, "gold": i, "prediction": int(p)} for i, p in enumerate(found)]
            for suffix, found in ((".xx2en", result.xx2en), (".en2xx", result.en2xx))
        }
        return Outcome(dict(result.metrics()), items)
