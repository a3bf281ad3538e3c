//! fast_align (Dyer et al., 2013): IBM Model 2 with a diagonal prior, reimplemented to give the
//! same alignments as `fast_align -d -o -v` (clab/fast_align, one thread).
//!
//! The quirks that matter for identical output are kept on purpose and marked `quirk:` below
//! (see `shared/data/README.md`, "reference/fast_align").
//!
//! Layout: the co-occurrence table is CSR, one row per conditioning word (plus NULL, last), each
//! row the sorted ids of the words it co-occurs with, as flat `f64` arrays of probabilities and
//! expected counts, with a small open-addressing hash per row from word to slot. Nothing is
//! re-parsed between iterations. Sentences are processed in data-defined chunks in parallel;
//! each chunk records `(slot, posterior)` pairs, which are then added to the counts in sentence
//! order (slot ranges split across threads), so every expected count is summed in fast_align's
//! single-thread order and no result depends on the number of threads. (Sums fast_align takes
//! in hash-map order, per-row totals and the tension model's sum over lengths, are taken in
//! sorted order here; on the fixtures that changes no output line.)

use crate::pharaoh::{Alignment, Link};
use crate::ragged::{check_offsets, Ragged};
use crate::{Error, Result};
use rayon::prelude::*;

/// Options of the aligner; the defaults are `fast_align -d -o -v`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlignOptions {
    /// EM iterations; the last one only decodes (fast_align `-I`).
    pub iterations: usize,
    /// Diagonal prior over positions (`-d`); without it, Model 1's uniform prior.
    pub favor_diagonal: bool,
    /// Re-estimate the diagonal tension after each iteration from the second on (`-o`).
    pub optimize_tension: bool,
    /// Variational Bayes M-step with a symmetric Dirichlet prior `alpha` (`-v`).
    pub variational_bayes: bool,
    /// Allow alignment to NULL (fast_align `-N` turns it off).
    pub use_null: bool,
    /// Prior probability of NULL alignment under the diagonal prior (`-p`).
    pub p0: f64,
    /// Initial diagonal tension (`-T`).
    pub diagonal_tension: f64,
    /// Dirichlet concentration for `variational_bayes` (`-a`).
    pub alpha: f64,
    /// Condition on the target and predict the source (`-r`); links stay `(source, target)`.
    pub reverse: bool,
    /// Pairs with a side longer than this are not trained on and get an empty link row.
    pub max_sentence_len: usize,
}

impl Default for AlignOptions {
    fn default() -> Self {
        AlignOptions {
            iterations: 5,
            favor_diagonal: true,
            optimize_tension: true,
            variational_bayes: true,
            use_null: true,
            p0: 0.08,
            diagonal_tension: 4.0,
            alpha: 0.01,
            reverse: false,
            max_sentence_len: 1000,
        }
    }
}

/// What a run saw and learned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlignStats {
    /// Sentence pairs in the input (= rows of the output).
    pub pairs: usize,
    /// Pairs with an empty side (empty output row, not trained on).
    pub empty_pairs: usize,
    /// Pairs with a side longer than `max_sentence_len` (empty output row, not trained on).
    pub too_long_pairs: usize,
    /// Distinct (conditioning word, predicted word) pairs in the table, NULL row included.
    pub cooccurrences: usize,
    /// Diagonal tension used by the final (decoding) iteration.
    pub final_tension: f64,
    /// Natural-log likelihood of the trained pairs, one entry per iteration.
    pub log_likelihood_per_iteration: Vec<f64>,
}

/// Progress report; `pairs_done`/`pairs_total` count pair visits over the whole run (all
/// iterations, and both directions for [`align_both`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// 1-based iteration in progress (for [`align_both`], the slower direction's).
    pub iteration: usize,
    pub pairs_done: usize,
    pub pairs_total: usize,
}

/// Upper bound on `m * (n + 1)` posterior entries per chunk, and chunks per wave. A wave's
/// buffers hold at most `CHUNK_ENTRIES * WAVE_CHUNKS` entries of 12 bytes (about 5 MB).
const CHUNK_ENTRIES: usize = 1 << 16;
const WAVE_CHUNKS: usize = 6;
/// Pairs per decoding chunk in the final iteration.
const DECODE_CHUNK: usize = 2048;

/// Aligns each pair; `source` and `target` hold word ids below `vocab_size`.
///
/// `on_progress` runs on the calling thread between chunks and after each iteration; an error
/// from it stops the work and is returned.
pub fn align(
    source: &Ragged<u32>,
    target: &Ragged<u32>,
    vocab_size: usize,
    opts: &AlignOptions,
    on_progress: &mut dyn FnMut(Progress) -> Result<()>,
) -> Result<(Alignment, AlignStats)> {
    validate(source, target, vocab_size, opts)?;
    let (cond, pred) = if opts.reverse {
        (target, source)
    } else {
        (source, target)
    };
    let mut aligner = Aligner::new(cond, pred, vocab_size, opts)?;
    let total = cond.len() * opts.iterations;
    aligner.run(&mut |iteration, done| {
        on_progress(Progress {
            iteration,
            pairs_done: done,
            pairs_total: total,
        })
    })
}

