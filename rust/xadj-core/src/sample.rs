//! Seeded sampling of pair indices: epochs (shuffles without replacement), draws with replacement
//! (continual learning) and subsets. Every stream is a pure function of its seed and counter, so
//! a resumed run replays exactly the same order.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One independent RNG per (seed, purpose, counter): the three numbers form the ChaCha key.
fn rng(seed: u64, purpose: u64, counter: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&purpose.to_le_bytes());
    key[16..24].copy_from_slice(&counter.to_le_bytes());
    ChaCha8Rng::from_seed(key)
}

const EPOCH: u64 = 1;
const DRAW: u64 = 2;
const SUBSET: u64 = 3;

/// A seeded permutation of `0..n` for the given epoch.
pub fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<i64> {
    let mut order: Vec<i64> = (0..n as i64).collect();
    order.shuffle(&mut rng(seed, EPOCH, epoch));
    order
}

/// `k` indices drawn uniformly with replacement from `0..n` for the given step.
pub fn sample_with_replacement(n: usize, k: usize, seed: u64, step: u64) -> Vec<i64> {
    if n == 0 {
        return Vec::new();
    }
    let mut rng = rng(seed, DRAW, step);
    (0..k).map(|_| rng.random_range(0..n as i64)).collect()
}

/// `k` distinct indices out of `0..n` (all of them if `k >= n`), in ascending order.
pub fn subset(n: usize, k: usize, seed: u64) -> Vec<i64> {
    if k >= n {
        return (0..n as i64).collect();
    }
    let mut order: Vec<i64> = (0..n as i64).collect();
    order.shuffle(&mut rng(seed, SUBSET, 0));
    order.truncate(k);
    order.sort_unstable();
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_are_permutations_that_depend_on_seed_and_epoch() {
        let a = epoch_order(1000, 42, 0);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<i64>>());
        assert_eq!(a, epoch_order(1000, 42, 0));
        assert_ne!(a, epoch_order(1000, 42, 1));
        assert_ne!(a, epoch_order(1000, 43, 0));
    }

    #[test]
    fn draws_stay_in_range_and_repeat_per_step() {
        let d = sample_with_replacement(10, 1000, 7, 3);
        assert!(d.iter().all(|&x| (0..10).contains(&x)));
        assert_eq!(d, sample_with_replacement(10, 1000, 7, 3));
        assert_ne!(d, sample_with_replacement(10, 1000, 7, 4));
        // With replacement: 1000 draws from 10 values must repeat values.
        assert!(sample_with_replacement(0, 5, 7, 3).is_empty());
    }

    #[test]
    fn subset_is_sorted_distinct_and_capped() {
        let s = subset(100, 10, 1);
        assert_eq!(s.len(), 10);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(subset(5, 10, 1), [0, 1, 2, 3, 4]);
    }
}
