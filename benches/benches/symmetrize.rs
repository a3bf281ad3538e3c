//! Symmetrisation throughput in sentence pairs per second: every method in memory on one core,
//! and the file pipeline (parse both directions, symmetrise, write) that `atools` does.
//!
//! Input: fast_align's EN-FR reference alignments (`shared/data/reference/fast_align/enfr.*`, or
//! the copies in the repository's `tests/data` without it) repeated to 100k lines; random
//! alignments of similar shape when neither is there.

use std::fs::File;
use std::hint::black_box;
use std::io::BufWriter;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use xadj_benches::fast_align_references;
use xadj_core::pharaoh::{read_alignment, write_alignment, Alignment, ReadOptions};
use xadj_core::symmetrize::{symmetrize, symmetrize_files, symmetrize_pair, Method, Scratch};

const LINES: usize = 100_000;

fn repeat(al: &Alignment, lines: usize) -> Alignment {
    let mut out = Alignment::default();
    for k in 0..lines {
        out.push_row(al.row(k % al.len()).iter().copied());
    }
    out
}

/// Random near-diagonal alignments: lengths 15-25, ~15 links a line.
fn synthetic(seed: u64, lines: usize) -> Alignment {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = Alignment::default();
    for _ in 0..lines {
        let (n, m) = (rng.random_range(15..26u32), rng.random_range(15..26u32));
        for j in 0..m {
            if rng.random_range(0..10) < 7 {
                let i = (j * n / m + rng.random_range(0..3))
                    .saturating_sub(1)
                    .min(n - 1);
                out.values.push((i, j));
            }
        }
        out.end_row();
    }
    out
}

fn inputs() -> (Alignment, Alignment) {
    let (dir, origin) = fast_align_references();
    let (fwd_path, rev_path) = (dir.join("enfr.fwd"), dir.join("enfr.rev"));
    if fwd_path.is_file() && rev_path.is_file() {
        eprintln!("data: {origin}, EN-FR repeated to {LINES} lines");
        let opts = ReadOptions::default();
        let fwd = read_alignment(&fwd_path, &opts).expect("enfr.fwd");
        let rev = read_alignment(&rev_path, &opts).expect("enfr.rev");
        (repeat(&fwd, LINES), repeat(&rev, LINES))
    } else {
        eprintln!(
            "data: no EN-FR reference alignments in {}: random ones",
            dir.display()
        );
        (synthetic(1, LINES), synthetic(2, LINES))
    }
}

