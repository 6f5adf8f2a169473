//! logpulse ingest: turning bytes into [`Event`]s.
//!
//! This crate knows nothing of rules. It offers:
//! - [`lines::LineReader`]: splits a byte stream into lines, enforcing `max_line_bytes`
//!   without ever buffering more than that, and reporting invalid UTF-8;
//! - [`raw::RawDecoder`]: event time from a regex + chrono format, host from a regex or fixed name;
//! - [`nginx::LogFormat`]: compiles any nginx `log_format` string into a parser;
//! - [`qalarm`]: Qalarm events from MessagePack (named maps or rmp-serde compact arrays);
//! - [`json::JsonDecoder`]: one JSON object per line, dotted paths as fields.
//!
//! Invariants:
//! - decoders are pure (no I/O: the sources that read live in the binary) and never panic on any input; bad input is an
//!   [`IngestError`] with an [`ErrorReason`], never a silently guessed value;
//! - a decoded [`Event`] borrows from the input line where it can.

pub mod error;
pub mod event;
pub mod json;
pub mod lines;
pub mod nginx;
pub mod qalarm;
pub mod raw;

pub use error::{ConfigError, ConfigField, DecodeError, ErrorReason, IngestError};
pub use event::{Event, FieldValue};
