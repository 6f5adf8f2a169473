//! Errors of bad input. Bad input never stops a pipeline: each bad record becomes
//! an [`IngestError`] row (the `ingest_errors` table) and the pipeline goes on.

use std::fmt;

/// Why a record was not counted; the `reason` column of `ingest_errors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorReason {
    /// Bytes that are not valid for the format: invalid UTF-8, undecodable MessagePack, bad JSON.
    Decode,
    /// Valid text the stream's format does not parse (an nginx line that does not fit `log_format`).
    Parse,
    /// The configured event time is missing or does not parse.
    Time,
    /// The event arrived after its window had closed.
    Late,
    /// The line is longer than `max_line_bytes`.
    TooLong,
}

impl ErrorReason {
    /// The name used in the `ingest_errors.reason` column and in metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorReason::Decode => "decode",
            ErrorReason::Parse => "parse",
            ErrorReason::Time => "time",
            ErrorReason::Late => "late",
            ErrorReason::TooLong => "too_long",
        }
    }
}

impl fmt::Display for ErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decoder's refusal of one record: the reason plus a human-readable detail.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct DecodeError {
    /// Which `ingest_errors.reason` this maps to.
    pub reason: ErrorReason,
    /// What exactly was wrong, for logs and for the `check`/`replay` summary.
    pub detail: String,
}

impl DecodeError {
    pub fn new(reason: ErrorReason, detail: impl Into<String>) -> Self {
        Self { reason, detail: detail.into() }
    }
}

/// One row of the `ingest_errors` table.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestError {
    /// Processing time (unix ms) at which the error was seen.
    pub at_ms: i64,
    /// The stream the record was meant for.
    pub stream: String,
    /// Where the record came from: `file:line` or `topic/partition/offset`.
    pub source: String,
    /// Why it was not counted.
    pub reason: ErrorReason,
    /// The first 1 KiB of the record, lossy UTF-8, so that an operator can see what it was.
    pub sample: String,
}

/// The most of a bad record that `ingest_errors.sample` keeps.
pub const SAMPLE_BYTES: usize = 1024;

/// The first [`SAMPLE_BYTES`] of `bytes` as lossy UTF-8 (never splits the output mid-character).
pub fn sample_of(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(SAMPLE_BYTES)];
    String::from_utf8_lossy(cut).into_owned()
}
