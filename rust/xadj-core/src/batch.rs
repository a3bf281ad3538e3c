//! Batch assembly: padded input ids and attention masks of both sides, plus flat index arrays
//! that let torch pool every word with one `index_add_` (a word vector is the mean of its listed
//! pieces; `first`/`last` pooling simply lists one piece per word).

use std::str::FromStr;

use crate::{Error, Result};

/// Borrowed ragged rows (e.g. memory-mapped numpy arrays): row `i` is
/// `values[offsets[i] * width..offsets[i + 1] * width]`.
#[derive(Debug, Clone, Copy)]
pub struct RowsView<'a, T> {
    pub values: &'a [T],
    pub offsets: &'a [i64],
    /// Values per element (2 for links stored as `[n, 2]`).
    pub width: usize,
}

impl<'a, T> RowsView<'a, T> {
    pub fn new(values: &'a [T], offsets: &'a [i64], width: usize) -> Self {
        RowsView {
            values,
            offsets,
            width,
        }
    }

    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn row(&self, i: usize, name: &str) -> Result<&'a [T]> {
        let bad = || {
            Error::Invalid(format!(
                "{name}: row {i} is out of range or has bad offsets"
            ))
        };
        let (start, end) = (
            *self.offsets.get(i).ok_or_else(bad)?,
            *self.offsets.get(i + 1).ok_or_else(bad)?,
        );
        if start < 0 || end < start {
            return Err(bad());
        }
        let at = |k: i64| (k as usize).checked_mul(self.width).ok_or_else(bad);
        self.values.get(at(start)?..at(end)?).ok_or_else(bad)
    }
}

/// One side of a prepared corpus, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct SideView<'a> {
    pub pieces: RowsView<'a, i32>,
    /// Per sentence `n_words + 1` piece offsets.
    pub word_starts: RowsView<'a, i32>,
}

/// Special tokens the model's tokenizer wraps around a sequence, and its padding id.
#[derive(Debug, Clone)]
pub struct Specials {
    pub prefix: Vec<i64>,
    pub suffix: Vec<i64>,
    pub pad: i64,
}

/// Which pieces make a word's vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Mean of all pieces (Efimov et al.'s default).
    Avg,
    /// First piece.
    First,
    /// Last piece (Cao et al.'s original).
    Last,
}

impl FromStr for Pooling {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "avg" => Ok(Pooling::Avg),
            "first" | "start" => Ok(Pooling::First),
            "last" | "end" => Ok(Pooling::Last),
            _ => Err(Error::Invalid(format!(
                "unknown pooling {s:?}: expected avg, first or last"
            ))),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SideBatch {
    /// `[rows, cols]`, row-major.
    pub input_ids: Vec<i64>,
    pub attention_mask: Vec<i64>,
    pub rows: usize,
    pub cols: usize,
    /// Flat index into `rows * cols` of every piece of every pooled word.
    pub piece_positions: Vec<i64>,
    /// The pooled word each listed piece belongs to.
    pub piece_words: Vec<i64>,
    pub n_words: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlignmentBatch {
    /// Pooled words: the aligned words of the other language, in link order.
    pub other: SideBatch,
    /// Pooled words: every English word that has pieces, and the special tokens (in L_reg).
    pub english: SideBatch,
    /// For each pooled other word, the index of its aligned pooled English word.
    pub english_aligned: Vec<i64>,
}

/// Positions of the special tokens paired across languages: the first and the last one.
fn special_positions(specials: &Specials, n_pieces: usize) -> Vec<usize> {
    let (p, s) = (specials.prefix.len(), specials.suffix.len());
    let mut at: Vec<usize> = (0..p).chain(p + n_pieces..p + n_pieces + s).collect();
    if at.len() > 2 {
        at = vec![at[0], at[at.len() - 1]];
    }
    at
}

struct SideBuilder<'s> {
    batch: SideBatch,
    specials: &'s Specials,
    pooling: Pooling,
}

impl<'s> SideBuilder<'s> {
    fn new(rows: &[&[i32]], specials: &'s Specials, pooling: Pooling) -> Self {
        let extra = specials.prefix.len() + specials.suffix.len();
        let cols = rows.iter().map(|r| r.len() + extra).max().unwrap_or(0);
        let mut batch = SideBatch {
            input_ids: vec![specials.pad; rows.len() * cols],
            attention_mask: vec![0; rows.len() * cols],
            rows: rows.len(),
            cols,
            ..SideBatch::default()
        };
        for (b, pieces) in rows.iter().enumerate() {
            let row = &mut batch.input_ids[b * cols..(b + 1) * cols];
            let ids = specials
                .prefix
                .iter()
                .copied()
                .chain(pieces.iter().map(|&p| p as i64))
                .chain(specials.suffix.iter().copied());
            let mut n = 0;
            for (slot, id) in row.iter_mut().zip(ids) {
                *slot = id;
                n += 1;
            }
            batch.attention_mask[b * cols..b * cols + n].fill(1);
        }
        SideBuilder {
            batch,
            specials,
            pooling,
        }
    }

