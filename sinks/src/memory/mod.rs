//! The recent past of a table, as the Arrow batches that were written to Parquet.
//!
//! # Invariants
//! - Every batch pushed here is already durable in the [`crate::ParquetStore`]: the
//!   writer writes Parquet first, then pushes. So memory is a cache of the newest part
//!   of the history, never the only copy.
//! - The **cut** splits the table between the two: memory answers for rows whose
//!   sequence column (`window_end`) is above the cut, Parquet for rows at or below it.
//!   Memory holds *every* pushed row above the cut; eviction raises the cut to the
//!   newest sequence value it dropped. A reader takes the cut and the batches in one
//!   [`RecentBatches::snapshot`], so it never counts a row twice or misses one, even
//!   while eviction runs.
//! - On start the cut is the newest durable sequence value (the greatest high-water
//!   mark), so history written before the start is read from Parquet.

use std::collections::VecDeque;
use std::time::Duration;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute;
use datafusion::arrow::datatypes::TimestampMillisecondType;
use serde::Deserialize;

/// How much of the recent past stays in memory. Whichever bound is hit first evicts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Keep rows whose `window_end` is within this of the newest one.
    #[serde(deserialize_with = "engine::duration::deserialize_duration")]
    pub max_age: Duration,
    /// Keep at most this many bytes of Arrow buffers.
    pub max_bytes: usize,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self { max_age: Duration::from_secs(6 * 3600), max_bytes: 256 << 20 }
    }
}

impl RetentionConfig {
    /// Checks the bounds and returns an empty store whose cut is `cut_ms`.
    pub fn build(self, seq_column: &'static str, cut_ms: i64) -> Result<RecentBatches, crate::error::SinkError> {
        if self.max_bytes == 0 || self.max_age.is_zero() {
            return Err(crate::error::SinkError::Config("retention max_age and max_bytes must be positive".into()));
        }
        Ok(RecentBatches { retention: self, seq_column, cut_ms, batches: VecDeque::new(), bytes: 0, newest_ms: cut_ms })
    }
}

/// One pushed batch with its sequence bounds, so eviction need not rescan it.
#[derive(Debug, Clone)]
struct Entry {
    batch: RecordBatch,
    max_seq: i64,
    bytes: usize,
}

/// A snapshot for one query: rows above `cut_ms` are in `batches` (filter them by it),
/// rows at or below it are in Parquet.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub cut_ms: i64,
    pub batches: Vec<RecordBatch>,
}

#[derive(Debug)]
pub struct RecentBatches {
    retention: RetentionConfig,
    /// The timestamp column that orders rows (`window_end`).
    seq_column: &'static str,
    /// See the module docs.
    cut_ms: i64,
    /// Oldest first, in push order.
    batches: VecDeque<Entry>,
    /// Sum of the entries' Arrow buffer sizes.
    bytes: usize,
    /// The newest sequence value pushed: the age bound is measured from it (event time,
    /// not the wall clock, so a replay keeps what a live run keeps).
    newest_ms: i64,
}

impl RecentBatches {
    /// Adds a batch that is already durable, then evicts what the retention no longer allows.
    pub fn push(&mut self, batch: RecordBatch) {
        if batch.num_rows() == 0 {
            return;
        }
        let seq = batch.column_by_name(self.seq_column).expect("seq column").as_primitive::<TimestampMillisecondType>();
        let max_seq = compute::max(seq).unwrap_or(i64::MIN);
        let bytes = batch.get_array_memory_size();
        self.newest_ms = self.newest_ms.max(max_seq);
        self.bytes += bytes;
        self.batches.push_back(Entry { batch, max_seq, bytes });
        self.evict();
    }

    fn evict(&mut self) {
        let oldest_allowed = self.newest_ms.saturating_sub(self.retention.max_age.as_millis() as i64);
        while let Some(front) = self.batches.front() {
            let too_old = front.max_seq <= oldest_allowed;
            if !too_old && self.bytes <= self.retention.max_bytes {
                break;
            }
            let entry = self.batches.pop_front().expect("front exists");
            self.bytes -= entry.bytes;
            self.cut_ms = self.cut_ms.max(entry.max_seq);
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot { cut_ms: self.cut_ms, batches: self.batches.iter().map(|e| e.batch.clone()).collect() }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn cut_ms(&self) -> i64 {
        self.cut_ms
    }
}

#[cfg(test)]
mod tests;
