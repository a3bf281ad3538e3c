//! Thin PyO3 bindings of xadj-core: arguments are borrowed from numpy, the work runs with the
//! interpreter detached, results move into numpy without a copy. Every error maps in `to_py`.
//!
//! The bindings never print and write no file that Python did not name: outputs go to the path
//! given (atomically) or to a Python file object.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Mutex;

use numpy::ndarray::{Array2, Dimension, Ix1, Ix2};
use numpy::{
    Element, IntoPyArray, PyArray, PyArray1, PyArray2, PyArrayDescrMethods, PyArrayLike1,
    PyArrayMethods, PyReadonlyArray, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict};

use xadj_core::batch::{self, Pooling, RowsView, SideView, Specials};
use xadj_core::corpus::{self, BitextFiles, ReadOptions, WordSplit};
use xadj_core::fast_align::{self, AlignOptions, AlignStats, Progress};
use xadj_core::filter::{self, FilterOptions};
use xadj_core::pharaoh::{Alignment, Link};
use xadj_core::ragged::{check_offsets, Ragged};
use xadj_core::subword::{self, MapOptions};
use xadj_core::symmetrize::{self, Method};
use xadj_core::{aer, atomic, pharaoh, sample, wordtok, Error};

type Arr1<'py, T> = Bound<'py, PyArray1<T>>;

/// The one place where core errors become Python exceptions. An I/O error keeps its errno and
/// file name, so Python raises the matching subclass (`FileNotFoundError`, ...).
fn to_py(e: Error) -> PyErr {
    match e {
        Error::Io { path, source } => match source.raw_os_error() {
            Some(errno) => {
                let reason = std::io::Error::from_raw_os_error(errno).to_string();
                let reason = reason
                    .split(" (os error")
                    .next()
                    .unwrap_or_default()
                    .to_string();
                PyOSError::new_err((errno, reason, path))
            }
            None => PyOSError::new_err(format!("{path}: {source}")),
        },
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

/// The first Python exception raised while Rust work ran detached (in a callback, a write to a
/// Python file, Ctrl-C); it is raised in place of the core error it caused.
#[derive(Default)]
struct Failure(Mutex<Option<PyErr>>);

impl Failure {
    fn keep(&self, e: PyErr) {
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(e);
        }
    }

    /// The kept exception if there is one, else `result` as it is.
    fn or<T>(&self, result: PyResult<T>) -> PyResult<T> {
        match self.0.lock().ok().and_then(|mut f| f.take()) {
            Some(err) => Err(err),
            None => result,
        }
    }

    /// A progress check for detached work: raises pending signals (Ctrl-C) as `Interrupted`.
    fn check_signals(&self) -> xadj_core::Result<()> {
        Python::attach(|py| {
            py.check_signals().map_err(|e| {
                self.keep(e);
                Error::Interrupted
            })
        })
    }
}

/// Integer element types that cross the boundary, with their range for conversions.
trait Int: Element + Copy {
    const MIN: i128;
    const MAX: i128;
}

impl Int for i32 {
    const MIN: i128 = i32::MIN as i128;
    const MAX: i128 = i32::MAX as i128;
}

impl Int for i64 {
    const MIN: i128 = i64::MIN as i128;
    const MAX: i128 = i64::MAX as i128;
}

/// An integer array argument: a numpy array of any integer dtype, or a (nested) Python sequence
/// of ints, seen as a C-contiguous array of `T`. An array of `T` is borrowed as it is; anything
/// else is converted once, after checking that every value fits `T`. Floats, booleans and
/// objects are refused rather than truncated.
struct Ints<'py, T: Int, D: Dimension>(PyReadonlyArray<'py, T, D>);

type Ints1<'py, T> = Ints<'py, T, Ix1>;
type Ints2<'py, T> = Ints<'py, T, Ix2>;

fn numpy_function<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(cell
        .get_or_try_init(py, || {
            numpy::get_array_module(py)?
                .getattr(name)
                .map(Bound::unbind)
        })?
        .bind(py)
        .clone())
}

