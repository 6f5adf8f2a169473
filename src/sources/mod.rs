//! The sources: where the worker's bytes come from. The only code that reads input;
//! decoding them into events is `ingest`'s, which does no I/O.
//!
//! - [`kafka`]: a consumer-group member whose offsets belong to the caller's checkpoints;
//! - [`tail`]: follows a file through appends, truncation and rotation.

pub mod kafka;
pub mod tail;
