//! Word-level link filters of docs/method.md §1, each switchable and counted: pairs with an empty side
//! or an over-long side, one-to-one links only, identical-string links. Also the bounds check of
//! every link.
//!
//! Each dropped pair is counted under exactly one reason, the first in pipeline order (empty
//! side, then too many words); `Filtered::kept` tells the subword mapping which pairs are still
//! in, so that it never counts them again.

use rayon::prelude::*;

use crate::pharaoh::{Alignment, Link};
use crate::ragged::Ragged;
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct FilterOptions {
    /// Drop a pair whose either side has more than this many words (0 = no limit).
    pub max_words: usize,
    /// Keep a link only if its source index and its target index each occur once in the pair.
    pub one_to_one: bool,
    /// Drop links whose two words are the identical string (numbers, punctuation, names).
    pub drop_identical: bool,
}

impl Default for FilterOptions {
    fn default() -> Self {
        FilterOptions {
            max_words: 64,
            one_to_one: true,
            drop_identical: true,
        }
    }
}

/// Counts that add up: `pairs_in = pairs_empty + pairs_too_long + pairs_out` and
/// `links_in = links_of_dropped_pairs + links_duplicate + links_not_one_to_one + links_identical
/// + links_out`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterStats {
    pub pairs_in: usize,
    /// Pairs with an empty side (kept as empty rows by the reader so line numbers stay in step).
    pub pairs_empty: usize,
    /// Pairs with a side longer than `max_words` words (and no empty side).
    pub pairs_too_long: usize,
    /// Pairs that go on to the subword mapping.
    pub pairs_out: usize,
    pub links_in: usize,
    /// Links of the pairs dropped above.
    pub links_of_dropped_pairs: usize,
    pub links_duplicate: usize,
    pub links_not_one_to_one: usize,
    pub links_identical: usize,
    pub links_out: usize,
}

impl FilterStats {
    fn add(mut self, other: FilterStats) -> FilterStats {
        self.pairs_in += other.pairs_in;
        self.pairs_empty += other.pairs_empty;
        self.pairs_too_long += other.pairs_too_long;
        self.pairs_out += other.pairs_out;
        self.links_in += other.links_in;
        self.links_of_dropped_pairs += other.links_of_dropped_pairs;
        self.links_duplicate += other.links_duplicate;
        self.links_not_one_to_one += other.links_not_one_to_one;
        self.links_identical += other.links_identical;
        self.links_out += other.links_out;
        self
    }
}

const CHUNK: usize = 4096;

/// The result of `filter_pairs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filtered {
    /// The links left, one row per pair (an empty row for a dropped pair).
    pub links: Alignment,
    /// Whether pair `i` goes on (false: dropped here and already counted).
    pub kept: Vec<bool>,
    pub stats: FilterStats,
}

/// `filter_pairs` without the per-pair verdicts.
pub fn filter_links(
    source: &Ragged<u32>,
    target: &Ragged<u32>,
    links: &Alignment,
    opts: &FilterOptions,
    alignment_name: &str,
) -> Result<(Alignment, FilterStats)> {
    filter_pairs(source, target, links, opts, alignment_name).map(|f| (f.links, f.stats))
}

