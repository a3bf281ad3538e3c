//! Line-exact comparison with atools' output on every reference file, and AER figures of the
//! fast_align reference outputs against the EN-FR gold set.
//!
//! The data ships with the repository in `tests/data` (see its README there).

use std::io::Read;
use std::path::{Path, PathBuf};

use xadj_core::aer::score;
use xadj_core::corpus::open_lines;
use xadj_core::pharaoh::{read_alignment, read_gold, write_alignment, ReadOptions};
use xadj_core::symmetrize::{symmetrize, Method};

/// The repository's `tests/data`, two levels above this crate.
fn test_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

/// A whole text file, gunzipped if it is gzip (the random set is shipped gzipped).
fn read_text(path: &Path) -> String {
    let mut text = String::new();
    open_lines(path)
        .unwrap_or_else(|e| panic!("{e}"))
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text
}

/// Symmetrises `stem.fwd` / `stem.rev` with every method and checks the output against
/// `stem.<method>` byte for byte (each name followed by `suffix`, e.g. `.gz`).
fn check_stem(stem: &Path, suffix: &str) {
    let with_ext = |ext: &str| PathBuf::from(format!("{}.{ext}{suffix}", stem.display()));
    let fwd = read_alignment(&with_ext("fwd"), &ReadOptions::default()).unwrap();
    let rev = read_alignment(&with_ext("rev"), &ReadOptions::default()).unwrap();
    for method in Method::ALL {
        let reference = with_ext(method.name());
        let expected = read_text(&reference);
        let mut got = Vec::new();
        write_alignment(&symmetrize(&fwd, &rev, method).unwrap(), &mut got).unwrap();
        let got = String::from_utf8(got).unwrap();
        let (got_lines, expected_lines): (Vec<_>, Vec<_>) =
            (got.lines().collect(), expected.lines().collect());
        assert_eq!(
            got_lines.len(),
            expected_lines.len(),
            "{}",
            reference.display()
        );
        for (k, (g, e)) in got_lines.iter().zip(&expected_lines).enumerate() {
            assert_eq!(g, e, "{}:{}", reference.display(), k + 1);
        }
        assert_eq!(got, expected, "{}", reference.display());
        eprintln!(
            "{}: {} lines identical",
            reference.display(),
            expected_lines.len()
        );
    }
}

#[test]
fn random_alignments_match_atools() {
    check_stem(&test_data().join("reference/symmetrize/symrand1"), ".gz");
}

#[test]
fn fast_align_outputs_match_atools() {
    for name in ["enfr", "roen"] {
        check_stem(&test_data().join("reference/fast_align").join(name), "");
    }
}

#[test]
fn aer_of_reference_outputs() {
    let data = test_data();
    let gold_path = data.join("gold/enfr.gold");
    let refs = data.join("reference/fast_align");
    let gold = read_gold(&gold_path, true).unwrap();
    for (file, expected) in [
        ("enfr.fwd", 30.2),
        ("enfr.intersect", 25.1),
        ("enfr.grow-diag-final-and", 29.3),
    ] {
        let hyp = read_alignment(&refs.join(file), &ReadOptions::default()).unwrap();
        let counts = score(&hyp, &gold, None).unwrap();
        let aer = 100.0 * counts.aer();
        eprintln!(
            "{file}: AER {aer:.2} P {:.2} R {:.2} {counts:?}",
            100.0 * counts.precision(),
            100.0 * counts.recall()
        );
        assert!(
            (aer - expected).abs() <= 0.05,
            "{file}: AER {aer:.3}, expected {expected}"
        );
        // The same lines at the end of a longer hypothesis give the same counts.
        let mut longer = hyp.clone();
        longer.values.splice(0..0, [(0, 0), (1, 1)]);
        longer.offsets = [0, 1, 2]
            .into_iter()
            .chain(hyp.offsets[1..].iter().map(|o| o + 2))
            .collect();
        assert_eq!(score(&longer, &gold, Some(gold.len())).unwrap(), counts);
    }
}
