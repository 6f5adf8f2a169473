//! The open windows of every lane, for `live_aggregates`.
//!
//! Lanes publish their open windows as a batch on their flush tick, but only while
//! somebody reads them (a query in the last [`WANTED_FOR`]): building the batch of
//! every open cell is not free, and most workers are never asked.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use arrow::array::RecordBatch;

/// How long after a read lanes keep publishing.
const WANTED_FOR_MS: i64 = 5 * 60 * 1000;

#[derive(Default)]
pub struct LiveBoard {
    /// The newest batch of each lane.
    batches: Mutex<BTreeMap<String, RecordBatch>>,
    /// When `live_aggregates` was last read (unix ms); 0 never.
    last_read_ms: AtomicI64,
}

impl LiveBoard {
    pub fn wanted(&self) -> bool {
        let last = self.last_read_ms.load(Ordering::Relaxed);
        last > 0 && crate::machine::now_ms() - last < WANTED_FOR_MS
    }

    pub fn publish(&self, lane: &str, batch: RecordBatch) {
        self.batches.lock().unwrap_or_else(|p| p.into_inner()).insert(lane.to_string(), batch);
    }

    pub fn remove(&self, lane: &str) {
        self.batches.lock().unwrap_or_else(|p| p.into_inner()).remove(lane);
    }
}

impl queries::LiveSource for LiveBoard {
    fn live_aggregates(&self) -> Vec<RecordBatch> {
        // The first read after a quiet spell sees what was published before it (or
        // nothing); lanes publish again within one flush interval.
        self.last_read_ms.store(crate::machine::now_ms(), Ordering::Relaxed);
        self.batches.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }
}