/// Filters the links of every pair. A dropped pair keeps an empty row, so row `i` still belongs
/// to pair `i`. `alignment_name` names the alignment source in out-of-range errors.
pub fn filter_pairs(
    source: &Ragged<u32>,
    target: &Ragged<u32>,
    links: &Alignment,
    opts: &FilterOptions,
    alignment_name: &str,
) -> Result<Filtered> {
    if links.len() != source.len() || source.len() != target.len() {
        return Err(Error::Invalid(format!(
            "{alignment_name}: {} alignment lines for {} sentence pairs",
            links.len(),
            source.len()
        )));
    }
    let starts: Vec<usize> = (0..source.len()).step_by(CHUNK).collect();
    let parts: Vec<Filtered> = starts
        .par_iter()
        .map(|&start| {
            let end = (start + CHUNK).min(source.len());
            let mut part = Filtered {
                links: Alignment::with_capacity(end - start, 0),
                kept: Vec::with_capacity(end - start),
                stats: FilterStats::default(),
            };
            let mut scratch = Scratch::default();
            for i in start..end {
                let (s, t) = (source.row(i), target.row(i));
                check_bounds(links.row(i), s.len(), t.len(), alignment_name, i + 1)?;
                let kept = filter_pair(
                    s,
                    t,
                    links.row(i),
                    opts,
                    &mut scratch,
                    &mut part.links.values,
                    &mut part.stats,
                );
                part.kept.push(kept);
                part.links.end_row();
            }
            Ok(part)
        })
        .collect::<Result<_>>()?;
    let mut kept = Vec::with_capacity(source.len());
    let mut stats = FilterStats::default();
    let mut aligns = Vec::with_capacity(parts.len());
    for part in parts {
        kept.extend(part.kept);
        stats = stats.add(part.stats);
        aligns.push(part.links);
    }
    Ok(Filtered {
        links: Ragged::concat(aligns),
        kept,
        stats,
    })
}

/// Errors on the first link that points past the end of its sentence.
pub fn check_bounds(
    links: &[Link],
    n_source: usize,
    n_target: usize,
    name: &str,
    line: usize,
) -> Result<()> {
    match out_of_range(links, n_source, n_target) {
        None => Ok(()),
        Some(message) => Err(Error::input(name, line, message)),
    }
}

/// What is wrong with the first link past the end of its sentence, if any.
pub fn out_of_range(links: &[Link], n_source: usize, n_target: usize) -> Option<String> {
    let (i, j) = links
        .iter()
        .find(|&&(i, j)| i as usize >= n_source || j as usize >= n_target)?;
    Some(format!(
        "link {i}-{j} out of range for a pair of {n_source} source and {n_target} target words"
    ))
}

#[derive(Default)]
struct Scratch {
    source_count: Vec<u32>,
    target_count: Vec<u32>,
    unique: Vec<Link>,
}

