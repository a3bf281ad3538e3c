//! Forward fast_align (`-d -o -v`) on Multi30k EN-FR train (29k pairs), one thread; without
//! `shared/data`, on the package's 1k-pair sample repeated to 29k (`xadj_benches::multi30k_fr_en`).
#![allow(clippy::print_stdout)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xadj_benches::multi30k_fr_en;
use xadj_core::fast_align::{align, AlignOptions};

fn bench(c: &mut Criterion) {
    // Raw text split on whitespace: the speed ratio to fast_align matters, not tokenization.
    let corpus = multi30k_fr_en();
    println!("data: {}", corpus.origin);
    let mut bitext = corpus.bitext;
    // English is the source side, as in fast_align's measured run.
    std::mem::swap(&mut bitext.source, &mut bitext.target);
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
