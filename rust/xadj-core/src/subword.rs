//! Subword mapping: every word becomes its pieces (looked up in a per-vocabulary piece table made
//! once by the model's tokenizer), and every pair becomes flat piece ids plus word spans. Links to
//! words with no pieces, pairs too long for the model and pairs left without links are dropped and
//! counted, each pair under one reason only (the first in pipeline order); pairs the link filters
//! already dropped (`kept[i] == false`) are skipped without being counted again.

use rayon::prelude::*;

use crate::filter::out_of_range;
use crate::pharaoh::Alignment;
use crate::ragged::Ragged;
use crate::{Error, Result};

/// One side of a prepared corpus.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SideArrays {
    /// Subword ids of each sentence, special tokens excluded.
    pub pieces: Ragged<i32>,
    /// Per sentence, `n_words + 1` piece offsets: word `w` is pieces `[s[w], s[w + 1])`.
    pub word_starts: Ragged<i32>,
}

/// A prepared corpus: both sides mapped to pieces, links between words, and provenance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prepared {
    pub source: SideArrays,
    pub target: SideArrays,
    pub links: Alignment,
    /// Index of each kept pair in the input corpus (line number - 1).
    pub pair_index: Vec<i64>,
}

#[derive(Debug, Clone)]
pub struct MapOptions {
    /// Most pieces a side may have, special tokens excluded (0 = no limit).
    pub max_pieces: usize,
    /// Drop pairs left without any link.
    pub drop_unlinked: bool,
}

/// Counts over the pairs that reach the mapping: `pairs_in = pairs_empty +
/// pairs_too_many_pieces + pairs_without_links + pairs_kept`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapStats {
    pub pairs_in: usize,
    /// Pairs with an empty side that no earlier step dropped (only without `kept`).
    pub pairs_empty: usize,
    /// Word tokens (both sides) that the tokenizer turned into no piece at all.
    pub words_zero_pieces: usize,
    pub links_zero_pieces: usize,
    pub pairs_too_many_pieces: usize,
    pub pairs_without_links: usize,
    pub pairs_kept: usize,
    pub links_kept: usize,
}

impl MapStats {
    fn add(mut self, o: MapStats) -> MapStats {
        self.pairs_in += o.pairs_in;
        self.pairs_empty += o.pairs_empty;
        self.words_zero_pieces += o.words_zero_pieces;
        self.links_zero_pieces += o.links_zero_pieces;
        self.pairs_too_many_pieces += o.pairs_too_many_pieces;
        self.pairs_without_links += o.pairs_without_links;
        self.pairs_kept += o.pairs_kept;
        self.links_kept += o.links_kept;
        self
    }
}

const CHUNK: usize = 4096;

/// Maps a corpus of word ids through `table` (row `k` = the pieces of vocabulary word `k`).
pub fn map_corpus(
    source: &Ragged<u32>,
    target: &Ragged<u32>,
    links: &Alignment,
    table: &Ragged<i32>,
    opts: &MapOptions,
) -> Result<(Prepared, MapStats)> {
    map_kept(source, target, links, table, opts, None)
}

/// `map_corpus` over the pairs an earlier step kept (`kept[i]`; all pairs when `None`).
pub fn map_kept(
    source: &Ragged<u32>,
    target: &Ragged<u32>,
    links: &Alignment,
    table: &Ragged<i32>,
    opts: &MapOptions,
    kept: Option<&[bool]>,
) -> Result<(Prepared, MapStats)> {
    if links.len() != source.len() || source.len() != target.len() {
        return Err(Error::Invalid(format!(
            "{} source, {} target and {} alignment rows differ",
            source.len(),
            target.len(),
            links.len()
        )));
    }
    if let Some(kept) = kept.filter(|k| k.len() != source.len()) {
        return Err(Error::Invalid(format!(
            "kept: {} flags for {} pairs",
            kept.len(),
            source.len()
        )));
    }
    let vocab = table.len();
    let out_of_vocab =
        |side: &Ragged<u32>| side.values.iter().find(|&&w| w as usize >= vocab).copied();
    if let Some(w) = out_of_vocab(source).or_else(|| out_of_vocab(target)) {
        return Err(Error::Invalid(format!(
            "word id {w} outside the piece table of {vocab} words"
        )));
    }
    let starts: Vec<usize> = (0..source.len()).step_by(CHUNK).collect();
    let parts: Vec<(Prepared, MapStats)> = starts
        .par_iter()
        .map(|&start| {
            let end = (start + CHUNK).min(source.len());
            let mut part = Prepared::default();
            let mut stats = MapStats::default();
            for i in (start..end).filter(|&i| kept.is_none_or(|k| k[i])) {
                let (s, t) = (source.row(i), target.row(i));
                if let Some(message) = out_of_range(links.row(i), s.len(), t.len()) {
                    return Err(Error::Invalid(format!("links of pair {i}: {message}")));
                }
                map_pair(i, s, t, links, table, opts, &mut part, &mut stats);
            }
            Ok((part, stats))
        })
        .collect::<Result<_>>()?;
    let stats = parts
        .iter()
        .map(|p| p.1.clone())
        .fold(MapStats::default(), MapStats::add);
    let mut pieces = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut pair_index = Vec::new();
    for (part, _) in parts {
        pieces.0.push(part.source.pieces);
        pieces.1.push(part.source.word_starts);
        pieces.2.push(part.target.pieces);
        pieces.3.push(part.target.word_starts);
        pieces.4.push(part.links);
        pair_index.extend(part.pair_index);
    }
    let prepared = Prepared {
        source: SideArrays {
            pieces: Ragged::concat(pieces.0),
            word_starts: Ragged::concat(pieces.1),
        },
        target: SideArrays {
            pieces: Ragged::concat(pieces.2),
            word_starts: Ragged::concat(pieces.3),
        },
        links: Ragged::concat(pieces.4),
        pair_index,
    };
    Ok((prepared, stats))
}