fn filter_pair(
    source: &[u32],
    target: &[u32],
    links: &[Link],
    opts: &FilterOptions,
    scratch: &mut Scratch,
    out: &mut Vec<Link>,
    stats: &mut FilterStats,
) -> bool {
    stats.pairs_in += 1;
    stats.links_in += links.len();
    // The first reason wins: a pair is counted once.
    if source.is_empty() || target.is_empty() {
        stats.pairs_empty += 1;
        stats.links_of_dropped_pairs += links.len();
        return false;
    }
    if opts.max_words > 0 && (source.len() > opts.max_words || target.len() > opts.max_words) {
        stats.pairs_too_long += 1;
        stats.links_of_dropped_pairs += links.len();
        return false;
    }
    stats.pairs_out += 1;
    // A link listed twice is one link (symmetrisation output never repeats, hand-made files may).
    let unique = &mut scratch.unique;
    unique.clear();
    unique.extend_from_slice(links);
    unique.sort_unstable();
    unique.dedup();
    stats.links_duplicate += links.len() - unique.len();
    scratch.source_count.clear();
    scratch.source_count.resize(source.len(), 0);
    scratch.target_count.clear();
    scratch.target_count.resize(target.len(), 0);
    for &(i, j) in unique.iter() {
        scratch.source_count[i as usize] += 1;
        scratch.target_count[j as usize] += 1;
    }
    for &(i, j) in unique.iter() {
        if opts.one_to_one
            && (scratch.source_count[i as usize] > 1 || scratch.target_count[j as usize] > 1)
        {
            stats.links_not_one_to_one += 1;
        } else if opts.drop_identical && source[i as usize] == target[j as usize] {
            stats.links_identical += 1;
        } else {
            out.push((i, j));
            stats.links_out += 1;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ragged(rows: &[&[u32]]) -> Ragged<u32> {
        let mut r = Ragged::default();
        rows.iter().for_each(|row| r.push_row(row.iter().copied()));
        r
    }

    #[test]
    fn each_filter_is_counted() {
        // pair 0: "a b c" / "x b y"; links 0-0, 1-1 (identical "b"), 2-2 and 2-0 (2 not one-to-one, 0 not either)
        let source = ragged(&[&[0, 1, 2], &[5; 4]]);
        let target = ragged(&[&[3, 1, 4], &[6]]);
        let mut links = Alignment::default();
        links.push_row([(0, 0), (1, 1), (2, 2), (2, 0), (1, 1)]);
        links.push_row([(3, 0)]);
        let opts = FilterOptions {
            max_words: 3,
            ..FilterOptions::default()
        };
        let (out, stats) = filter_links(&source, &target, &links, &opts, "a.align").unwrap();
        assert!(out.row(0).is_empty()); // 1-1 is identical, the other links are not one-to-one
        assert!(out.row(1).is_empty());
        assert_eq!(
            stats,
            FilterStats {
                pairs_in: 2,
                pairs_empty: 0,
                pairs_too_long: 1,
                pairs_out: 1,
                links_in: 6,
                links_of_dropped_pairs: 1,
                links_duplicate: 1,
                links_not_one_to_one: 3,
                links_identical: 1,
                links_out: 0,
            }
        );
        let all_off = FilterOptions {
            max_words: 0,
            one_to_one: false,
            drop_identical: false,
        };
        let (out, stats) = filter_links(&source, &target, &links, &all_off, "a.align").unwrap();
        assert_eq!(out.row(0), [(0, 0), (1, 1), (2, 0), (2, 2)]);
        assert_eq!((stats.links_out, stats.pairs_too_long), (5, 0));
    }

    #[test]
    fn each_dropped_pair_is_counted_once_and_reported_as_not_kept() {
        // 0: empty source and too long; 1: too long; 2: empty target; 3: kept, links filtered away;
        // 4: kept.
        let source = ragged(&[&[], &[1; 5], &[1], &[1, 2], &[3]]);
        let target = ragged(&[&[1; 5], &[2], &[], &[1, 3], &[4]]);
        let mut links = Alignment::default();
        links.push_row([]);
        links.push_row([(4, 0), (3, 0)]);
        links.push_row([]);
        links.push_row([(0, 0)]);
        links.push_row([(0, 0)]);
        let opts = FilterOptions {
            max_words: 3,
            ..FilterOptions::default()
        };
        let f = filter_pairs(&source, &target, &links, &opts, "x").unwrap();
        assert_eq!(f.kept, [false, false, false, true, true]);
        let s = &f.stats;
        assert_eq!((s.pairs_empty, s.pairs_too_long, s.pairs_out), (2, 1, 2));
        assert_eq!(s.pairs_in, s.pairs_empty + s.pairs_too_long + s.pairs_out);
        assert_eq!((s.links_of_dropped_pairs, s.links_identical), (2, 1));
        assert_eq!(
            s.links_in,
            s.links_of_dropped_pairs
                + s.links_duplicate
                + s.links_not_one_to_one
                + s.links_identical
                + s.links_out
        );
        // An empty side is dropped whatever the options: no model can pair its words.
        let all_off = FilterOptions {
            max_words: 0,
            one_to_one: false,
            drop_identical: false,
        };
        let f = filter_pairs(&source, &target, &links, &all_off, "x").unwrap();
        assert_eq!(f.kept, [false, true, false, true, true]);
        assert_eq!(f.links.row(1), [(3, 0), (4, 0)]);
    }

    #[test]
    fn out_of_range_link_names_file_and_line() {
        let source = ragged(&[&[0, 1], &[0]]);
        let target = ragged(&[&[2], &[3]]);
        let mut links = Alignment::default();
        links.push_row([(0, 0)]);
        links.push_row([(0, 1)]);
        let err = filter_links(
            &source,
            &target,
            &links,
            &FilterOptions::default(),
            "x.align",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.align:2: link 0-1 out of range for a pair of 1 source and 1 target words"
        );
    }
}
