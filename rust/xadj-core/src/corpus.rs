//! Reading parallel corpora: `source ||| target` files or two line-aligned files, plain or gzip,
//! streamed line by line into interned word ids. Every input is read exactly once (a FIFO or
//! `<(cmd)` works), and the sha256 of the bytes read comes back with the corpus.

use std::fs::File;
use std::io::{BufRead, BufReader, Chain, Cursor, ErrorKind, Read};
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};

use crate::ragged::Ragged;
use crate::wordtok;
use crate::{Error, Result};

/// Longest line accepted; a longer one is an error rather than an unbounded allocation.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// How many line numbers of pairs with an empty side are kept for the caller's warning.
pub const EMPTY_LINES_SHOWN: usize = 5;

const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

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
    /// Keep pairs with an empty side as empty rows (counted, the first line numbers kept) so
    /// that later steps drop them; otherwise such a pair is a `file:line` error.
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
    /// Number of pairs with an empty side (only non-zero with `allow_empty`); they are kept as
    /// empty rows so that row `i` stays line `i + 1`.
    pub empty_pairs: usize,
    /// 1-based line numbers of the first `EMPTY_LINES_SHOWN` of them.
    pub empty_lines: Vec<usize>,
    /// sha256 of the bytes read from each file (compressed bytes for gzip), in file order.
    pub sha256: Vec<[u8; 32]>,
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

    fn note_empty(&mut self, line: usize) {
        self.empty_pairs += 1;
        if self.empty_lines.len() < EMPTY_LINES_SHOWN {
            self.empty_lines.push(line);
        }
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

/// Raw file bytes, hashed as they are read when a hasher is set.
struct Hashed<R> {
    inner: R,
    hasher: Option<Sha256>,
}

impl<R: Read> Read for Hashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// The file as read: the first bytes (read once to detect gzip), then the rest.
type Raw = BufReader<Chain<Cursor<Vec<u8>>, Hashed<File>>>;

enum Stream {
    Plain(Raw),
    Gzip(BufReader<flate2::bufread::MultiGzDecoder<Raw>>),
}

impl Stream {
    /// Opens `path` once (so FIFOs work): sniffs the gzip magic from the first two bytes read,
    /// without seeking.
    fn open(path: &Path, hash: bool) -> Result<Stream> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut file = Hashed {
            inner: file,
            hasher: hash.then(Sha256::new),
        };
        let mut head = Vec::with_capacity(2);
        while head.len() < 2 {
            let mut byte = [0u8; 2];
            match file.read(&mut byte[..2 - head.len()]) {
                Ok(0) => break,
                Ok(n) => head.extend_from_slice(&byte[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        let gzip = head == [0x1f, 0x8b];
        let raw = BufReader::with_capacity(1 << 16, Cursor::new(head).chain(file));
        Ok(if gzip {
            let gz = flate2::bufread::MultiGzDecoder::new(raw);
            Stream::Gzip(BufReader::with_capacity(1 << 16, gz))
        } else {
            Stream::Plain(raw)
        })
    }

    fn reader(&mut self) -> &mut dyn BufRead {
        match self {
            Stream::Plain(r) => r,
            Stream::Gzip(r) => r,
        }
    }

    fn raw(&mut self) -> &mut Raw {
        match self {
            Stream::Plain(r) => r,
            Stream::Gzip(r) => r.get_mut().get_mut(),
        }
    }
}

/// Opens a file for reading as bytes, decompressing gzip (detected by its magic bytes).
pub fn open_lines(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    Ok(match Stream::open(path, false)? {
        Stream::Plain(r) => Box::new(r),
        Stream::Gzip(r) => Box::new(r),
    })
}

/// `fill_buf`, retried when a signal interrupts the read.
fn fill(reader: &mut dyn BufRead) -> std::io::Result<&[u8]> {
    loop {
        match reader.fill_buf() {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            // Asked again to satisfy the borrow checker: the buffer is filled now, so this
            // returns it without reading.
            Ok(_) => return reader.fill_buf(),
        }
    }
}

/// Reads a text file line by line, checking UTF-8 and line length, without allocating per line.
/// A line ends at `\n`, `\r\n` or a lone `\r` (old Mac files); a UTF-8 byte order mark at the
/// start of the file is dropped.
pub struct LineReader {
    stream: Stream,
    path: String,
    buf: Vec<u8>,
    line: usize,
    max_bytes: usize,
    /// The last line ended with `\r`: a `\n` right after it belongs to that line end.
    after_cr: bool,
}

impl LineReader {
    pub fn open(path: &Path, max_bytes: usize) -> Result<Self> {
        Self::open_with(path, max_bytes, false)
    }

    /// Like `open`, and hashes the file's bytes as they are read (see `finish_sha256`).
    pub fn open_hashed(path: &Path, max_bytes: usize) -> Result<Self> {
        Self::open_with(path, max_bytes, true)
    }

    fn open_with(path: &Path, max_bytes: usize, hash: bool) -> Result<Self> {
        Ok(LineReader {
            stream: Stream::open(path, hash)?,
            path: path.display().to_string(),
            buf: Vec::new(),
            line: 0,
            max_bytes,
            after_cr: false,
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// 1-based number of the line last returned.
    pub fn line_number(&self) -> usize {
        self.line
    }

    fn io_error(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// The next line without its line end, or `None` at the end of the file.
    pub fn next_line(&mut self) -> Result<Option<&str>> {
        self.buf.clear();
        let (reader, buf) = (self.stream.reader(), &mut self.buf);
        let mut any = false;
        let outcome = (|| -> std::io::Result<()> {
            if std::mem::take(&mut self.after_cr) && fill(reader)?.first() == Some(&b'\n') {
                reader.consume(1);
            }
            loop {
                let chunk = fill(reader)?;
                if chunk.is_empty() {
                    return Ok(());
                }
                any = true;
                match memchr::memchr2(b'\n', b'\r', chunk) {
                    Some(k) => {
                        buf.extend_from_slice(&chunk[..k]);
                        self.after_cr = chunk[k] == b'\r';
                        reader.consume(k + 1);
                        return Ok(());
                    }
                    None => {
                        let n = chunk.len();
                        buf.extend_from_slice(chunk);
                        reader.consume(n);
                    }
                }
                // Stop reading an over-long line as soon as it is known to be one.
                if buf.len() > self.max_bytes + UTF8_BOM.len() {
                    return Ok(());
                }
            }
        })();
        outcome.map_err(|e| self.io_error(e))?;
        if !any {
            return Ok(None);
        }
        self.line += 1;
        if self.line == 1 && self.buf.starts_with(UTF8_BOM) {
            self.buf.drain(..UTF8_BOM.len());
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

    /// Reads whatever is left of the file and returns the sha256 of all its bytes (`None` when
    /// the reader was not opened with `open_hashed`).
    pub fn finish_sha256(mut self) -> Result<Option<[u8; 32]>> {
        let raw = self.stream.raw();
        std::io::copy(raw, &mut std::io::sink()).map_err(|e| self.io_error(e))?;
        let hasher = self.stream.raw().get_mut().get_mut().1.hasher.take();
        Ok(hasher.map(|h| h.finalize().into()))
    }
}

/// Splits a `source ||| target` line at its `|||`; a line with none or several is an error.
pub fn split_joined<'a>(line: &'a str, path: &str, line_no: usize) -> Result<(&'a str, &'a str)> {
    let mut found = memchr::memmem::find_iter(line.as_bytes(), b"|||");
    match (found.next(), found.next()) {
        (Some(at), None) => Ok((&line[..at], &line[at + 3..])),
        (None, _) => Err(Error::input(path, line_no, "no ' ||| ' separator")),
        (Some(_), Some(_)) => Err(Error::input(
            path,
            line_no,
            "more than one ' ||| ' separator",
        )),
    }
}

/// Whether a side is empty; an error naming the side unless empty pairs are allowed.
fn check_sides(
    source: &str,
    target: &str,
    opts: &ReadOptions,
    path: &str,
    line: usize,
) -> Result<bool> {
    let (source_empty, target_empty) = (source.trim().is_empty(), target.trim().is_empty());
    if (source_empty || target_empty) && !opts.allow_empty {
        let side = if source_empty { "source" } else { "target" };
        return Err(Error::input(path, line, format!("empty {side} side")));
    }
    Ok(source_empty || target_empty)
}

/// Reads a whole bitext into interned word ids, reading each file once and hashing its bytes.
pub fn read_bitext(files: &BitextFiles, opts: &ReadOptions) -> Result<Bitext> {
    let mut bitext = Bitext::default();
    match files {
        BitextFiles::Joined(path) => {
            let mut lines = LineReader::open_hashed(path, opts.max_line_bytes)?;
            let name = lines.path.clone();
            let mut n = 0;
            while let Some(line) = lines.next_line()? {
                n += 1;
                let (source, target) = split_joined(line, &name, n)?;
                if check_sides(source, target, opts, &name, n)? {
                    bitext.note_empty(n);
                }
                bitext.push_pair(source, target, opts.split);
            }
            bitext.sha256.extend(lines.finish_sha256()?);
        }
        BitextFiles::Split(source_path, target_path) => {
            let mut sources = LineReader::open_hashed(source_path, opts.max_line_bytes)?;
            let mut targets = LineReader::open_hashed(target_path, opts.max_line_bytes)?;
            let (source_name, target_name) = (sources.path.clone(), targets.path.clone());
            let both = format!("{source_name} / {target_name}");
            let mut n = 0;
            loop {
                n += 1;
                match (sources.next_line()?, targets.next_line()?) {
                    (None, None) => break,
                    (Some(source), Some(target)) => {
                        if check_sides(source, target, opts, &both, n)? {
                            bitext.note_empty(n);
                        }
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
            bitext.sha256.extend(sources.finish_sha256()?);
            bitext.sha256.extend(targets.finish_sha256()?);
        }
    }
    Ok(bitext)
}

/// Lower-case hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
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

    fn words(b: &Bitext, side: &Ragged<u32>, row: usize) -> Vec<String> {
        side.row(row)
            .iter()
            .map(|&id| b.vocab.words[id as usize].clone())
            .collect()
    }

    fn lines_of(path: &Path) -> Vec<String> {
        let mut reader = LineReader::open(path, DEFAULT_MAX_LINE_BYTES).unwrap();
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            out.push(line.to_string());
        }
        out
    }

    #[test]
    fn reads_joined_and_interns_across_sides() {
        let dir = tmpdir("joined");
        let p = write(&dir, "a.txt", b"le chat ||| the cat\r\nOK ||| OK\n");
        let b = read_bitext(&BitextFiles::Joined(p), &ReadOptions::default()).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(words(&b, &b.source, 0), ["le", "chat"]);
        assert_eq!(words(&b, &b.target, 0), ["the", "cat"]);
        assert_eq!(b.source.row(1), b.target.row(1));
    }

    #[test]
    fn reads_gzip_transparently() {
        let dir = tmpdir("gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"\xef\xbb\xbfa b ||| c\rd ||| e\n").unwrap();
        let bytes = gz.finish().unwrap();
        let p = write(&dir, "a.gz", &bytes);
        let b = read_bitext(&BitextFiles::Joined(p), &ReadOptions::default()).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(words(&b, &b.source, 0), ["a", "b"]);
        // The digest is that of the file as stored, as `sha256sum` gives it.
        assert_eq!(b.sha256, [<[u8; 32]>::from(Sha256::digest(&bytes))]);
    }

    #[test]
    fn every_line_end_convention_ends_a_line() {
        let dir = tmpdir("eol");
        // \n, \r\n, lone \r, \r\r\n (an empty line), and \r\n split over the first two reads.
        let cases: [(&[u8], &[&str]); 6] = [
            (b"a\nb\n", &["a", "b"]),
            (b"a\r\nb\r\n", &["a", "b"]),
            (b"a\rb\rc", &["a", "b", "c"]),
            (b"a\r\r\nb", &["a", "", "b"]),
            (b"a\r\nb", &["a", "b"]),
            (b"\r\n\r", &["", ""]),
        ];
        for (k, (bytes, expected)) in cases.iter().enumerate() {
            let p = write(&dir, &format!("l{k}.txt"), bytes);
            assert_eq!(
                lines_of(&p),
                *expected,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        let p = write(&dir, "mac.txt", b"le chat ||| the cat\run ||| a\r");
        let b = read_bitext(&BitextFiles::Joined(p), &ReadOptions::default()).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(words(&b, &b.target, 1), ["a"]);
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_word() {
        let dir = tmpdir("bom");
        let s = write(&dir, "s.txt", b"\xef\xbb\xbfle chat\r\nun\r\n");
        let t = write(&dir, "t.txt", b"\xef\xbb\xbfthe cat\nan\n");
        let b = read_bitext(&BitextFiles::Split(s, t), &ReadOptions::default()).unwrap();
        assert_eq!(words(&b, &b.source, 0), ["le", "chat"]);
        assert_eq!(words(&b, &b.target, 0), ["the", "cat"]);
        // Only at the start of a file: elsewhere it is text like any other.
        let p = write(&dir, "j.txt", b"\xef\xbb\xbfa ||| b\n\xef\xbb\xbfc ||| d\n");
        let b = read_bitext(&BitextFiles::Joined(p), &ReadOptions::default()).unwrap();
        assert_eq!(words(&b, &b.source, 0), ["a"]);
        assert_eq!(words(&b, &b.source, 1), ["\u{feff}c"]);
    }

    #[test]
    fn returns_the_sha256_of_each_file() {
        let dir = tmpdir("sha");
        let p = write(&dir, "a.txt", b"a ||| b\n");
        let b = read_bitext(&BitextFiles::Joined(p), &ReadOptions::default()).unwrap();
        let known = "1f613b0914a847b5c6ea94db306bd18262551363c588813cba9fbfebd887c05c";
        assert_eq!(b.sha256.iter().map(|d| hex(d)).collect::<Vec<_>>(), [known]);
        let s = write(&dir, "s.txt", b"a ||| b\n");
        let t = write(&dir, "t.txt", b"");
        let err = read_bitext(&BitextFiles::Split(s.clone(), t), &ReadOptions::default());
        assert!(err.is_err());
        let t = write(&dir, "t2.txt", b"x\n");
        let b = read_bitext(&BitextFiles::Split(s, t), &ReadOptions::default()).unwrap();
        assert_eq!(hex(&b.sha256[0]), known);
        assert_eq!(b.sha256[1], <[u8; 32]>::from(Sha256::digest(b"x\n")));
    }

    #[test]
    fn errors_name_file_and_line() {
        let dir = tmpdir("errors");
        let cases: [(&[u8], &str); 6] = [
            (b"a ||| b\nno separator\n", ":2: no ' ||| ' separator"),
            (b"a ||| b\n ||| b\n", ":2: empty source side"),
            (b"a ||| \xff\n", ":1: invalid UTF-8"),
            (b"a ||| b\nc |||   \n", ":2: empty target side"),
            (
                b"a ||| b\nc ||| d ||| e\n",
                ":2: more than one ' ||| ' separator",
            ),
            (
                b"a ||| b\rc ||| d |||\n",
                ":2: more than one ' ||| ' separator",
            ),
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
    fn allow_empty_keeps_line_numbers_in_step_and_lists_the_first_lines() {
        let dir = tmpdir("empty");
        let mut text = b"a ||| b\n ||| \nc ||| d\n".to_vec();
        for _ in 0..6 {
            text.extend_from_slice(b"x |||\n");
        }
        let p = write(&dir, "e.txt", &text);
        let opts = ReadOptions {
            allow_empty: true,
            ..ReadOptions::default()
        };
        let b = read_bitext(&BitextFiles::Joined(p), &opts).unwrap();
        assert_eq!((b.len(), b.empty_pairs), (9, 7));
        assert_eq!(b.empty_lines, [2, 4, 5, 6, 7]);
        assert!(b.source.row(1).is_empty());
        assert_eq!(words(&b, &b.source, 2), ["c"]);
    }

    /// Lines of `bytes` as the reader defines them: `\n`, `\r\n` or a lone `\r` end a line.
    fn expected_lines(bytes: &[u8]) -> usize {
        let (mut lines, mut open, mut k) = (0, false, 0);
        while k < bytes.len() {
            match bytes[k] {
                b'\r' => {
                    lines += 1;
                    open = false;
                    k += usize::from(bytes.get(k + 1) == Some(&b'\n'));
                }
                b'\n' => {
                    lines += 1;
                    open = false;
                }
                _ => open = true,
            }
            k += 1;
        }
        lines + usize::from(open)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        /// Arbitrary bytes never panic the reader: either pairs come back, one per line, or an
        /// error names the file and a line.
        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::prelude::any::<u8>(),
                    proptest::sample::select(b"\r\n| ".to_vec()),
                ],
                0..300,
            )
        ) {
            let dir = tmpdir("prop");
            let p = write(&dir, "p.txt", &bytes);
            let opts = ReadOptions { allow_empty: true, ..ReadOptions::default() };
            match read_bitext(&BitextFiles::Joined(p.clone()), &opts) {
                Ok(b) => proptest::prop_assert_eq!(b.len(), expected_lines(&bytes)),
                Err(e) => {
                    let prefix = format!("{}:", p.display());
                    proptest::prop_assert!(e.to_string().starts_with(&prefix));
                }
            }
        }
    }
}
