//! fast_align parity on the fixtures shipped in the repository's `tests/data`: our `-d -o -v`
//! (and `-r`) output against the reference files made with clab/fast_align, line by line; and
//! thread-count determinism.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use xadj_core::corpus::{read_bitext, Bitext, BitextFiles, ReadOptions};
use xadj_core::fast_align::{align, align_both, AlignOptions, Progress};
use xadj_core::pharaoh::Alignment;

/// The repository's `tests/data`, two levels above this crate.
fn test_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

/// Pharaoh lines as sorted-as-printed `(i, j)` lists.
fn read_pharaoh(path: &Path) -> Vec<Vec<(u32, u32)>> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(|l| {
                    let (i, j) = l.split_once('-').unwrap();
                    (i.parse().unwrap(), j.parse().unwrap())
                })
                .collect()
        })
        .collect()
}

fn read_fixture(data: &Path, name: &str) -> Bitext {
    let path = data.join("fixtures").join(format!("{name}.txt"));
    read_bitext(&BitextFiles::Joined(path), &ReadOptions::default()).unwrap()
}

fn ignore(_: Progress) -> xadj_core::Result<()> {
    Ok(())
}

fn identical_share(ours: &Alignment, reference: &[Vec<(u32, u32)>], label: &str) -> f64 {
    assert_eq!(ours.len(), reference.len(), "{label}: line count");
    let mut same = 0;
    for (k, want) in reference.iter().enumerate() {
        if ours.row(k) == want.as_slice() {
            same += 1;
        } else {
            println!(
                "{label} line {}: ours {:?} ref {:?}",
                k + 1,
                ours.row(k),
                want
            );
        }
    }
    100.0 * same as f64 / reference.len() as f64
}

#[test]
fn matches_reference_fast_align() {
    let data = test_data();
    for name in ["enfr", "roen"] {
        let bitext = read_fixture(&data, name);
        for (ext, reverse) in [("fwd", false), ("rev", true)] {
            let reference = data
                .join("reference/fast_align")
                .join(format!("{name}.{ext}"));
            let reference = read_pharaoh(&reference);
            let opts = AlignOptions {
                reverse,
                ..AlignOptions::default()
            };
            let (ours, stats) = align(
                &bitext.source,
                &bitext.target,
                bitext.vocab.len(),
                &opts,
                &mut ignore,
            )
            .unwrap();
            let label = format!("{name}.{ext}");
            let pct = identical_share(&ours, &reference, &label);
            println!(
                "{label}: {pct:.2}% identical lines ({} pairs, final tension {:.6})",
                reference.len(),
                stats.final_tension
            );
            assert!(pct >= 99.8, "{label}: only {pct:.2}% identical");
        }
    }
}

#[test]
fn same_output_with_one_and_four_threads() {
    let data = test_data();
    let bitext = read_fixture(&data, "enfr");
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let opts = AlignOptions::default();
            let v = bitext.vocab.len();
            let (fwd, fs) = align(&bitext.source, &bitext.target, v, &opts, &mut ignore).unwrap();
            let both = align_both(&bitext.source, &bitext.target, v, &opts, &mut ignore).unwrap();
            (fwd, fs, both)
        })
    };
    let one = run(1);
    for threads in [2, 4] {
        let many = run(threads);
        assert_eq!(one.0, many.0, "{threads} threads: forward links differ");
        assert_eq!(one.1, many.1, "{threads} threads: stats differ");
        assert_eq!(one.2, many.2, "{threads} threads: align_both differs");
    }
    assert_eq!(one.0, (one.2).0 .0, "align_both forward differs from align");
}
