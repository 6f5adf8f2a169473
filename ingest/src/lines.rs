//! Splitting a byte stream into lines.
//!
//! Invariants:
//! - memory is bounded: at most `max_line_bytes` plus one read chunk are buffered,
//!   whatever the input; a longer line is skipped up to its newline, keeping only a sample;
//! - every line is reported, in order, numbered from 1: good lines as text, bad ones
//!   (invalid UTF-8, too long) as [`Line::Bad`] with a sample; nothing is dropped silently;
//! - good lines are handed out borrowed from the buffer: no allocation per line;
//! - UTF-8 is checked once per read, over everything buffered, not once per line
//!   (`LineReader::valid_end`): a line inside that checked stretch is handed out
//!   without a second check. A read whose bytes are not all valid falls back to a
//!   check per line until the next read, so bad input costs at most twice the checks.

use std::io::{self, Read};

use crate::error::{ErrorReason, SAMPLE_BYTES, sample_of};

/// The default longest line: 1 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// How much is read from the source at a time, unless told otherwise.
const DEFAULT_CHUNK_BYTES: usize = 1 << 20;

/// One line of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// A good line, without its `\n` (and without a `\r` before it).
    Text {
        /// Line number, 1-based, for `file:line` in `ingest_errors` and messages.
        number: u64,
        /// The line, borrowed from the reader's buffer until the next call.
        text: &'a str,
    },
    /// A line that cannot be used: invalid UTF-8 (`Decode`) or longer than the limit
    /// (`TooLong`; a `\r` before the `\n` counts towards the limit).
    Bad {
        /// Line number, 1-based.
        number: u64,
        /// `Decode` for invalid UTF-8, `TooLong` for a line over the limit.
        reason: ErrorReason,
        /// The start of the line for `ingest_errors.sample` (see [`sample_of`]).
        sample: String,
    },
}

impl Line<'_> {
    /// The line's number, 1-based, good or bad.
    pub fn number(&self) -> u64 {
        match self {
            Line::Text { number, .. } | Line::Bad { number, .. } => *number,
        }
    }
}

/// A too-long line being skipped, kept across calls so that an I/O error in the middle
/// of skipping does not turn the rest of that line into a line of its own.
#[derive(Debug)]
struct Skipping {
    /// The first bytes of the line, up to `SAMPLE_BYTES`, for the error's sample.
    sample: Vec<u8>,
}

impl Skipping {
    /// Keeps what the sample still has room for out of `bytes`, the next part of the line.
    fn keep(&mut self, bytes: &[u8]) {
        let room = SAMPLE_BYTES.saturating_sub(self.sample.len());
        self.sample.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

/// Reads lines from any [`Read`], in large chunks.
#[derive(Debug)]
pub struct LineReader<R: Read> {
    /// The source.
    reader: R,
    /// Buffered input; `buf[start..end]` is not yet handed out. Its length only grows,
    /// up to `max_line_bytes + chunk_size`, so reads go into already initialised memory.
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    start: usize,
    /// End of the valid bytes in `buf`.
    end: usize,
    /// Where to resume the newline search in `buf`: `buf[start..scanned]` has no `\n`,
    /// so a long line is not re-scanned after every read.
    scanned: usize,
    /// The source said end of file.
    eof: bool,
    /// Longest line accepted, in bytes, not counting its `\n`.
    max_line_bytes: usize,
    /// How much to ask of the source per read.
    chunk_size: usize,
    /// Number of the last line handed out (lines are numbered from 1).
    line_number: u64,
    /// Bytes of all lines handed out so far, newlines included.
    consumed: u64,
    /// Set while a too-long line is being skipped.
    skipping: Option<Skipping>,
    /// `buf[s..valid_end]` is valid UTF-8 for the start `s` of every line not yet handed
    /// out, up to this end: one check per read instead of one per line (17 of the ~340 ns
    /// a line of the 100-rule replay took; see BENCHMARKS.md). Lines start after a `\n`,
    /// so at a character boundary, and end at one (`\n`, `\r`, or the checked end).
    valid_end: usize,
    /// `buf[..end]` as it was at the last check: no new check until more bytes arrive,
    /// so invalid input is checked line by line rather than again for every line.
    checked_end: usize,
}

impl<R: Read> LineReader<R> {
    /// A reader with the default 1 MiB read chunk.
    pub fn new(reader: R, max_line_bytes: usize) -> Self {
        Self::with_chunk_size(reader, max_line_bytes, DEFAULT_CHUNK_BYTES)
    }

    /// A reader that asks the source for `chunk_size` bytes at a time (at least 1); small
    /// chunks exist for tests of lines that straddle reads.
    pub fn with_chunk_size(reader: R, max_line_bytes: usize, chunk_size: usize) -> Self {
        LineReader {
            reader,
            buf: Vec::new(),
            start: 0,
            end: 0,
            scanned: 0,
            eof: false,
            max_line_bytes,
            chunk_size: chunk_size.max(1),
            line_number: 0,
            consumed: 0,
            skipping: None,
            valid_end: 0,
            checked_end: 0,
        }
    }

    /// Total bytes consumed so far: the bytes of every line handed out, newlines
    /// included, so it is also the offset in the input where the next line starts.
    pub fn bytes_read(&self) -> u64 {
        self.consumed
    }

    /// Next line without its `\n` (and a trailing `\r` stripped). A final line without
    /// `\n` is still a line. `None` at end of input.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        loop {
            if let Some(skipping) = &mut self.skipping {
                // Drop everything up to the newline that ends the long line.
                let pending = &self.buf[self.start..self.end];
                match memchr::memchr(b'\n', pending) {
                    Some(i) => {
                        skipping.keep(&pending[..i]);
                        self.advance(self.start + i + 1);
                        return Ok(Some(self.too_long()));
                    }
                    None => {
                        skipping.keep(pending);
                        self.consumed += pending.len() as u64;
                        self.start = 0;
                        self.end = 0;
                        self.scanned = 0;
                        self.valid_end = 0;
                        self.checked_end = 0;
                        if self.eof {
                            return Ok(Some(self.too_long()));
                        }
                        self.fill()?;
                        continue;
                    }
                }
            }

            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.scanned..self.end]) {
                let nl = self.scanned + i;
                let (start, len) = (self.start, nl - self.start);
                self.advance(nl + 1);
                return Ok(Some(self.make_line(start, len)));
            }
            self.scanned = self.end;

