//! Where results go once the engine has closed them.
//!
//! - [`tables`]: the four tables of DESIGN.md ("Tables") as Arrow schemas, and the
//!   builders that turn ingest errors and Qalarm events into their rows;
//! - [`parquet`]: the history on disk, `<data_dir>/<table>/date=YYYY-MM-DD/hour=HH/`,
//!   written atomically and idempotently, and compacted per hour;
//! - [`checkpoint`]: per-lane checkpoints (input position and open windows), atomic;
//! - [`memory`]: the recent past of a table as Arrow batches, bounded by age and bytes,
//!   so that dashboards over the last minutes never touch disk.
//!
//! - [`durable`]: atomic file writes, durable folders, and the one-step folder swap.
//!
//! Data flows one way: the engine hands closed windows here, and `queries` reads what
//! this crate keeps. Nothing here knows Kafka or rules.

#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod durable;
pub mod error;
pub mod fault;
pub mod memory;
pub mod parquet;
pub mod tables;

pub use checkpoint::{Checkpoint, CheckpointStore, write_atomic};
pub use error::SinkError;
pub use memory::{RecentBatches, RetentionConfig};
pub use parquet::{ParquetStore, ParquetStoreConfig, SeqRange, WriteOutcome, rows_after};
pub use tables::Table;

/// `"2m"`-style durations in config files: the project's one parser ([`engine::duration`]),
/// re-exported for the crates that read what this one keeps.
pub use engine::duration::deserialize_duration;
