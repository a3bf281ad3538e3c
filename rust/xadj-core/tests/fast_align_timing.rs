//! Throughput and peak memory of the aligner on Multi30k EN-FR (run by hand, release mode):
//! `XADJ_TIMING_REPEAT=4 XADJ_TIMING_MODE=fwd1 cargo test -p xadj-core --release \
//!    --test fast_align_timing -- --ignored --nocapture`
//! Modes (one a process, so VmHWM is that mode's peak): `fwd1`, `rev1`, `fwd2`, `rev2` (one
//! direction, 1 or 2 threads), `both2` (both directions at once, 2 threads); unset: all in one
//! process (later peaks then include earlier runs' allocator leftovers).
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::time::Instant;
use xadj_core::corpus::{read_bitext, BitextFiles, ReadOptions};
use xadj_core::fast_align::{align, align_both, AlignOptions};
use xadj_core::ragged::Ragged;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU seconds used by the process so far (all threads; 100 ticks a second).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |k: usize| {
        fields
            .get(k)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / 100.0
}

fn repeat(r: &Ragged<u32>, times: usize) -> Ragged<u32> {
    Ragged::concat(vec![r.clone(); times])
}

#[test]
#[ignore]
fn multi30k_throughput() {
    let mut dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")));
    let mut base = None;
    while let Some(d) = dir {
        if d.join("shared/data/bitext/multi30k/train.en.gz").is_file() {
            base = Some(d.join("shared/data/bitext/multi30k"));
            break;
        }
        dir = d.parent();
    }
    let Some(base) = base else {
        println!("SKIP: multi30k not found");
        return;
    };
    let times: usize = std::env::var("XADJ_TIMING_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let files = BitextFiles::Split(base.join("train.en.gz"), base.join("train.fr.gz"));
    let opts = ReadOptions {
        allow_empty: true,
        ..ReadOptions::default()
    };
    let b = read_bitext(&files, &opts).unwrap();
    let (src, trg) = (repeat(&b.source, times), repeat(&b.target, times));
    drop(b.source);
    drop(b.target);
    let (v, pairs) = (b.vocab.len(), src.len());
    println!(
        "pairs {pairs}, vocab {v}, peak RSS after reading {:.1} MB",
        peak_rss_mb()
    );
    let o = AlignOptions::default();
    let mode = std::env::var("XADJ_TIMING_MODE").unwrap_or_default();
    let runs: Vec<(usize, bool)> = match mode.as_str() {
        "fwd1" => vec![(1, false)],
        "rev1" => vec![(1, true)],
        "fwd2" => vec![(2, false)],
        "rev2" => vec![(2, true)],
        "both2" => vec![],
        _ => vec![(1, false), (1, true), (2, false), (2, true)],
    };
    for &(threads, reverse) in &runs {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let o = AlignOptions {
            reverse,
            ..o.clone()
        };
        let (t, c) = (Instant::now(), cpu_seconds());
        let (_, stats) = pool
            .install(|| align(&src, &trg, v, &o, &mut |_| Ok(())))
            .unwrap();
        let (s, c) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
        println!(
            "{} {threads} thread(s): {:.2} s wall, {:.0} pairs/s; {:.2} CPU s, {:.0} pairs/CPU-s; table {} pairs, peak RSS {:.1} MB",
            if reverse { "reverse" } else { "forward" },
            s,
            pairs as f64 / s,
            c,
            pairs as f64 / c,
            stats.cooccurrences,
            peak_rss_mb()
        );
    }
    if !runs.is_empty() && !mode.is_empty() {
        return;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let (t, c) = (Instant::now(), cpu_seconds());
    pool.install(|| align_both(&src, &trg, v, &o, &mut |_| Ok(())))
        .unwrap();
    let (s, c) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
    println!(
        "both directions, 2 threads: {:.2} s wall, {:.0} pairs/s per direction; {:.2} CPU s, {:.0} pair-directions/CPU-s; peak RSS {:.1} MB",
        s,
        pairs as f64 / s,
        c,
        2.0 * pairs as f64 / c,
        peak_rss_mb()
    );
}