impl<'a, 'py, T: Int, D: Dimension> FromPyObject<'a, 'py> for Ints<'py, T, D> {
    type Error = PyErr;

    fn extract(ob: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(array) = ob.cast::<PyArray<T, D>>() {
            if array.is_c_contiguous() {
                return readonly(&array);
            }
        }
        static AS_ARRAY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        static CONTIGUOUS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let py = ob.py();
        let given_array = ob.cast::<PyUntypedArray>().is_ok();
        let array = numpy_function(py, &AS_ARRAY, "asarray")?.call1((ob,))?;
        let array = array
            .cast_into::<PyUntypedArray>()
            .map_err(|_| PyTypeError::new_err("expected an integer array"))?;
        if array.ndim() == 0 {
            return Err(PyTypeError::new_err(
                "expected an array or a sequence, got a scalar",
            ));
        }
        let dtype = array.dtype();
        let integer = matches!(dtype.kind(), b'i' | b'u');
        // `np.asarray([])` is float64: an empty sequence is fine for any type.
        if !integer && (given_array || !array.is_empty()) {
            return Err(PyTypeError::new_err(format!(
                "expected an array of integers, got dtype {}",
                dtype.str()?
            )));
        }
        // Wider or unsigned-into-signed conversions need a look at the values first.
        let width = std::mem::size_of::<T>();
        let safe = match dtype.kind() {
            b'i' => dtype.itemsize() <= width,
            _ => dtype.itemsize() < width,
        };
        if integer && !safe && !array.is_empty() {
            for bound in ["min", "max"] {
                let v: i128 = array.call_method0(bound)?.extract()?;
                if !(T::MIN..=T::MAX).contains(&v) {
                    return Err(PyValueError::new_err(format!(
                        "value {v} does not fit {}",
                        numpy::dtype::<T>(py).str()?
                    )));
                }
            }
        }
        let kwargs = PyDict::new(py);
        kwargs.set_item("dtype", numpy::dtype::<T>(py))?;
        let mut converted =
            numpy_function(py, &CONTIGUOUS, "ascontiguousarray")?.call((array,), Some(&kwargs))?;
        let ndim = D::NDIM.unwrap_or(1);
        if ndim == 2 && converted.len()? == 0 {
            // An empty list of links has no second dimension to infer.
            converted = converted.call_method1("reshape", ((0, 2),))?;
        }
        let shape: Vec<usize> = converted.getattr("shape")?.extract()?;
        let array = converted.cast_into::<PyArray<T, D>>().map_err(|_| {
            PyValueError::new_err(format!(
                "expected a {ndim}-dimensional array, got shape {shape:?}"
            ))
        })?;
        readonly(&array)
    }
}

fn readonly<'py, T: Int, D: Dimension>(
    array: &Bound<'py, PyArray<T, D>>,
) -> PyResult<Ints<'py, T, D>> {
    array
        .try_readonly()
        .map(Ints)
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

impl<T: Int, D: Dimension> Ints<'_, T, D> {
    fn slice(&self) -> &[T] {
        self.0
            .as_slice()
            .expect("C-contiguous by construction in extract")
    }
}

/// Links as a flat slice of `[n, 2]` values.
fn pairs<'a>(a: &'a Ints2<'_, i32>, name: &str) -> PyResult<&'a [i32]> {
    if a.0.shape()[1] != 2 {
        return Err(PyValueError::new_err(format!(
            "{name} must have shape [n, 2], not {:?}",
            a.0.shape()
        )));
    }
    Ok(a.slice())
}

/// Ragged word ids as they cross from Python: `(values int32, offsets int64)`.
type WordsArg<'py> = (Ints1<'py, i32>, Ints1<'py, i64>);
/// Links as they cross from Python: `(links int32 [n, 2], offsets int64)`.
type LinksArg<'py> = (Ints2<'py, i32>, Ints1<'py, i64>);

