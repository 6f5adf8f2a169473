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
//! Data flows one way: the engine hands closed windows here, and `queries` reads what
//! this crate keeps. Nothing here knows Kafka or rules.

pub mod checkpoint;
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

/// `"2m"`-style durations in config files (`#[serde(deserialize_with = "...")]`), for
/// this crate's configs and those of the crates that read what it keeps.
pub fn deserialize_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<std::time::Duration, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(d)?;
    humantime::parse_duration(&text).map_err(serde::de::Error::custom)
}
