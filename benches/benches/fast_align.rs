//! Forward fast_align (`-d -o -v`) on Multi30k EN-FR train (29k pairs), one thread.
#![allow(clippy::print_stdout)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::PathBuf;
use xadj_benches::multi30k_train;
use xadj_core::corpus::{read_bitext, BitextFiles, ReadOptions};
use xadj_core::fast_align::{align, AlignOptions};

fn multi30k() -> Option<(PathBuf, PathBuf)> {
    Some((multi30k_train("en")?, multi30k_train("fr")?))
}

fn bench(c: &mut Criterion) {
    let Some((en, fr)) = multi30k() else {
        println!("SKIP fast_align bench: shared/data/bitext/multi30k not found");
        return;
    };
    // Raw text split on whitespace: the speed ratio to fast_align matters, not tokenization.
    let opts = ReadOptions {
        allow_empty: true,
        ..ReadOptions::default()
    };
    let bitext = read_bitext(&BitextFiles::Split(en, fr), &opts).expect("read multi30k");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("thread pool");
    // One timed run against the reference: fast_align did 4.85k pairs/s on one thread.
    let start = std::time::Instant::now();
    pool.install(|| {
        let opts = AlignOptions::default();
        align(
            &bitext.source,
            &bitext.target,
            bitext.vocab.len(),
            &opts,
            &mut |_| Ok(()),
        )
    })
    .expect("align");
    let rate = bitext.len() as f64 / start.elapsed().as_secs_f64();
    println!(
        "forward, 1 thread: {rate:.0} pairs/s, ratio to fast_align (4.85k) {:.1}",
        rate / 4850.0
    );
    let mut group = c.benchmark_group("fast_align");
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_secs(1));
    group.measurement_time(std::time::Duration::from_secs(5));
    group.throughput(Throughput::Elements(bitext.len() as u64));
    group.bench_function("multi30k_enfr_forward_1thread", |b| {
        b.iter(|| {
            pool.install(|| {
                align(
                    &bitext.source,
                    &bitext.target,
                    bitext.vocab.len(),
                    &AlignOptions::default(),
                    &mut |_| Ok(()),
                )
                .expect("align")
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
