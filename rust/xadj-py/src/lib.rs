//! Thin PyO3 bindings of xadj-core: arguments are borrowed from numpy, the work runs with the
//! interpreter detached, results move into numpy without a copy. Every error maps in `to_py`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use numpy::ndarray::Array2;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use xadj_core::batch::{self, Pooling, RowsView, SideView, Specials};
use xadj_core::corpus::{self, BitextFiles, ReadOptions, WordSplit};
use xadj_core::fast_align::{self, AlignOptions, AlignStats, Progress};
use xadj_core::filter::{self, FilterOptions};
use xadj_core::pharaoh::{Alignment, Link};
use xadj_core::ragged::{check_offsets, Ragged};
use xadj_core::subword::{self, MapOptions};
use xadj_core::symmetrize::{self, Method};
use xadj_core::{aer, pharaoh, sample, wordtok, Error};

type Arr1<'py, T> = Bound<'py, PyArray1<T>>;

/// The one place where core errors become Python exceptions.
fn to_py(e: Error) -> PyErr {
    match e {
        Error::Io { .. } => PyOSError::new_err(e.to_string()),
        Error::Interrupted => PyKeyboardInterrupt::new_err("interrupted"),
        Error::Input { .. } | Error::Invalid(_) => PyValueError::new_err(e.to_string()),
    }
}

/// Runs core work without the interpreter, turning errors and (bugs only) panics into exceptions:
/// a Rust panic never crosses into Python as such.
fn run<T: Send>(py: Python<'_>, work: impl FnOnce() -> xadj_core::Result<T> + Send) -> PyResult<T> {
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(work)));
    match outcome {
        Ok(result) => result.map_err(to_py),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(PyRuntimeError::new_err(format!(
                "internal error in xadj._native (please report): {what}"
            )))
        }
    }
}

fn slice<'a, T: numpy::Element>(a: &'a PyReadonlyArray1<'_, T>, name: &str) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be a C-contiguous array")))
}

fn slice2<'a>(a: &'a PyReadonlyArray2<'_, i32>, name: &str) -> PyResult<&'a [i32]> {
    if a.shape()[1] != 2 {
        return Err(PyValueError::new_err(format!(
            "{name} must have shape [n, 2]"
        )));
    }
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be a C-contiguous array")))
}

/// Ragged word ids as they cross from Python: `(values int32, offsets int64)`.
type WordsArg<'py> = (PyReadonlyArray1<'py, i32>, PyReadonlyArray1<'py, i64>);
/// Links as they cross from Python: `(links int32 [n, 2], offsets int64)`.
type LinksArg<'py> = (PyReadonlyArray2<'py, i32>, PyReadonlyArray1<'py, i64>);

fn words_from_numpy(arg: &WordsArg<'_>, name: &str) -> PyResult<Ragged<u32>> {
    let (values, offsets) = (slice(&arg.0, name)?, slice(&arg.1, name)?);
    check_offsets(name, offsets, values.len()).map_err(to_py)?;
    if values.iter().any(|&v| v < 0) {
        return Err(PyValueError::new_err(format!("{name}: negative word id")));
    }
    Ok(Ragged {
        values: values.iter().map(|&v| v as u32).collect(),
        offsets: offsets.to_vec(),
    })
}

fn links_from_numpy(arg: &LinksArg<'_>, name: &str) -> PyResult<Alignment> {
    let (values, offsets) = (slice2(&arg.0, name)?, slice(&arg.1, name)?);
    check_offsets(name, offsets, values.len() / 2).map_err(to_py)?;
    if values.iter().any(|&v| v < 0) {
        return Err(PyValueError::new_err(format!(
            "{name}: negative link index"
        )));
    }
    Ok(Ragged {
        values: values
            .chunks_exact(2)
            .map(|c| (c[0] as u32, c[1] as u32))
            .collect(),
        offsets: offsets.to_vec(),
    })
}

fn words_to_numpy<'py>(py: Python<'py>, r: Ragged<u32>) -> (Arr1<'py, i32>, Arr1<'py, i64>) {
    let values: Vec<i32> = r.values.into_iter().map(|v| v as i32).collect();
    (values.into_pyarray(py), r.offsets.into_pyarray(py))
}

