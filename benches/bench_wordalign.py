"""Word-aligner benchmark: xadj's built-in aligner (fast_align's model in Rust) against the
published fast_align figures and eflomal, for speed, peak memory and alignment quality.

1. Speed on Multi30k EN-FR (29k pairs, and the same repeated ``--repeat`` times): xadj forward
   with 1 and 2 threads, and both directions at once (``both=True``) with 2 threads. Each run is a
   fresh subprocess (``RAYON_NUM_THREADS`` is read when xadj is imported) that reports its read
   time, its alignment time (the clock covers the alignment only) and its peak RSS. Beside it:
   fast_align's 4.85k pairs/s per direction on one thread, peak 96 MB at 118k pairs.
2. eflomal (``pip install eflomal``; ``eflomal.Aligner`` with its default settings, which always
   aligns both directions) on the 29k corpus, in a subprocess too.
3. Quality (AER, precision, recall): the 447 EN-FR gold pairs appended to the 29k corpus, aligned
   as a whole and scored on the last 447 lines (transductive); the 248 RO-EN gold pairs aligned
   alone. Forward, reverse, intersect and grow-diag-final-and, for both tools; the symmetrisations
   are xadj's (atools' heuristics) on each tool's directional links. For a same-data check, xadj
   on the 447 EN-FR pairs alone and fast_align's own outputs (``reference/fast_align/``) too.

Multi30k is lowercased and split with ``xadj.corpus.tokenize_words``; the gold pairs are taken
as they are in ``fixtures/*.txt`` (already lowercased and tokenized: re-tokenizing them would
split e.g. ``mr.`` and shift the gold indices). Prepared files go to ``--work-dir``. Without
``../shared/data``: the package's 1k-pair sample repeated to 29k, and the gold sets and fast_align
outputs shipped in ``tests/data`` (see bench_data.py).

    python benches/bench_wordalign.py [--repeat 4] [--quick] [--skip-eflomal] [--work-dir D]

Rates are pairs per second per direction: a run aligning both directions of N pairs in t seconds
counts 2N/t. Last line: ratio=<xadj 1-thread forward pairs/s / 4850> xadj_pairs_per_s=<xadj
1-thread forward, 29k> eflomal_pairs_per_s=<eflomal, per direction, 29k>
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench_data import ROOT, alignment_data, multi30k_train

DATA, DATA_ORIGIN = alignment_data()  # gold/, fixtures/, reference/fast_align/
FAST_ALIGN_RATE = 4850.0  # pairs/s per direction, one thread (fast_align -d -o -v)
FAST_ALIGN_PEAK_MB = 96.0  # at 118k pairs
N_ENFR_GOLD = 447
HEURISTICS = ("intersect", "grow-diag-final-and")
# (label, direction, threads) of the xadj speed runs
XADJ_RUNS = (("fwd, 1 thread", "forward", 1), ("fwd, 2 threads", "forward", 2),
             ("both, 2 threads", "both", 2))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work-dir", default=str(ROOT / "bench-data"))
    p.add_argument("--repeat", type=int, default=4, help="copies of the 29k corpus (big run)")
    p.add_argument("--skip-eflomal", action="store_true")
    p.add_argument("--quick", action="store_true", help="speed on the 29k corpus only")
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    return p.parse_args()


# ---------------------------------------------------------------- data
def prepare_corpora(work: Path, repeat: int) -> dict[str, Path]:
    """`en ||| fr` files: Multi30k (29k), repeated, and with the EN-FR gold pairs appended."""
    from xadj.corpus import tokenize_words

    work.mkdir(parents=True, exist_ok=True)
    data = multi30k_train("fr")
    print(f"data: {data.origin}\ndata: {DATA_ORIGIN}", file=sys.stderr)
    paths = {"29k": work / f"wordalign.m30k-{data.tag}.en-fr.txt",
             "big": work / f"wordalign.m30k-{data.tag}.en-fr.x{repeat}.txt",
             "enfr": work / f"wordalign.m30k-{data.tag}.en-fr.gold-enfr.txt"}
    if all(p.exists() for p in paths.values()):
        return paths
    lines = [" ".join(tokenize_words(en.lower())) + " ||| "
             + " ".join(tokenize_words(fr.lower())) + "\n"
             for en, fr in zip(data.english, data.other, strict=True)]
    gold_pairs = (DATA / "fixtures" / "enfr.txt").read_text(encoding="utf-8").splitlines(True)
    assert len(gold_pairs) == N_ENFR_GOLD, len(gold_pairs)
    paths["29k"].write_text("".join(lines), encoding="utf-8")
    paths["big"].write_text("".join(lines * repeat), encoding="utf-8")
    paths["enfr"].write_text("".join(lines + gold_pairs), encoding="utf-8")
    return paths


def count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)


# ---------------------------------------------------------------- workers (subprocesses)
def peak_rss_mb() -> float:
    """Peak RSS of this process or of any child it waited for (eflomal's binary), in MB."""
    kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
             resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return kb / 1024


def worker_xadj(path: str, direction: str) -> dict:
    from xadj.corpus import read_bitext
    from xadj.wordaligner import align_words

    t0 = time.perf_counter()
    bitext = read_bitext(path, allow_empty=True)
    read_s = time.perf_counter() - t0
    rss_read = peak_rss_mb()
    t0 = time.perf_counter()
    if direction == "both":
        align_words(bitext, both=True, symmetrize="intersect", progress=False)
    else:
        align_words(bitext, reverse=direction == "reverse", progress=False)
    return {"read_s": read_s, "align_s": time.perf_counter() - t0, "rss_read_mb": rss_read,
            "peak_mb": peak_rss_mb()}


def worker_eflomal(path: str, fwd_out: str, rev_out: str) -> dict:
    import eflomal

    t0 = time.perf_counter()
    with open(path, encoding="utf-8") as f:
        pairs = [line.rstrip("\n").split(" ||| ") for line in f]
    src, trg = [p[0] for p in pairs], [p[1] for p in pairs]
    read_s = time.perf_counter() - t0
    rss_read = peak_rss_mb()
    t0 = time.perf_counter()
    eflomal.Aligner().align(src, trg, links_filename_fwd=fwd_out, links_filename_rev=rev_out)
    return {"read_s": read_s, "align_s": time.perf_counter() - t0, "rss_read_mb": rss_read,
            "peak_mb": peak_rss_mb()}


def run_worker(args: list[str], threads: int | None = None) -> dict:
    """Runs this script as ``--worker ARGS`` in a fresh process; returns its JSON report."""
    env = dict(os.environ)
    if threads is not None:
        env["RAYON_NUM_THREADS"] = str(threads)
    proc = subprocess.run([sys.executable, __file__, "--worker", *args], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def worker_main(args: list[str]) -> int:
    kind, *rest = args
    report = worker_xadj(*rest) if kind == "xadj" else worker_eflomal(*rest)
    print(json.dumps(report))
    return 0


# ---------------------------------------------------------------- speed
def speed_rows(paths: dict[str, Path], quick: bool, repeat: int) -> list[dict]:
    corpora = [("29k", paths["29k"])] if quick else [("29k", paths["29k"]),
                                                      (f"x{repeat}", paths["big"])]
    rows = []
    for name, path in corpora:
        pairs = count_lines(path)
        for label, direction, threads in XADJ_RUNS:
            r = run_worker(["xadj", str(path), direction], threads)
            dirs = 2 if direction == "both" else 1
            rows.append({"tool": "xadj", "corpus": name, "pairs": pairs, "run": label,
                         "rate": pairs * dirs / r["align_s"], **r})
            print(f"  done: xadj {name} {label}: {r['align_s']:.2f} s", file=sys.stderr)
    return rows


def eflomal_speed_row(paths: dict[str, Path], work: Path) -> dict:
    pairs = count_lines(paths["29k"])
    r = run_worker(["eflomal", str(paths["29k"]), str(work / "eflomal.m30k.fwd"),
                    str(work / "eflomal.m30k.rev")])
    print(f"  done: eflomal 29k: {r['align_s']:.2f} s", file=sys.stderr)
    return {"tool": "eflomal", "corpus": "29k", "pairs": pairs,
            "run": f"both, default ({os.cpu_count()} cores)", "rate": pairs * 2 / r["align_s"],
            **r}


def print_speed(rows: list[dict]) -> None:
    print("\n== Speed (alignment only; rate = pairs/s per direction, both-at-once counts 2N/t)")
    print(f"{'tool':<8} {'corpus':<6} {'pairs':>7} {'run':<22} {'read s':>7} {'align s':>8} "
          f"{'pairs/s':>9} {'RSS read MB':>12} {'peak MB':>8}")
    for r in rows:
        print(f"{r['tool']:<8} {r['corpus']:<6} {r['pairs']:>7} {r['run']:<22} "
              f"{r['read_s']:>7.2f} {r['align_s']:>8.2f} {r['rate']:>9.0f} "
              f"{r['rss_read_mb']:>12.0f} {r['peak_mb']:>8.0f}")
    print(f"{'fast_al.':<8} {'ref':<6} {118000:>7} {'fwd, 1 thread (issue)':<22} {'':>7} "
          f"{'':>8} {FAST_ALIGN_RATE:>9.0f} {'':>12} {FAST_ALIGN_PEAK_MB:>8.0f}")
    for r in rows:
        if r["tool"] == "xadj" and r["run"] == XADJ_RUNS[0][0]:
            print(f"xadj 1-thread forward / fast_align ({r['corpus']}): "
                  f"{r['rate'] / FAST_ALIGN_RATE:.2f}x")


# ---------------------------------------------------------------- quality
def xadj_directional(path: Path) -> dict[str, tuple]:
    from xadj.corpus import read_bitext
    from xadj.wordaligner import align_words

    _, _, stats = align_words(read_bitext(path, allow_empty=True), both=True, progress=False)
    return dict(stats["alignments"])


def eflomal_directional(path: Path, work: Path, name: str) -> dict[str, tuple]:
    from xadj.wordaligner import read_alignment

    fwd, rev = work / f"eflomal.{name}.fwd", work / f"eflomal.{name}.rev"
    run_worker(["eflomal", str(path), str(fwd), str(rev)])
    return {"fwd": read_alignment(fwd), "rev": read_alignment(rev)}


def fast_align_directional(pair: str) -> dict[str, tuple]:
    """fast_align's own outputs on the gold pairs alone (``reference/fast_align/``)."""
    from xadj.wordaligner import read_alignment

    ref = DATA / "reference" / "fast_align"
    return {"fwd": read_alignment(ref / f"{pair}.fwd"), "rev": read_alignment(ref / f"{pair}.rev")}


def score_all(tool: str, pair: str, aligned: dict[str, tuple], gold_path: Path,
              last: int | None) -> list[dict]:
    from xadj.wordaligner import read_gold, score, symmetrize

    gold = read_gold(gold_path, one_based=True)
    hyps = {"fwd": aligned["fwd"], "rev": aligned["rev"]}
    for h in HEURISTICS:
        hyps[h] = symmetrize(aligned["fwd"], aligned["rev"], h)
    return [{"tool": tool, "pair": pair, "hyp": name, **score(links, gold, last=last)}
            for name, links in hyps.items()]


def quality_rows(paths: dict[str, Path], work: Path, skip_eflomal: bool) -> list[dict]:
    enfr_gold, roen_gold = DATA / "gold" / "enfr.gold", DATA / "gold" / "roen.gold"
    enfr, roen = DATA / "fixtures" / "enfr.txt", DATA / "fixtures" / "roen.txt"
    rows = score_all("xadj", "en-fr", xadj_directional(paths["enfr"]), enfr_gold, N_ENFR_GOLD)
    rows += score_all("xadj", "ro-en", xadj_directional(roen), roen_gold, None)
    # same-data check against fast_align itself: the 447 EN-FR pairs alone
    rows += score_all("xadj", "en-fr*", xadj_directional(enfr), enfr_gold, None)
    rows += score_all("fast_al.", "en-fr*", fast_align_directional("enfr"), enfr_gold, None)
    rows += score_all("fast_al.", "ro-en", fast_align_directional("roen"), roen_gold, None)
    if not skip_eflomal:
        rows += score_all("eflomal", "en-fr", eflomal_directional(paths["enfr"], work, "enfr"),
                          enfr_gold, N_ENFR_GOLD)
        rows += score_all("eflomal", "ro-en", eflomal_directional(roen, work, "roen"),
                          roen_gold, None)
    return rows


def print_quality(rows: list[dict]) -> None:
    print(f"\n== Quality (EN-FR: 29k Multi30k + {N_ENFR_GOLD} gold pairs, last {N_ENFR_GOLD} "
          "scored; RO-EN: 248 gold pairs alone)")
    print("en-fr*: the 447 gold pairs alone; fast_al.: fast_align's outputs in reference/")
    print(f"{'tool':<8} {'pair':<6} {'hyp':<20} {'AER %':>6} {'P %':>6} {'R %':>6} {'links':>6}")
    for r in sorted(rows, key=lambda r: r["pair"]):
        print(f"{r['tool']:<8} {r['pair']:<6} {r['hyp']:<20} {100 * r['aer']:>6.1f} "
              f"{100 * r['precision']:>6.1f} {100 * r['recall']:>6.1f} {r['links']:>6}")
    print("reference (README): fast_align on full training data, grow-diag: EN-FR 10.5, RO-EN "
          "32.1; fast_align on the 447 EN-FR pairs alone: fwd 30.2, intersect 25.1, "
          "grow-diag-final-and 29.3")


# ---------------------------------------------------------------- main
def eflomal_available() -> bool:
    try:
        import eflomal  # noqa: F401
    except ImportError:
        print("eflomal is not installed (pip install eflomal): skipping it", file=sys.stderr)
        return False
    return True


def main() -> int:
    args = parse_args()
    if args.worker:
        return worker_main(args.worker)
    start = time.perf_counter()
    work = Path(args.work_dir)
    t0 = time.perf_counter()
    paths = prepare_corpora(work, args.repeat)
    print(f"corpora ready in {time.perf_counter() - t0:.1f} s: "
          + ", ".join(f"{k}={count_lines(p)} pairs" for k, p in paths.items()))
    skip_eflomal = args.skip_eflomal or not eflomal_available()

    rows = speed_rows(paths, args.quick, args.repeat)
    if not skip_eflomal:
        rows.append(eflomal_speed_row(paths, work))
    print_speed(rows)
    print_quality(quality_rows(paths, work, skip_eflomal))

    print(f"\ntotal wall time {time.perf_counter() - start:.0f} s on {os.cpu_count()} cores")
    xadj_rate = next(r["rate"] for r in rows if r["tool"] == "xadj" and r["corpus"] == "29k")
    eflomal_rate = next((r["rate"] for r in rows if r["tool"] == "eflomal"), float("nan"))
    print(f"ratio={xadj_rate / FAST_ALIGN_RATE:.2f} xadj_pairs_per_s={xadj_rate:.0f} "
          f"eflomal_pairs_per_s={eflomal_rate:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
