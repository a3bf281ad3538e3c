//! Line-exact comparison with atools' output on every reference file, and AER figures of the
//! fast_align reference outputs against the EN-FR gold set.
//!
//! The data lives in `shared/data` beside the project root; tests skip (with a message) when it
//! is missing.

use std::path::{Path, PathBuf};

use xadj_core::aer::score;
use xadj_core::pharaoh::{read_alignment, read_gold, write_alignment, ReadOptions};
use xadj_core::symmetrize::{symmetrize, Method};

fn shared_data() -> Option<PathBuf> {
    let found = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .flat_map(|dir| [dir.join("shared/data"), dir.join("../shared/data")])
        .find(|dir| dir.is_dir());
    if found.is_none() {
        eprintln!(
            "skipped: no shared/data directory above {}",
            env!("CARGO_MANIFEST_DIR")
        );
    }
    found
}

/// Symmetrises `stem.fwd` / `stem.rev` with every method whose reference `stem.<method>` exists
/// and checks the output byte for byte; returns how many files were compared.
fn check_stem(stem: &Path) -> usize {
    let with_ext = |ext: &str| PathBuf::from(format!("{}.{ext}", stem.display()));
    let fwd = read_alignment(&with_ext("fwd"), &ReadOptions::default()).unwrap();
    let rev = read_alignment(&with_ext("rev"), &ReadOptions::default()).unwrap();
    let mut compared = 0;
    for method in Method::ALL {
        let reference = with_ext(method.name());
        let Ok(expected) = std::fs::read_to_string(&reference) else {
            eprintln!("no reference {}", reference.display());
            continue;
        };
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
        compared += 1;
    }
    compared
}

#[test]
fn random_alignments_match_atools() {
    let Some(data) = shared_data() else { return };
    let stem = data.join("reference/symmetrize/symrand1");
    if !stem.with_extension("fwd").is_file() {
        eprintln!("skipped: {} missing", stem.with_extension("fwd").display());
        return;
    }
    assert_eq!(check_stem(&stem), 5);
}

#[test]
fn fast_align_outputs_match_atools() {
    let Some(data) = shared_data() else { return };
    for name in ["enfr", "roen"] {
        let stem = data.join("reference/fast_align").join(name);
        if !stem.with_extension("fwd").is_file() || !stem.with_extension("rev").is_file() {
            eprintln!("skipped: {} missing", stem.with_extension("fwd").display());
            continue;
        }
        assert!(check_stem(&stem) > 0, "no reference output for {name}");
    }
}

#[test]
fn aer_of_reference_outputs() {
    let Some(data) = shared_data() else { return };
    let gold_path = data.join("gold/enfr.gold");
    let refs = data.join("reference/fast_align");
    if !gold_path.is_file() || !refs.join("enfr.fwd").is_file() {
        eprintln!("skipped: EN-FR gold or reference output missing");
        return;
    }
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