/// Forward and reverse alignment at once (for symmetrisation): `(forward, reverse)`.
/// `opts.reverse` is ignored. `on_progress` runs on the calling thread about every 20 ms.
#[allow(clippy::type_complexity)]
pub fn align_both(
    source: &Ragged<u32>,
    target: &Ragged<u32>,
    vocab_size: usize,
    opts: &AlignOptions,
    on_progress: &mut dyn FnMut(Progress) -> Result<()>,
) -> Result<((Alignment, AlignStats), (Alignment, AlignStats))> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;
    validate(source, target, vocab_size, opts)?;
    let stop = AtomicBool::new(false);
    // Per direction: pairs done so far, iteration in progress.
    let done = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let iter = [AtomicUsize::new(1), AtomicUsize::new(1)];
    let total = 2 * source.len() * opts.iterations;
    let run_one = |dir: usize| {
        let (cond, pred) = if dir == 1 {
            (target, source)
        } else {
            (source, target)
        };
        let o = AlignOptions {
            reverse: dir == 1,
            ..opts.clone()
        };
        let mut aligner = Aligner::new(cond, pred, vocab_size, &o)?;
        aligner.run(&mut |it, d| {
            done[dir].store(d, Ordering::Relaxed);
            iter[dir].store(it, Ordering::Relaxed);
            if stop.load(Ordering::Relaxed) {
                Err(Error::Interrupted)
            } else {
                Ok(())
            }
        })
    };
    // Both directions are jobs of the current rayon pool (the global one when called from
    // outside any pool); this thread polls progress and, when it is a worker of that pool,
    // helps with pending jobs in between.
    let results: [Mutex<Option<Result<(Alignment, AlignStats)>>>; 2] = Default::default();
    let finished = AtomicUsize::new(0);
    let mut failed = None;
    rayon::in_place_scope(|scope| {
        for dir in 0..2 {
            let (run_one, results, finished) = (&run_one, &results, &finished);
            scope.spawn(move |_| {
                let r = run_one(dir);
                if let Ok(mut slot) = results[dir].lock() {
                    *slot = Some(r);
                }
                finished.fetch_add(1, Ordering::Release);
            });
        }
        while finished.load(Ordering::Acquire) < 2 {
            if rayon::yield_now() != Some(rayon::Yield::Executed) {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            if failed.is_none() {
                let p = Progress {
                    iteration: iter[0]
                        .load(Ordering::Relaxed)
                        .min(iter[1].load(Ordering::Relaxed)),
                    pairs_done: done[0].load(Ordering::Relaxed) + done[1].load(Ordering::Relaxed),
                    pairs_total: total,
                };
                if let Err(e) = on_progress(p) {
                    stop.store(true, Ordering::Relaxed);
                    failed = Some(e);
                }
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let [fwd, rev] = results.map(|m| {
        m.into_inner().ok().flatten().unwrap_or_else(|| {
            Err(Error::Invalid(
                "fast_align: a direction did not finish".into(),
            ))
        })
    });
    Ok((fwd?, rev?))
}

fn validate(
    source: &Ragged<u32>,
    target: &Ragged<u32>,
    vocab_size: usize,
    opts: &AlignOptions,
) -> Result<()> {
    check_offsets("source", &source.offsets, source.values.len())?;
    check_offsets("target", &target.offsets, target.values.len())?;
    if source.len() != target.len() {
        return Err(Error::Invalid(format!(
            "source has {} rows but target has {}",
            source.len(),
            target.len()
        )));
    }
    if vocab_size >= u32::MAX as usize {
        return Err(Error::Invalid("vocabulary too large".into()));
    }
    let bad = |v: &[u32]| v.iter().any(|&w| w as usize >= vocab_size);
    if bad(&source.values) || bad(&target.values) {
        return Err(Error::Invalid(format!(
            "word id out of range for a vocabulary of {vocab_size}"
        )));
    }
    let bad_opt = |what: &str| Err(Error::Invalid(format!("fast_align: {what}")));
    if opts.iterations == 0 {
        return bad_opt("iterations must be at least 1");
    }
    if !(0.0..1.0).contains(&opts.p0) {
        return bad_opt("p0 must be in [0, 1)");
    }
    if !(opts.diagonal_tension.is_finite() && opts.diagonal_tension > 0.0) {
        return bad_opt("diagonal_tension must be > 0");
    }
    if opts.variational_bayes && !(opts.alpha.is_finite() && opts.alpha > 0.0) {
        return bad_opt("alpha must be > 0");
    }
    // fast_align keys its length table by `short`.
    if opts.max_sentence_len == 0 || opts.max_sentence_len > i16::MAX as usize {
        return bad_opt("max_sentence_len must be in 1..=32767");
    }
    Ok(())
}

/// The co-occurrence table: row `e` (NULL is row `vocab_size`) holds the sorted ids of the
/// predicted words seen with `e`, with their probabilities and expected counts.
struct Table {
    offsets: Vec<usize>,
    index: SlotIndex,
    prob: Vec<f64>,
    count: Vec<f64>,
}

/// Hash from `(e, f)` to its slot in the CSR arrays: one small open-addressing table per row,
/// so a probe is usually one cache line and the rows of frequent words stay hot in cache (much
/// faster than a binary search through a long row). A bucket is `[f, slot]`. Rows are separate
/// allocations, made as the build frees its per-row lists, so they reuse that memory.
struct SlotIndex {
    /// Row `e`'s buckets, a power of two at most 2/3 full (empty for an empty row).
    rows: Vec<Box<[[u32; 2]]>>,
}

impl SlotIndex {
    const EMPTY: u32 = u32::MAX;

    /// Row `e`'s `size - 1` and the home of `f` in it.
    #[inline(always)]
    fn home(size: usize, f: u32) -> (usize, usize) {
        let bits = size.trailing_zeros().max(1);
        let h = (u64::from(f).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize;
        let mask = size.wrapping_sub(1);
        (mask, h & mask)
    }

    /// Adds the next row: its sorted words get slots `first, first + 1, ...`.
    fn push_row(&mut self, words: &[u32], first: u32) {
        if words.is_empty() {
            self.rows.push(Box::new([]));
            return;
        }
        let size = (words.len() + words.len() / 2 + 1)
            .next_power_of_two()
            .max(2);
        let mut buckets = vec![[0, Self::EMPTY]; size].into_boxed_slice();
        for (k, &f) in words.iter().enumerate() {
            let (mask, mut h) = Self::home(size, f);
            while buckets[h][1] != Self::EMPTY {
                h = (h + 1) & mask;
            }
            buckets[h] = [f, first + k as u32];
        }
        self.rows.push(buckets);
    }

    /// Slot of `(e, f)`, if the pair was seen.
    #[inline(always)]
    fn get(&self, e: usize, f: u32) -> Option<u32> {
        let buckets = &self.rows[e];
        if buckets.is_empty() {
            return None;
        }
        let (mask, mut h) = Self::home(buckets.len(), f);
        loop {
            let [bf, slot] = buckets[h];
            if slot == Self::EMPTY {
                return None;
            }
            if bf == f {
                return Some(slot);
            }
            h = (h + 1) & mask;
        }
    }
}

impl Table {
    fn build(
        cond: &Ragged<u32>,
        pred: &Ragged<u32>,
        active: &[u32],
        rows: usize,
        use_null: bool,
    ) -> Result<Table> {
        // Per-row lists, sorted and deduplicated whenever they doubled, so memory stays near
        // the number of distinct pairs rather than the number of co-occurring tokens. A row
        // that grows as large as a bitset over the vocabulary switches to one, and from then
        // on only takes words it has not seen.
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); rows];
        let mut clean: Vec<usize> = vec![0; rows];
        let mut seen: Vec<Option<Box<[u64]>>> = vec![None; rows];
        let words = rows - 1;
        let null = rows - 1;
        let mut add = |row: usize, ws: &[u32], lists: &mut Vec<Vec<u32>>| {
            let list = &mut lists[row];
            if let Some(bits) = seen[row].as_mut() {
                for &w in ws {
                    let (q, b) = (w as usize / 64, 1u64 << (w % 64));
                    if bits[q] & b == 0 {
                        bits[q] |= b;
                        list.push(w);
                    }
                }
                return;
            }
            list.extend_from_slice(ws);
            if list.len() >= 2 * clean[row] + 256 {
                list.sort_unstable();
                list.dedup();
                clean[row] = list.len();
                if clean[row] * 32 >= words {
                    let mut bits = vec![0u64; words.div_ceil(64)].into_boxed_slice();
                    for &w in list.iter() {
                        bits[w as usize / 64] |= 1u64 << (w % 64);
                    }
                    seen[row] = Some(bits);
                    list.shrink_to(2 * list.len());
                }
            }
        };
        for &k in active {
            let ws = pred.row(k as usize);
            for &e in cond.row(k as usize) {
                add(e as usize, ws, &mut lists);
            }
            if use_null {
                add(null, ws, &mut lists);
            }
        }
        drop(seen);
        lists.par_iter_mut().for_each(|l| {
            l.sort_unstable();
            l.dedup();
        });
        let total: usize = lists.iter().map(Vec::len).sum();
        if total >= u32::MAX as usize {
            return Err(Error::Invalid(
                "fast_align: more than 2^32 distinct word pairs".into(),
            ));
        }
        let mut offsets = Vec::with_capacity(rows + 1);
        let mut index = SlotIndex {
            rows: Vec::with_capacity(rows),
        };
        let mut slot = 0u32;
        offsets.push(0);
        for list in lists.iter_mut() {
            index.push_row(list, slot);
            slot += list.len() as u32;
            *list = Vec::new();
            offsets.push(slot as usize);
        }
        Ok(Table {
            offsets,
            index,
            prob: vec![1e-9; total], // quirk: iteration 0 uses t = 1e-9 everywhere
            count: vec![0.0; total],
        })
    }

    /// Slot of `(e, f)` (present for every pair seen in training), `u32::MAX` if absent.
    #[inline(always)]
    fn slot(&self, e: usize, f: u32) -> u32 {
        self.index.get(e, f).unwrap_or(SlotIndex::EMPTY)
    }

    /// M-step: probabilities from counts (VB or maximum likelihood), counts reset.
    fn normalize(&mut self, vb: Option<f64>) {
        let mut rows: Vec<(&mut [f64], &mut [f64])> = Vec::with_capacity(self.offsets.len());
        let (mut prob, mut count) = (&mut self.prob[..], &mut self.count[..]);
        for w in self.offsets.windows(2) {
            let len = w[1] - w[0];
            let (p, prest) = prob.split_at_mut(len);
            let (c, crest) = count.split_at_mut(len);
            if len > 0 {
                rows.push((p, c));
            }
            prob = prest;
            count = crest;
        }
        rows.into_par_iter().for_each(|(p, c)| {
            match vb {
                Some(alpha) => {
                    let mut tot: f64 = c.iter().map(|&x| x + alpha).sum();
                    if tot == 0.0 {
                        tot = 1.0;
                    }
                    let dt = digamma(tot);
                    for (p, &c) in p.iter_mut().zip(c.iter()) {
                        *p = (digamma(c + alpha) - dt).exp();
                    }
                }
                None => {
                    let mut tot: f64 = c.iter().sum();
                    if tot == 0.0 {
                        tot = 1.0;
                    }
                    for (p, &c) in p.iter_mut().zip(c.iter()) {
                        *p = c / tot;
                    }
                }
            }
            c.fill(0.0);
        });
    }
}

/// quirk: fast_align's own digamma (shift up to >= 7, then the asymptotic series).
fn digamma(mut x: f64) -> f64 {
    let mut result = 0.0;
    while x < 7.0 {
        result -= 1.0 / x;
        x += 1.0;
    }
    x -= 1.0 / 2.0;
    let xx = 1.0 / x;
    let xx2 = xx * xx;
    let xx4 = xx2 * xx2;
    result += x.ln() + (1. / 24.) * xx2 - (7.0 / 960.0) * xx4 + (31.0 / 8064.0) * xx4 * xx2
        - (127.0 / 30720.0) * xx4 * xx4;
    result
}

/// The diagonal prior, with fast_align's argument order: `i` predicted-side position (1-based
/// in the prior), `j` conditioning-side position, `m`/`n` predicted/conditioning lengths.
mod diag {
    #[inline]
    pub fn feature(i: u32, j: u32, m: u32, n: u32) -> f64 {
        -(f64::from(j) / f64::from(n) - f64::from(i) / f64::from(m)).abs()
    }

    #[inline]
    pub fn unnormalized(i: u32, j: u32, m: u32, n: u32, tension: f64) -> f64 {
        (feature(i, j, m, n) * tension).exp()
    }

    pub fn z(i: u32, m: u32, n: u32, tension: f64) -> f64 {
        let split = f64::from(i) * f64::from(n) / f64::from(m);
        let floor = split as u32;
        let ceil = floor + 1;
        let ratio = (-tension / f64::from(n)).exp();
        // quirk: unsigned in fast_align; wraps when `floor > n` (only via `dlog_z`'s swapped
        // call), which sends the power to 0.
        let num_top = n.wrapping_sub(floor);
        let mut ezt = 0.0;
        let mut ezb = 0.0;
        if num_top != 0 {
            ezt = unnormalized(i, ceil, m, n, tension) * (1.0 - ratio.powf(f64::from(num_top)))
                / (1.0 - ratio);
        }
        if floor != 0 {
            ezb = unnormalized(i, floor, m, n, tension) * (1.0 - ratio.powf(f64::from(floor)))
                / (1.0 - ratio);
        }
        ezb + ezt
    }

    /// Expected feature under the prior for position `i` (derivative of log Z).
    pub fn dlog_z(i: u32, m: u32, n: u32, tension: f64) -> f64 {
        let z = z(i, n, m, tension); // quirk: m and n swapped, as in fast_align
        let split = f64::from(i) * f64::from(n) / f64::from(m);
        let floor = split as u32;
        let ceil = floor + 1;
        let ratio = (-tension / f64::from(n)).exp();
        let d = -1.0 / f64::from(n);
        let num_top = n.wrapping_sub(floor);
        let mut pct = 0.0;
        let mut pcb = 0.0;
        if num_top != 0 {
            pct = series(
                feature(i, ceil, m, n),
                unnormalized(i, ceil, m, n, tension),
                ratio,
                d,
                num_top,
            );
        }
        if floor != 0 {
            pcb = series(
                feature(i, floor, m, n),
                unnormalized(i, floor, m, n, tension),
                ratio,
                d,
                floor,
            );
        }
        (pct + pcb) / z
    }

    /// Sum of the arithmetico-geometric series `sum_k (a_1 + k d) g_1 r^k`, `k < n`.
    fn series(a_1: f64, g_1: f64, r: f64, d: f64, n: u32) -> f64 {
        let g_np1 = g_1 * r.powf(f64::from(n));
        let a_n = d * f64::from(n.wrapping_sub(1)) + a_1;
        let x_1 = a_1 * g_1;
        let g_2 = g_1 * r;
        let rm1 = r - 1.0;
        (a_n * g_np1 - x_1) / rm1 - d * (g_np1 - g_2) / (rm1 * rm1)
    }
}

/// Sums over one chunk of the E-step, merged in chunk order.
#[derive(Default)]
struct ChunkOut {
    slots: Vec<u32>,
    posts: Vec<f64>,
    likelihood: f64,
    emp_feat: f64,
}

struct Aligner<'a> {
    cond: &'a Ragged<u32>,
    pred: &'a Ragged<u32>,
    opts: &'a AlignOptions,
    null_row: usize,
    /// Pairs trained on, in input order.
    active: Vec<u32>,
    /// Data-defined chunks of `active` (start, end).
    chunks: Vec<(usize, usize)>,
    table: Table,
    tension: f64,
    /// Distinct (predicted length, conditioning length) of the active pairs, sorted, and how
    /// many pairs have each.
    sizes: Vec<(u32, u32)>,
    size_counts: Vec<f64>,
    /// Diagonal prior of every size for the current tension (`m * (n + 1)` values each, at
    /// `prior_offsets[k]`); empty when disabled or too large.
    priors: Vec<f64>,
    prior_offsets: Vec<usize>,
    stats: AlignStats,
}

/// Largest prior cache, in values (8 MB).
const PRIOR_CACHE_MAX: usize = 1 << 20;

impl<'a> Aligner<'a> {
    fn new(
        cond: &'a Ragged<u32>,
        pred: &'a Ragged<u32>,
        vocab_size: usize,
        opts: &'a AlignOptions,
    ) -> Result<Self> {
        let mut stats = AlignStats {
            pairs: cond.len(),
            ..AlignStats::default()
        };
        let mut active = Vec::with_capacity(cond.len());
        let mut chunks = Vec::new();
        let (mut start, mut entries) = (0, 0);
        for k in 0..cond.len() {
            let (n, m) = (cond.row(k).len(), pred.row(k).len());
            if n == 0 || m == 0 {
                stats.empty_pairs += 1;
            } else if n > opts.max_sentence_len || m > opts.max_sentence_len {
                stats.too_long_pairs += 1;
            } else {
                let e = m * (n + 1);
                if entries + e > CHUNK_ENTRIES && active.len() > start {
                    chunks.push((start, active.len()));
                    start = active.len();
                    entries = 0;
                }
                entries += e;
                active.push(k as u32);
            }
        }
        if active.len() > start {
            chunks.push((start, active.len()));
        }
        let table = Table::build(cond, pred, &active, vocab_size + 1, opts.use_null)?;
        stats.cooccurrences = table.prob.len();
        let mut all: Vec<(u32, u32)> = active
            .iter()
            .map(|&k| {
                let k = k as usize;
                (pred.row(k).len() as u32, cond.row(k).len() as u32)
            })
            .collect();
        all.sort_unstable();
        let (mut sizes, mut size_counts) = (Vec::new(), Vec::new());
        for s in all {
            if sizes.last() == Some(&s) {
                if let Some(c) = size_counts.last_mut() {
                    *c += 1.0;
                }
            } else {
                sizes.push(s);
                size_counts.push(1.0);
            }
        }
        Ok(Aligner {
            cond,
            pred,
            opts,
            null_row: vocab_size,
            active,
            chunks,
            table,
            tension: opts.diagonal_tension,
            sizes,
            size_counts,
            priors: Vec::new(),
            prior_offsets: Vec::new(),
            stats,
        })
    }

    /// Runs all iterations; `progress(iteration, pairs_done)`.
    fn run(
        &mut self,
        progress: &mut dyn FnMut(usize, usize) -> Result<()>,
    ) -> Result<(Alignment, AlignStats)> {
        let pairs = self.cond.len();
        let mut out_pos = 0;
        for iter in 0..self.opts.iterations {
            let base = iter * pairs;
            self.cache_priors();
            if iter + 1 == self.opts.iterations {
                // At most one link per predicted word: reserve that once and append each wave,
                // so the output is never held twice.
                let max_links = self
                    .active
                    .iter()
                    .map(|&k| self.pred.row(k as usize).len())
                    .sum();
                let mut links_out: Alignment = Ragged::with_capacity(pairs, max_links);
                let mut likelihood = 0.0;
                let starts: Vec<usize> = (0..pairs).step_by(DECODE_CHUNK).collect();
                for wave in starts.chunks(WAVE_CHUNKS) {
                    let outs = wave
                        .par_iter()
                        .map(|&s| self.decode(s, (s + DECODE_CHUNK).min(pairs)))
                        .collect::<Result<Vec<_>>>()?;
                    for (links, ll) in outs {
                        out_pos += links.len();
                        likelihood += ll;
                        let base = links_out.values.len() as i64;
                        links_out
                            .offsets
                            .extend(links.offsets[1..].iter().map(|o| o + base));
                        links_out.values.extend_from_slice(&links.values);
                    }
                    progress(iter + 1, base + out_pos)?;
                }
                self.stats.log_likelihood_per_iteration.push(likelihood);
                self.stats.final_tension = self.tension;
                return Ok((links_out, std::mem::take(&mut self.stats)));
            }
            self.train_iteration(iter, &mut |done| progress(iter + 1, base + done))?;
            progress(iter + 1, base + pairs)?;
        }
        Err(Error::Invalid("iterations must be at least 1".into()))
    }

    fn train_iteration(
        &mut self,
        iter: usize,
        progress: &mut dyn FnMut(usize) -> Result<()>,
    ) -> Result<()> {
        let (mut likelihood, mut emp_feat) = (0.0, 0.0);
        let mut done = self.stats.empty_pairs + self.stats.too_long_pairs;
        let chunks = std::mem::take(&mut self.chunks);
        let threads = rayon::current_num_threads().max(1);
        for wave in chunks.chunks(WAVE_CHUNKS) {
            let outs = wave
                .par_iter()
                .map(|&(s, e)| self.expect(s, e))
                .collect::<Result<Vec<_>>>()?;
            // Add posteriors in sentence order; threads own disjoint slot ranges.
            let n_slots = self.table.count.len();
            let part = n_slots.div_ceil(threads).max(1);
            self.table
                .count
                .par_chunks_mut(part)
                .enumerate()
                .for_each(|(p, counts)| {
                    let lo = (p * part) as u32;
                    let hi = lo + counts.len() as u32;
                    for out in &outs {
                        for (&s, &x) in out.slots.iter().zip(&out.posts) {
                            if s >= lo && s < hi {
                                counts[(s - lo) as usize] += x;
                            }
                        }
                    }
                });
            for (out, &(s, e)) in outs.iter().zip(wave) {
                likelihood += out.likelihood;
                emp_feat += out.emp_feat;
                done += e - s;
            }
            progress(done)?;
        }
        self.chunks = chunks;
        self.stats.log_likelihood_per_iteration.push(likelihood);
        if self.opts.favor_diagonal && self.opts.optimize_tension && iter > 0 {
            self.optimize_tension(emp_feat);
        }
        let vb = self.opts.variational_bayes.then_some(self.opts.alpha);
        self.table.normalize(vb);
        Ok(())
    }

    /// 8 gradient steps on the tension, matching the model's expected feature to `emp_feat`.
    fn optimize_tension(&mut self, emp_feat: f64) {
        let counted: Vec<((u32, u32), f64)> = self
            .sizes
            .iter()
            .copied()
            .zip(self.size_counts.iter().copied())
            .collect();
        let toks: f64 = counted.iter().map(|&((m, _), c)| f64::from(m) * c).sum();
        let emp = emp_feat / toks;
        for _ in 0..8 {
            let mut mod_feat = 0.0;
            for &((m, n), c) in &counted {
                for i in 1..=m {
                    mod_feat += c * diag::dlog_z(i, m, n, self.tension);
                }
            }
            mod_feat /= toks;
            self.tension += (emp - mod_feat) * 20.0;
            self.tension = self.tension.clamp(0.1, 14.0);
        }
    }

    /// Fills the prior cache for the current tension (the same arithmetic as [`Self::fill_prior`]).
    fn cache_priors(&mut self) {
        self.priors.clear();
        self.prior_offsets.clear();
        let total: usize = self
            .sizes
            .iter()
            .map(|&(m, n)| m as usize * (n as usize + 1))
            .sum();
        if !self.opts.favor_diagonal || total > PRIOR_CACHE_MAX {
            return;
        }
        let mut offset = 0;
        for &(m, n) in &self.sizes {
            self.prior_offsets.push(offset);
            offset += m as usize * (n as usize + 1);
        }
        let mut priors = vec![0.0; total];
        let mut rest = &mut priors[..];
        let mut parts = Vec::with_capacity(self.sizes.len());
        for &(m, n) in &self.sizes {
            let (part, tail) = rest.split_at_mut(m as usize * (n as usize + 1));
            parts.push(((m as usize, n as usize), part));
            rest = tail;
        }
        parts.into_par_iter().for_each(|((m, n), part)| {
            for (j, row) in part.chunks_mut(n + 1).enumerate() {
                self.fill_prior(j, m, n, row);
            }
        });
        self.priors = priors;
    }

    /// The `m x (n + 1)` prior matrix of a pair (row `j`: NULL, then conditioning positions),
    /// from the cache or computed into `scratch`.
    fn pair_prior<'s>(&'s self, m: usize, n: usize, scratch: &'s mut Vec<f64>) -> &'s [f64] {
        let len = m * (n + 1);
        if !self.priors.is_empty() {
            if let Ok(k) = self.sizes.binary_search(&(m as u32, n as u32)) {
                let o = self.prior_offsets[k];
                return &self.priors[o..o + len];
            }
        }
        scratch.resize(len, 0.0);
        for (j, row) in scratch.chunks_mut(n + 1).enumerate() {
            self.fill_prior(j, m, n, row);
        }
        scratch
    }

    /// Prior over NULL (index 0) and the conditioning positions for predicted position `j`.
    #[inline]
    fn fill_prior(&self, j: usize, m: usize, n: usize, prior: &mut [f64]) {
        let o = self.opts;
        let uniform = 1.0 / (n + usize::from(o.use_null)) as f64;
        prior[0] = if o.favor_diagonal { o.p0 } else { uniform };
        if o.favor_diagonal {
            let (j1, m, n) = (j as u32 + 1, m as u32, n as u32);
            let az = diag::z(j1, m, n, self.tension) / (1.0 - o.p0);
            for (i, p) in prior[1..].iter_mut().enumerate() {
                *p = diag::unnormalized(j1, i as u32 + 1, m, n, self.tension) / az;
            }
        } else {
            prior[1..].fill(uniform);
        }
    }

    /// E-step over active pairs `s..e`.
    fn expect(&self, s: usize, e: usize) -> Result<ChunkOut> {
        let t = &self.table;
        let use_null = self.opts.use_null;
        let mut out = ChunkOut::default();
        let cap: usize = self.active[s..e]
            .iter()
            .map(|&k| {
                let k = k as usize;
                self.pred.row(k).len() * (self.cond.row(k).len() + usize::from(use_null))
            })
            .sum();
        out.slots.reserve_exact(cap);
        out.posts.reserve_exact(cap);
        let mut scratch = Vec::new();
        let mut probs = Vec::new();
        let mut src_pos = Vec::new();
        for &k in &self.active[s..e] {
            let (src, trg) = (self.cond.row(k as usize), self.pred.row(k as usize));
            let (n, m) = (src.len(), trg.len());
            probs.resize(n + 1, 0.0);
            let pair_prior = self.pair_prior(m, n, &mut scratch);
            src_pos.clear();
            src_pos.extend((1..=n).map(|i| i as f64 / n as f64));
            let first_slot = out.slots.len();
            self.lookup(src, trg, &mut out.slots)?;
            let width = n + usize::from(use_null);
            let pair_slots = &out.slots[first_slot..];
            for (j, prior) in pair_prior.chunks(n + 1).enumerate() {
                let mut sum = 0.0;
                let first = first_slot + j * width;
                let slots = &pair_slots[j * width..(j + 1) * width];
                let from = usize::from(!use_null);
                for ((p, &a), &slot) in probs[from..].iter_mut().zip(&prior[from..]).zip(slots) {
                    *p = t.prob[slot as usize] * a;
                    sum += *p;
                }
                out.posts.extend(probs[from..].iter().map(|&p| p / sum));
                // quirk: the feature uses the 0-based predicted position.
                let posts = &out.posts[first + usize::from(use_null)..];
                let jm = j as f64 / m as f64;
                for (&i_n, &p) in src_pos.iter().zip(posts) {
                    out.emp_feat += -(i_n - jm).abs() * p; // = diag::feature(j, i, m, n)
                }
                out.likelihood += sum.ln();
            }
        }
        Ok(out)
    }

    /// Slots of a pair, predicted word by predicted word: NULL (with `use_null`), then each
    /// conditioning word. Done in one tight loop so the independent probes overlap.
    fn lookup(&self, src: &[u32], trg: &[u32], slots: &mut Vec<u32>) -> Result<()> {
        let t = &self.table;
        let first = slots.len();
        for &f in trg {
            if self.opts.use_null {
                slots.push(t.slot(self.null_row, f));
            }
            for &e in src {
                slots.push(t.slot(e as usize, f));
            }
        }
        if slots[first..].contains(&SlotIndex::EMPTY) {
            return Err(Error::Invalid(
                "fast_align: word pair missing from the table".into(),
            ));
        }
        Ok(())
    }

    /// Viterbi decoding of input pairs `s..e` (all of them, skipped ones as empty rows).
    fn decode(&self, s: usize, e: usize) -> Result<(Alignment, f64)> {
        let t = &self.table;
        let o = self.opts;
        let mut links: Alignment = Ragged::with_capacity(e - s, 0);
        let mut likelihood = 0.0;
        let mut scratch = Vec::new();
        let mut slots = Vec::new();
        for k in s..e {
            let (src, trg) = (self.cond.row(k), self.pred.row(k));
            let (n, m) = (src.len(), trg.len());
            if n == 0 || m == 0 || n > o.max_sentence_len || m > o.max_sentence_len {
                links.end_row();
                continue;
            }
            let pair_prior = self.pair_prior(m, n, &mut scratch);
            slots.clear();
            self.lookup(src, trg, &mut slots)?;
            let width = n + usize::from(o.use_null);
            for (j, (prior, slots)) in pair_prior
                .chunks(n + 1)
                .zip(slots.chunks(width))
                .enumerate()
            {
                let mut sum = 0.0;
                let mut best = None;
                let mut max_p = -1.0;
                let mut slots = slots.iter();
                if o.use_null {
                    let slot = slots.next().copied().unwrap_or_default();
                    let p = t.prob[slot as usize] * prior[0];
                    sum += p;
                    max_p = p;
                }
                for (i, &slot) in slots.enumerate() {
                    let p = t.prob[slot as usize] * prior[i + 1];
                    sum += p;
                    // quirk: strict `>`, so the first maximum wins and NULL wins ties.
                    if p > max_p {
                        max_p = p;
                        best = Some(i);
                    }
                }
                likelihood += sum.ln();
                if let Some(i) = best {
                    let link: Link = if o.reverse {
                        (j as u32, i as u32)
                    } else {
                        (i as u32, j as u32)
                    };
                    links.values.push(link);
                }
            }
            links.end_row();
        }
        Ok((links, likelihood))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ragged(rows: &[&[u32]]) -> Ragged<u32> {
        let mut r = Ragged::default();
        for row in rows {
            r.push_row(row.iter().copied());
        }
        r
    }

    fn no_progress() -> impl FnMut(Progress) -> Result<()> {
        |_| Ok(())
    }

    /// "a b ||| x y" style corpus: word 0<->10, 1<->11, 2<->12 with varied pairings.
    fn toy() -> (Ragged<u32>, Ragged<u32>) {
        let mut src = Vec::new();
        let mut trg = Vec::new();
        for _ in 0..20 {
            src.push(vec![0, 1]);
            trg.push(vec![10, 11]);
            src.push(vec![1, 2]);
            trg.push(vec![11, 12]);
            src.push(vec![0, 2]);
            trg.push(vec![10, 12]);
            src.push(vec![2, 0, 1]);
            trg.push(vec![12, 10, 11]);
        }
        let s: Vec<&[u32]> = src.iter().map(Vec::as_slice).collect();
        let t: Vec<&[u32]> = trg.iter().map(Vec::as_slice).collect();
        (ragged(&s), ragged(&t))
    }

    fn diagonal(al: &Alignment, k: usize) -> bool {
        let row = al.row(k);
        !row.is_empty() && row.iter().all(|&(i, j)| i == j)
    }

    #[test]
    fn digamma_matches_known_values() {
        assert!((digamma(1.0) + 0.577_215_664_901_532_9).abs() < 1e-9);
        assert!((digamma(10.0) - 2.251_752_589_066_721).abs() < 1e-9);
    }

    #[test]
    fn all_switches_align_the_toy_corpus() {
        let (s, t) = toy();
        let variants = [
            AlignOptions::default(),
            AlignOptions {
                use_null: false,
                ..AlignOptions::default()
            },
            AlignOptions {
                favor_diagonal: false,
                ..AlignOptions::default()
            },
            AlignOptions {
                variational_bayes: false,
                ..AlignOptions::default()
            },
            AlignOptions {
                favor_diagonal: false,
                variational_bayes: false,
                use_null: false,
                iterations: 8,
                ..AlignOptions::default()
            },
        ];
        for opts in variants {
            for reverse in [false, true] {
                let o = AlignOptions {
                    reverse,
                    ..opts.clone()
                };
                let (al, stats) = align(&s, &t, 13, &o, &mut no_progress()).unwrap();
                assert_eq!(al.len(), s.len());
                assert_eq!(stats.log_likelihood_per_iteration.len(), o.iterations);
                for k in 0..al.len() {
                    assert!(diagonal(&al, k), "{o:?} row {k}: {:?}", al.row(k));
                }
                let ll = &stats.log_likelihood_per_iteration;
                assert!(ll.iter().all(|x| x.is_finite()));
            }
        }
    }

    #[test]
    fn empty_and_too_long_sides_give_empty_rows() {
        let s = ragged(&[&[0, 1], &[], &[0, 1, 2, 0, 1], &[0, 1], &[1]]);
        let t = ragged(&[&[10, 11], &[10], &[10, 11], &[10, 11], &[]]);
        let opts = AlignOptions {
            max_sentence_len: 4,
            ..AlignOptions::default()
        };
        for o in [
            opts.clone(),
            AlignOptions {
                reverse: true,
                ..opts.clone()
            },
        ] {
            let (al, stats) = align(&s, &t, 12, &o, &mut no_progress()).unwrap();
            assert_eq!(al.len(), 5);
            assert_eq!((stats.empty_pairs, stats.too_long_pairs), (2, 1));
            for k in [1, 2, 4] {
                assert!(al.row(k).is_empty());
            }
            assert!(!al.row(0).is_empty());
        }
        let ((f, fs), (r, rs)) = align_both(&s, &t, 12, &opts, &mut no_progress()).unwrap();
        assert_eq!((f.len(), r.len()), (5, 5));
        assert_eq!((fs.empty_pairs, rs.too_long_pairs), (2, 1));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let s = ragged(&[&[0, 7]]);
        let t = ragged(&[&[1]]);
        let opts = AlignOptions::default();
        assert!(align(&s, &t, 5, &opts, &mut no_progress()).is_err());
        let t2 = ragged(&[&[1], &[2]]);
        assert!(align(&s, &t2, 8, &opts, &mut no_progress()).is_err());
        let bad = AlignOptions {
            iterations: 0,
            ..AlignOptions::default()
        };
        assert!(align(&s, &t, 8, &bad, &mut no_progress()).is_err());
    }

    #[test]
    fn progress_error_stops_the_work() {
        let (s, t) = toy();
        let mut calls = 0;
        let r = align(&s, &t, 13, &AlignOptions::default(), &mut |_| {
            calls += 1;
            Err(Error::Interrupted)
        });
        assert!(matches!(r, Err(Error::Interrupted)));
        assert_eq!(calls, 1);
        let r = align_both(&s, &t, 13, &AlignOptions::default(), &mut |_| {
            Err(Error::Interrupted)
        });
        assert!(matches!(r, Err(Error::Interrupted) | Ok(_)));
    }

    #[test]
    fn reverse_links_are_source_first_in_source_order() {
        // Target word 10 is aligned from both source words in reverse (one link per source word).
        let (s, t) = toy();
        let o = AlignOptions {
            reverse: true,
            ..AlignOptions::default()
        };
        let (al, _) = align(&s, &t, 13, &o, &mut no_progress()).unwrap();
        for row in al.rows() {
            assert!(row.windows(2).all(|w| w[0].0 < w[1].0));
        }
    }
}