            let pending = self.end - self.start;
            if pending > self.max_line_bytes {
                // The pending bytes stay in `buf`; the skipping branch samples and drops them.
                self.skipping = Some(Skipping { sample: Vec::with_capacity(pending.min(SAMPLE_BYTES)) });
                continue;
            }
            if self.eof {
                if pending == 0 {
                    return Ok(None);
                }
                let start = self.start;
                self.advance(self.end);
                return Ok(Some(self.make_line(start, pending)));
            }
            self.fill()?;
        }
    }

    /// Marks `buf[..to]` as handed out.
    fn advance(&mut self, to: usize) {
        self.consumed += (to - self.start) as u64;
        self.start = to;
        self.scanned = to;
    }

    /// The line `buf[start..start + len]` (without its `\n`), checked.
    fn make_line(&mut self, start: usize, len: usize) -> Line<'_> {
        self.line_number += 1;
        let line_end = start + len;
        if line_end > self.valid_end && self.checked_end < self.end {
            // The first line past the checked stretch since the last read: check all
            // that is buffered from its start, once.
            self.checked_end = self.end;
            self.valid_end = start
                + match std::str::from_utf8(&self.buf[start..self.end]) {
                    Ok(_) => self.end - start,
                    Err(e) => e.valid_up_to(),
                };
        }
        let bytes = &self.buf[start..line_end];
        if line_end <= self.valid_end && len <= self.max_line_bytes {
            let text = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            debug_assert!(std::str::from_utf8(text).is_ok());
            // SAFETY: `buf[s..valid_end]` is valid UTF-8 for this line's start `s` (see
            // `valid_end`), and `text` lies inside it, from one character boundary (the
            // line's start) to another (its `\n` or `\r`, or `valid_end` itself).
            let text = unsafe { std::str::from_utf8_unchecked(text) };
            return Line::Text { number: self.line_number, text };
        }
        checked_line(self.line_number, bytes, self.max_line_bytes)
    }

    /// Ends the skipping of a too-long line and reports it.
    fn too_long(&mut self) -> Line<'static> {
        self.line_number += 1;
        let sample = self.skipping.take().map(|s| sample_of(&s.sample)).unwrap_or_default();
        Line::Bad { number: self.line_number, reason: ErrorReason::TooLong, sample }
    }

    /// Reads one chunk after the pending bytes, moving them to the front first.
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.scanned -= self.start;
            self.valid_end = self.valid_end.saturating_sub(self.start);
            self.checked_end = self.checked_end.saturating_sub(self.start);
            self.start = 0;
        }
        let want = self.end + self.chunk_size;
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.end..want]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n.min(want - self.end);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// A line's bytes (without its `\n`) as a [`Line`]: too long, invalid UTF-8, or text
/// without a trailing `\r`.
fn checked_line(number: u64, mut bytes: &[u8], max_line_bytes: usize) -> Line<'_> {
    // The limit counts a `\r` too: the reader may have to judge a line before it
    // sees its end, and the verdict must not depend on where reads split the input.
    if bytes.len() > max_line_bytes {
        return Line::Bad { number, reason: ErrorReason::TooLong, sample: sample_of(bytes) };
    }
    if let [rest @ .., b'\r'] = bytes {
        bytes = rest;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Line::Text { number, text },
        Err(_) => Line::Bad { number, reason: ErrorReason::Decode, sample: sample_of(bytes) },
    }
}

