//! Pharaoh alignment format: one line per sentence pair, links `i-j` (source index first)
//! separated by spaces. Gold files may also mark possible links (`i?j`, `ipj`, `i-j-P`) and sure
//! ones explicitly (`i-j-S`). Parsing works on bytes and allocates nothing per link.

use std::io::Write;
use std::path::Path;

use crate::corpus::{LineReader, DEFAULT_MAX_LINE_BYTES};
use crate::ragged::Ragged;
use crate::{Error, Result};

/// A link `(source index, target index)`, 0-based.
pub type Link = (u32, u32);

/// Links of every sentence pair.
pub type Alignment = Ragged<Link>;

/// Largest index accepted, so that links fit signed 32-bit arrays on the Python side.
pub const MAX_INDEX: u32 = i32::MAX as u32;

/// Gold links: `possible` is P = S ∪ possible-marked links, so it includes every sure link.
/// Each row is sorted by (i, j) without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoldAlignment {
    pub sure: Alignment,
    pub possible: Alignment,
}

impl GoldAlignment {
    pub fn len(&self) -> usize {
        self.sure.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sure.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Indices in the file start at 1 (gold sets usually do); 1 is subtracted, 0 is an error.
    pub one_based: bool,
    pub max_line_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            one_based: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}

/// Whether a link is sure or only possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Sure,
    Possible,
}

/// What is wrong with a line; the caller adds file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkError(pub String);

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Shows a token in an error message, cut short if it is long.
fn shown(token: &[u8]) -> String {
    let text = String::from_utf8_lossy(token);
    match text.char_indices().nth(40) {
        Some((at, _)) => format!("\"{}...\"", &text[..at]),
        None => format!("\"{text}\""),
    }
}

fn malformed(token: &[u8]) -> LinkError {
    LinkError(format!(
        "malformed link {}: expected i-j (gold also i?j, ipj, i-j-P, i-j-S)",
        shown(token)
    ))
}

/// The whitespace-free token around byte `at`, for error messages.
fn token_at(bytes: &[u8], at: usize) -> &[u8] {
    let start = bytes[..at]
        .iter()
        .rposition(u8::is_ascii_whitespace)
        .map_or(0, |k| k + 1);
    let end = bytes[at..]
        .iter()
        .position(u8::is_ascii_whitespace)
        .map_or(bytes.len(), |k| at + k);
    &bytes[start..end]
}

/// A cursor over a line's bytes; one pass, no allocation unless there is an error.
struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    one_based: bool,
}

impl Scanner<'_> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    #[cold]
    #[inline(never)]
    fn error(&self, what: fn(&[u8]) -> LinkError) -> LinkError {
        let at = self.at.min(self.bytes.len().saturating_sub(1));
        what(token_at(self.bytes, at))
    }

    /// Reads a decimal index and converts it to 0-based.
    #[inline(always)]
    fn index(&mut self) -> std::result::Result<u32, LinkError> {
        let (bytes, start) = (self.bytes, self.at);
        let mut at = start;
        let mut value: u64 = 0;
        while at < bytes.len() {
            let digit = bytes[at].wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            value = value * 10 + u64::from(digit);
            at += 1;
        }
        self.at = at;
        if at - start > 10 {
            // Long digit runs (leading zeros or an overflow): saturating, off the hot path.
            value = bytes[start..at].iter().fold(0u64, |v, &b| {
                v.saturating_mul(10).saturating_add(u64::from(b - b'0'))
            });
        }
        if self.at == start {
            return Err(self.error(malformed));
        }
        let limit = u64::from(MAX_INDEX) + u64::from(self.one_based);
        if value > limit {
            return Err(self.error(|t| {
                LinkError(format!(
                    "index too large in link {} (at most {MAX_INDEX})",
                    shown(t)
                ))
            }));
        }
        if self.one_based {
            if value == 0 {
                return Err(self.error(|t| {
                    LinkError(format!("index 0 in link {} of a 1-based file", shown(t)))
                }));
            }
            value -= 1;
        }
        Ok(value as u32)
    }

    /// Parses one link such as `3-4`, `3p4`, `3?4`, `3-4-P` or `3-4-S` and the end of its token.
    #[inline(always)]
    fn link(&mut self) -> std::result::Result<(Link, LinkKind), LinkError> {
        let i = self.index()?;
        let mut kind = match self.peek() {
            Some(b'-') => LinkKind::Sure,
            Some(b'p' | b'?') => LinkKind::Possible,
            _ => return Err(self.error(malformed)),
        };
        self.at += 1;
        let j = self.index()?;
        if kind == LinkKind::Sure && self.peek() == Some(b'-') {
            kind = match self.bytes.get(self.at + 1) {
                Some(b'S' | b's') => LinkKind::Sure,
                Some(b'P' | b'p') => LinkKind::Possible,
                _ => return Err(self.error(malformed)),
            };
            self.at += 2;
        }
        match self.peek() {
            None => {}
            Some(b) if b.is_ascii_whitespace() => {}
            Some(_) => return Err(self.error(malformed)),
        }
        Ok(((i, j), kind))
    }
}