    /// Adds a word made of pieces `[start, end)` of row `b`; returns its pooled index.
    fn push_word(&mut self, b: usize, start: usize, end: usize) -> i64 {
        let word = self.batch.n_words as i64;
        let base = (b * self.batch.cols + self.specials.prefix.len()) as i64;
        let range = match self.pooling {
            Pooling::Avg => start..end,
            Pooling::First => start..start + 1,
            Pooling::Last => end - 1..end,
        };
        for piece in range {
            self.batch.piece_positions.push(base + piece as i64);
            self.batch.piece_words.push(word);
        }
        self.batch.n_words += 1;
        word
    }

    /// Adds a special token at absolute position `at` of row `b` as a word.
    fn push_special(&mut self, b: usize, at: usize) -> i64 {
        let word = self.batch.n_words as i64;
        self.batch
            .piece_positions
            .push((b * self.batch.cols + at) as i64);
        self.batch.piece_words.push(word);
        self.batch.n_words += 1;
        word
    }
}

fn row_of<'a>(view: &RowsView<'a, i32>, i: i64, name: &str) -> Result<&'a [i32]> {
    let i = usize::try_from(i).map_err(|_| Error::Invalid(format!("negative pair index {i}")))?;
    view.row(i, name)
}

/// The pieces and word starts of `pair`, checked against each other, so that a tampered or
/// truncated dataset gives an error rather than a wrong batch.
fn side_rows<'a>(side: &SideView<'a>, pair: i64, name: &str) -> Result<(&'a [i32], &'a [i32])> {
    let pieces = row_of(&side.pieces, pair, &format!("{name} pieces"))?;
    let starts = row_of(&side.word_starts, pair, &format!("{name} word starts"))?;
    let consistent = starts.first() == Some(&0)
        && starts.windows(2).all(|w| w[0] <= w[1])
        && starts.last().is_some_and(|&l| l as usize == pieces.len());
    if !consistent {
        return Err(Error::Invalid(format!(
            "{name} word starts of pair {pair} do not rise from 0 to its {} pieces",
            pieces.len()
        )));
    }
    if pieces.iter().any(|&p| p < 0) {
        return Err(Error::Invalid(format!(
            "{name} pieces of pair {pair}: negative piece id"
        )));
    }
    Ok((pieces, starts))
}

fn word_span(starts: &[i32], w: usize, what: &str) -> Result<(usize, usize)> {
    match (starts.get(w), starts.get(w + 1)) {
        (Some(&s), Some(&e)) if 0 <= s && s < e => Ok((s as usize, e as usize)),
        _ => Err(Error::Invalid(format!(
            "{what}: word {w} has no pieces or is out of range"
        ))),
    }
}

