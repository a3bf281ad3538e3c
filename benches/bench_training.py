"""Training throughput (sentence pairs/s): xadj's loop vs. a reimplementation of the reference.

The reference (Efimov et al.'s released alignment script, itself Cao's) is reimplemented here
only, from its behaviour: per optimizer step 32 pairs run in chunks of 4 whose losses are summed
before one backward; every word is tokenized with `tokenizer.tokenize` at batch time; a word
vector is built by a Python loop over words into a CPU tensor; the base model runs without
no_grad, so autograd also walks through it. Both sides get the same tiny model, the same
Multi30k pairs, the same links, the same seed, and are timed end to end (load, train, save).
Without ``../shared/data`` the pairs come from the package sample (see bench_data.py).

    python benches/bench_training.py [--pairs 256] [--device cuda]

``--bare`` instead measures xadj's loop against a bare torch loop doing the same forward,
backward and Adam step on the same batches (the same Rust Batcher batches and the same loss
function, xadj.loss.adjustment_loss; no accelerate, no logging, no progress bar, no checkpoint
or save): median seconds per 32-pair step (the first step, a warm-up, left out) and peak RSS of
each run in its own process (for xadj also the peak when the loop ends, before the final
model is saved: safetensors serialises a copy of the weights), with the word embeddings trained
and frozen (``--freeze-embeddings`` of align; the bare loop then shares the matrix with F0 too).
xadj's side is the whole `align` job (xadj.adjust on files holding the same pairs and links:
model and tokenizer loading, prepare, the loop), so its RSS is the job's, not the loop's alone:

    python benches/bench_training.py --model e5-small --bare [--steps 6] [--pairs 256]
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from bench_data import ROOT, multi30k_train
from torch import nn

Pair = tuple[list[str], list[str], list[tuple[int, int]]]


def load_pairs(n: int, lang: str = "fr") -> list[Pair]:
    """First n Multi30k pairs with positional one-to-one links (a stand-in for fast_align's:
    link quality doesn't change the work per step), identical-string links dropped (Efimov)."""
    data = multi30k_train(lang)
    print(f"data: {data.origin}; first {n} pairs", file=sys.stderr)
    lines = [(o.split(), e.split()) for o, e in zip(data.other[:n], data.english[:n], strict=True)]
    pairs = []
    for other, en in lines:
        links, used = [], set()
        for i in range(len(other)):
            j = round(i * (len(en) - 1) / max(len(other) - 1, 1))
            if j not in used and other[i] != en[j]:
                used.add(j)
                links.append((i, j))
        pairs.append((other, en, links))
    return pairs


# ---------------------------------------------------------------- xadj side
def make_batches(tokenizer, pairs: list[Pair], pooling: str = "avg", special_pairs: bool = True):
    """xadj's batch source: the pairs written to files, prepared, and batched by the Rust
    Batcher (the test helper `PairSource` does exactly that)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import PairSource  # noqa: E402

    return PairSource(tokenizer, pairs, pooling, special_pairs)


def run_xadj(model_dir: Path, pairs: list[Pair], device: str, out: Path) -> float:
    from transformers import AutoTokenizer

    source = make_batches(AutoTokenizer.from_pretrained(model_dir), pairs)
    from xadj.train import AlignConfig, train

    config = AlignConfig(
        model=str(model_dir),
        output_dir=str(out),
        cpu=device == "cpu",
        checkpoint_every=None,
        overwrite=True,
        log_every=10**9,
    )
    start = time.perf_counter()
    train(config, {"fr": source})
    return time.perf_counter() - start


# ----------------------------------------------------------- reference side
class ReferenceWords(nn.Module):
    """Word vectors the reference way: per-word tokenize, per-word Python pooling on the CPU."""

    def __init__(self, model: nn.Module, tokenizer, device: str) -> None:
        super().__init__()
        self.model, self.tokenizer, self.device = model, tokenizer, device

    def forward(self, sentences: list[list[str]]) -> torch.Tensor:
        tok = self.tokenizer
        rows, spans, count = [], [], 0
        for words in sentences:
            tokens = [tok.cls_token]
            spans.append((count, count + 1))
            count += 1
            for word in words:
                pieces = tok.tokenize(word)
                assert pieces, f"word without pieces: {word!r}"  # the reference crashes too
                tokens += pieces
                spans.append((count, count + len(pieces)))
                count += len(pieces)
            tokens.append(tok.sep_token)
            spans.append((count, count + 1))
            count += 1
            rows.append(tok.convert_tokens_to_ids(tokens))
        ids = np.zeros((len(rows), max(map(len, rows))), dtype=np.int64)
        mask = np.zeros_like(ids)
        for b, row in enumerate(rows):
            ids[b, : len(row)], mask[b, : len(row)] = row, 1
        ids_t, mask_t = (
            torch.from_numpy(ids).to(self.device),
            torch.from_numpy(mask).to(self.device),
        )
        hidden = self.model(input_ids=ids_t, attention_mask=mask_t).last_hidden_state
        flat = hidden.masked_select(mask_t.bool().unsqueeze(-1)).reshape(-1, hidden.shape[-1])
        packed = torch.zeros(len(spans), hidden.shape[-1])  # on the CPU, as in the reference
        for w, (a, b) in enumerate(spans):
            packed[w] = flat[a:b].mean(0)
        return packed


def reference_indices(chunk: list[Pair]) -> tuple[np.ndarray, np.ndarray]:
    """Packed positions of the linked words plus [CLS]-[CLS] and [SEP]-[SEP] of every pair."""
    idx_1, idx_2, off_1, off_2 = [], [], 0, 0
    for other, en, links in chunk:
        idx_1 += [off_1 + 1 + i for i, _ in links] + [off_1, off_1 + len(other) + 1]
        idx_2 += [off_2 + 1 + j for _, j in links] + [off_2, off_2 + len(en) + 1]
        off_1, off_2 = off_1 + len(other) + 2, off_2 + len(en) + 2
    return np.array(idx_1), np.array(idx_2)


def run_reference(
    model_dir: Path,
    pairs: list[Pair],
    device: str,
    out: Path,
    per_step: int = 32,
    chunk: int = 4,
    lr: float = 5e-5,
    seed: int = 42,
) -> float:
    from transformers import AutoModel, AutoTokenizer

    start = time.perf_counter()
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = ReferenceWords(AutoModel.from_pretrained(model_dir).to(device), tokenizer, device)
    base = ReferenceWords(AutoModel.from_pretrained(model_dir).to(device), tokenizer, device)
    base.eval()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)
    warmup = int(0.1 * len(pairs))
    order = np.random.default_rng(seed).permutation(len(pairs))
    done = 0
    for i in range(0, len(pairs), per_step):
        for group in optimizer.param_groups:  # warm-up counted in sentences, as the reference
            group["lr"] = lr * min(1.0, (done + 1) / max(warmup, 1))
        model.train()
        step = [pairs[k] for k in order[i : i + per_step]]
        loss = None
        for k in range(0, len(step), chunk):
            part = step[k : k + chunk]
            idx_1, idx_2 = reference_indices(part)
            ann_1, ann_2 = model([p[0] for p in part]), model([p[1] for p in part])
            ann_2_base = base([p[1] for p in part])
            part_loss = F.mse_loss(ann_1[idx_1], ann_2[idx_2]) + F.mse_loss(ann_2, ann_2_base)
            loss = part_loss if loss is None else loss + part_loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        done += len(step)
    model.model.save_pretrained(out)
    return time.perf_counter() - start


# ------------------------------------------------------------ bare loop side
LOOP_PEAK: list[int] = []  # peak RSS (bytes) when xadj's loop ends, before it saves the model

def step_times_xadj(model_dir: Path, pairs: list[Pair], steps: int, freeze: bool, out: Path
                    ) -> list[float]:
    """Seconds of each optimizer step of the `align` job (xadj.adjust: loads the model, prepares
    the pairs' files, trains), read from its step log. The files hold the pairs and links the
    bare loop batches; prepared without the length filter, no held-out pairs, no report."""
    from dataclasses import replace

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import write_pairs  # noqa: E402

    import xadj.train
    from xadj.align import AlignConfig, adjust
    from xadj.data import PrepareConfig

    save = xadj.train._save_final

    def noted_save(*args: object, **kwargs: object) -> Path:  # the loop's peak, before saving
        LOOP_PEAK.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        return save(*args, **kwargs)  # type: ignore[arg-type]

    xadj.train._save_final = noted_save
    bitext, links = write_pairs(pairs, out.parent / "pairs")
    config = AlignConfig(model=str(model_dir), output_dir=str(out), cpu=True, max_steps=steps,
                         corpus=[f"fr={bitext},{links}"], heldout_pairs=0, checkpoint_every=0,
                         log_every=1, freeze_embeddings=freeze,
                         prepare=replace(PrepareConfig(), max_words=0))
    adjust(config, progress=False)
    rates = [json.loads(line)["pairs_per_s"] for line in (out / "metrics.jsonl").open()]
    return [config.pairs_per_step / r for r in rates]


def step_times_bare(model_dir: Path, pairs: list[Pair], steps: int, freeze: bool
                    ) -> list[float]:
    """The same steps as a bare torch loop: the batches xadj.train would take, in its order."""
    from transformers import AutoModel, AutoTokenizer

    from xadj.loss import adjustment_loss, batch_to_device
    from xadj.sampling import epoch_order

    source = make_batches(AutoTokenizer.from_pretrained(model_dir), pairs)
    torch.manual_seed(42)
    model = AutoModel.from_pretrained(model_dir)
    emb = model.get_input_embeddings().weight
    if freeze:
        emb.requires_grad_(False)
    frozen = copy.deepcopy(model, {id(emb): emb} if freeze else {}).eval().requires_grad_(False)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=5e-5,
                                 betas=(0.9, 0.98), eps=1e-9)
    order = np.asarray(epoch_order(len(pairs), 42, 0), dtype=np.int64)
    model.train()
    times = []
    for step in range(steps):
        t0 = time.perf_counter()
        idx = order[step * 32:(step + 1) * 32]
        loss, _ = adjustment_loss(model, frozen, batch_to_device(source.batch(idx), "cpu"))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
    return times


def run_one(args: argparse.Namespace) -> None:
    """One measured run in this process (its peak RSS is the run's): prints one JSON line."""
    from xadj.model import resolve_model

    model_dir = Path(resolve_model(args.model))
    pairs = load_pairs(max(args.pairs, 32 * args.steps))
    with tempfile.TemporaryDirectory() as tmp:
        if args.only == "xadj":
            times = step_times_xadj(model_dir, pairs, args.steps, args.freeze_embeddings,
                                    Path(tmp) / "run")
        else:
            times = step_times_bare(model_dir, pairs, args.steps, args.freeze_embeddings)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({"loop": args.only, "frozen": args.freeze_embeddings, "step_s": times,
                      "peak_rss_bytes": peak, "loop_peak_rss_bytes": (LOOP_PEAK or [peak])[0]}))


def compare_bare(args: argparse.Namespace) -> None:
    rows = {}
    for frozen in (False, True):
        for loop in ("bare", "xadj"):
            cmd = [sys.executable, __file__, "--only", loop, "--model", args.model, "--pairs",
                   str(args.pairs), "--steps", str(args.steps)]
            if frozen:
                cmd.append("--freeze-embeddings")
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
            rows[(loop, frozen)] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"model={args.model} steps={args.steps} (median of steps 2..{args.steps}), "
          f"32 pairs/step, cpu threads={torch.get_num_threads()}")
    print(f"{'embeddings':<11} {'loop':<5} {'s/step':>7} {'pairs/s':>8} {'peak RSS GB':>12} "
          f"{'before save':>11} {'time ratio':>10} {'RSS ratio':>9} {'before save':>11}")
    for frozen in (False, True):
        bare = rows[("bare", frozen)]
        for loop in ("bare", "xadj"):
            r = rows[(loop, frozen)]
            med = float(np.median(r["step_s"][1:] or r["step_s"]))
            base = float(np.median(bare["step_s"][1:] or bare["step_s"]))
            print(f"{'frozen' if frozen else 'trained':<11} {loop:<5} {med:>7.2f} "
                  f"{32 / med:>8.2f} {r['peak_rss_bytes'] / 2**30:>12.2f} "
                  f"{r['loop_peak_rss_bytes'] / 2**30:>11.2f} {med / base:>10.3f} "
                  f"{r['peak_rss_bytes'] / bare['peak_rss_bytes']:>9.3f} "
                  f"{r['loop_peak_rss_bytes'] / bare['peak_rss_bytes']:>11.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=256, help="Multi30k en-fr pairs (1 epoch)")
    parser.add_argument("--kind", choices=["bert", "xlmr"], default="bert", help="tiny model")
    parser.add_argument("--model", help="an encoder dir instead of the tiny model")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--bare", action="store_true",
                        help="xadj's loop vs a bare torch loop (CPU), embeddings trained/frozen")
    parser.add_argument("--steps", type=int, default=6, help="with --bare: steps per run")
    parser.add_argument("--only", choices=["xadj", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--freeze-embeddings", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.only:
        return run_one(args)
    if args.bare:
        args.model = args.model or "e5-small"
        return compare_bare(args)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device visible")
    from xadj.model import resolve_model

    pairs = load_pairs(args.pairs)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(resolve_model(args.model)) if args.model else None
        if model_dir is None:
            from xadj.model import build_tiny_model

            text = [" ".join(p[0]) for p in pairs] + [" ".join(p[1]) for p in pairs]
            model_dir = build_tiny_model(args.kind, text, Path(tmp) / "tiny", seed=0)
        ref_s = run_reference(model_dir, pairs, args.device, Path(tmp) / "ref")
        xadj_s = run_xadj(model_dir, pairs, args.device, Path(tmp) / "xadj")
    ref_rate, xadj_rate = len(pairs) / ref_s, len(pairs) / xadj_s
    print(
        f"{'loop':<10} {'pairs':>6} {'seconds':>8} {'pairs/s':>9}   model={model_dir.name} "
        f"device={args.device}"
    )
    print(f"{'reference':<10} {len(pairs):>6} {ref_s:>8.2f} {ref_rate:>9.1f}")
    print(f"{'xadj':<10} {len(pairs):>6} {xadj_s:>8.2f} {xadj_rate:>9.1f}")
    print(
        f"ratio={xadj_rate / ref_rate:.2f} xadj_pairs_per_s={xadj_rate:.1f} "
        f"reference_pairs_per_s={ref_rate:.1f}"
    )


if __name__ == "__main__":
    main()