/// Calls `sink` with every link of a line, in order.
pub fn for_each_link(
    line: &str,
    one_based: bool,
    mut sink: impl FnMut(Link, LinkKind),
) -> std::result::Result<(), LinkError> {
    let mut scan = Scanner {
        bytes: line.as_bytes(),
        at: 0,
        one_based,
    };
    while let Some(b) = scan.peek() {
        if b.is_ascii_whitespace() {
            scan.at += 1;
            continue;
        }
        let (link, kind) = scan.link()?;
        sink(link, kind);
    }
    Ok(())
}

/// Parses the links of a hypothesis line (no possible links) onto `out`.
pub fn parse_links(
    line: &str,
    one_based: bool,
    out: &mut Vec<Link>,
) -> std::result::Result<(), LinkError> {
    let mut possible = false;
    for_each_link(line, one_based, |link, kind| {
        possible |= kind == LinkKind::Possible;
        out.push(link);
    })?;
    if possible {
        return Err(LinkError(
            "possible link (i?j, ipj or i-j-P) in an alignment that is not a gold file".into(),
        ));
    }
    Ok(())
}

/// Reads a Pharaoh alignment file, one row per line, links in file order.
pub fn read_alignment(path: &Path, opts: &ReadOptions) -> Result<Alignment> {
    let mut lines = LineReader::open(path, opts.max_line_bytes)?;
    let mut out = Alignment::default();
    while let Some(line) = lines.next_line()? {
        if let Err(e) = parse_links(line, opts.one_based, &mut out.values) {
            return Err(Error::input(lines.path(), lines.line_number(), e.0));
        }
        out.end_row();
    }
    Ok(out)
}

/// Sorts and deduplicates the row that starts at `start`.
fn finish_set_row(values: &mut Vec<Link>, start: usize) {
    values[start..].sort_unstable();
    let mut keep = start;
    for k in start..values.len() {
        if keep == start || values[k] != values[keep - 1] {
            values[keep] = values[k];
            keep += 1;
        }
    }
    values.truncate(keep);
}

/// Reads a gold alignment with sure and possible links.
pub fn read_gold(path: &Path, one_based: bool) -> Result<GoldAlignment> {
    let mut lines = LineReader::open(path, DEFAULT_MAX_LINE_BYTES)?;
    let mut gold = GoldAlignment::default();
    while let Some(line) = lines.next_line()? {
        let (sure, possible) = (&mut gold.sure.values, &mut gold.possible.values);
        let (s0, p0) = (sure.len(), possible.len());
        let parsed = for_each_link(line, one_based, |link, kind| {
            if kind == LinkKind::Sure {
                sure.push(link);
            }
            possible.push(link);
        });
        if let Err(e) = parsed {
            return Err(Error::input(lines.path(), lines.line_number(), e.0));
        }
        finish_set_row(sure, s0);
        finish_set_row(possible, p0);
        gold.sure.end_row();
        gold.possible.end_row();
    }
    Ok(gold)
}