/// Assembles the batch of pairs `indices`. `links` rows hold `(other word, english word)` pairs.
pub fn assemble<'a>(
    other: &SideView<'a>,
    english: &SideView<'a>,
    links: &RowsView<'a, i32>,
    indices: &[i64],
    specials: &Specials,
    pooling: Pooling,
    special_pairs: bool,
) -> Result<AlignmentBatch> {
    let collect = |side: &SideView<'a>, name: &str| -> Result<Vec<(&'a [i32], &'a [i32])>> {
        indices.iter().map(|&i| side_rows(side, i, name)).collect()
    };
    let (other_sides, english_sides) = (collect(other, "other")?, collect(english, "english")?);
    let other_rows: Vec<&[i32]> = other_sides.iter().map(|r| r.0).collect();
    let english_rows: Vec<&[i32]> = english_sides.iter().map(|r| r.0).collect();
    let mut o = SideBuilder::new(&other_rows, specials, pooling);
    let mut e = SideBuilder::new(&english_rows, specials, pooling);
    let mut english_aligned = Vec::new();
    let mut english_word_index: Vec<i64> = Vec::new();
    for (b, &pair) in indices.iter().enumerate() {
        let (e_starts, o_starts) = (english_sides[b].1, other_sides[b].1);
        let o_specials = special_positions(specials, other_rows[b].len());
        let e_specials = special_positions(specials, english_rows[b].len());
        let paired = if special_pairs {
            o_specials.len().min(e_specials.len())
        } else {
            0
        };
        // English: every word with pieces between its special tokens, which are pooled words
        // even when they are not paired: L_reg anchors them too, as in the reference code.
        let e_first = e_specials.first().map(|&at| e.push_special(b, at));
        english_word_index.clear();
        for w in 0..e_starts.len().saturating_sub(1) {
            let (s, t) = (e_starts[w], e_starts[w + 1]);
            english_word_index.push(if s < t {
                e.push_word(b, s as usize, t as usize)
            } else {
                -1
            });
        }
        let e_last = (e_specials.len() > 1).then(|| e.push_special(b, e_specials[1]));
        // Other side: only aligned words, in link order, each paired with its English word.
        if let (true, Some(first)) = (paired > 0, e_first) {
            o.push_special(b, o_specials[0]);
            english_aligned.push(first);
        }
        for link in row_of(links, pair, "links")?.chunks_exact(2) {
            let (ow, ew) = (link[0], link[1]);
            let target = usize::try_from(ew)
                .ok()
                .and_then(|ew| english_word_index.get(ew).copied());
            let target = match target {
                Some(t) if t >= 0 => t,
                Some(_) => {
                    return Err(Error::Invalid(format!(
                        "pair {pair}: link to English word {ew}, which has no pieces"
                    )))
                }
                None => {
                    return Err(Error::Invalid(format!(
                        "pair {pair}: link to English word {ew} of {}",
                        english_word_index.len()
                    )))
                }
            };
            let ow = usize::try_from(ow)
                .map_err(|_| Error::Invalid(format!("pair {pair}: link from other word {ow}")))?;
            let (s, t) = word_span(o_starts, ow, &format!("pair {pair}, other side"))?;
            o.push_word(b, s, t);
            english_aligned.push(target);
        }
        if let (true, Some(last)) = (paired > 1, e_last) {
            o.push_special(b, o_specials[paired - 1]);
            english_aligned.push(last);
        }
    }
    Ok(AlignmentBatch {
        other: o.batch,
        english: e.batch,
        english_aligned,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specials() -> Specials {
        Specials {
            prefix: vec![101],
            suffix: vec![102],
            pad: 0,
        }
    }

    #[test]
    fn assembles_padded_rows_and_pooling_indices() {
        // Pair 0: other words [5 6][7], english [8][9 9 9]; link (0,1). Pair 1: other [4], english [3]; link (0,0).
        let o_pieces = [5, 6, 7, 4];
        let o_off = [0, 3, 4];
        let o_starts = [0, 2, 3, 0, 1];
        let o_soff = [0, 3, 5];
        let e_pieces = [8, 9, 9, 9, 3];
        let e_off = [0, 4, 5];
        let e_starts = [0, 1, 4, 0, 1];
        let e_soff = [0, 3, 5];
        let links = [0, 1, 0, 0];
        let l_off = [0, 1, 2];
        let other = SideView {
            pieces: RowsView::new(&o_pieces, &o_off, 1),
            word_starts: RowsView::new(&o_starts, &o_soff, 1),
        };
        let english = SideView {
            pieces: RowsView::new(&e_pieces, &e_off, 1),
            word_starts: RowsView::new(&e_starts, &e_soff, 1),
        };
        let links = RowsView::new(&links, &l_off, 2);
        let b = assemble(
            &other,
            &english,
            &links,
            &[0, 1],
            &specials(),
            Pooling::Avg,
            true,
        )
        .unwrap();
        assert_eq!((b.other.rows, b.other.cols), (2, 5));
        assert_eq!(b.other.input_ids, [101, 5, 6, 7, 102, 101, 4, 102, 0, 0]);
        assert_eq!(b.other.attention_mask, [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
        assert_eq!(
            b.english.input_ids,
            [101, 8, 9, 9, 9, 102, 101, 3, 102, 0, 0, 0]
        );
        // other words: [CLS]0, word0 (pieces 1,2), [SEP]0, [CLS]1, word0 of pair 1, [SEP]1
        assert_eq!(b.other.piece_positions, [0, 1, 2, 4, 5, 6, 7]);
        assert_eq!(b.other.piece_words, [0, 1, 1, 2, 3, 4, 5]);
        // english words: [CLS], w0, w1 (3 pieces), [SEP] for pair 0; then [CLS], w0, [SEP] for pair 1
        assert_eq!(b.english.piece_positions, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(b.english.piece_words, [0, 1, 2, 2, 2, 3, 4, 5, 6]);
        assert_eq!(b.english_aligned, [0, 2, 3, 4, 5, 6]);
        let last = assemble(
            &other,
            &english,
            &links,
            &[0],
            &specials(),
            Pooling::Last,
            false,
        )
        .unwrap();
        assert_eq!(last.other.piece_positions, [2]);
        // unpaired, the special tokens are still English words (L_reg anchors them)
        assert_eq!(last.english.piece_positions, [0, 1, 4, 5]);
        assert_eq!(last.english_aligned, [2]);
        assert!(assemble(
            &other,
            &english,
            &links,
            &[2],
            &specials(),
            Pooling::Avg,
            true
        )
        .is_err());
    }

    /// Tampered arrays (as a hand-edited or truncated dataset gives them) are errors that say
    /// what is wrong, never a panic or a batch with wrong positions.
    #[test]
    fn tampered_rows_are_errors() {
        let good = (
            [5, 6, 7],
            [0i64, 3],
            [0, 2, 3],
            [0i64, 3],
            [8, 9],
            [0i64, 2],
            [0, 1, 2],
            [0i64, 3],
            [0, 1],
            [0i64, 1],
        );
        type Parts = (
            [i32; 3],
            [i64; 2],
            [i32; 3],
            [i64; 2],
            [i32; 2],
            [i64; 2],
            [i32; 3],
            [i64; 2],
            [i32; 2],
            [i64; 2],
        );
        type Case = (Box<dyn Fn(&mut Parts)>, &'static [i64], &'static str);
        let run = |p: &Parts, idx: &[i64]| {
            let other = SideView {
                pieces: RowsView::new(&p.0, &p.1, 1),
                word_starts: RowsView::new(&p.2, &p.3, 1),
            };
            let english = SideView {
                pieces: RowsView::new(&p.4, &p.5, 1),
                word_starts: RowsView::new(&p.6, &p.7, 1),
            };
            let links = RowsView::new(&p.8, &p.9, 2);
            assemble(
                &other,
                &english,
                &links,
                idx,
                &specials(),
                Pooling::Last,
                true,
            )
            .map(|b| b.english_aligned)
            .map_err(|e| e.to_string())
        };
        assert_eq!(run(&good, &[0]), Ok(vec![0, 2, 3]));
        let cases: Vec<Case> = vec![
            (
                Box::new(|p| p.1 = [0, 4]),
                &[0],
                "other pieces: row 0 is out of range",
            ),
            (
                Box::new(|p| p.1 = [0, i64::MAX]),
                &[0],
                "other pieces: row 0 is out of range",
            ),
            (
                Box::new(|p| p.3 = [2, 1]),
                &[0],
                "other word starts: row 0 is out of range",
            ),
            (
                Box::new(|p| p.2 = [0, 5, 3]),
                &[0],
                "other word starts of pair 0 do not rise",
            ),
            (
                Box::new(|p| p.6 = [0, 1, 1]),
                &[0],
                "english word starts of pair 0 do not rise",
            ),
            (
                Box::new(|p| p.6 = [-1, 1, 2]),
                &[0],
                "english word starts of pair 0 do not rise",
            ),
            (
                Box::new(|p| p.4 = [8, -9]),
                &[0],
                "english pieces of pair 0: negative piece id",
            ),
            (
                Box::new(|p| p.8 = [7, 1]),
                &[0],
                "other side: word 7 has no pieces or is out of range",
            ),
            (
                Box::new(|p| p.8 = [-1, 1]),
                &[0],
                "pair 0: link from other word -1",
            ),
            (
                Box::new(|p| p.8 = [0, 2]),
                &[0],
                "pair 0: link to English word 2 of 2",
            ),
            (
                Box::new(|p| p.8 = [0, -2]),
                &[0],
                "pair 0: link to English word -2 of 2",
            ),
            (
                Box::new(|p| p.9 = [0, 2]),
                &[0],
                "links: row 0 is out of range",
            ),
            (
                Box::new(|_| ()),
                &[1],
                "other pieces: row 1 is out of range",
            ),
            (Box::new(|_| ()), &[-1], "negative pair index -1"),
        ];
        for (tamper, idx, expected) in cases {
            let mut p = good;
            tamper(&mut p);
            let err = run(&p, idx).unwrap_err();
            assert!(err.contains(expected), "{err} lacks {expected}");
        }
    }
}
