//! Alignment Error Rate (Och & Ney 2003), micro-averaged over a corpus: with A the hypothesis
//! links, S the sure and P = S ∪ possible gold links,
//! `AER = 1 - (|A∩S| + |A∩P|) / (|A| + |S|)`, precision `|A∩P|/|A|`, recall `|A∩S|/|S|`.

use crate::pharaoh::{Alignment, GoldAlignment, Link};
use crate::{Error, Result};

/// Link counts summed over lines; each line's links count as a set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AerCounts {
    /// |A|
    pub hyp: u64,
    /// |S|
    pub sure: u64,
    /// |A∩S|
    pub hyp_in_sure: u64,
    /// |A∩P|
    pub hyp_in_possible: u64,
}

impl AerCounts {
    /// AER as a fraction (multiply by 100 for the usual figure); NaN when A and S are empty.
    pub fn aer(&self) -> f64 {
        1.0 - (self.hyp_in_sure + self.hyp_in_possible) as f64 / (self.hyp + self.sure) as f64
    }

    /// NaN when the hypothesis is empty.
    pub fn precision(&self) -> f64 {
        self.hyp_in_possible as f64 / self.hyp as f64
    }

    /// NaN when there is no sure link.
    pub fn recall(&self) -> f64 {
        self.hyp_in_sure as f64 / self.sure as f64
    }

    pub fn add(&mut self, other: &AerCounts) {
        self.hyp += other.hyp;
        self.sure += other.sure;
        self.hyp_in_sure += other.hyp_in_sure;
        self.hyp_in_possible += other.hyp_in_possible;
    }
}

/// Fills `buf` with `rows` as one sorted set.
fn as_set<'a>(rows: [&[Link]; 2], buf: &'a mut Vec<Link>) -> &'a [Link] {
    buf.clear();
    rows.iter().for_each(|row| buf.extend_from_slice(row));
    buf.sort_unstable();
    buf.dedup();
    buf
}

/// |a ∩ b| of two sorted sets.
fn common(a: &[Link], b: &[Link]) -> u64 {
    let (mut x, mut y, mut n) = (0, 0, 0);
    while x < a.len() && y < b.len() {
        match a[x].cmp(&b[y]) {
            std::cmp::Ordering::Less => x += 1,
            std::cmp::Ordering::Greater => y += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                x += 1;
                y += 1;
            }
        }
    }
    n
}

/// Scores `hyp` against `gold`. With `last = Some(n)`, the hypothesis' last `n` lines are scored
/// (transductive scoring: the test pairs were appended to a training bitext), and `n` must be the
/// number of gold lines. Possible links are taken as P ∪ S whether or not `gold.possible` lists
/// the sure ones.
pub fn score(hyp: &Alignment, gold: &GoldAlignment, last: Option<usize>) -> Result<AerCounts> {
    let n = gold.sure.len();
    if gold.possible.len() != n {
        return Err(Error::Invalid(format!(
            "gold alignment has {n} sure rows but {} possible rows",
            gold.possible.len()
        )));
    }
    let first = match last {
        None if hyp.len() == n => 0,
        None => {
            return Err(Error::Invalid(format!(
                "the hypothesis has {} lines but the gold alignment {n}; \
                 to score the last lines of a longer hypothesis pass last={n}",
                hyp.len()
            )))
        }
        Some(k) if k != n => {
            return Err(Error::Invalid(format!(
                "asked to score the last {k} hypothesis lines, but the gold alignment has {n}"
            )))
        }
        Some(k) if k > hyp.len() => {
            return Err(Error::Invalid(format!(
                "asked to score the last {k} hypothesis lines, but the hypothesis has only {}",
                hyp.len()
            )))
        }
        Some(k) => hyp.len() - k,
    };
    let (mut a, mut s, mut p) = (Vec::new(), Vec::new(), Vec::new());
    let mut counts = AerCounts::default();
    for k in 0..n {
        let a = as_set([hyp.row(first + k), &[]], &mut a);
        let s = as_set([gold.sure.row(k), &[]], &mut s);
        let p = as_set([gold.possible.row(k), s], &mut p);
        counts.add(&AerCounts {
            hyp: a.len() as u64,
            sure: s.len() as u64,
            hyp_in_sure: common(a, s),
            hyp_in_possible: common(a, p),
        });
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn al(rows: &[&[Link]]) -> Alignment {
        let mut a = Alignment::default();
        rows.iter().for_each(|r| a.push_row(r.iter().copied()));
        a
    }

    fn gold() -> GoldAlignment {
        GoldAlignment {
            sure: al(&[&[(0, 0)], &[(1, 1)]]),
            possible: al(&[&[(0, 0), (0, 1)], &[(1, 1)]]),
        }
    }

    #[test]
    fn counts_sets_and_possible_links() {
        // Duplicated (0, 0) counts once; (0, 1) is possible only; (2, 2) is wrong.
        let hyp = al(&[&[(0, 0), (0, 1), (0, 0)], &[(2, 2)]]);
        let c = score(&hyp, &gold(), None).unwrap();
        let expected = AerCounts {
            hyp: 3,
            sure: 2,
            hyp_in_sure: 1,
            hyp_in_possible: 2,
        };
        assert_eq!(c, expected);
        assert!((c.aer() - (1.0 - 3.0 / 5.0)).abs() < 1e-12);
        assert!((c.precision() - 2.0 / 3.0).abs() < 1e-12);
        assert!((c.recall() - 0.5).abs() < 1e-12);
        // Sure links count as possible even when `possible` leaves them out.
        let g = GoldAlignment {
            sure: al(&[&[(0, 0)]]),
            possible: al(&[&[]]),
        };
        assert_eq!(score(&al(&[&[(0, 0)]]), &g, None).unwrap().aer(), 0.0);
    }

    #[test]
    fn scores_the_last_lines() {
        let hyp = al(&[&[(5, 5)], &[(0, 0)], &[(1, 1)]]);
        assert_eq!(score(&hyp, &gold(), Some(2)).unwrap().aer(), 0.0);
        let err = |last| score(&hyp, &gold(), last).unwrap_err().to_string();
        assert!(err(None).contains("pass last=2"), "{}", err(None));
        assert!(
            err(Some(3)).contains("gold alignment has 2"),
            "{}",
            err(Some(3))
        );
        let short = al(&[&[(0, 0)]]);
        let msg = score(&short, &gold(), Some(2)).unwrap_err().to_string();
        assert!(msg.contains("has only 1"), "{msg}");
    }
}