/// Writes the decimal digits of `v` at `dst[at..]`, returning the position after them.
#[inline(always)]
fn put_u32(dst: &mut [u8], at: usize, mut v: u32) -> usize {
    let n = match v {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        1000..=9999 => 4,
        _ => v.ilog10() as usize + 1,
    };
    for slot in dst[at..at + n].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    at + n
}

/// Writes Pharaoh lines through a reused buffer, formatting digits by hand.
pub struct PharaohWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    used: usize,
}

impl<W: Write> PharaohWriter<W> {
    /// A link takes at most 10 + 1 + 10 digits and a separator.
    const LINK_BYTES: usize = 22;

    pub fn new(out: W) -> Self {
        PharaohWriter {
            out,
            buf: vec![0u8; 1 << 16],
            used: 0,
        }
    }

    /// Writes one line: `i-j i-j`, or an empty line for no links.
    pub fn write_row(&mut self, row: &[Link]) -> std::io::Result<()> {
        let need = row.len() * Self::LINK_BYTES + 1;
        if self.used + need > self.buf.len() {
            self.out.write_all(&self.buf[..self.used])?;
            self.used = 0;
            if need > self.buf.len() {
                self.buf.resize(need, 0);
            }
        }
        let (buf, line_start) = (&mut self.buf[..], self.used);
        let mut used = line_start;
        for &(i, j) in row {
            used = put_u32(buf, used, i);
            buf[used] = b'-';
            used = put_u32(buf, used + 1, j);
            buf[used] = b' ';
            used += 1;
        }
        // The last separator becomes the line end.
        if used > line_start {
            used -= 1;
        }
        buf[used] = b'\n';
        self.used = used + 1;
        Ok(())
    }

    /// Writes out what is buffered and flushes; returns the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.write_all(&self.buf[..self.used])?;
        self.used = 0;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes `i-j i-j` a line, an empty line for a pair without links.
pub fn write_alignment<W: Write>(alignment: &Alignment, out: W) -> std::io::Result<()> {
    let mut writer = PharaohWriter::new(out);
    for row in alignment.rows() {
        writer.write_row(row)?;
    }
    writer.finish().map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::PathBuf;

    fn links(line: &str, one_based: bool) -> std::result::Result<Vec<Link>, LinkError> {
        let mut out = Vec::new();
        parse_links(line, one_based, &mut out).map(|()| out)
    }

    fn tmpfile(name: &str, text: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xadj-pharaoh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn parses_links_in_order_with_any_spacing() {
        assert_eq!(
            links("  0-1 \t12-3  4-4 ", false).unwrap(),
            [(0, 1), (12, 3), (4, 4)]
        );
        assert_eq!(links("", false).unwrap(), []);
        assert_eq!(links("1-1 2-3", true).unwrap(), [(0, 0), (1, 2)]);
        assert_eq!(links("3-4-S", false).unwrap(), [(3, 4)]);
        assert_eq!(links("2147483647-0", false).unwrap(), [(MAX_INDEX, 0)]);
        assert_eq!(links("2147483648-1", true).unwrap(), [(MAX_INDEX, 0)]);
    }

    #[test]
    fn malformed_links_are_errors() {
        for bad in [
            "3-",
            "a-b",
            "1-2-3",
            "-1-2",
            "1--2",
            "1 -2",
            "1-2x",
            "12",
            "1_2",
            "1-2-",
            "1-٣",
            "99999999999-1",
            "2147483648-0",
            "1p2-P",
        ] {
            assert!(links(bad, false).is_err(), "{bad} accepted");
        }
        assert!(links("0-1", true).unwrap_err().0.contains("index 0"));
        assert!(links("1p2", false).unwrap_err().0.contains("possible link"));
        assert!(links("4294967296-1", false)
            .unwrap_err()
            .0
            .contains("too large"));
    }

    #[test]
    fn reads_gold_with_possible_links_as_sets() {
        let p = tmpfile("g.gold", b"1-1 2p2 3?3 4-4-P 5-5-S 1-1\r\n\n2p1 2-1\n");
        let g = read_gold(&p, true).unwrap();
        assert_eq!(g.len(), 3);
        assert_eq!(g.sure.row(0), [(0, 0), (4, 4)]);
        assert_eq!(g.possible.row(0), [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)]);
        assert!(g.sure.row(1).is_empty() && g.possible.row(1).is_empty());
        assert_eq!(
            (g.sure.row(2), g.possible.row(2)),
            (&[(1, 0)][..], &[(1, 0)][..])
        );
    }

    #[test]
    fn byte_order_mark_and_every_line_end_convention() {
        let p = tmpfile("mac.al", b"\xef\xbb\xbf0-0 1-1\r2-2\r\n\r3-3");
        let a = read_alignment(&p, &ReadOptions::default()).unwrap();
        assert_eq!(a.len(), 4);
        assert_eq!(a.row(0), [(0, 0), (1, 1)]);
        assert_eq!(
            (a.row(1), a.row(2), a.row(3)),
            (&[(2, 2)][..], &[][..], &[(3, 3)][..])
        );
        let p = tmpfile("bom.gold", b"\xef\xbb\xbf1-1 2p2\r1-2\r");
        let g = read_gold(&p, true).unwrap();
        assert_eq!(
            (g.len(), g.possible.row(0), g.sure.row(1)),
            (2, &[(0, 0), (1, 1)][..], &[(0, 1)][..])
        );
    }

    #[test]
    fn read_errors_name_file_and_line() {
        let p = tmpfile("bad.al", b"0-1\n1-2 3-\n");
        let err = read_alignment(&p, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("{}:2: malformed link \"3-\"", p.display())),
            "{err}"
        );
        let p = tmpfile("zero.gold", b"1-1\n\n0-2\n");
        let err = read_gold(&p, true).unwrap_err().to_string();
        assert!(err.contains("zero.gold:3: index 0"), "{err}");
    }

