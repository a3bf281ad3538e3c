//! Word-level link filters of METHOD.md §1, each switchable and counted: over-long sides,
//! one-to-one links only, identical-string links. Also the bounds check of every link.

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

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterStats {
    pub pairs_in: usize,
    pub pairs_too_long: usize,
    pub links_in: usize,
    pub links_duplicate: usize,
    pub links_not_one_to_one: usize,
    pub links_identical: usize,
    pub links_out: usize,
}

impl FilterStats {
    fn add(mut self, other: FilterStats) -> FilterStats {
        self.pairs_in += other.pairs_in;
        self.pairs_too_long += other.pairs_too_long;
        self.links_in += other.links_in;
        self.links_duplicate += other.links_duplicate;
        self.links_not_one_to_one += other.links_not_one_to_one;
        self.links_identical += other.links_identical;
        self.links_out += other.links_out;
        self
    }
}

const CHUNK: usize = 4096;

/// Filters the links of every pair. A dropped pair keeps an empty row, so row `i` still belongs
/// to pair `i`. `alignment_name` names the alignment source in out-of-range errors.
pub fn filter_links(
    source: &Ragged<u32>,
    target: &Ragged<u32>,
    links: &Alignment,
    opts: &FilterOptions,
    alignment_name: &str,
) -> Result<(Alignment, FilterStats)> {
    if links.len() != source.len() || source.len() != target.len() {
        return Err(Error::Invalid(format!(
            "{alignment_name}: {} alignment lines for {} sentence pairs",
            links.len(),
            source.len()
        )));
    }
    let starts: Vec<usize> = (0..source.len()).step_by(CHUNK).collect();
    let parts: Vec<(Alignment, FilterStats)> = starts
        .par_iter()
        .map(|&start| {
            let end = (start + CHUNK).min(source.len());
            let mut out = Alignment::with_capacity(end - start, 0);
            let mut stats = FilterStats::default();
            let mut scratch = Scratch::default();
            for i in start..end {
                let (s, t) = (source.row(i), target.row(i));
                check_bounds(links.row(i), s.len(), t.len(), alignment_name, i + 1)?;
                filter_pair(
                    s,
                    t,
                    links.row(i),
                    opts,
                    &mut scratch,
                    &mut out.values,
                    &mut stats,
                );
                out.end_row();
            }
            Ok((out, stats))
        })
        .collect::<Result<_>>()?;
    let (aligns, stats): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
    let stats = stats
        .into_iter()
        .fold(FilterStats::default(), FilterStats::add);
    Ok((Ragged::concat(aligns), stats))
}

/// Errors on the first link that points past the end of its sentence.
pub fn check_bounds(
    links: &[Link],
    n_source: usize,
    n_target: usize,
    name: &str,
    line: usize,
) -> Result<()> {
    match links.iter().find(|&&(i, j)| i as usize >= n_source || j as usize >= n_target) {
        None => Ok(()),
        Some((i, j)) => Err(Error::input(
            name,
            line,
            format!("link {i}-{j} out of range for a pair of {n_source} source and {n_target} target words"),
        )),
    }
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
) {
    stats.pairs_in += 1;
    stats.links_in += links.len();
    if opts.max_words > 0 && (source.len() > opts.max_words || target.len() > opts.max_words) {
        stats.pairs_too_long += 1;
        return;
    }
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
                pairs_too_long: 1,
                links_in: 6,
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