fn links_to_numpy<'py>(
    py: Python<'py>,
    a: Ragged<Link>,
) -> (Bound<'py, PyArray2<i32>>, Arr1<'py, i64>) {
    let n = a.values.len();
    let flat: Vec<i32> = a
        .values
        .into_iter()
        .flat_map(|(i, j)| [i as i32, j as i32])
        .collect();
    let array = Array2::from_shape_vec((n, 2), flat).expect("n * 2 values by construction");
    (array.into_pyarray(py), a.offsets.into_pyarray(py))
}

/// Reads a bitext: `(vocab, src_values, src_offsets, tgt_values, tgt_offsets, empty_pairs)`.
#[pyfunction]
#[pyo3(signature = (source, target=None, unicode_words=false, allow_empty=false, max_line_bytes=corpus::DEFAULT_MAX_LINE_BYTES))]
#[allow(clippy::type_complexity)]
fn read_bitext<'py>(
    py: Python<'py>,
    source: std::path::PathBuf,
    target: Option<std::path::PathBuf>,
    unicode_words: bool,
    allow_empty: bool,
    max_line_bytes: usize,
) -> PyResult<(
    Vec<String>,
    Arr1<'py, i32>,
    Arr1<'py, i64>,
    Arr1<'py, i32>,
    Arr1<'py, i64>,
    usize,
)> {
    let files = match target {
        Some(target) => BitextFiles::Split(source, target),
        None => BitextFiles::Joined(source),
    };
    let split = if unicode_words {
        WordSplit::Unicode
    } else {
        WordSplit::Whitespace
    };
    let opts = ReadOptions {
        split,
        allow_empty,
        max_line_bytes,
    };
    let bitext = run(py, || corpus::read_bitext(&files, &opts))?;
    let (sv, so) = words_to_numpy(py, bitext.source);
    let (tv, to) = words_to_numpy(py, bitext.target);
    Ok((bitext.vocab.words, sv, so, tv, to, bitext.empty_pairs))
}

/// The built-in Unicode word tokenizer on one string.
#[pyfunction]
fn tokenize_words(text: &str) -> Vec<&str> {
    wordtok::tokenize(text)
}

/// Applies the link filters; returns `(links, link_offsets, stats)`.
#[pyfunction]
#[pyo3(signature = (source, target, links, max_words=64, one_to_one=true, drop_identical=true, name="alignments"))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn filter_links<'py>(
    py: Python<'py>,
    source: WordsArg<'py>,
    target: WordsArg<'py>,
    links: LinksArg<'py>,
    max_words: usize,
    one_to_one: bool,
    drop_identical: bool,
    name: &str,
) -> PyResult<(
    Bound<'py, PyArray2<i32>>,
    Arr1<'py, i64>,
    Bound<'py, PyDict>,
)> {
    let source = words_from_numpy(&source, "source")?;
    let target = words_from_numpy(&target, "target")?;
    let links = links_from_numpy(&links, name)?;
    let opts = FilterOptions {
        max_words,
        one_to_one,
        drop_identical,
    };
    let (kept, stats) = run(py, || {
        filter::filter_links(&source, &target, &links, &opts, name)
    })?;
    let d = PyDict::new(py);
    d.set_item("pairs_in", stats.pairs_in)?;
    d.set_item("pairs_too_long", stats.pairs_too_long)?;
    d.set_item("links_in", stats.links_in)?;
    d.set_item("links_duplicate", stats.links_duplicate)?;
    d.set_item("links_not_one_to_one", stats.links_not_one_to_one)?;
    d.set_item("links_identical", stats.links_identical)?;
    d.set_item("links_out", stats.links_out)?;
    let (l, o) = links_to_numpy(py, kept);
    Ok((l, o, d))
}