fn words_from_numpy(arg: &WordsArg<'_>, name: &str) -> PyResult<Ragged<u32>> {
    let (values, offsets) = (arg.0.slice(), arg.1.slice());
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
    let (values, offsets) = (pairs(&arg.0, name)?, arg.1.slice());
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

/// What `read_bitext` returns: vocab, source values and offsets, target values and offsets,
/// number of pairs with an empty side, their first line numbers, sha256 of each file (hex).
type BitextOut<'py> = (
    Vec<String>,
    Arr1<'py, i32>,
    Arr1<'py, i64>,
    Arr1<'py, i32>,
    Arr1<'py, i64>,
    usize,
    Vec<usize>,
    Vec<String>,
);

/// Reads a bitext, each file once. Pairs with an empty side are kept as empty rows (counted, the
/// first line numbers returned) unless `strict`, where they are a `file:line` error.
#[pyfunction]
#[pyo3(signature = (source, target=None, unicode_words=false, strict=false, max_line_bytes=corpus::DEFAULT_MAX_LINE_BYTES))]
fn read_bitext(
    py: Python<'_>,
    source: PathBuf,
    target: Option<PathBuf>,
    unicode_words: bool,
    strict: bool,
    max_line_bytes: usize,
) -> PyResult<BitextOut<'_>> {
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
        allow_empty: !strict,
        max_line_bytes,
    };
    let bitext = run(py, || corpus::read_bitext(&files, &opts))?;
    let (sv, so) = words_to_numpy(py, bitext.source);
    let (tv, to) = words_to_numpy(py, bitext.target);
    let digests = bitext.sha256.iter().map(|d| corpus::hex(d)).collect();
    Ok((
        bitext.vocab.words,
        sv,
        so,
        tv,
        to,
        bitext.empty_pairs,
        bitext.empty_lines,
        digests,
    ))
}

/// The built-in Unicode word tokenizer on one string.
#[pyfunction]
fn tokenize_words(text: &str) -> Vec<&str> {
    wordtok::tokenize(text)
}

fn filter_stats<'py>(py: Python<'py>, s: &filter::FilterStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("pairs_in", s.pairs_in)?;
    d.set_item("pairs_empty", s.pairs_empty)?;
    d.set_item("pairs_too_long", s.pairs_too_long)?;
    d.set_item("pairs_out", s.pairs_out)?;
    d.set_item("links_in", s.links_in)?;
    d.set_item("links_of_dropped_pairs", s.links_of_dropped_pairs)?;
    d.set_item("links_duplicate", s.links_duplicate)?;
    d.set_item("links_not_one_to_one", s.links_not_one_to_one)?;
    d.set_item("links_identical", s.links_identical)?;
    d.set_item("links_out", s.links_out)?;
    Ok(d)
}

/// Drops pairs with an empty or over-long side and applies the link filters; returns
/// `(links, link_offsets, stats)`, and with `return_kept` also `kept` (bool per pair: false for a
/// pair dropped here, already counted), which `map_corpus(kept=...)` takes so that no pair is
/// counted twice.
#[pyfunction]
#[pyo3(signature = (source, target, links, max_words=64, one_to_one=true, drop_identical=true, name="alignments", return_kept=false))]
#[allow(clippy::too_many_arguments)]
fn filter_links<'py>(
    py: Python<'py>,
    source: WordsArg<'py>,
    target: WordsArg<'py>,
    links: LinksArg<'py>,
    max_words: usize,
    one_to_one: bool,
    drop_identical: bool,
    name: &str,
    return_kept: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let source = words_from_numpy(&source, "source")?;
    let target = words_from_numpy(&target, "target")?;
    let links = links_from_numpy(&links, name)?;
    let opts = FilterOptions {
        max_words,
        one_to_one,
        drop_identical,
    };
    let filtered = run(py, || {
        filter::filter_pairs(&source, &target, &links, &opts, name)
    })?;
    let stats = filter_stats(py, &filtered.stats)?;
    let (l, o) = links_to_numpy(py, filtered.links);
    if return_kept {
        let kept = filtered.kept.into_pyarray(py);
        Ok((l, o, stats, kept).into_pyobject(py)?.into_any())
    } else {
        Ok((l, o, stats).into_pyobject(py)?.into_any())
    }
}

