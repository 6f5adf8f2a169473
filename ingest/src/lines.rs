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
            // The crate's one unsafe block (the crate root denies `unsafe_code`).
            #[allow(unsafe_code)]
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
mod tests;
