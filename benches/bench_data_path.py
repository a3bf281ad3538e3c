"""End-to-end data-path benchmark: bitext + alignments -> padded training batches.

xadj (Rust reading/filtering/mapping, one tokenizer call per distinct word, Rust batch assembly)
against ``reference_loader.py`` (the reference pipeline in pure Python, per-word tokenization), on
Multi30k French-English repeated to >= 100k pairs, same data, same tokenizer, same run. Without
``../shared/data``, on the package's 1k-pair sample repeated to the same size (see bench_data.py).
Untimed set-up: word-splitting the raw corpus, aligning it with xadj's aligner, training a
WordPiece tokenizer on it. Throughput counts the subword tokens (both sides, special tokens
included) of every batch produced.

    python benches/bench_data_path.py [--repeat 4] [--threads N] [--work-dir bench-data]
Last line: ratio=<xadj/reference> xadj_tokens_per_s=<..> reference_tokens_per_s=<..>
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench_data import ROOT, multi30k_train


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=4, help="copies of Multi30k train (29k pairs)")
    p.add_argument("--threads", type=int, default=None, help="Rust and tokenizer threads")
    p.add_argument("--work-dir", default=str(ROOT / "bench-data"))
    p.add_argument("--batch-size", type=int, default=32)
    return p.parse_args()


def build_inputs(work: Path, repeat: int):
    """Word-split bitext (French ||| English), its alignments and a BERT-like tokenizer."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from xadj.corpus import read_bitext, tokenize_words
    from xadj.wordaligner import align_words, write_alignment

    work.mkdir(parents=True, exist_ok=True)
    data = multi30k_train("fr")
    print(f"data: {data.origin}; --repeat {repeat}", file=sys.stderr)
    bitext = work / f"multi30k-{data.tag}.fr-en.x{repeat}.txt"
    if not bitext.exists():
        lines = [" ".join(tokenize_words(a)) + " ||| " + " ".join(tokenize_words(b)) + "\n"
                 for a, b in zip(data.other, data.english, strict=True)]
        bitext.write_text("".join(lines * repeat), encoding="utf-8")
    links = work / f"multi30k-{data.tag}.fr-en.x{repeat}.intersect"
    if not links.exists():
        corpus = read_bitext(bitext)
        aligned, offsets, _ = align_words(corpus, both=True, symmetrize="intersect", progress=False)
        write_alignment(links, aligned, offsets)
    tok_dir = work / f"wordpiece-tokenizer-{data.tag}"
    if not (tok_dir / "tokenizer.json").exists():
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=False)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        text = (line.replace(" ||| ", " ") for line in open(bitext, encoding="utf-8"))
        tok.train_from_iterator(text, trainers.WordPieceTrainer(vocab_size=16000,
                                                                special_tokens=specials))
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
        PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                model_max_length=512).save_pretrained(tok_dir)
    return bitext, links, tok_dir


def run_xadj(bitext, links, tokenizer, out_dir, batch_size):
    from xadj.batches import Batcher
    from xadj.data import prepare

    t0 = time.perf_counter()
    ds = prepare([bitext], tokenizer, out_dir, alignments=links, progress=False)
    t_prepare = time.perf_counter() - t0
    tokens, n_batches = 0, 0
    for batch in Batcher(ds).epoch(batch_size, seed=42, epoch=0):
        tokens += int(batch.other.attention_mask.sum() + batch.english.attention_mask.sum())
        n_batches += 1
    return time.perf_counter() - t0, t_prepare, tokens, n_batches, ds


def run_reference(bitext, links, tokenizer, batch_size):
    import reference_loader as ref

    t0 = time.perf_counter()
    s1, s2, aligns = ref.load_corpus(bitext, links)
    t_load = time.perf_counter() - t0
    tokens, n_batches = 0, 0
    for (_, m1, _), (_, m2, _), _ in ref.batches(tokenizer, s1, s2, aligns, batch_size):
        tokens += int(m1.sum() + m2.sum())
        n_batches += 1
    return time.perf_counter() - t0, t_load, tokens, n_batches, (s1, s2, aligns)


def check_same_batches(ds, ref_data, tokenizer):
    """Both pipelines must keep the same pairs and produce the same ids for them."""
    import reference_loader as ref

    from xadj.batches import Batcher

    s1, s2, _ = ref_data
    assert ds.num_pairs == len(s1), (ds.num_pairs, len(s1))
    batcher = Batcher(ds)
    for i in (0, 1, len(s1) // 2, len(s1) - 1):
        b = batcher.batch([i])
        ids_1 = ref.encode(tokenizer, [s1[i]])[0][0]
        ids_2 = ref.encode(tokenizer, [s2[i]])[0][0]
        assert list(b.other.input_ids[0]) == list(ids_1), f"pair {i}: other ids differ"
        assert list(b.english.input_ids[0]) == list(ids_2), f"pair {i}: English ids differ"


def main() -> int:
    args = parse_args()
    if args.threads:
        os.environ["RAYON_NUM_THREADS"] = str(args.threads)
        os.environ["TOKENIZERS_PARALLELISM"] = "true" if args.threads > 1 else "false"
    sys.path.insert(0, str(Path(__file__).parent))
    from transformers import AutoTokenizer

    work = Path(args.work_dir)
    bitext, links, tok_dir = build_inputs(work, args.repeat)
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    n_lines = sum(1 for _ in open(bitext, encoding="utf-8"))

    x_total, x_prep, x_tokens, x_batches, ds = run_xadj(
        bitext, links, tokenizer, work / "prepared", args.batch_size)
    r_total, r_load, r_tokens, r_batches, ref_data = run_reference(
        bitext, links, tokenizer, args.batch_size)
    check_same_batches(ds, ref_data, tokenizer)
    assert x_tokens == r_tokens, (x_tokens, r_tokens)

    threads = args.threads or os.cpu_count()
    x_rate, r_rate = x_tokens / x_total, r_tokens / r_total
    print(f"pairs in: {n_lines}, pairs kept: {ds.num_pairs}, batches: {x_batches}/{r_batches}, "
          f"subword tokens: {x_tokens}, threads: {threads}")
    print(f"{'pipeline':<10} {'load s':>8} {'total s':>8} {'tokens/s':>12} {'tokens/s/core':>14}")
    print(f"{'xadj':<10} {x_prep:>8.2f} {x_total:>8.2f} {x_rate:>12.0f} {x_rate / threads:>14.0f}")
    print(f"{'reference':<10} {r_load:>8.2f} {r_total:>8.2f} {r_rate:>12.0f} {r_rate:>14.0f}")
    print(f"ratio={x_rate / r_rate:.1f} xadj_tokens_per_s={x_rate:.0f} "
          f"reference_tokens_per_s={r_rate:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