/// Maps words to subword pieces; returns `(arrays dict, stats dict)`.
#[pyfunction]
#[pyo3(signature = (source, target, links, table, max_pieces=0, drop_unlinked=true))]
#[allow(clippy::too_many_arguments)]
fn map_corpus<'py>(
    py: Python<'py>,
    source: WordsArg<'py>,
    target: WordsArg<'py>,
    links: LinksArg<'py>,
    table: WordsArg<'py>,
    max_pieces: usize,
    drop_unlinked: bool,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
    let source = words_from_numpy(&source, "source")?;
    let target = words_from_numpy(&target, "target")?;
    let links = links_from_numpy(&links, "links")?;
    let (tv, to) = (
        slice(&table.0, "piece table")?,
        slice(&table.1, "piece table")?,
    );
    check_offsets("piece table", to, tv.len()).map_err(to_py)?;
    let table = Ragged {
        values: tv.to_vec(),
        offsets: to.to_vec(),
    };
    let opts = MapOptions {
        max_pieces,
        drop_unlinked,
    };
    let (p, stats) = run(py, || {
        subword::map_corpus(&source, &target, &links, &table, &opts)
    })?;
    let arrays = PyDict::new(py);
    put_side(&arrays, "src", p.source)?;
    put_side(&arrays, "tgt", p.target)?;
    let (l, o) = links_to_numpy(py, p.links);
    arrays.set_item("links", l)?;
    arrays.set_item("link_offsets", o)?;
    arrays.set_item("pair_index", p.pair_index.into_pyarray(py))?;
    let d = PyDict::new(py);
    d.set_item("words_zero_pieces", stats.words_zero_pieces)?;
    d.set_item("links_zero_pieces", stats.links_zero_pieces)?;
    d.set_item("pairs_too_many_pieces", stats.pairs_too_many_pieces)?;
    d.set_item("pairs_without_links", stats.pairs_without_links)?;
    d.set_item("pairs_kept", stats.pairs_kept)?;
    d.set_item("links_kept", stats.links_kept)?;
    Ok((arrays, d))
}

fn put_side(d: &Bound<'_, PyDict>, prefix: &str, side: subword::SideArrays) -> PyResult<()> {
    let py = d.py();
    d.set_item(
        format!("{prefix}_pieces"),
        side.pieces.values.into_pyarray(py),
    )?;
    d.set_item(
        format!("{prefix}_piece_offsets"),
        side.pieces.offsets.into_pyarray(py),
    )?;
    d.set_item(
        format!("{prefix}_word_starts"),
        side.word_starts.values.into_pyarray(py),
    )?;
    d.set_item(
        format!("{prefix}_word_offsets"),
        side.word_starts.offsets.into_pyarray(py),
    )?;
    Ok(())
}

type SideOut<'py> = (
    Bound<'py, PyArray2<i64>>,
    Bound<'py, PyArray2<i64>>,
    Arr1<'py, i64>,
    Arr1<'py, i64>,
    usize,
);

fn side_to_numpy(py: Python<'_>, s: batch::SideBatch) -> SideOut<'_> {
    let shape = (s.rows, s.cols);
    let ids = Array2::from_shape_vec(shape, s.input_ids).expect("rows * cols ids by construction");
    let mask =
        Array2::from_shape_vec(shape, s.attention_mask).expect("rows * cols mask by construction");
    (
        ids.into_pyarray(py),
        mask.into_pyarray(py),
        s.piece_positions.into_pyarray(py),
        s.piece_words.into_pyarray(py),
        s.n_words,
    )
}

/// One side of a prepared dataset: pieces, piece offsets, word starts, word offsets.
type SideArg<'py> = (
    PyReadonlyArray1<'py, i32>,
    PyReadonlyArray1<'py, i64>,
    PyReadonlyArray1<'py, i32>,
    PyReadonlyArray1<'py, i64>,
);

fn side_view<'a>(s: &'a SideArg<'_>) -> PyResult<SideView<'a>> {
    Ok(SideView {
        pieces: RowsView::new(slice(&s.0, "pieces")?, slice(&s.1, "piece offsets")?, 1),
        word_starts: RowsView::new(slice(&s.2, "word starts")?, slice(&s.3, "word offsets")?, 1),
    })
}

