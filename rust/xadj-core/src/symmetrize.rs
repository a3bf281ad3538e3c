//! Symmetrisation of two directional alignments with the heuristics of fast_align's `atools`,
//! reproducing its output line for line.
//!
//! grow-diag starts from the intersection and makes passes over the union-minus-current points in
//! (i, j) order, adding a point when its row or its column is still unaligned and one of its 8
//! neighbours is already in (points added earlier in the same pass count), until a pass adds
//! nothing. `final` then makes one pass over the forward points, then one over the reverse
//! points, adding a point when its row OR (`final-and`: AND) its column is unaligned.
//!
//! Lines narrower than 64 target words with few links (nearly all) run on bit rows, one `u64` per
//! source word; other lines on a padded byte grid, or on hash sets when their indices would make
//! that grid huge. All share the same scratch, so no line allocates once the buffers have grown.
//!
//! Full passes cost O(n) each for n links, and a chain that grows one point per pass needs n of
//! them (40k links: 40k passes). So after 16 full passes the rest is simulated event by event,
//! in O(n log n): a point can only be added once one of its neighbours is in, and once its row
//! and its column are both aligned it never can be. So a point is examined at the next pass
//! boundary, then only when a neighbour joins: later in the same pass if it comes after that
//! neighbour in (i, j) order, otherwise in the next pass, exactly when atools' next full pass
//! would reach it and the only time that pass could add it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::corpus::LineReader;
use crate::pharaoh::{parse_links, Alignment, Link, PharaohWriter, ReadOptions};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Intersect,
    Union,
    GrowDiag,
    GrowDiagFinal,
    GrowDiagFinalAnd,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::Intersect,
        Method::Union,
        Method::GrowDiag,
        Method::GrowDiagFinal,
        Method::GrowDiagFinalAnd,
    ];

    /// The atools name (`atools -c NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Method::Intersect => "intersect",
            Method::Union => "union",
            Method::GrowDiag => "grow-diag",
            Method::GrowDiagFinal => "grow-diag-final",
            Method::GrowDiagFinalAnd => "grow-diag-final-and",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Method::ALL.iter().map(|m| m.name()).collect();
                Error::Invalid(format!(
                    "unknown symmetrisation method {s:?}; expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

const FWD: u8 = 1;
const REV: u8 = 2;
const RES: u8 = 4;

/// Largest dense grid (cells) a line may use; bigger lines take a slower hash-based path.
const MAX_GRID_CELLS: usize = 1 << 22;

/// The alignment grid a line is grown on, and its row / column "aligned" flags.
trait Board {
    fn flags(&self, i: u32, j: u32) -> u8;
    fn add_flags(&mut self, i: u32, j: u32, bits: u8);
    fn row_aligned(&self, i: u32) -> bool;
    fn col_aligned(&self, j: u32) -> bool;
    fn neighbour_in(&self, i: u32, j: u32) -> bool;

    fn align(&mut self, i: u32, j: u32) {
        self.add_flags(i, j, RES);
    }
}

/// A padded byte grid: cell (i, j) is at `(i + 1) * stride + j + 1`, so all 8 neighbours of a
/// point exist and need no bounds test.
#[derive(Debug, Default)]
struct DenseBoard {
    cells: Vec<u8>,
    stride: usize,
    rows: Vec<u8>,
    cols: Vec<u8>,
}

impl DenseBoard {
    fn prepare(&mut self, max_i: usize, max_j: usize) {
        self.stride = max_j + 3;
        let cells = (max_i + 3) * self.stride;
        if self.cells.len() < cells {
            self.cells.resize(cells, 0);
        }
        if self.rows.len() <= max_i {
            self.rows.resize(max_i + 1, 0);
        }
        if self.cols.len() <= max_j {
            self.cols.resize(max_j + 1, 0);
        }
    }

    #[inline(always)]
    fn at(&self, i: u32, j: u32) -> usize {
        (i as usize + 1) * self.stride + j as usize + 1
    }

    /// Zeroes what a line used (its points and flags), leaving the board clean for the next.
    fn clear(&mut self, points: &[Link], max_i: usize, max_j: usize) {
        for &(i, j) in points {
            let at = self.at(i, j);
            self.cells[at] = 0;
        }
        self.rows[..=max_i].fill(0);
        self.cols[..=max_j].fill(0);
    }
}

impl Board for DenseBoard {
    #[inline(always)]
    fn flags(&self, i: u32, j: u32) -> u8 {
        self.cells[self.at(i, j)]
    }

    #[inline(always)]
    fn add_flags(&mut self, i: u32, j: u32, bits: u8) {
        let at = self.at(i, j);
        self.cells[at] |= bits;
        if bits & RES != 0 {
            self.rows[i as usize] = 1;
            self.cols[j as usize] = 1;
        }
    }

    #[inline(always)]
    fn row_aligned(&self, i: u32) -> bool {
        self.rows[i as usize] != 0
    }

    #[inline(always)]
    fn col_aligned(&self, j: u32) -> bool {
        self.cols[j as usize] != 0
    }

    #[inline(always)]
    fn neighbour_in(&self, i: u32, j: u32) -> bool {
        let at = self.at(i, j);
        let (up, down) = (at - self.stride, at + self.stride);
        let c = &self.cells;
        (c[up - 1]
            | c[up]
            | c[up + 1]
            | c[at - 1]
            | c[at + 1]
            | c[down - 1]
            | c[down]
            | c[down + 1])
            & RES
            != 0
    }
}

/// The hash-based board for lines whose indices are too large for a dense grid.
#[derive(Debug, Default)]
struct SparseBoard {
    cells: rustc_hash::FxHashMap<Link, u8>,
    rows: rustc_hash::FxHashSet<u32>,
    cols: rustc_hash::FxHashSet<u32>,
}

impl Board for SparseBoard {
    fn flags(&self, i: u32, j: u32) -> u8 {
        self.cells.get(&(i, j)).copied().unwrap_or(0)
    }

    fn add_flags(&mut self, i: u32, j: u32, bits: u8) {
        *self.cells.entry((i, j)).or_insert(0) |= bits;
        if bits & RES != 0 {
            self.rows.insert(i);
            self.cols.insert(j);
        }
    }

    fn row_aligned(&self, i: u32) -> bool {
        self.rows.contains(&i)
    }

    fn col_aligned(&self, j: u32) -> bool {
        self.cols.contains(&j)
    }

    fn neighbour_in(&self, i: u32, j: u32) -> bool {
        let (i, j) = (i64::from(i), i64::from(j));
        (-1..=1).any(|di| {
            (-1..=1).any(|dj| {
                let (a, b) = (i + di, j + dj);
                (di, dj) != (0, 0)
                    && a >= 0
                    && b >= 0
                    && a <= i64::from(u32::MAX)
                    && b <= i64::from(u32::MAX)
                    && self.flags(a as u32, b as u32) & RES != 0
            })
        })
    }
}

/// Widest line (largest target index + 1) the bit-row path handles: a row is one `u64` and the
/// neighbour window of column j is bits j-1..=j+1 of the row shifted left by one.
const BIT_ROW_COLUMNS: usize = 63;

/// The fast path for lines narrower than 64 columns: row i of each grid is one `u64` at index
/// i + 1 (rows 0 and max_i + 2 stay empty), so the sorted union is read off the bits in order,
/// without sorting, and a neighbour test is three ORs and a shift.
#[derive(Debug, Default)]
struct BitRows {
    fwd: Vec<u64>,
    rev: Vec<u64>,
    res: Vec<u64>,
    pending: Vec<Link>,
}

/// Calls `f(j)` for every set bit of `bits`, lowest first.
#[inline(always)]
fn for_each_bit(mut bits: u64, mut f: impl FnMut(u32)) {
    while bits != 0 {
        f(bits.trailing_zeros());
        bits &= bits - 1;
    }
}

impl BitRows {
    /// Symmetrises one line onto `out`; returns false, having written nothing, for a line that
    /// needs more than `FULL_PASSES` passes (the caller then takes the event-driven path).
    fn run(
        &mut self,
        fwd: &[Link],
        rev: &[Link],
        max_i: usize,
        method: Method,
        out: &mut Vec<Link>,
    ) -> bool {
        let rows = max_i + 3;
        for grid in [&mut self.fwd, &mut self.rev, &mut self.res] {
            grid.clear();
            grid.resize(rows, 0);
        }
        for &(i, j) in fwd {
            self.fwd[i as usize + 1] |= 1 << j;
        }
        for &(i, j) in rev {
            self.rev[i as usize + 1] |= 1 << j;
        }
        let (f, r, res) = (&self.fwd[..], &self.rev[..], &mut self.res[..]);
        let emit = |out: &mut Vec<Link>, grid: &dyn Fn(usize) -> u64| {
            for i in 1..rows - 1 {
                for_each_bit(grid(i), |j| out.push((i as u32 - 1, j)));
            }
        };
        match method {
            Method::Union => {
                emit(out, &|i| f[i] | r[i]);
                return true;
            }
            Method::Intersect => {
                emit(out, &|i| f[i] & r[i]);
                return true;
            }
            _ => {}
        }
        // The union-minus-intersection points in (i, j) order (i is the padded row index), then
        // passes over them with branch-free updates (mispredicted branches were most of the
        // cost); a point that is added leaves the list at once, as in atools' pass.
        let pending = &mut self.pending;
        pending.clear();
        let mut cols = 0u64;
        for i in 1..rows - 1 {
            res[i] = f[i] & r[i];
            cols |= res[i];
            for_each_bit((f[i] | r[i]) & !res[i], |j| pending.push((i as u32, j)));
        }
        for pass in 0.. {
            if pass == FULL_PASSES {
                return false;
            }
            let mut kept = 0;
            for k in 0..pending.len() {
                let (i, j) = pending[k];
                let (i, bit) = (i as usize, 1u64 << j);
                let window = ((res[i - 1] | res[i] | res[i + 1]) << 1) >> j;
                let unaligned = res[i] == 0 || cols & bit == 0;
                let add = unaligned & (window & 0b111 != 0);
                let mask = bit & 0u64.wrapping_sub(u64::from(add));
                res[i] |= mask;
                cols |= mask;
                pending[kept] = (i as u32, j);
                kept += usize::from(!add);
            }
            let added = kept < pending.len();
            pending.truncate(kept);
            if !added {
                break;
            }
        }
        if method != Method::GrowDiag {
            let and = method == Method::GrowDiagFinalAnd;
            for side in [f, r] {
                for &(i, j) in pending.iter() {
                    let (i, bit) = (i as usize, 1u64 << j);
                    let (row, col) = (res[i] != 0, cols & bit != 0);
                    let unaligned = if and { !row && !col } else { !(row && col) };
                    let add = unaligned & (side[i] & bit != 0) & (res[i] & bit == 0);
                    let mask = bit & 0u64.wrapping_sub(u64::from(add));
                    res[i] |= mask;
                    cols |= mask;
                }
            }
        }
        emit(out, &|i| res[i]);
        true
    }
}

/// Full passes (each rescanning every pending point) made before the passes are simulated event
/// by event: nearly every line is done in a few, and only chains that grow a point or so per
/// pass, where full passes turn quadratic, go on.
const FULL_PASSES: usize = 16;

/// Reusable buffers for `symmetrize_pair`, so that no line allocates.
#[derive(Debug, Default)]
pub struct Scratch {
    rows: BitRows,
    dense: DenseBoard,
    union: Vec<u64>,
    points: Vec<Link>,
    passes: Passes,
}

/// The work lists of the grow-diag passes: indices into the sorted points.
#[derive(Debug, Default)]
struct Passes {
    /// Points not added yet, for the full passes.
    pending: Vec<usize>,
    /// Points to examine in the current pass, smallest first.
    now: BinaryHeap<Reverse<usize>>,
    /// Points to examine in the next pass.
    next: Vec<usize>,
    /// Added, or never addable again (row and column both aligned).
    settled: Vec<bool>,
}

/// Calls `f` with the index of every point of `points` (sorted, unique) among the 8 neighbours
/// of `(i, j)`.
fn for_each_neighbour(points: &[Link], (i, j): Link, mut f: impl FnMut(usize)) {
    let (j_lo, j_hi) = (j.saturating_sub(1), j.saturating_add(1));
    for a in [i.checked_sub(1), Some(i), i.checked_add(1)]
        .into_iter()
        .flatten()
    {
        let start = points.partition_point(|&p| p < (a, j_lo));
        for (q, &(pa, pb)) in points.iter().enumerate().skip(start) {
            if pa != a || pb > j_hi {
                break;
            }
            if (pa, pb) != (i, j) {
                f(q);
            }
        }
    }
}

/// Grows the result on `board`, whose FWD / REV flags are set for the sorted, unique `points`.
fn grow<B: Board>(
    board: &mut B,
    points: &[Link],
    method: Method,
    passes: &mut Passes,
    out: &mut Vec<Link>,
) {
    let both = FWD | REV;
    match method {
        Method::Union => {
            out.extend_from_slice(points);
            return;
        }
        Method::Intersect => {
            out.extend(points.iter().filter(|&&(i, j)| board.flags(i, j) == both));
            return;
        }
        _ => {}
    }
    let Passes {
        pending,
        now,
        next,
        settled,
    } = passes;
    pending.clear();
    for (p, &(i, j)) in points.iter().enumerate() {
        if board.flags(i, j) == both {
            board.align(i, j);
        } else {
            pending.push(p);
        }
    }
    // A few full passes, as atools makes them, then (rarely) the event-driven rest.
    let mut converged = false;
    for _ in 0..FULL_PASSES {
        let before = pending.len();
        pending.retain(|&p| {
            let (i, j) = points[p];
            let grow = !(board.row_aligned(i) && board.col_aligned(j)) && board.neighbour_in(i, j);
            if grow {
                board.align(i, j);
            }
            !grow
        });
        if pending.len() == before {
            converged = true;
            break;
        }
    }
    now.clear();
    next.clear();
    settled.clear();
    settled.resize(points.len(), true);
    if !converged {
        // At a pass boundary every pending point is due for a look in the next pass.
        for &p in pending.iter() {
            settled[p] = false;
            now.push(Reverse(p));
        }
    }
    loop {
        while let Some(Reverse(p)) = now.pop() {
            let (i, j) = points[p];
            // Unsettled without a neighbour: it waits for one (an event brings it back).
            if settled[p] || !board.neighbour_in(i, j) {
                continue;
            }
            settled[p] = true;
            if board.row_aligned(i) && board.col_aligned(j) {
                continue;
            }
            board.align(i, j);
            for_each_neighbour(points, (i, j), |q| {
                if !settled[q] {
                    if q > p {
                        now.push(Reverse(q));
                    } else {
                        next.push(q);
                    }
                }
            });
        }
        if next.is_empty() {
            break;
        }
        now.extend(next.drain(..).map(Reverse));
    }
    if method != Method::GrowDiag {
        let and = method == Method::GrowDiagFinalAnd;
        for side in [FWD, REV] {
            for &(i, j) in points {
                let f = board.flags(i, j);
                if f & side == 0 || f & RES != 0 {
                    continue;
                }
                let (row, col) = (board.row_aligned(i), board.col_aligned(j));
                let grow = if and { !row && !col } else { !(row && col) };
                if grow {
                    board.align(i, j);
                }
            }
        }
    }
    out.extend(
        points
            .iter()
            .filter(|&&(i, j)| board.flags(i, j) & RES != 0),
    );
}

/// Symmetrises one sentence pair, appending the links to `out` sorted by (i, j). Both inputs are
/// source-first (fast_align `-r` prints source first too); duplicates and any order are fine.
pub fn symmetrize_pair(
    fwd: &[Link],
    rev: &[Link],
    method: Method,
    scratch: &mut Scratch,
    out: &mut Vec<Link>,
) {
    let (mut max_i, mut max_j) = (0u32, 0u32);
    for &(i, j) in fwd.iter().chain(rev) {
        max_i = max_i.max(i);
        max_j = max_j.max(j);
    }
    let narrow = (max_j as usize) < BIT_ROW_COLUMNS && (max_i as usize) < MAX_GRID_CELLS / 64;
    // The bit rows give up (writing nothing) on a line that needs many passes.
    if narrow
        && ((fwd.is_empty() && rev.is_empty())
            || scratch.rows.run(fwd, rev, max_i as usize, method, out))
    {
        return;
    }
    let key = |&(i, j): &Link| (u64::from(i) << 32) | u64::from(j);
    scratch.union.clear();
    scratch.union.extend(fwd.iter().map(key));
    scratch.union.extend(rev.iter().map(key));
    scratch.union.sort_unstable();
    scratch.union.dedup();
    scratch.points.clear();
    scratch
        .points
        .extend(scratch.union.iter().map(|&k| ((k >> 32) as u32, k as u32)));
    let points = &scratch.points;
    if method == Method::Union {
        out.extend_from_slice(points);
        return;
    }
    let (max_i, max_j) = (max_i as usize, max_j as usize);
    let fits = (max_i + 3)
        .checked_mul(max_j + 3)
        .is_some_and(|cells| cells <= MAX_GRID_CELLS);
    if fits {
        let board = &mut scratch.dense;
        board.prepare(max_i, max_j);
        for &(i, j) in fwd {
            board.add_flags(i, j, FWD);
        }
        for &(i, j) in rev {
            board.add_flags(i, j, REV);
        }
        grow(board, points, method, &mut scratch.passes, out);
        board.clear(points, max_i, max_j);
    } else {
        let mut board = SparseBoard::default();
        for &(i, j) in fwd {
            board.add_flags(i, j, FWD);
        }
        for &(i, j) in rev {
            board.add_flags(i, j, REV);
        }
        grow(&mut board, points, method, &mut scratch.passes, out);
    }
}

/// Lines per parallel task; fixed so that the result never depends on the thread count.
const CHUNK_LINES: usize = 4096;

/// Symmetrises a corpus, in parallel over fixed-size chunks concatenated in order.
pub fn symmetrize(fwd: &Alignment, rev: &Alignment, method: Method) -> Result<Alignment> {
    if fwd.len() != rev.len() {
        return Err(Error::Invalid(format!(
            "cannot symmetrise {} forward lines with {} reverse lines",
            fwd.len(),
            rev.len()
        )));
    }
    let chunks = fwd.len().div_ceil(CHUNK_LINES);
    let parts: Vec<Alignment> = (0..chunks)
        .into_par_iter()
        .map_init(Scratch::default, |scratch, c| {
            let lines = c * CHUNK_LINES..fwd.len().min((c + 1) * CHUNK_LINES);
            let mut part = Alignment::with_capacity(lines.len(), 0);
            for k in lines {
                symmetrize_pair(fwd.row(k), rev.row(k), method, scratch, &mut part.values);
                part.end_row();
            }
            part
        })
        .collect();
    Ok(Alignment::concat(parts))
}

/// Symmetrises two alignment files line by line onto `out`, like
/// `atools -i fwd -j rev -c METHOD`, streaming on one thread; returns the number of lines.
pub fn symmetrize_files<W: Write>(
    fwd_path: &Path,
    rev_path: &Path,
    method: Method,
    opts: &ReadOptions,
    out: W,
) -> Result<usize> {
    symmetrize_files_checked(fwd_path, rev_path, method, opts, out, "output", &mut |_| {
        Ok(())
    })
}

/// How often `symmetrize_files_checked` calls back: every so many lines, and at least this often,
/// so that Ctrl-C stops it at once even on very long lines.
const CHECK_LINES: usize = 1024;
const CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// `symmetrize_files` that names its output `out_name` in write errors and calls
/// `check(lines_done)` every 1024 lines or 100 ms; an error from `check` (e.g. `Interrupted`
/// after Ctrl-C) stops the work and is returned.
pub fn symmetrize_files_checked<W: Write>(
    fwd_path: &Path,
    rev_path: &Path,
    method: Method,
    opts: &ReadOptions,
    out: W,
    out_name: &str,
    check: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<usize> {
    let mut last_check = Instant::now();
    let mut fwd_lines = LineReader::open(fwd_path, opts.max_line_bytes)?;
    let mut rev_lines = LineReader::open(rev_path, opts.max_line_bytes)?;
    let mut writer = PharaohWriter::new(out);
    let (mut fwd, mut rev, mut links) = (Vec::new(), Vec::new(), Vec::new());
    let mut scratch = Scratch::default();
    let mut n = 0;
    let write_error = |e| Error::Io {
        path: out_name.into(),
        source: e,
    };
    loop {
        fwd.clear();
        rev.clear();
        let fwd_line = fwd_lines.next_line()?;
        let fwd_more = fwd_line.is_some();
        if let Some(line) = fwd_line {
            parse_links(line, opts.one_based, &mut fwd)
                .map_err(|e| Error::input(fwd_lines.path(), fwd_lines.line_number(), e.0))?;
        }
        let rev_line = rev_lines.next_line()?;
        let rev_more = rev_line.is_some();
        if let Some(line) = rev_line {
            parse_links(line, opts.one_based, &mut rev)
                .map_err(|e| Error::input(rev_lines.path(), rev_lines.line_number(), e.0))?;
        }
        match (fwd_more, rev_more) {
            (true, true) => {}
            (false, false) => break,
            (true, false) => {
                let msg = format!("{} ends after {n} lines", rev_lines.path());
                return Err(Error::input(fwd_lines.path(), n + 1, msg));
            }
            (false, true) => {
                let msg = format!("{} ends after {n} lines", fwd_lines.path());
                return Err(Error::input(rev_lines.path(), n + 1, msg));
            }
        }
        links.clear();
        symmetrize_pair(&fwd, &rev, method, &mut scratch, &mut links);
        writer.write_row(&links).map_err(write_error)?;
        n += 1;
        if n % CHECK_LINES == 0 || (n % 16 == 0 && last_check.elapsed() >= CHECK_INTERVAL) {
            check(n)?;
            last_check = Instant::now();
        }
    }
    writer.finish().map_err(write_error)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sym(fwd: &[Link], rev: &[Link], method: Method) -> Vec<Link> {
        let mut out = Vec::new();
        symmetrize_pair(fwd, rev, method, &mut Scratch::default(), &mut out);
        out
    }

    /// The same line on the hash-based board, to check the dense one against.
    fn sym_sparse(fwd: &[Link], rev: &[Link], method: Method) -> Vec<Link> {
        let mut points: Vec<Link> = fwd.iter().chain(rev).copied().collect();
        points.sort_unstable();
        points.dedup();
        let mut board = SparseBoard::default();
        fwd.iter().for_each(|&(i, j)| board.add_flags(i, j, FWD));
        rev.iter().for_each(|&(i, j)| board.add_flags(i, j, REV));
        let mut out = Vec::new();
        grow(
            &mut board,
            &points,
            method,
            &mut Passes::default(),
            &mut out,
        );
        out
    }

    /// atools' passes as written: every pass rescans all pending points in (i, j) order. Slow
    /// (quadratic on chains) and obvious; the reference the event-driven passes are checked on.
    fn sym_by_passes(fwd: &[Link], rev: &[Link], method: Method) -> Vec<Link> {
        use std::collections::{BTreeSet, HashSet};
        let (f, r): (BTreeSet<Link>, BTreeSet<Link>) =
            (fwd.iter().copied().collect(), rev.iter().copied().collect());
        let union: Vec<Link> = f.union(&r).copied().collect();
        let mut res: BTreeSet<Link> = f.intersection(&r).copied().collect();
        if method == Method::Union {
            return union;
        }
        if method == Method::Intersect {
            return res.into_iter().collect();
        }
        let mut rows: HashSet<u32> = res.iter().map(|p| p.0).collect();
        let mut cols: HashSet<u32> = res.iter().map(|p| p.1).collect();
        let neighbour_in = |res: &BTreeSet<Link>, (i, j): Link| {
            let (i, j) = (i64::from(i), i64::from(j));
            (-1..=1).any(|di| {
                (-1..=1).any(|dj| {
                    (di, dj) != (0, 0)
                        && i + di >= 0
                        && j + dj >= 0
                        && res.contains(&((i + di) as u32, (j + dj) as u32))
                })
            })
        };
        let mut pending: Vec<Link> = union.iter().filter(|p| !res.contains(p)).copied().collect();
        loop {
            let mut added = false;
            pending.retain(|&(i, j)| {
                let add = !(rows.contains(&i) && cols.contains(&j)) && neighbour_in(&res, (i, j));
                if add {
                    res.insert((i, j));
                    rows.insert(i);
                    cols.insert(j);
                    added = true;
                }
                !add
            });
            if !added {
                break;
            }
        }
        if method != Method::GrowDiag {
            for side in [&f, &r] {
                for &(i, j) in &union {
                    if !side.contains(&(i, j)) || res.contains(&(i, j)) {
                        continue;
                    }
                    let (row, col) = (rows.contains(&i), cols.contains(&j));
                    let add = if method == Method::GrowDiagFinalAnd {
                        !row && !col
                    } else {
                        !(row && col)
                    };
                    if add {
                        res.insert((i, j));
                        rows.insert(i);
                        cols.insert(j);
                    }
                }
            }
        }
        res.into_iter().collect()
    }

    /// A chain along the anti-diagonal seeded at its far end: atools' passes add one point each.
    fn chain(n: u32, offset: u32) -> (Vec<Link>, Vec<Link>) {
        let fwd: Vec<Link> = (0..n).map(|k| (k + offset, n - 1 - k + offset)).collect();
        let rev = vec![fwd[fwd.len() - 1]];
        (fwd, rev)
    }

    #[test]
    fn chains_that_grow_one_point_per_pass_match_the_passes() {
        for (n, offset) in [(300, 0), (300, 70), (2000, 3_000_000)] {
            let (fwd, rev) = chain(n, offset);
            for m in Method::ALL {
                let got = sym(&fwd, &rev, m);
                assert_eq!(
                    got,
                    sym_by_passes(&fwd, &rev, m),
                    "{m} n={n} offset={offset}"
                );
            }
            assert_eq!(sym(&fwd, &rev, Method::GrowDiag).len(), n as usize);
        }
        // Narrow lines (bit rows) too: a column climbing upwards, and a zigzag.
        let column: Vec<Link> = (0..1000).map(|k| (k, 3)).collect();
        let zigzag: Vec<Link> = (0..900).map(|k| (k, 3 + k % 2)).collect();
        for fwd in [column, zigzag] {
            let rev = vec![fwd[fwd.len() - 1], (0, 40)];
            for m in Method::ALL {
                assert_eq!(sym(&fwd, &rev, m), sym_by_passes(&fwd, &rev, m), "{m}");
            }
        }
    }

    /// 40k links on one line: took about a minute with a full rescan per pass; now a moment.
    #[test]
    fn a_line_with_40k_links_finishes() {
        let (fwd, rev) = chain(40_000, 0);
        for m in [
            Method::GrowDiag,
            Method::GrowDiagFinal,
            Method::GrowDiagFinalAnd,
        ] {
            assert_eq!(sym(&fwd, &rev, m).len(), 40_000, "{m}");
        }
        // Dense grid path (indices fit the grid) with a wide chain of 20k links.
        let (fwd, rev) = chain(1000, 0);
        let wide: Vec<Link> = (0..20)
            .flat_map(|r| fwd.iter().map(move |&(i, j)| (i + r * 1000, j)))
            .collect();
        let out = sym(&wide, &rev, Method::GrowDiagFinalAnd);
        assert_eq!(out, sym_by_passes(&wide, &rev, Method::GrowDiagFinalAnd));
    }

    #[test]
    fn names_round_trip() {
        for m in Method::ALL {
            assert_eq!(m.name().parse::<Method>().unwrap(), m);
        }
        let err = "grow".parse::<Method>().unwrap_err().to_string();
        assert!(err.contains("grow-diag-final-and"), "{err}");
    }

    #[test]
    fn small_cases() {
        let fwd = [(0, 0), (1, 1), (2, 1)];
        let rev = [(0, 0), (1, 2), (2, 1)];
        assert_eq!(sym(&fwd, &rev, Method::Intersect), [(0, 0), (2, 1)]);
        assert_eq!(
            sym(&fwd, &rev, Method::Union),
            [(0, 0), (1, 1), (1, 2), (2, 1)]
        );
        // (1, 1): row 1 unaligned, neighbour (0, 0) in; then (1, 2): column 2 unaligned.
        assert_eq!(
            sym(&fwd, &rev, Method::GrowDiag),
            [(0, 0), (1, 1), (1, 2), (2, 1)]
        );
        assert_eq!(sym(&[], &[], Method::GrowDiagFinal), []);
        // Far-apart huge indices take the sparse path.
        let big = [(0, 0), (3_000_000, 3_000_000)];
        assert_eq!(sym(&big, &big[..1], Method::GrowDiagFinalAnd), big);
    }

    #[test]
    fn files_stream_like_atools() {
        let dir = std::env::temp_dir().join(format!("xadj-sym-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (f, r) = (dir.join("a.fwd"), dir.join("a.rev"));
        std::fs::write(&f, "0-0 1-1 2-1\n\n0-0\n").unwrap();
        std::fs::write(&r, "2-1 1-2 0-0\n0-0\n").unwrap();
        let err = symmetrize_files(&f, &r, Method::Union, &ReadOptions::default(), Vec::new());
        let err = err.unwrap_err().to_string();
        assert!(
            err.contains("a.fwd:3: ") && err.contains("a.rev ends after 2 lines"),
            "{err}"
        );
        std::fs::write(&r, "2-1 1-2 0-0\n0-0\n\n").unwrap();
        let mut out = Vec::new();
        let n = symmetrize_files(
            &f,
            &r,
            Method::GrowDiagFinal,
            &ReadOptions::default(),
            &mut out,
        );
        assert_eq!(n.unwrap(), 3);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "0-0 1-1 1-2 2-1\n0-0\n0-0\n"
        );
    }

    #[test]
    fn files_call_back_and_stop_when_asked() {
        let dir = std::env::temp_dir().join(format!("xadj-sym-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (f, r) = (dir.join("b.fwd"), dir.join("b.rev"));
        std::fs::write(&f, "0-0 1-1\n".repeat(3000)).unwrap();
        // A byte order mark and old-Mac line ends: still 3000 lines of 0-0.
        std::fs::write(&r, "\u{feff}0-0\r".to_string() + &"0-0\r".repeat(2999)).unwrap();
        let opts = ReadOptions::default();
        let mut seen = Vec::new();
        let mut out = Vec::new();
        let n =
            symmetrize_files_checked(&f, &r, Method::GrowDiag, &opts, &mut out, "o", &mut |n| {
                seen.push(n);
                Ok(())
            });
        assert_eq!(n.unwrap(), 3000);
        assert!(seen.contains(&1024) && seen.contains(&2048), "{seen:?}");
        assert_eq!(String::from_utf8(out).unwrap(), "0-0 1-1\n".repeat(3000));
        let mut calls = 0;
        let stopped =
            symmetrize_files_checked(&f, &r, Method::Union, &opts, Vec::new(), "o", &mut |_| {
                calls += 1;
                Err(Error::Interrupted)
            });
        assert!(matches!(stopped, Err(Error::Interrupted)));
        assert_eq!(calls, 1);
    }

    #[test]
    fn write_errors_name_the_output() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::from_raw_os_error(28))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let dir = std::env::temp_dir().join(format!("xadj-sym-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.fwd");
        std::fs::write(&f, "0-0\n").unwrap();
        let opts = ReadOptions::default();
        let err =
            symmetrize_files_checked(&f, &f, Method::Union, &opts, Full, "out.sym", &mut |_| {
                Ok(())
            })
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("out.sym: No space left on device"), "{err}");
    }

    #[test]
    fn corpus_line_counts_must_match() {
        let mut a = Alignment::default();
        a.push_row([(0, 0)]);
        let err = symmetrize(&a, &Alignment::default(), Method::Union).unwrap_err();
        assert!(err.to_string().contains("1 forward lines with 0 reverse"));
    }

    fn line() -> impl Strategy<Value = Vec<Link>> {
        prop::collection::vec((0u32..12, 0u32..12), 0..30)
    }

    /// Narrow lines (bit rows) and wide ones (byte grid), 64 columns included.
    fn line_pair() -> impl Strategy<Value = (Vec<Link>, Vec<Link>)> {
        prop::sample::select(vec![4u32, 12, 40, 63, 64, 90]).prop_flat_map(|m| {
            let link = (0u32..m.min(20), 0u32..m);
            let side = prop::collection::vec(link, 0..40);
            (side.clone(), side)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn heuristics_nest_and_output_is_sorted_unique((fwd, rev) in line_pair()) {
            let outs: Vec<Vec<Link>> = Method::ALL.iter().map(|&m| sym(&fwd, &rev, m)).collect();
            let subset = |a: &[Link], b: &[Link]| a.iter().all(|x| b.binary_search(x).is_ok());
            for (m, out) in Method::ALL.iter().zip(&outs) {
                prop_assert!(out.windows(2).all(|w| w[0] < w[1]), "{} not sorted", m);
                prop_assert_eq!(out, &sym_sparse(&fwd, &rev, *m));
                prop_assert_eq!(out, &sym_by_passes(&fwd, &rev, *m));
            }
            let [inter, union, gd, gdf, gdfa] = &outs[..] else { unreachable!() };
            prop_assert!(subset(inter, gd));
            prop_assert!(subset(gd, gdfa) && subset(gd, gdf));
            prop_assert!(subset(gdfa, union) && subset(gdf, union));
            // Swapping the inputs never changes intersect, union or grow-diag.
            prop_assert_eq!(gd, &sym(&rev, &fwd, Method::GrowDiag));
        }
    }

    /// Lines with more links than the bit-row path takes, dense or chained, narrow or wide.
    fn many_links() -> impl Strategy<Value = (Vec<Link>, Vec<Link>)> {
        (prop::sample::select(vec![8u32, 30, 63, 200]), 20u32..300).prop_flat_map(|(m, n)| {
            let link = (0u32..n, 0u32..m);
            let fwd = prop::collection::vec(link.clone(), 130..400);
            let rev = prop::collection::vec(link, 0..200);
            (fwd, rev)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn event_driven_passes_match_full_passes((fwd, rev) in many_links()) {
            for m in Method::ALL {
                prop_assert_eq!(sym(&fwd, &rev, m), sym_by_passes(&fwd, &rev, m), "{}", m);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(50))]

        #[test]
        fn one_and_four_threads_agree(
            rows in prop::collection::vec((line(), line()), 0..3 * CHUNK_LINES),
            m in 0..5usize,
        ) {
            let (mut fwd, mut rev) = (Alignment::default(), Alignment::default());
            for (f, r) in &rows {
                fwd.push_row(f.iter().copied());
                rev.push_row(r.iter().copied());
            }
            let run = |threads| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| symmetrize(&fwd, &rev, Method::ALL[m]).unwrap())
            };
            let one = run(1);
            prop_assert_eq!(one.len(), rows.len());
            prop_assert_eq!(&one, &run(4));
        }
    }
}