/// Maps words to subword pieces; returns `(arrays dict, stats dict)`. `kept` (from
/// `filter_links(..., return_kept=True)`) skips the pairs dropped there without counting them.
#[pyfunction]
#[pyo3(signature = (source, target, links, table, max_pieces=0, drop_unlinked=true, kept=None))]
#[allow(clippy::too_many_arguments)]
fn map_corpus<'py>(
    py: Python<'py>,
    source: WordsArg<'py>,
    target: WordsArg<'py>,
    links: LinksArg<'py>,
    table: WordsArg<'py>,
    max_pieces: usize,
    drop_unlinked: bool,
    kept: Option<PyArrayLike1<'py, bool>>,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
    let source = words_from_numpy(&source, "source")?;
    let target = words_from_numpy(&target, "target")?;
    let links = links_from_numpy(&links, "links")?;
    let (tv, to) = (table.0.slice(), table.1.slice());
    check_offsets("piece table", to, tv.len()).map_err(to_py)?;
    let table = Ragged {
        values: tv.to_vec(),
        offsets: to.to_vec(),
    };
    let kept: Option<Vec<bool>> = kept.map(|k| k.as_array().to_vec());
    let opts = MapOptions {
        max_pieces,
        drop_unlinked,
    };
    let (p, stats) = run(py, || {
        subword::map_kept(&source, &target, &links, &table, &opts, kept.as_deref())
    })?;
    let arrays = PyDict::new(py);
    put_side(&arrays, "src", p.source)?;
    put_side(&arrays, "tgt", p.target)?;
    let (l, o) = links_to_numpy(py, p.links);
    arrays.set_item("links", l)?;
    arrays.set_item("link_offsets", o)?;
    arrays.set_item("pair_index", p.pair_index.into_pyarray(py))?;
    let d = PyDict::new(py);
    d.set_item("pairs_in", stats.pairs_in)?;
    d.set_item("pairs_empty", stats.pairs_empty)?;
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
    Ints1<'py, i32>,
    Ints1<'py, i64>,
    Ints1<'py, i32>,
    Ints1<'py, i64>,
);

fn side_view<'a>(s: &'a SideArg<'_>) -> SideView<'a> {
    SideView {
        pieces: RowsView::new(s.0.slice(), s.1.slice(), 1),
        word_starts: RowsView::new(s.2.slice(), s.3.slice(), 1),
    }
}

/// Assembles one batch; returns `(other side, english side, english_aligned)`, each side as
/// `(input_ids, attention_mask, piece_positions, piece_words, n_words)`. The rows of the pairs
/// asked for are checked (offsets, word starts against pieces, links against words), so a
/// tampered dataset is a ValueError.
#[pyfunction]
#[pyo3(signature = (other, english, links, link_offsets, indices, prefix, suffix, pad, pooling="avg", special_pairs=true))]
#[allow(clippy::too_many_arguments)]
fn assemble_batch<'py>(
    py: Python<'py>,
    other: SideArg<'py>,
    english: SideArg<'py>,
    links: Ints2<'py, i32>,
    link_offsets: Ints1<'py, i64>,
    indices: Ints1<'py, i64>,
    prefix: Vec<i64>,
    suffix: Vec<i64>,
    pad: i64,
    pooling: &str,
    special_pairs: bool,
) -> PyResult<(SideOut<'py>, SideOut<'py>, Arr1<'py, i64>)> {
    let (o, e) = (side_view(&other), side_view(&english));
    let l = RowsView::new(pairs(&links, "links")?, link_offsets.slice(), 2);
    let idx = indices.slice();
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
    path: PathBuf,
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
    path: PathBuf,
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

/// Writes links as Pharaoh lines to `path` (atomically: the file appears only when complete),
/// or returns them as bytes when `path` is None.
#[pyfunction]
#[pyo3(signature = (links, path=None))]
fn write_alignment<'py>(
    py: Python<'py>,
    links: LinksArg<'py>,
    path: Option<PathBuf>,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let alignment = links_from_numpy(&links, "links")?;
    match path {
        Some(path) => {
            run(py, || {
                atomic::write_file(&path, |out| {
                    pharaoh::write_alignment(&alignment, out).map_err(atomic::write_error(&path))
                })
            })?;
            Ok(None)
        }
        None => {
            let mut buf = Vec::new();
            run(py, || {
                pharaoh::write_alignment(&alignment, &mut buf)
                    .map_err(|e| Error::Invalid(e.to_string()))
            })?;
            Ok(Some(PyBytes::new(py, &buf)))
        }
    }
}

