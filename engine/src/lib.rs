//! logpulse engine: rule files in, windowed partial aggregates out.
//!
//! - [`config`]: the rule file model (`[[stream]]`, `[[rule]]`, `[[alert]]`), with spans;
//! - [`compile`]: validation and compilation to a [`compile::RuleSet`];
//! - [`duration`]: the one duration parser (rule files, and the sinks' and worker's configs);
//! - [`matcher`]: the one-pass multi-pattern matcher;
//! - [`expr`]: `filter` and `when` expressions;
//! - [`window`]: event-time windows, watermarks, partial aggregates;
//! - [`pipeline`]: the [`Engine`] that ties them together;
//! - [`batch`]: the `aggregates` Arrow schema;
//! - [`alert`]: rule alerts evaluated on closed windows, in event time;
//! - [`checkpoint`]: the engine's state as plain data, for crash-safe restarts.
//!
//! The engine does no I/O and reads no clock: callers hand it decoded events
//! and processing time, and take closed windows out as Arrow record batches.
//!
//! Layout: imports between files form no cycle (`scripts/check-import-cycles.py`); a
//! `mod.rs` declares its modules, re-exports, and holds only what no file below it
//! needs. A module's unit tests are in a sibling `tests.rs` declared
//! `#[cfg(test)] mod tests;`: `x/tests.rs` for `x/mod.rs` and for a file module `x.rs`
//! alike; saved proptest cases follow the test file's path under
//! `proptest-regressions/` (`x/tests.rs` -> `proptest-regressions/x/tests.txt`).

#![forbid(unsafe_code)]

pub mod alert;
pub mod batch;
pub mod checkpoint;
pub mod compile;
pub mod config;
pub mod duration;
pub mod expr;
pub mod matcher;
pub mod pipeline;
pub mod window;

pub use compile::{RuleSet, compile};
pub use config::{RuleError, RuleErrors, SourceFile};
pub use pipeline::{Engine, RecordMeta};
