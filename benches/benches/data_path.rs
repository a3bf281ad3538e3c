//! The data path after alignment, in memory: link filters, subword mapping, seeded sampling and
//! batch assembly, on Multi30k EN-FR train repeated 4x (116k pairs; without `shared/data`, the
//! package's 1k-pair sample repeated to the same size, see `xadj_benches::multi30k_fr_en`). Piece counts per word come
//! from a fixed synthetic table (1-3 pieces a word, as WordPiece gives on this text), so the
//! figures measure xadj, not a tokenizer. Each group prints its subword tokens (or pairs) per
//! second and the ratio to the 0.5M tokens/s per core the issue sets as the floor.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xadj_benches::{multi30k_fr_en, repeat};
use xadj_core::batch::{assemble, Pooling, RowsView, SideView, Specials};
use xadj_core::corpus::Bitext;
use xadj_core::filter::{filter_links, FilterOptions};
use xadj_core::pharaoh::Alignment;
use xadj_core::ragged::Ragged;
use xadj_core::sample::epoch_order;
use xadj_core::subword::{map_corpus, MapOptions, Prepared};

const FLOOR_TOKENS_PER_S_PER_CORE: f64 = 500_000.0;

/// Links i-j along the diagonal of each pair: the filters' and mapping's input shape.
fn diagonal_links(b: &Bitext) -> Alignment {
    let mut a = Alignment::default();
    for k in 0..b.len() {
        let (n, m) = (b.source.row(k).len(), b.target.row(k).len());
        a.push_row((0..n).map(|i| (i as u32, (i * m / n.max(1)) as u32)));
    }
    a
}

fn piece_table(vocab: usize) -> Ragged<i32> {
    let mut t = Ragged::default();
    for w in 0..vocab {
        let n = 1 + (w * 2654435761) % 3;
        t.push_row((0..n).map(|p| ((w * 7 + p) % 100_000) as i32));
    }
    t
}

fn report(name: &str, units: &str, amount: usize, seconds: f64) {
    let rate = amount as f64 / seconds;
    let cores = rayon::current_num_threads() as f64;
    println!(
        "{name}: {rate:.0} {units}/s on {cores} threads, {:.0} per core, ratio to the 0.5M/s/core floor {:.1}",
        rate / cores,
        rate / cores / FLOOR_TOKENS_PER_S_PER_CORE
    );
}

fn bench(c: &mut Criterion) {
    let corpus = multi30k_fr_en();
    println!("data: {}; 4 copies", corpus.origin);
    let mut b = corpus.bitext;
    b.source = repeat(&b.source, 4);
    b.target = repeat(&b.target, 4);
    let links = diagonal_links(&b);
    let table = piece_table(b.vocab.len());
    let map_opts = MapOptions {
        max_pieces: 510,
        drop_unlinked: true,
    };
    let (filtered, _) = filter_links(
        &b.source,
        &b.target,
        &links,
        &FilterOptions::default(),
        "bench",
    )
    .unwrap();
    let (prepared, _) = map_corpus(&b.source, &b.target, &filtered, &table, &map_opts).unwrap();
    let tokens = prepared.source.pieces.values.len() + prepared.target.pieces.values.len();
    let pairs = prepared.pair_index.len();

    let t = Instant::now();
    let _ = map_corpus(&b.source, &b.target, &filtered, &table, &map_opts).unwrap();
    report(
        "subword mapping",
        "tokens",
        tokens,
        t.elapsed().as_secs_f64(),
    );
    let t = Instant::now();
    let n_batches = assemble_epoch(&prepared);
    report(
        "batch assembly (epoch of 32-pair batches)",
        "tokens",
        tokens,
        t.elapsed().as_secs_f64(),
    );

    let mut g = c.benchmark_group("data_path");
    g.sample_size(10);
    g.throughput(Throughput::Elements(b.len() as u64));
    g.bench_function("filter_links_pairs", |bench| {
        bench.iter(|| {
            filter_links(
                &b.source,
                &b.target,
                &links,
                &FilterOptions::default(),
                "bench",
            )
            .unwrap()
        })
    });
    g.throughput(Throughput::Elements(tokens as u64));
    g.bench_function("map_corpus_tokens", |bench| {
        bench.iter(|| map_corpus(&b.source, &b.target, &filtered, &table, &map_opts).unwrap())
    });
    g.bench_function("assemble_epoch_tokens", |bench| {
        bench.iter(|| assemble_epoch(&prepared))
    });
    g.throughput(Throughput::Elements(pairs as u64));
    g.bench_function("epoch_order_pairs", |bench| {
        bench.iter(|| epoch_order(pairs, 42, 0))
    });
    g.finish();
    println!("{pairs} pairs, {tokens} subword tokens, {n_batches} batches");
}

fn assemble_epoch(p: &Prepared) -> usize {
    let flat: Vec<i32> = p
        .links
        .values
        .iter()
        .flat_map(|&(i, j)| [i as i32, j as i32])
        .collect();
    let other = SideView {
        pieces: RowsView::new(&p.source.pieces.values, &p.source.pieces.offsets, 1),
        word_starts: RowsView::new(
            &p.source.word_starts.values,
            &p.source.word_starts.offsets,
            1,
        ),
    };
    let english = SideView {
        pieces: RowsView::new(&p.target.pieces.values, &p.target.pieces.offsets, 1),
        word_starts: RowsView::new(
            &p.target.word_starts.values,
            &p.target.word_starts.offsets,
            1,
        ),
    };
    let links = RowsView::new(&flat, &p.links.offsets, 2);
    let specials = Specials {
        prefix: vec![101],
        suffix: vec![102],
        pad: 0,
    };
    let order = epoch_order(p.pair_index.len(), 42, 0);
    let mut n = 0;
    for chunk in order.chunks(32) {
        let batch = assemble(
            &other,
            &english,
            &links,
            chunk,
            &specials,
            Pooling::Avg,
            true,
        )
        .unwrap();
        n += batch.other.rows.min(1);
    }
    n
}

criterion_group!(benches, bench);
criterion_main!(benches);