fn bench(c: &mut Criterion) {
    let (fwd, rev) = inputs();
    let links = (fwd.values.len() + rev.values.len()) as f64 / (2 * fwd.len()) as f64;
    eprintln!(
        "{} pairs, {links:.1} links per line and direction",
        fwd.len()
    );

    let mut group = c.benchmark_group("symmetrize_in_memory_1_core");
    group.throughput(Throughput::Elements(fwd.len() as u64));
    for method in Method::ALL {
        group.bench_function(BenchmarkId::from_parameter(method.name()), |b| {
            let mut scratch = Scratch::default();
            let mut out = Vec::with_capacity(fwd.values.len() * 2);
            b.iter(|| {
                out.clear();
                for k in 0..fwd.len() {
                    symmetrize_pair(fwd.row(k), rev.row(k), method, &mut scratch, &mut out);
                }
                black_box(out.len())
            })
        });
    }
    group.finish();

    // One very long line: a 40k-link anti-diagonal chain against a single reverse link, the
    // case where growing used to be quadratic in the links of a line (59 s before, ms now).
    let mut group = c.benchmark_group("symmetrize_one_line_40k_links");
    let n = 40_000u32;
    group.throughput(Throughput::Elements(u64::from(n)));
    let chain: Vec<(u32, u32)> = (0..n).map(|k| (k, n - 1 - k)).collect();
    let last = [chain[chain.len() - 1]];
    for method in [Method::GrowDiag, Method::GrowDiagFinalAnd] {
        group.bench_function(BenchmarkId::from_parameter(method.name()), |b| {
            let mut scratch = Scratch::default();
            let mut out = Vec::with_capacity(2 * n as usize);
            b.iter(|| {
                out.clear();
                symmetrize_pair(&chain, &last, method, &mut scratch, &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("symmetrize_in_memory_all_threads");
    group.throughput(Throughput::Elements(fwd.len() as u64));
    let method = Method::GrowDiagFinalAnd;
    group.bench_function(BenchmarkId::from_parameter(method.name()), |b| {
        b.iter(|| black_box(symmetrize(&fwd, &rev, method).unwrap().len()))
    });
    group.finish();

    // Files, like `atools -i fwd -j rev -c H > out`: read whole files then symmetrise on one core,
    // stream line by line (one core, as atools), and read whole files then use all threads.
    let dir = std::env::temp_dir().join(format!("xadj-bench-sym-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (fwd_path, rev_path, out_path) = (dir.join("a.fwd"), dir.join("a.rev"), dir.join("a.out"));
    write_alignment(&fwd, BufWriter::new(File::create(&fwd_path).unwrap())).unwrap();
    write_alignment(&rev, BufWriter::new(File::create(&rev_path).unwrap())).unwrap();
    let opts = ReadOptions::default();
    // One timed pass against the reference: atools did 168k pairs/s (grow-diag-final-and, files).
    let start = std::time::Instant::now();
    let sink = BufWriter::new(File::create(&out_path).unwrap());
    symmetrize_files(&fwd_path, &rev_path, Method::GrowDiagFinalAnd, &opts, sink).unwrap();
    let rate = fwd.len() as f64 / start.elapsed().as_secs_f64();
    eprintln!(
        "files, grow-diag-final-and, streaming: {rate:.0} pairs/s, ratio to atools (168k) {:.1}",
        rate / 168_000.0
    );
    let mut group = c.benchmark_group("symmetrize_files");
    group.throughput(Throughput::Elements(fwd.len() as u64));
    for method in [Method::GrowDiagFinalAnd, Method::Intersect] {
        group.bench_function(format!("{}/1_core", method.name()), |b| {
            let mut scratch = Scratch::default();
            b.iter(|| {
                let fwd = read_alignment(&fwd_path, &opts).unwrap();
                let rev = read_alignment(&rev_path, &opts).unwrap();
                let mut out = Alignment::with_capacity(fwd.len(), fwd.values.len() * 2);
                for k in 0..fwd.len() {
                    symmetrize_pair(
                        fwd.row(k),
                        rev.row(k),
                        method,
                        &mut scratch,
                        &mut out.values,
                    );
                    out.end_row();
                }
                write_alignment(&out, File::create(&out_path).unwrap()).unwrap();
            })
        });
    }
    for method in [Method::GrowDiagFinalAnd, Method::Intersect] {
        group.bench_function(format!("{}/streaming", method.name()), |b| {
            b.iter(|| {
                let out = BufWriter::new(File::create(&out_path).unwrap());
                symmetrize_files(&fwd_path, &rev_path, method, &opts, out).unwrap()
            })
        });
    }
    group.bench_function(
        format!("{}/all_threads", Method::GrowDiagFinalAnd.name()),
        |b| {
            b.iter(|| {
                let fwd = read_alignment(&fwd_path, &opts).unwrap();
                let rev = read_alignment(&rev_path, &opts).unwrap();
                let out = symmetrize(&fwd, &rev, Method::GrowDiagFinalAnd).unwrap();
                write_alignment(&out, File::create(&out_path).unwrap()).unwrap();
            })
        },
    );
    group.finish();

    let mut group = c.benchmark_group("pharaoh_io");
    group.throughput(Throughput::Elements(fwd.len() as u64));
    group.bench_function("read", |b| {
        b.iter(|| black_box(read_alignment(&fwd_path, &opts).unwrap().len()))
    });
    group.bench_function("write", |b| {
        b.iter(|| write_alignment(&fwd, File::create(&out_path).unwrap()).unwrap())
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