/// Assembles one batch; returns `(other side, english side, english_aligned)`, each side as
/// `(input_ids, attention_mask, piece_positions, piece_words, n_words)`.
#[pyfunction]
#[pyo3(signature = (other, english, links, link_offsets, indices, prefix, suffix, pad, pooling="avg", special_pairs=true))]
#[allow(clippy::too_many_arguments)]
fn assemble_batch<'py>(
    py: Python<'py>,
    other: SideArg<'py>,
    english: SideArg<'py>,
    links: PyReadonlyArray2<'py, i32>,
    link_offsets: PyReadonlyArray1<'py, i64>,
    indices: PyReadonlyArray1<'py, i64>,
    prefix: Vec<i64>,
    suffix: Vec<i64>,
    pad: i64,
    pooling: &str,
    special_pairs: bool,
) -> PyResult<(SideOut<'py>, SideOut<'py>, Arr1<'py, i64>)> {
    let (o, e) = (side_view(&other)?, side_view(&english)?);
    let l = RowsView::new(
        slice2(&links, "links")?,
        slice(&link_offsets, "link_offsets")?,
        2,
    );
    let idx = slice(&indices, "indices")?;
    let pooling: Pooling = pooling.parse().map_err(to_py)?;
    let specials = Specials {
        prefix,
        suffix,
        pad,
    };
    let b = run(py, || {
        batch::assemble(&o, &e, &l, idx, &specials, pooling, special_pairs)
    })?;
    Ok((
        side_to_numpy(py, b.other),
        side_to_numpy(py, b.english),
        b.english_aligned.into_pyarray(py),
    ))
}

/// Reads a Pharaoh file: `(links [n, 2] int32, offsets)`.
#[pyfunction]
#[pyo3(signature = (path, one_based=false))]
fn read_alignment(
    py: Python<'_>,
    path: std::path::PathBuf,
    one_based: bool,
) -> PyResult<(Bound<'_, PyArray2<i32>>, Arr1<'_, i64>)> {
    let opts = pharaoh::ReadOptions {
        one_based,
        ..pharaoh::ReadOptions::default()
    };
    let alignment = run(py, || pharaoh::read_alignment(&path, &opts))?;
    Ok(links_to_numpy(py, alignment))
}

/// Reads a gold file: `(sure links, sure offsets, possible links, possible offsets)`; possible
/// includes sure.
#[pyfunction]
#[pyo3(signature = (path, one_based=false))]
#[allow(clippy::type_complexity)]
fn read_gold(
    py: Python<'_>,
    path: std::path::PathBuf,
    one_based: bool,
) -> PyResult<(
    Bound<'_, PyArray2<i32>>,
    Arr1<'_, i64>,
    Bound<'_, PyArray2<i32>>,
    Arr1<'_, i64>,
)> {
    let gold = run(py, || pharaoh::read_gold(&path, one_based))?;
    let (s, so) = links_to_numpy(py, gold.sure);
    let (p, po) = links_to_numpy(py, gold.possible);
    Ok((s, so, p, po))
}

/// Writes links as Pharaoh lines to `path`, or returns them as bytes when `path` is None.
#[pyfunction]
#[pyo3(signature = (links, path=None))]
fn write_alignment<'py>(
    py: Python<'py>,
    links: LinksArg<'py>,
    path: Option<std::path::PathBuf>,
) -> PyResult<Option<Bound<'py, pyo3::types::PyBytes>>> {
    let alignment = links_from_numpy(&links, "links")?;
    match path {
        Some(path) => {
            run(py, || {
                let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
                pharaoh::write_alignment(&alignment, std::io::BufWriter::new(file))
                    .map_err(|e| Error::io(&path, e))
            })?;
            Ok(None)
        }
        None => {
            let mut buf = Vec::new();
            run(py, || {
                pharaoh::write_alignment(&alignment, &mut buf)
                    .map_err(|e| Error::Invalid(e.to_string()))
            })?;
            Ok(Some(pyo3::types::PyBytes::new(py, &buf)))
        }
    }
}

fn method(name: &str) -> PyResult<Method> {
    name.parse()
        .map_err(|e: Error| PyValueError::new_err(e.to_string()))
}

/// Symmetrises two directional alignments (both source index first).
#[pyfunction]
fn symmetrize_links<'py>(
    py: Python<'py>,
    fwd: LinksArg<'py>,
    rev: LinksArg<'py>,
    method_name: &str,
) -> PyResult<(Bound<'py, PyArray2<i32>>, Arr1<'py, i64>)> {
    let m = method(method_name)?;
    let f = links_from_numpy(&fwd, "fwd")?;
    let r = links_from_numpy(&rev, "rev")?;
    let out = run(py, || symmetrize::symmetrize(&f, &r, m))?;
    Ok(links_to_numpy(py, out))
}