#[allow(clippy::too_many_arguments)]
fn map_pair(
    i: usize,
    source: &[u32],
    target: &[u32],
    links: &Alignment,
    table: &Ragged<i32>,
    opts: &MapOptions,
    out: &mut Prepared,
    stats: &mut MapStats,
) {
    stats.pairs_in += 1;
    if source.is_empty() || target.is_empty() {
        stats.pairs_empty += 1;
        return;
    }
    let pieces_of = |side: &[u32]| {
        side.iter()
            .map(|&w| table.row(w as usize).len())
            .sum::<usize>()
    };
    let zero = |side: &[u32]| {
        side.iter()
            .filter(|&&w| table.row(w as usize).is_empty())
            .count()
    };
    stats.words_zero_pieces += zero(source) + zero(target);
    if opts.max_pieces > 0
        && (pieces_of(source) > opts.max_pieces || pieces_of(target) > opts.max_pieces)
    {
        stats.pairs_too_many_pieces += 1;
        return;
    }
    let has_pieces = |side: &[u32], k: u32| !table.row(side[k as usize] as usize).is_empty();
    let before = out.links.values.len();
    for &(s, t) in links.row(i) {
        if has_pieces(source, s) && has_pieces(target, t) {
            out.links.values.push((s, t));
        } else {
            stats.links_zero_pieces += 1;
        }
    }
    let kept = out.links.values.len() - before;
    if kept == 0 && opts.drop_unlinked {
        stats.pairs_without_links += 1;
        return;
    }
    out.links.end_row();
    stats.links_kept += kept;
    stats.pairs_kept += 1;
    out.pair_index.push(i as i64);
    for (side, arrays) in [(source, &mut out.source), (target, &mut out.target)] {
        arrays.word_starts.values.push(0);
        let base = arrays.pieces.values.len();
        for &w in side {
            arrays
                .pieces
                .values
                .extend_from_slice(table.row(w as usize));
            arrays
                .word_starts
                .values
                .push((arrays.pieces.values.len() - base) as i32);
        }
        arrays.pieces.end_row();
        arrays.word_starts.end_row();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{filter_pairs, FilterOptions};
    use crate::pharaoh::Link;
    use proptest::prelude::*;

    fn ragged<T: Copy>(rows: &[&[T]]) -> Ragged<T> {
        let mut r = Ragged::default();
        rows.iter().for_each(|row| r.push_row(row.iter().copied()));
        r
    }

    #[test]
    fn maps_pieces_and_drops_what_cannot_be_used() {
        // vocab: 0 "the" -> [10], 1 "cats" -> [11, 12], 2 "\u{200b}" -> [], 3 "chats" -> [13, 14, 15]
        let table = ragged::<i32>(&[&[10], &[11, 12], &[], &[13, 14, 15]]);
        let source = ragged::<u32>(&[&[3, 2], &[3], &[3, 3]]);
        let target = ragged::<u32>(&[&[0, 1], &[1], &[1, 1]]);
        let links = ragged::<(u32, u32)>(&[&[(0, 1), (1, 0)], &[(0, 0)], &[(0, 0)]]);
        let opts = MapOptions {
            max_pieces: 5,
            drop_unlinked: true,
        };
        let (p, stats) = map_corpus(&source, &target, &links, &table, &opts).unwrap();
        assert_eq!(p.pair_index, [0, 1]);
        assert_eq!(p.source.pieces.row(0), [13, 14, 15]);
        assert_eq!(p.source.word_starts.row(0), [0, 3, 3]);
        assert_eq!(p.target.word_starts.row(0), [0, 1, 3]);
        assert_eq!(p.links.row(0), [(0, 1)]);
        assert_eq!(
            stats,
            MapStats {
                pairs_in: 3,
                pairs_empty: 0,
                words_zero_pieces: 1,
                links_zero_pieces: 1,
                pairs_too_many_pieces: 1,
                pairs_without_links: 0,
                pairs_kept: 2,
                links_kept: 2,
            }
        );
    }

    #[test]
    fn pairs_dropped_upstream_are_skipped_not_counted_again() {
        let table = ragged::<i32>(&[&[10], &[11, 12]]);
        let source = ragged::<u32>(&[&[0], &[0], &[]]);
        let target = ragged::<u32>(&[&[1], &[1], &[1]]);
        let links = ragged::<(u32, u32)>(&[&[], &[(0, 0)], &[]]);
        let opts = MapOptions {
            max_pieces: 0,
            drop_unlinked: false,
        };
        let (p, stats) = map_kept(
            &source,
            &target,
            &links,
            &table,
            &opts,
            Some(&[false, true, true]),
        )
        .unwrap();
        assert_eq!(p.pair_index, [1]);
        // Pair 2's empty side drops it even when unlinked pairs are kept.
        assert_eq!(
            (stats.pairs_in, stats.pairs_empty, stats.pairs_kept),
            (2, 1, 1)
        );
        assert!(map_kept(&source, &target, &links, &table, &opts, Some(&[true])).is_err());
    }

    #[test]
    fn a_link_beyond_its_sentence_is_an_error_not_a_panic() {
        let table = ragged::<i32>(&[&[10]]);
        let side = ragged::<u32>(&[&[0], &[0]]);
        let links = ragged::<(u32, u32)>(&[&[(0, 0)], &[(0, 7)]]);
        let opts = MapOptions {
            max_pieces: 0,
            drop_unlinked: true,
        };
        let err = map_corpus(&side, &side, &links, &table, &opts).unwrap_err();
        assert_eq!(
            err.to_string(),
            "links of pair 1: link 0-7 out of range for a pair of 1 source and 1 target words"
        );
    }

    /// A small corpus where pairs fail several checks at once: empty sides, too many words,
    /// too many pieces, no links left, in every combination.
    /// Pairs as (source words, target words, links), then max words, max pieces, drop unlinked.
    type Case = (Vec<(Vec<u32>, Vec<u32>, Vec<Link>)>, usize, usize, bool);

    fn overlapping_corpus() -> impl Strategy<Value = Case> {
        let side = prop::collection::vec(0u32..6, 0..7);
        let pair = (side.clone(), side).prop_flat_map(|(s, t)| {
            let (n, m) = (s.len() as u32, t.len() as u32);
            let links = if n == 0 || m == 0 {
                Just(Vec::new()).boxed()
            } else {
                prop::collection::vec((0..n, 0..m), 0..5).boxed()
            };
            (Just(s), Just(t), links)
        });
        (
            prop::collection::vec(pair, 0..40),
            0usize..6,
            0usize..8,
            any::<bool>(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Every pair read ends up kept or under exactly one drop reason.
        #[test]
        fn pair_counts_add_up((pairs, max_words, max_pieces, drop_unlinked) in overlapping_corpus()) {
            // Word 5 has no pieces, word 4 three: links get lost and sides get long.
            let table = ragged::<i32>(&[&[1], &[2], &[3, 4], &[5], &[6, 7, 8], &[]]);
            let (mut source, mut target, mut links) =
                (Ragged::default(), Ragged::default(), Alignment::default());
            for (s, t, l) in &pairs {
                source.push_row(s.iter().copied());
                target.push_row(t.iter().copied());
                links.push_row(l.iter().copied());
            }
            let f = filter_pairs(&source, &target, &links, &FilterOptions {
                max_words,
                ..FilterOptions::default()
            }, "x").unwrap();
            let opts = MapOptions { max_pieces, drop_unlinked };
            let (p, m) = map_kept(&source, &target, &f.links, &table, &opts, Some(&f.kept)).unwrap();
            let fs = &f.stats;
            prop_assert_eq!(fs.pairs_in, pairs.len());
            prop_assert_eq!(m.pairs_in, fs.pairs_out);
            prop_assert_eq!(m.pairs_empty, 0);
            prop_assert_eq!(
                fs.pairs_empty + fs.pairs_too_long + m.pairs_too_many_pieces
                    + m.pairs_without_links + m.pairs_kept,
                pairs.len()
            );
            prop_assert_eq!(p.pair_index.len(), m.pairs_kept);
            // Every pair with an empty side is dropped, whatever the options.
            let empty = pairs.iter().filter(|(s, t, _)| s.is_empty() || t.is_empty()).count();
            prop_assert_eq!(fs.pairs_empty, empty);
            // Without the verdicts the mapping still counts an empty side once, as its own.
            let (_, alone) = map_corpus(&source, &target, &f.links, &table, &opts).unwrap();
            prop_assert_eq!(alone.pairs_empty, empty);
        }
    }
}
