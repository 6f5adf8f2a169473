//! Errors: of bad input, and of bad configuration.
//!
//! Invariants:
//! - bad input never stops a pipeline: each bad record becomes an [`IngestError`] row
//!   (the `ingest_errors` table) and the pipeline goes on; a [`DecodeError`]'s detail
//!   quotes at most a short piece of the record (`short`, [`sample_of`]);
//! - bad configuration is found once, when a stream is built: a [`ConfigError`] names
//!   the setting as a [`ConfigField`], which the engine matches to point at the setting in
//!   the rule file, and whose text (`time.regex`, ...) is the one users see.

use std::borrow::Cow;
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

/// How much of a bad text an error detail quotes.
const DETAIL_SAMPLE_CHARS: usize = 64;

/// Cuts `text` to a short prefix for error details (never mid-character).
pub(crate) fn short(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(DETAIL_SAMPLE_CHARS) {
        Some((cut, _)) => Cow::Owned(format!("{}...", &text[..cut])),
        None => Cow::Borrowed(text),
    }
}

/// Config-level error: which setting is bad and why (the engine maps `field` to a span in the rule file).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// The setting, so the engine can point at the right place in the file; it prints
    /// as the rule file spells it (`time.regex`, `format`, ...).
    pub field: ConfigField,
    /// What is wrong with it, for a human.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(field: ConfigField, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}

/// The setting a [`ConfigError`] is about. A time parser's own settings (`format`, `tz`,
/// `year`) are bare: the json stream's `time` table reports them so. A raw stream's time
/// extractor reports them inside its `time` table ([`ConfigField::in_time_table`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigField {
    /// A time parser's `format`.
    Format,
    /// A time parser's `tz`.
    Tz,
    /// A time parser's `year`.
    Year,
    /// A raw stream's `time.regex`.
    TimeRegex,
    /// A raw stream's `time.format`.
    TimeFormat,
    /// A raw stream's `time.tz`.
    TimeTz,
    /// A raw stream's `time.year`.
    TimeYear,
    /// A raw stream's `host.regex`.
    HostRegex,
}

impl ConfigField {
    /// The setting's name as the rule file spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigField::Format => "format",
            ConfigField::Tz => "tz",
            ConfigField::Year => "year",
            ConfigField::TimeRegex => "time.regex",
            ConfigField::TimeFormat => "time.format",
            ConfigField::TimeTz => "time.tz",
            ConfigField::TimeYear => "time.year",
            ConfigField::HostRegex => "host.regex",
        }
    }

    /// The same setting inside the `time` table (`format` is `time.format`), for the raw
    /// stream's time extractor, which wraps a time parser. Settings already inside a
    /// table stay as they are.
    pub fn in_time_table(self) -> ConfigField {
        match self {
            ConfigField::Format => ConfigField::TimeFormat,
            ConfigField::Tz => ConfigField::TimeTz,
            ConfigField::Year => ConfigField::TimeYear,
            nested => nested,
        }
    }
}

impl fmt::Display for ConfigField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
