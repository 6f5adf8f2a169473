use std::time::Duration;

use serde::Deserialize;

/// Limits every query runs under. Each has a default; see `Default`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// Wall-clock limit of one query, planning included.
    #[serde(deserialize_with = "sinks::deserialize_duration")]
    pub timeout: Duration,
    /// Memory one query may hold in operators (hash tables, sorts), through DataFusion's
    /// memory pool. Over it the query fails; it never spills to disk.
    pub memory_limit: usize,
    /// Bytes of result one query may return: the pool does not see collected results.
    pub max_result_bytes: usize,
    /// Queries running at once; the rest wait their turn (their timeout runs meanwhile).
    pub max_concurrent: usize,
    /// Threads of parallelism inside one query; 0 means one per core. Small queries run
    /// on one (`single_partition_rows`).
    pub target_partitions: usize,
    /// A query whose scans can read at most this many rows runs on one partition,
    /// whatever `target_partitions` says: splitting a small scan across cores costs
    /// more than it saves. The rows are counted before the query runs: those of every
    /// Parquet file that the query's filters do not rule out by the file's statistics,
    /// plus the rows in memory. 0 turns this off.
    pub single_partition_rows: u64,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            memory_limit: 512 << 20,
            max_result_bytes: 256 << 20,
            max_concurrent: 4,
            target_partitions: 0,
            single_partition_rows: 200_000,
        }
    }
}

impl QueryConfig {
    pub(crate) fn validate(&self) -> Result<(), crate::error::QueryError> {
        if self.timeout.is_zero() || self.memory_limit == 0 || self.max_result_bytes == 0 || self.max_concurrent == 0 {
            return Err(crate::error::QueryError::Config(
                "timeout, memory_limit, max_result_bytes and max_concurrent must be positive".into(),
            ));
        }
        Ok(())
    }
}
