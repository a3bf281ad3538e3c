"""The jobs of the command line as Python functions: each takes its config dataclass and returns
a result object; none prints (the CLI does). ``xadj.adjust`` (the align job) is in xadj.align.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xadj.config import check, setting
from xadj.data import CorpusConfig, PrepareConfig
from xadj.wordaligner import DEFAULT_METHOD, METHODS, AlignerOptions

log = logging.getLogger(__name__)
# xadj.wordalign_encoder.METHODS and GRANULARITIES, spelt out: importing that module loads torch
# (slow CLI start)
ENCODER_METHODS = ("argmax", "itermax")
ENCODER_GRANULARITIES = ("word", "piece")


# ---------------------------------------------------------------- prepare
@dataclass
class PrepareJobConfig:
    """``prepare``: a corpus and its alignments -> a prepared dataset for a tokenizer."""

    tokenizer: str = setting("", "hub id or local path of a fast tokenizer, or `tiny`/`e5-small`",
                             required=True)
    output: str = setting("", "output directory", short="-o", required=True)
    overwrite: bool = setting(False, "replace an existing prepared dataset at --output")
    tiny_kind: str = setting("bert", "tokenizer type of `tiny`", choices=("bert", "xlmr"))
    source: CorpusConfig = field(default_factory=CorpusConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)

    def __post_init__(self) -> None:
        check(self)
        if self.source.hf_dataset:  # dataset text is untokenized, English in its own column
            self.prepare.unicode_words, self.prepare.english_first = True, False


@dataclass
class PrepareResult:
    path: Path
    num_pairs: int
    counts: dict[str, Any]


def prepare(config: PrepareJobConfig, progress: bool = True) -> PrepareResult:
    """Prepares a corpus (aligning it with the built-in aligner if no alignments are given)."""
    import tempfile

    from transformers import AutoTokenizer

    from xadj import data
    from xadj.model import resolve_model

    output = Path(config.output)
    data.check_output(output, config.overwrite)  # before any work
    with tempfile.TemporaryDirectory(prefix=".xadj-export-") as work:
        paths = data.resolve_corpus(config.source, Path(work))
        name = resolve_model(config.tokenizer, config.tiny_kind)
        try:
            tokenizer = AutoTokenizer.from_pretrained(name)
        except (OSError, ValueError) as err:
            raise OSError(f"cannot load tokenizer {config.tokenizer!r}: {err}") from err
        ds = data.prepare(paths, tokenizer, output, alignments=config.source.alignments,
                          options=config.prepare, tokenizer_name=config.tokenizer,
                          progress=progress, overwrite=config.overwrite)
    return PrepareResult(output, ds.num_pairs, ds.meta["counts"])


# ---------------------------------------------------------------- wordalign
@dataclass
class WordalignConfig:
    """``wordalign``: the built-in statistical aligner (fast_align's model), or with
    ``--encoder`` SimAlign's similarity alignment from an encoder's contextual vectors."""

    input: list[str] = setting(
        factory=list, help="`source ||| target` file, or two line-aligned files", positional=True)
    reverse: bool = setting(False, "align in the reverse direction (-r)", short="-r")
    output: str | None = setting(None, "output file (default: stdout)", short="-o")
    both: bool = setting(False, "both directions, then symmetrise (needs --output-prefix)")
    symmetrize: str = setting(DEFAULT_METHOD, "heuristic joining the two directions",
                              choices=METHODS)
    output_prefix: str | None = setting(
        None, "with --both: writes P.fwd, P.rev and P.<method>")
    raw_text: bool = setting(False, "split raw text with the built-in Unicode word tokenizer")
    threads: int | None = setting(None, "worker threads (default: all cores)", min=1,
                                  max=max(os.cpu_count() or 1, 1) * 4)
    encoder: str | None = setting(
        None, "align with this encoder's word vectors instead (SimAlign): a model name as "
        "`align --model` takes it (`e5-small`, `tiny`, a hub id or a local dir)")
    layer: int | None = setting(
        None, "with --encoder: hidden_states index of the word vectors (0 = embeddings, -1 = "
        "last; default: 2/3 of the depth, 8 of 12)", min=-1)
    method: str = setting("argmax", "with --encoder: mutual argmax, or SimAlign's itermax",
                          choices=ENCODER_METHODS)
    pooling: str = setting("avg", "with --encoder: word vector from its pieces",
                           choices=("avg", "first", "last"))
    granularity: str = setting(
        "word", "with --encoder: link words (pieces pooled), or link pieces and then the words "
        "they belong to (SimAlign's subword level)", choices=ENCODER_GRANULARITIES)
    batch_size: int = setting(32, "with --encoder: sentence pairs per forward pass", min=1)
    cpu: bool = setting(False, "with --encoder: stay on the CPU even with a GPU")
    aligner: AlignerOptions = field(default_factory=AlignerOptions)

    def __post_init__(self) -> None:
        check(self)
        if len(self.input) not in (1, 2):
            raise ValueError("wordalign: give one `source ||| target` file or two files")
        if self.both and not self.output_prefix:
            raise ValueError("--both needs --output-prefix P (writes P.fwd, P.rev, P.<method>)")
        if self.encoder is not None and (self.both or self.reverse):
            raise ValueError("--encoder aligns both directions at once (mutual argmax): drop "
                             "--both/--reverse")


@dataclass
class WordalignResult:
    outputs: list[Path]  # files written (none: stdout)
    links: int
    empty_pairs: int  # pairs with an empty side (empty alignment lines)
    too_long_pairs: int
    stats: dict[str, Any]


def wordalign(config: WordalignConfig, progress: bool = True) -> WordalignResult:
    """Aligns a bitext; writes Pharaoh lines (files appear atomically): fast_align's, or with
    ``encoder`` the encoder's mutual-argmax (or itermax) links."""
    from xadj.corpus import read_bitext
    from xadj.wordaligner import align_words, write_alignment

    if config.threads:
        os.environ["RAYON_NUM_THREADS"] = str(config.threads)
    for p in config.input:
        if not Path(p).exists():
            raise FileNotFoundError(f"{p}: no such file")
    if config.encoder is not None:  # the model fails by name before the corpus is read
        from xadj.model import check_model_source, resolve_model

        check_model_source(resolve_model(config.encoder))
    bitext = read_bitext(*config.input, unicode_words=config.raw_text, allow_empty=True)
    outputs: list[Path] = []
    if config.encoder is not None:
        links, offsets, stats = _encoder_links(config, bitext, progress)
        write_alignment(config.output, links, offsets)
        outputs = [Path(config.output)] if config.output else []
        return WordalignResult(outputs, len(links), bitext.empty_pairs, 0, stats)
    if config.both:
        links, offsets, stats = align_words(bitext, both=True, symmetrize=config.symmetrize,
                                            options=config.aligner, progress=progress)
        prefix = config.output_prefix
        for suffix, (lk, of) in (("fwd", stats["alignments"]["fwd"]),
                                 ("rev", stats["alignments"]["rev"]),
                                 (config.symmetrize, (links, offsets))):
            write_alignment(f"{prefix}.{suffix}", lk, of)
            outputs.append(Path(f"{prefix}.{suffix}"))
        report = stats["forward"]
        stats = {k: v for k, v in stats.items() if k != "alignments"}
    else:
        links, offsets, report = align_words(bitext, reverse=config.reverse,
                                             options=config.aligner, progress=progress)
        write_alignment(config.output, links, offsets)
        outputs = [Path(config.output)] if config.output else []
        stats = dict(report)
    return WordalignResult(outputs, len(links), int(report["empty_pairs"]),
                           int(report["too_long_pairs"]), stats)


def _encoder_links(config: WordalignConfig, bitext: Any, progress: bool
                   ) -> tuple[Any, Any, dict[str, Any]]:
    import torch

    from xadj.model import load_encoder, resolve_model
    from xadj.sentence_vectors import default_layer
    from xadj.wordalign_encoder import align_with_encoder, bitext_pairs

    model, tokenizer = load_encoder(resolve_model(config.encoder or ""))
    layer = config.layer
    if layer is None:
        layer = default_layer(model.config.num_hidden_layers)
    device = "cuda" if torch.cuda.is_available() and not config.cpu else "cpu"
    links, offsets = align_with_encoder(
        model, tokenizer, bitext_pairs(bitext), layer=layer, method=config.method,
        pooling=config.pooling, granularity=config.granularity, batch_size=config.batch_size,
        device=device, progress=progress)
    stats = {"encoder": config.encoder, "layer": layer, "method": config.method,
             "pooling": config.pooling, "granularity": config.granularity,
             "pairs": bitext.num_pairs}
    return links, offsets, stats


# ---------------------------------------------------------------- symmetrize
@dataclass
class SymmetrizeConfig:
    """``symmetrize``: atools' ``-c`` heuristics on two directional alignment files."""

    fwd: str = setting("", "forward Pharaoh file", positional=True)
    rev: str = setting("", "reverse Pharaoh file (source index first, as fast_align -r)",
                       positional=True)
    method: str = setting(DEFAULT_METHOD, "heuristic", choices=METHODS, short="-c")
    output: str | None = setting(None, "output file (default: stdout)", short="-o")

    def __post_init__(self) -> None:
        check(self)


def symmetrize(config: SymmetrizeConfig) -> int:
    """Symmetrises two files (in Rust, streaming); returns the number of lines written."""
    from xadj.wordaligner import symmetrize_files

    return symmetrize_files(config.fwd, config.rev, config.method, config.output)


# ---------------------------------------------------------------- score
@dataclass
class ScoreConfig:
    """``score``: AER, precision and recall of alignment files against gold links."""

    gold: str = setting("", "gold file: `i-j` sure, `ipj`/`i?j` possible", required=True)
    hyp: list[str] = setting(factory=list, help="hypothesis Pharaoh files", positional=True)
    one_based_gold: bool = setting(False, "gold indices start at 1")
    last: int | None = setting(
        None, "score only the last N hypothesis lines (test pairs appended to training)", min=1)

    def __post_init__(self) -> None:
        check(self)


@dataclass
class ScoreResult:
    scores: dict[str, dict[str, float]]  # hypothesis file -> aer, precision, recall (0-1), links
    warnings: list[str] = field(default_factory=list)


def score(config: ScoreConfig) -> ScoreResult:
    from xadj.wordaligner import looks_one_based, read_gold, score_file

    gold = read_gold(config.gold, one_based=config.one_based_gold)
    warnings = []
    if not config.one_based_gold and looks_one_based(gold):
        warnings.append(f"{config.gold}: no link uses index 0 on either side: the file looks "
                        f"1-based (pass --one-based-gold if it is)")
        log.warning(warnings[-1])
    return ScoreResult({h: score_file(h, gold, last=config.last) for h in config.hyp}, warnings)


# ---------------------------------------------------------------- report
@dataclass
class ReportConfig:
    """``report``: the alignment report of a model against the original on held-out pairs."""

    model: str = setting("", "adjusted model dir (or an align output dir)", required=True)
    original: str | None = setting(
        None, "the model it was adjusted from (default: the one its xadj_config.json names)")
    dataset: list[str] = setting(
        factory=list, help="prepared datasets of held-out pairs, [LANG=]DIR (default: the "
        "align run's own held-out pairs, from its heldout.json)", metavar="[LANG=]DIR")
    pairs: int | None = setting(None, "use the first N pairs of each dataset", min=1)
    pooling: str | None = setting(None, "word pooling (default: the run's)",
                                  choices=("avg", "first", "last"))
    output: str | None = setting(None, "also write the JSON here", short="-o")

    def __post_init__(self) -> None:
        check(self)


def report(config: ReportConfig) -> dict[str, Any]:
    """Reproduces an align run's report (its held-out pairs and settings) or reports on given
    prepared datasets; checks that the model and each dataset's tokenizer match."""
    import json

    import numpy as np

    from xadj.align import HELDOUT_FILE
    from xadj.alignment_report import compare
    from xadj.batches import Batcher
    from xadj.data import PreparedDataset, tokenizer_info
    from xadj.model import load_encoder, resolve_model
    from xadj.train import CONFIG_FILE

    model_dir = Path(config.model)
    if (model_dir / "model").is_dir():  # an align output dir
        model_dir = model_dir / "model"
    record_path = model_dir / CONFIG_FILE
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    run = record.get("config", {})
    original_name = config.original or record.get("model_name") or run.get("model")
    if not original_name:
        raise ValueError(f"{config.model}: give --original (no xadj_config.json names it)")
    pooling = config.pooling or run.get("pooling", "avg")
    special = bool(run.get("special_pairs", True))
    adjusted, tokenizer = load_encoder(str(model_dir))
    original, original_tok = load_encoder(resolve_model(original_name))
    if original_tok.get_vocab() != tokenizer.get_vocab():
        raise ValueError(f"{model_dir} and {original_name} have different tokenizers")
    embeddings: Any = adjusted.get_input_embeddings()
    if int(embeddings.weight.shape[0]) < len(tokenizer):
        raise ValueError(f"{model_dir}: its tokenizer has more tokens than its embeddings")
    info = {k: v for k, v in vars(tokenizer_info(tokenizer)).items() if k != "max_length"}
    sets: list[tuple[str, PreparedDataset, np.ndarray]] = []
    if config.dataset:
        for spec in config.dataset:
            lang, _, path = spec.rpartition("=")
            ds = PreparedDataset.load(path)
            n = min(config.pairs or ds.num_pairs, ds.num_pairs)
            sets.append((lang or Path(path).name, ds, np.arange(n)))
    else:
        held_path = model_dir.parent / HELDOUT_FILE
        if not held_path.is_file():
            held_path = model_dir.parent.parent / HELDOUT_FILE  # one model per language
        if not held_path.is_file():
            raise FileNotFoundError(f"{config.model}: no {HELDOUT_FILE}; give --dataset")
        for lang, entry in json.loads(held_path.read_text()).items():
            if lang in record.get("languages", {}) or not record:
                ds = PreparedDataset.load(entry["dataset"])
                pairs = np.asarray(entry["pairs"], dtype=np.int64)[:config.pairs]
                sets.append((lang, ds, pairs))
    batches = {}
    for lang, ds, pairs in sets:
        found = {k: ds.meta["tokenizer"].get(k) for k in info}
        if found != info:
            raise ValueError(f"{ds.path}: prepared with another tokenizer than {model_dir}")
        batcher = Batcher(ds, pooling, special, pairs=pairs)
        batches[lang] = [batcher.batch(np.arange(s, min(s + 32, len(pairs))))
                         for s in range(0, len(pairs), 32)]
    return compare(original, adjusted, batches, config.output)