/// Reads two Pharaoh files, symmetrises and writes the result (to stdout when `output` is None),
/// all in Rust.
#[pyfunction]
#[pyo3(signature = (fwd, rev, method_name, output=None))]
fn symmetrize_files(
    py: Python<'_>,
    fwd: std::path::PathBuf,
    rev: std::path::PathBuf,
    method_name: &str,
    output: Option<std::path::PathBuf>,
) -> PyResult<usize> {
    let m = method(method_name)?;
    // Streams line by line like atools: memory stays flat whatever the file size.
    run(py, || {
        let opts = pharaoh::ReadOptions::default();
        match &output {
            Some(path) => write_atomically(path, |out| {
                symmetrize::symmetrize_files(&fwd, &rev, m, &opts, out)
            }),
            None => {
                let out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
                symmetrize::symmetrize_files(&fwd, &rev, m, &opts, out)
            }
        }
    })
}

/// Writes `path` through a temporary sibling renamed on success, so a failed run leaves no
/// half-written file behind.
fn write_atomically<T>(
    path: &std::path::Path,
    write: impl FnOnce(std::io::BufWriter<std::fs::File>) -> xadj_core::Result<T>,
) -> xadj_core::Result<T> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let result = write(std::io::BufWriter::with_capacity(1 << 16, file)).and_then(|value| {
        std::fs::rename(&tmp, path)
            .map(|_| value)
            .map_err(|e| Error::io(path, e))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// AER counts of a hypothesis against gold links: `(hyp, sure, hyp_in_sure, hyp_in_possible)`.
#[pyfunction]
#[pyo3(signature = (hyp, sure, possible, last=None))]
#[allow(clippy::too_many_arguments)]
fn score_links<'py>(
    py: Python<'py>,
    hyp: LinksArg<'py>,
    sure: LinksArg<'py>,
    possible: LinksArg<'py>,
    last: Option<usize>,
) -> PyResult<(u64, u64, u64, u64)> {
    let h = links_from_numpy(&hyp, "hyp")?;
    let gold = pharaoh::GoldAlignment {
        sure: links_from_numpy(&sure, "sure")?,
        possible: links_from_numpy(&possible, "possible")?,
    };
    let c = run(py, || aer::score(&h, &gold, last))?;
    Ok((c.hyp, c.sure, c.hyp_in_sure, c.hyp_in_possible))
}

fn align_stats<'py>(py: Python<'py>, s: &AlignStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("pairs", s.pairs)?;
    d.set_item("empty_pairs", s.empty_pairs)?;
    d.set_item("too_long_pairs", s.too_long_pairs)?;
    d.set_item("cooccurrences", s.cooccurrences)?;
    d.set_item("final_tension", s.final_tension)?;
    d.set_item(
        "log_likelihood_per_iteration",
        s.log_likelihood_per_iteration.clone(),
    )?;
    Ok(d)
}

type Aligned<'py> = (
    Bound<'py, PyArray2<i32>>,
    Arr1<'py, i64>,
    Bound<'py, PyDict>,
);