fn method(name: &str) -> PyResult<Method> {
    name.parse().map_err(to_py)
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

/// A Python binary file object as a Rust writer: each write re-attaches to the interpreter and
/// calls `obj.write(bytes)` (the core hands it 64 KiB at a time). A Python exception is kept in
/// `failure` and raised once the work has stopped.
struct PyFileWriter<'f> {
    obj: Py<PyAny>,
    failure: &'f Failure,
}

impl PyFileWriter<'_> {
    fn call(&self, f: impl FnOnce(Python<'_>) -> PyResult<usize>) -> std::io::Result<usize> {
        Python::attach(f).map_err(|e| {
            let message = e.to_string();
            self.failure.keep(e);
            std::io::Error::other(message)
        })
    }
}

impl std::io::Write for PyFileWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.call(|py| {
            let n = self
                .obj
                .call_method1(py, "write", (PyBytes::new(py, buf),))?;
            // Raw files may write less (`n`); buffered ones return the length or None.
            Ok(n.extract::<Option<usize>>(py)?.unwrap_or(buf.len()))
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.call(|py| {
            if self.obj.bind(py).hasattr("flush")? {
                self.obj.call_method0(py, "flush")?;
            }
            Ok(0)
        })
        .map(drop)
    }
}

/// Reads two Pharaoh files, symmetrises and writes the result, streaming, all in Rust; returns
/// the number of lines. `output`: a path (written atomically), a binary file object (anything
/// with `write(bytes)`), or None for Python's `sys.stdout.buffer`. Ctrl-C stops it promptly.
#[pyfunction]
#[pyo3(signature = (fwd, rev, method_name, output=None))]
fn symmetrize_files(
    py: Python<'_>,
    fwd: PathBuf,
    rev: PathBuf,
    method_name: &str,
    output: Option<Bound<'_, PyAny>>,
) -> PyResult<usize> {
    let m = method(method_name)?;
    let opts = pharaoh::ReadOptions::default();
    let failure = Failure::default();
    let mut check = |_: usize| failure.check_signals();
    let path: Option<PathBuf> = match &output {
        Some(o) if !o.hasattr("write")? => Some(o.extract()?),
        _ => None,
    };
    let result = match path {
        Some(path) => run(py, || {
            let name = path.display().to_string();
            atomic::write_file(&path, |out| {
                symmetrize::symmetrize_files_checked(&fwd, &rev, m, &opts, out, &name, &mut check)
            })
        }),
        None => {
            let (obj, name) = match output {
                Some(o) => (o.unbind(), "output file object"),
                None => (
                    py.import("sys")?
                        .getattr("stdout")?
                        .getattr("buffer")?
                        .unbind(),
                    "<stdout>",
                ),
            };
            let out = PyFileWriter {
                obj,
                failure: &failure,
            };
            run(py, || {
                symmetrize::symmetrize_files_checked(&fwd, &rev, m, &opts, out, name, &mut check)
            })
        }
    };
    failure.or(result)
}

/// AER counts of a hypothesis against gold links: `(hyp, sure, hyp_in_sure, hyp_in_possible)`.
#[pyfunction]
#[pyo3(signature = (hyp, sure, possible, last=None))]
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
    let failure = Failure::default();
    let mut report = |p: Progress| -> xadj_core::Result<()> {
        Python::attach(|py| {
            let outcome = py.check_signals().and_then(|_| match &on_progress {
                Some(f) => f
                    .call1(py, (p.iteration, p.pairs_done, p.pairs_total))
                    .map(|_| ()),
                None => Ok(()),
            });
            outcome.map_err(|e| {
                failure.keep(e);
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
    let (first, second) = failure.or(result)?;
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