/// The lines of bytes already in memory (a Kafka message), by the rules of
/// [`LineReader`] (same lines, numbers, reasons and samples) without its buffer:
/// nothing is copied, and nothing is allocated for a good line. Input that is valid
/// UTF-8 as a whole (the usual case) is checked once, not once per line.
#[derive(Debug, Clone)]
pub struct SliceLines<'a> {
    /// What is left to split.
    rest: &'a [u8],
    /// `rest` as text, when the whole input was valid UTF-8: lines are sliced from it at
    /// their `\n`, a character boundary, with no check of their own.
    rest_text: Option<&'a str>,
    /// Number of the last line handed out.
    line_number: u64,
    /// Longest line accepted, in bytes, not counting its `\n`.
    max_line_bytes: usize,
}

impl<'a> SliceLines<'a> {
    pub fn new(bytes: &'a [u8], max_line_bytes: usize) -> Self {
        Self { rest: bytes, rest_text: std::str::from_utf8(bytes).ok(), line_number: 0, max_line_bytes }
    }
}

impl<'a> Iterator for SliceLines<'a> {
    type Item = Line<'a>;

    fn next(&mut self) -> Option<Line<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let (end, next) = match memchr::memchr(b'\n', self.rest) {
            Some(i) => (i, i + 1),
            None => (self.rest.len(), self.rest.len()),
        };
        let line = &self.rest[..end];
        self.rest = &self.rest[next..];
        self.line_number += 1;
        if let Some(text) = self.rest_text {
            self.rest_text = Some(&text[next..]);
            if line.len() <= self.max_line_bytes {
                let line = &text[..end];
                return Some(Line::Text { number: self.line_number, text: line.strip_suffix('\r').unwrap_or(line) });
            }
        }
        Some(checked_line(self.line_number, line, self.max_line_bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A reader that hands out at most `step` bytes per read, to split lines across reads.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.data.len().min(out.len()).min(self.step);
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// An owned copy of a line, for comparing.
    #[derive(Debug, Clone, PartialEq)]
    enum Owned {
        Text(u64, String),
        Bad(u64, ErrorReason, String),
    }

    fn collect<R: Read>(mut r: LineReader<R>) -> Vec<Owned> {
        let mut out = Vec::new();
        while let Some(line) = r.next_line().unwrap() {
            out.push(match line {
                Line::Text { number, text } => Owned::Text(number, text.to_owned()),
                Line::Bad { number, reason, sample } => Owned::Bad(number, reason, sample),
            });
        }
        out
    }

    fn slice_lines(input: &[u8], max: usize) -> Vec<Owned> {
        SliceLines::new(input, max)
            .map(|line| match line {
                Line::Text { number, text } => Owned::Text(number, text.to_owned()),
                Line::Bad { number, reason, sample } => Owned::Bad(number, reason, sample),
            })
            .collect()
    }

    /// What the reader must produce, by the simplest means.
    fn model(input: &[u8], max: usize) -> Vec<Owned> {
        let mut pieces: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
        if input.is_empty() || input.ends_with(b"\n") {
            pieces.pop();
        }
        pieces
            .into_iter()
            .enumerate()
            .map(|(i, raw)| {
                let n = i as u64 + 1;
                if raw.len() > max {
                    return Owned::Bad(n, ErrorReason::TooLong, sample_of(raw));
                }
                let line = raw.strip_suffix(b"\r").unwrap_or(raw);
                match std::str::from_utf8(line) {
                    Ok(t) => Owned::Text(n, t.to_owned()),
                    Err(_) => Owned::Bad(n, ErrorReason::Decode, sample_of(line)),
                }
            })
            .collect()
    }

    #[test]
    fn basic_lines() {
        let r = LineReader::new(&b"a\r\nb\n\nlast"[..], DEFAULT_MAX_LINE_BYTES);
        assert_eq!(
            collect(r),
            vec![
                Owned::Text(1, "a".into()),
                Owned::Text(2, "b".into()),
                Owned::Text(3, String::new()),
                Owned::Text(4, "last".into())
            ]
        );
        assert!(collect(LineReader::new(&b""[..], 10)).is_empty());
        assert_eq!(collect(LineReader::new(&b"\n"[..], 10)), vec![Owned::Text(1, String::new())]);
    }

    #[test]
    fn invalid_utf8_and_too_long() {
        let mut input = b"ok\n\xff\xfe bad\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 5000));
        input.extend(b"\nafter\n");
        let mut r = LineReader::with_chunk_size(&input[..], 100, 7);
        let mut got = Vec::new();
        while let Some(line) = r.next_line().unwrap() {
            got.push(format!("{line:?}"));
            // Never more than the limit plus one chunk buffered.
            assert!(r.buf.len() <= 100 + 7, "{}", r.buf.len());
        }
        assert_eq!(r.bytes_read(), input.len() as u64);
        assert_eq!(got.len(), 4);
        assert!(got[1].contains("Decode") && got[1].contains("\u{fffd}"), "{}", got[1]);
        assert!(got[2].contains("TooLong"), "{}", got[2]);
        assert_eq!(got[3], format!("{:?}", Line::Text { number: 4, text: "after" }));
    }

    #[test]
    fn too_long_sample_is_first_bytes() {
        let mut input = vec![b'y'; 10];
        input.extend(vec![b'z'; 3 * SAMPLE_BYTES]);
        let r = LineReader::with_chunk_size(&input[..], 20, 16);
        let lines = collect(r);
        assert_eq!(lines.len(), 1);
        match &lines[0] {
            Owned::Bad(1, ErrorReason::TooLong, s) => {
                assert!(s.starts_with("yyyyyyyyyyz"));
                assert!(s.len() <= SAMPLE_BYTES);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bytes_read_is_next_line_offset() {
        let mut r = LineReader::with_chunk_size(&b"ab\ncde\r\nf"[..], 100, 2);
        assert!(r.next_line().unwrap().is_some());
        assert_eq!(r.bytes_read(), 3);
        assert!(r.next_line().unwrap().is_some());
        assert_eq!(r.bytes_read(), 8);
        assert!(r.next_line().unwrap().is_some());
        assert_eq!(r.bytes_read(), 9);
        assert!(r.next_line().unwrap().is_none());
        assert!(r.next_line().unwrap().is_none());
    }

    #[test]
    fn io_errors_are_reported_and_reading_resumes() {
        /// Interrupted on its first read (retried, not reported), fails once in the middle
        /// of a long line, then goes on.
        struct Flaky {
            data: Vec<u8>,
            pos: usize,
            calls: u32,
            failed: bool,
        }
        impl Read for Flaky {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                self.calls += 1;
                if self.calls == 1 {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                if self.pos >= 30 && !self.failed {
                    self.failed = true;
                    return Err(io::Error::other("boom"));
                }
                let n = (self.data.len() - self.pos).min(out.len()).min(10);
                out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
                self.pos += n;
                Ok(n)
            }
        }
        let mut data = vec![b'q'; 50];
        data.extend(b"\nnext\n");
        let mut r = LineReader::with_chunk_size(Flaky { data, pos: 0, calls: 0, failed: false }, 20, 10);
        assert!(r.next_line().is_err());
        match r.next_line().unwrap() {
            Some(Line::Bad { number: 1, reason: ErrorReason::TooLong, .. }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(r.next_line().unwrap(), Some(Line::Text { number: 2, text: "next" }));
        assert_eq!(r.next_line().unwrap(), None);
    }

    proptest! {
        #[test]
        fn matches_split_model(
            input in proptest::collection::vec(prop_oneof![
                4 => proptest::char::range('a', 'e').prop_map(|c| c as u8),
                2 => Just(b'\n'),
                1 => Just(b'\r'),
                1 => Just(0xc3u8),
                1 => Just(0xa9u8),
                // The lead and continuation bytes of `€` (e2 82 ac), for 3-byte characters
                // cut by reads, lines and bad bytes.
                1 => Just(0xe2u8),
                1 => Just(0x82u8),
                1 => any::<u8>(),
            ], 0..300),
            max in 0usize..40,
            chunk in 1usize..50,
            step in 1usize..50,
        ) {
            let r = LineReader::with_chunk_size(Trickle { data: &input, step }, max, chunk);
            let got = collect(r);
            let want = model(&input, max);
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(slice_lines(&input, max), want);
            // The same input made valid UTF-8 (bad bytes replaced), so that both readers
            // take their checked-once paths: too-long lines and `\r` must still be handled.
            let valid = String::from_utf8_lossy(&input).into_owned().into_bytes();
            let want = model(&valid, max);
            prop_assert_eq!(slice_lines(&valid, max), want.clone());
            let r = LineReader::with_chunk_size(Trickle { data: &valid, step }, max, chunk);
            prop_assert_eq!(collect(r), want);
        }
    }
}