    #[test]
    fn writes_pharaoh_lines() {
        let mut al = Alignment::default();
        al.push_row([(0, 1), (10, 234_567)]);
        al.push_row([]);
        al.push_row([(MAX_INDEX, 0)]);
        al.push_row([(u32::MAX, 9), (99, 100), (1_000_000_000, 999_999_999)]);
        let mut out = Vec::new();
        write_alignment(&al, &mut out).unwrap();
        let expected = "0-1 10-234567\n\n2147483647-0\n4294967295-9 99-100 1000000000-999999999\n";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        // Rows longer than the write buffer.
        let mut long = Alignment::default();
        long.push_row((0..5000).map(|k| (k, u32::MAX - k)));
        long.push_row([(1, 2)]);
        let mut out = Vec::new();
        write_alignment(&long, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.ends_with(" 4999-4294962296\n1-2\n"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn parser_never_panics(line in "\\PC*", one_based: bool) {
            let _ = links(&line, one_based);
            let _ = for_each_link(&line, one_based, |_, _| {});
        }

        #[test]
        fn parser_never_panics_on_link_like_text(line in "[0-9pP?Ss -]{0,40}", one_based: bool) {
            let _ = for_each_link(&line, one_based, |_, _| {});
        }

        #[test]
        fn write_then_parse_round_trips(
            rows in prop::collection::vec(
                prop::collection::vec((0..=MAX_INDEX, 0..=MAX_INDEX), 0..20), 0..20)
        ) {
            let mut al = Alignment::default();
            for row in &rows {
                al.push_row(row.iter().copied());
            }
            let mut text = Vec::new();
            write_alignment(&al, &mut text).unwrap();
            let text = String::from_utf8(text).unwrap();
            let mut back = Alignment::default();
            for line in text.lines() {
                parse_links(line, false, &mut back.values).unwrap();
                back.end_row();
            }
            prop_assert_eq!(back, al);
        }
    }
}
