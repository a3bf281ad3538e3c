//! Reading parallel corpora: `source ||| target` files or two line-aligned files, plain or gzip,
//! streamed line by line into interned word ids.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

use crate::ragged::Ragged;
use crate::wordtok;
use crate::{Error, Result};

/// Longest line accepted; a longer one is an error rather than an unbounded allocation.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// Interned words: id `k` is `words[k]`.
#[derive(Debug, Default, Clone)]
pub struct Vocab {
    pub words: Vec<String>,
    index: FxHashMap<String, u32>,
}

impl Vocab {
    pub fn intern(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.index.get(word) {
            return id;
        }
        let id = self.words.len() as u32;
        self.words.push(word.to_owned());
        self.index.insert(word.to_owned(), id);
        id
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

/// How a line is cut into words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordSplit {
    /// Pre-tokenized text: words are separated by whitespace.
    Whitespace,
    /// Raw text: the built-in Unicode word tokenizer (`wordtok`).
    Unicode,
}

#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub split: WordSplit,
    /// Keep pairs with an empty side (as empty rows) instead of failing on them.
    pub allow_empty: bool,
    pub max_line_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            split: WordSplit::Whitespace,
            allow_empty: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}

/// Where a bitext comes from.
#[derive(Debug, Clone)]
pub enum BitextFiles {
    /// One file, `source ||| target` a line (fast_align's input format).
    Joined(PathBuf),
    /// Two line-aligned files, one sentence a line.
    Split(PathBuf, PathBuf),
}

/// A parallel corpus as interned word ids; both sides share one vocabulary, so equal ids mean
/// identical strings. Pair `i` came from line `i + 1`.
#[derive(Debug, Default, Clone)]
pub struct Bitext {
    pub vocab: Vocab,
    pub source: Ragged<u32>,
    pub target: Ragged<u32>,
    /// Number of pairs with an empty side (only non-zero with `allow_empty`).
    pub empty_pairs: usize,
}

impl Bitext {
    pub fn len(&self) -> usize {
        self.source.len()
    }

    pub fn is_empty(&self) -> bool {
        self.source.is_empty()
    }

    fn push_pair(&mut self, source: &str, target: &str, split: WordSplit) {
        push_words(&mut self.vocab, &mut self.source, source, split);
        push_words(&mut self.vocab, &mut self.target, target, split);
    }
}

fn push_words(vocab: &mut Vocab, words: &mut Ragged<u32>, text: &str, split: WordSplit) {
    match split {
        WordSplit::Whitespace => text
            .split_whitespace()
            .for_each(|w| words.values.push(vocab.intern(w))),
        WordSplit::Unicode => wordtok::for_each_word(text, |w| words.values.push(vocab.intern(w))),
    }
    words.end_row();
}

/// Opens a file for line reading, decompressing gzip (detected by its magic bytes).
pub fn open_lines(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let head = reader.fill_buf().map_err(|e| Error::io(path, e))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::bufread::MultiGzDecoder::new(reader);
        Ok(Box::new(BufReader::with_capacity(1 << 16, gz)))
    } else {
        Ok(Box::new(reader))
    }
}

/// Reads a text file line by line, checking UTF-8 and line length, without allocating per line.
pub struct LineReader {
    inner: Box<dyn BufRead + Send>,
    path: String,
    buf: Vec<u8>,
    line: usize,
    max_bytes: usize,
}