/// fast_align's model: `direction` is forward, reverse or both. Returns `(links, offsets, stats)`,
/// or a pair of them for both. `on_progress(iteration, done, total)` is called from time to time;
/// Ctrl-C (or an exception in it) stops the work promptly.
#[pyfunction]
#[pyo3(signature = (source, target, vocab_size, direction, on_progress=None, iterations=5, favor_diagonal=true, optimize_tension=true, variational_bayes=true, use_null=true, p0=0.08, diagonal_tension=4.0, alpha=0.01, max_sentence_len=1000))]
#[allow(clippy::too_many_arguments)]
fn word_align<'py>(
    py: Python<'py>,
    source: WordsArg<'py>,
    target: WordsArg<'py>,
    vocab_size: usize,
    direction: &str,
    on_progress: Option<Py<PyAny>>,
    iterations: usize,
    favor_diagonal: bool,
    optimize_tension: bool,
    variational_bayes: bool,
    use_null: bool,
    p0: f64,
    diagonal_tension: f64,
    alpha: f64,
    max_sentence_len: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let source = words_from_numpy(&source, "source")?;
    let target = words_from_numpy(&target, "target")?;
    let (reverse, both) = match direction {
        "forward" => (false, false),
        "reverse" => (true, false),
        "both" => (false, true),
        _ => {
            return Err(PyValueError::new_err(format!(
                "direction must be forward, reverse or both, not {direction:?}"
            )))
        }
    };
    let opts = AlignOptions {
        iterations,
        favor_diagonal,
        optimize_tension,
        variational_bayes,
        use_null,
        p0,
        diagonal_tension,
        alpha,
        reverse,
        max_sentence_len,
    };
    // The callback re-enters the interpreter: it checks for Ctrl-C and reports progress. The
    // first Python error is kept and raised once the Rust work has stopped.
    let failure: std::sync::Mutex<Option<PyErr>> = std::sync::Mutex::new(None);
    let mut report = |p: Progress| -> xadj_core::Result<()> {
        Python::attach(|py| {
            let outcome = py.check_signals().and_then(|_| match &on_progress {
                Some(f) => f
                    .call1(py, (p.iteration, p.pairs_done, p.pairs_total))
                    .map(|_| ()),
                None => Ok(()),
            });
            outcome.map_err(|e| {
                if let Ok(mut slot) = failure.lock() {
                    slot.get_or_insert(e);
                }
                Error::Interrupted
            })
        })
    };
    let result = run(py, || {
        if both {
            fast_align::align_both(&source, &target, vocab_size, &opts, &mut report)
                .map(|(f, r)| (f, Some(r)))
        } else {
            fast_align::align(&source, &target, vocab_size, &opts, &mut report).map(|f| (f, None))
        }
    });
    if let Some(err) = failure.lock().ok().and_then(|mut f| f.take()) {
        return Err(err);
    }
    let (first, second) = result?;
    let convert = |(a, s): (Alignment, AlignStats)| -> PyResult<Aligned<'py>> {
        let stats = align_stats(py, &s)?;
        let (l, o) = links_to_numpy(py, a);
        Ok((l, o, stats))
    };
    let first = convert(first)?;
    match second {
        Some(second) => Ok((first, convert(second)?).into_pyobject(py)?.into_any()),
        None => Ok(first.into_pyobject(py)?.into_any()),
    }
}

#[pyfunction]
fn epoch_order(py: Python<'_>, n: usize, seed: u64, epoch: u64) -> Arr1<'_, i64> {
    py.detach(|| sample::epoch_order(n, seed, epoch))
        .into_pyarray(py)
}

#[pyfunction]
fn sample_with_replacement(
    py: Python<'_>,
    n: usize,
    k: usize,
    seed: u64,
    step: u64,
) -> Arr1<'_, i64> {
    py.detach(|| sample::sample_with_replacement(n, k, seed, step))
        .into_pyarray(py)
}

#[pyfunction]
fn subset(py: Python<'_>, n: usize, k: usize, seed: u64) -> Arr1<'_, i64> {
    py.detach(|| sample::subset(n, k, seed)).into_pyarray(py)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_bitext, m)?)?;
    m.add_function(wrap_pyfunction!(tokenize_words, m)?)?;
    m.add_function(wrap_pyfunction!(filter_links, m)?)?;
    m.add_function(wrap_pyfunction!(map_corpus, m)?)?;
    m.add_function(wrap_pyfunction!(assemble_batch, m)?)?;
    m.add_function(wrap_pyfunction!(read_alignment, m)?)?;
    m.add_function(wrap_pyfunction!(read_gold, m)?)?;
    m.add_function(wrap_pyfunction!(write_alignment, m)?)?;
    m.add_function(wrap_pyfunction!(symmetrize_links, m)?)?;
    m.add_function(wrap_pyfunction!(symmetrize_files, m)?)?;
    m.add_function(wrap_pyfunction!(score_links, m)?)?;
    m.add_function(wrap_pyfunction!(word_align, m)?)?;
    m.add_function(wrap_pyfunction!(epoch_order, m)?)?;
    m.add_function(wrap_pyfunction!(sample_with_replacement, m)?)?;
    m.add_function(wrap_pyfunction!(subset, m)?)?;
    Ok(())
}
