//! logpulse ingest: turning bytes into [`Event`]s.
//!
//! This crate knows nothing of rules. It offers:
//! - [`lines::LineReader`]: splits a byte stream into lines, enforcing `max_line_bytes`
//!   without ever buffering more than that, and reporting invalid UTF-8;
//! - [`raw::RawDecoder`]: raw lines, event time ([`raw::TimeExtractor`]) and host
//!   ([`raw::HostExtractor`]) from the stream's regexes;
//! - [`time::TimeParser`]: event time from a chrono format or `rfc3339`/`unix`/`unix_ms`,
//!   for raw and JSON streams, and unix seconds for nginx and Qalarm;
//! - [`pattern`]: the limits every user regex is compiled under and the regex fast paths
//!   (one capture from a line, literal frames, the short compare), also the engine's;
//! - [`nginx::LogFormat`]: compiles any nginx `log_format` string into a parser;
//! - [`qalarm`]: Qalarm events from MessagePack (named maps or rmp-serde compact arrays);
//! - [`json::JsonDecoder`]: one JSON object per line, dotted paths as fields;
//! - [`error`]: bad input ([`DecodeError`], [`IngestError`]) and bad settings ([`ConfigError`]).
//!
//! Invariants:
//! - decoders are pure (no I/O: the sources that read live in the binary) and never panic on any input; bad input is an
//!   [`IngestError`] with an [`ErrorReason`], never a silently guessed value;
//! - a decoded [`Event`] borrows from the input line where it can.

#![deny(unsafe_code)]

pub mod error;
pub mod event;
pub mod json;
pub mod lines;
pub mod nginx;
pub mod pattern;
pub mod qalarm;
pub mod raw;
pub mod time;

pub use error::{ConfigError, ConfigField, DecodeError, ErrorReason, IngestError};
pub use event::{Event, FieldValue};