impl LineReader {
    pub fn open(path: &Path, max_bytes: usize) -> Result<Self> {
        Ok(LineReader {
            inner: open_lines(path)?,
            path: path.display().to_string(),
            buf: Vec::new(),
            line: 0,
            max_bytes,
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// 1-based number of the line last returned.
    pub fn line_number(&self) -> usize {
        self.line
    }

    /// The next line without its `\n` / `\r\n`, or `None` at the end of the file.
    pub fn next_line(&mut self) -> Result<Option<&str>> {
        self.buf.clear();
        let limit = self.max_bytes as u64 + 2;
        let n = (&mut self.inner)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| Error::Io {
                path: self.path.clone(),
                source: e,
            })?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        if self.buf.len() > self.max_bytes {
            return Err(Error::input(
                &self.path,
                self.line,
                format!("line longer than {} bytes", self.max_bytes),
            ));
        }
        std::str::from_utf8(&self.buf).map(Some).map_err(|e| {
            Error::input(
                &self.path,
                self.line,
                format!("invalid UTF-8 at byte {}", e.valid_up_to()),
            )
        })
    }
}

/// Splits a `source ||| target` line at its first `|||`.
pub fn split_joined<'a>(line: &'a str, path: &str, line_no: usize) -> Result<(&'a str, &'a str)> {
    match memchr::memmem::find(line.as_bytes(), b"|||") {
        Some(at) => Ok((&line[..at], &line[at + 3..])),
        None => Err(Error::input(path, line_no, "no ' ||| ' separator")),
    }
}

fn check_sides(
    source: &str,
    target: &str,
    opts: &ReadOptions,
    path: &str,
    line: usize,
) -> Result<bool> {
    let empty = source.trim().is_empty() || target.trim().is_empty();
    if empty && !opts.allow_empty {
        let side = if source.trim().is_empty() {
            "source"
        } else {
            "target"
        };
        return Err(Error::input(path, line, format!("empty {side} side")));
    }
    Ok(empty)
}

/// Reads a whole bitext into interned word ids.
pub fn read_bitext(files: &BitextFiles, opts: &ReadOptions) -> Result<Bitext> {
    let mut bitext = Bitext::default();
    match files {
        BitextFiles::Joined(path) => {
            let mut lines = LineReader::open(path, opts.max_line_bytes)?;
            let name = lines.path.clone();
            let mut n = 0;
            while let Some(line) = lines.next_line()? {
                n += 1;
                let (source, target) = split_joined(line, &name, n)?;
                bitext.empty_pairs += check_sides(source, target, opts, &name, n)? as usize;
                bitext.push_pair(source, target, opts.split);
            }
        }
        BitextFiles::Split(source_path, target_path) => {
            let mut sources = LineReader::open(source_path, opts.max_line_bytes)?;
            let mut targets = LineReader::open(target_path, opts.max_line_bytes)?;
            let (source_name, target_name) = (sources.path.clone(), targets.path.clone());
            let both = format!("{source_name} / {target_name}");
            let mut n = 0;
            loop {
                n += 1;
                match (sources.next_line()?, targets.next_line()?) {
                    (None, None) => break,
                    (Some(source), Some(target)) => {
                        bitext.empty_pairs += check_sides(source, target, opts, &both, n)? as usize;
                        bitext.push_pair(source, target, opts.split);
                    }
                    (longer_line, _) => {
                        let (longer, shorter) = if longer_line.is_some() {
                            (&source_name, &target_name)
                        } else {
                            (&target_name, &source_name)
                        };
                        return Err(Error::input(
                            longer,
                            n,
                            format!("line count mismatch: {shorter} ends after {} lines", n - 1),
                        ));
                    }
                }
            }
        }
    }
    Ok(bitext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        File::create(&path).unwrap().write_all(bytes).unwrap();
        path
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xadj-corpus-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reads_joined_and_interns_across_sides() {
        let dir = tmpdir("joined");
        let p = write(&dir, "a.txt", b"le chat ||| the cat\r\nOK ||| OK\n");
        let b = read_bitext(&BitextFiles::Joined(p), &ReadOptions::default()).unwrap();
        assert_eq!(b.len(), 2);
        let w = |id: &u32| b.vocab.words[*id as usize].as_str();
        assert_eq!(
            b.source.row(0).iter().map(w).collect::<Vec<_>>(),
            ["le", "chat"]
        );
        assert_eq!(
            b.target.row(0).iter().map(w).collect::<Vec<_>>(),
            ["the", "cat"]
        );
        assert_eq!(b.source.row(1), b.target.row(1));
    }

    #[test]
    fn reads_gzip_transparently() {
        let dir = tmpdir("gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"a b ||| c\n").unwrap();
        let p = write(&dir, "a.gz", &gz.finish().unwrap());
        let b = read_bitext(&BitextFiles::Joined(p), &ReadOptions::default()).unwrap();
        assert_eq!(b.source.row(0).len(), 2);
    }

    #[test]
    fn errors_name_file_and_line() {
        let dir = tmpdir("errors");
        let cases: [(&[u8], &str); 4] = [
            (b"a ||| b\nno separator\n", ":2: no ' ||| ' separator"),
            (b"a ||| b\n ||| b\n", ":2: empty source side"),
            (b"a ||| \xff\n", ":1: invalid UTF-8"),
            (b"a ||| b\nc |||   \n", ":2: empty target side"),
        ];
        for (k, (text, expected)) in cases.iter().enumerate() {
            let p = write(&dir, &format!("e{k}.txt"), text);
            let err = read_bitext(&BitextFiles::Joined(p.clone()), &ReadOptions::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains(&p.display().to_string()), "{err}");
            assert!(err.contains(expected), "{err} lacks {expected}");
        }
    }

    #[test]
    fn mismatched_line_counts_are_an_error() {
        let dir = tmpdir("mismatch");
        let s = write(&dir, "s.txt", b"a\nb\nc\n");
        let t = write(&dir, "t.txt", b"x\ny\n");
        let err = read_bitext(&BitextFiles::Split(s, t), &ReadOptions::default()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("s.txt:3") && msg.contains("t.txt ends after 2 lines"),
            "{msg}"
        );
    }

    #[test]
    fn over_long_line_is_an_error() {
        let dir = tmpdir("long");
        let p = write(
            &dir,
            "l.txt",
            format!("{} ||| b\n", "a".repeat(100)).as_bytes(),
        );
        let opts = ReadOptions {
            max_line_bytes: 50,
            ..ReadOptions::default()
        };
        let err = read_bitext(&BitextFiles::Joined(p), &opts)
            .unwrap_err()
            .to_string();
        assert!(err.contains(":1: line longer than 50 bytes"), "{err}");
    }

    #[test]
    fn allow_empty_keeps_line_numbers_in_step() {
        let dir = tmpdir("empty");
        let p = write(&dir, "e.txt", b"a ||| b\n ||| \nc ||| d\n");
        let opts = ReadOptions {
            allow_empty: true,
            ..ReadOptions::default()
        };
        let b = read_bitext(&BitextFiles::Joined(p), &opts).unwrap();
        assert_eq!((b.len(), b.empty_pairs), (3, 1));
        assert!(b.source.row(1).is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        /// Arbitrary bytes never panic the reader: either pairs come back, one per line, or an
        /// error names the file and a line.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let dir = tmpdir("prop");
            let p = write(&dir, "p.txt", &bytes);
            match read_bitext(&BitextFiles::Joined(p.clone()), &ReadOptions::default()) {
                Ok(b) => {
                    let lines = bytes.split(|&c| c == b'\n').count() - usize::from(bytes.last() == Some(&b'\n') || bytes.is_empty());
                    proptest::prop_assert_eq!(b.len(), lines);
                }
                Err(e) => {
                    let prefix = format!("{}:", p.display());
                    proptest::prop_assert!(e.to_string().starts_with(&prefix));
                }
            }
        }
    }
}
