//! Shared helpers of the criterion benches in `benches/benches/`: where their data comes from.
//!
//! Benches prefer the project's research data in `shared/data` (beside the checkout or inside
//! it); a fresh clone has none, so each falls back to data shipped in the repository and says
//! which it used.

use std::path::{Path, PathBuf};

use xadj_core::corpus::{read_bitext, Bitext, BitextFiles, ReadOptions};
use xadj_core::ragged::Ragged;

/// Pairs in Multi30k's training set: the size the sample is repeated to.
pub const MULTI30K_TRAIN_PAIRS: usize = 29_000;

/// The repository root (this crate lives in `benches/`).
fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// `shared/data` of the project: beside the checkout (`../shared`) or inside it.
pub fn shared_data() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .flat_map(|dir| [dir.join("shared/data"), dir.join("../shared/data")])
        .find(|dir| dir.is_dir())
}

/// Multi30k's training side in `lang` (`en`, `fr`, ...), if the shared data has it.
pub fn multi30k_train(lang: &str) -> Option<PathBuf> {
    let path = shared_data()?.join(format!("bitext/multi30k/train.{lang}.gz"));
    path.is_file().then_some(path)
}

/// A bench corpus and a line saying where it came from.
pub struct Corpus {
    pub bitext: Bitext,
    pub origin: String,
}

/// Multi30k French–English training pairs, French as the source side: the shared data's raw
/// `train.{fr,en}.gz` (29,000 pairs), else the 1,000 word-split pairs of the package sample
/// (`python/xadj/sample/multi30k.fr-en.txt`) repeated to 29,000. Words are split on whitespace
/// either way; empty sides are kept as empty rows.
pub fn multi30k_fr_en() -> Corpus {
    let opts = ReadOptions {
        allow_empty: true,
        ..ReadOptions::default()
    };
    if let (Some(fr), Some(en)) = (multi30k_train("fr"), multi30k_train("en")) {
        let dir = fr
            .parent()
            .and_then(|d| d.canonicalize().ok())
            .unwrap_or_default();
        let bitext = read_bitext(&BitextFiles::Split(fr, en), &opts).expect("read Multi30k");
        let origin = format!(
            "Multi30k train from {} ({} pairs)",
            dir.display(),
            bitext.len()
        );
        return Corpus { bitext, origin };
    }
    let sample = repo_root().join("python/xadj/sample/multi30k.fr-en.txt");
    let mut bitext =
        read_bitext(&BitextFiles::Joined(sample.clone()), &opts).expect("read the package sample");
    let times = MULTI30K_TRAIN_PAIRS.div_ceil(bitext.len().max(1));
    let origin = format!(
        "shared/data absent: package sample {} ({} pairs) repeated {times}x = {} pairs",
        sample.display(),
        bitext.len(),
        times * bitext.len()
    );
    bitext.source = repeat(&bitext.source, times);
    bitext.target = repeat(&bitext.target, times);
    Corpus { bitext, origin }
}

/// `times` copies of `rows`, one after the other.
pub fn repeat<T: Clone>(rows: &Ragged<T>, times: usize) -> Ragged<T> {
    Ragged::concat(vec![rows.clone(); times])
}

/// fast_align's reference outputs on the gold sets (`enfr.fwd`, `enfr.rev`, ...): the shared
/// data's, else the copies shipped in the repository's `tests/data`; with where they came from.
pub fn fast_align_references() -> (PathBuf, String) {
    let shared = shared_data()
        .map(|d| d.join("reference/fast_align"))
        .filter(|d| d.join("enfr.fwd").is_file() && d.join("enfr.rev").is_file());
    match shared {
        Some(dir) => {
            let origin = format!("fast_align reference outputs in {}", dir.display());
            (dir, origin)
        }
        None => {
            let dir = repo_root().join("tests/data/reference/fast_align");
            let origin = format!(
                "shared/data absent: fast_align reference outputs shipped in {}",
                dir.display()
            );
            (dir, origin)
        }
    }
}
