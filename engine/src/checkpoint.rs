//! The engine's state as plain data, for checkpoints.
//!
//! A checkpoint holds what is not yet in any table: the open windows'
//! partial cells, how far each rule has closed, and each stream's clock. The
//! caller stores it (the engine does no I/O) together with the input
//! position it belongs to; restoring it and re-reading the input from that
//! position gives the same closed windows as a run that never stopped.
//!
//! Invariants:
//! - state is matched to rules by name *and* definition: a rule whose
//!   definition changed between the checkpoint and the restore starts empty
//!   (its old partial cells meant something else), and a rule that is gone
//!   is dropped;
//! - strings are stored once, in a table the cells refer to by index, so a
//!   checkpoint of 100k cells with a few hundred hosts stays small.

use serde::{Deserialize, Serialize};

use crate::window::{Cell, LaneClock};

/// Bumped when the layout changes; an older checkpoint is refused, not misread.
pub const SNAPSHOT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineSnapshot {
    pub version: u32,
    /// Hosts and group keys the cells refer to, by index.
    pub strings: Vec<String>,
    pub rules: Vec<RuleSnapshot>,
    pub streams: Vec<StreamSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSnapshot {
    pub name: String,
    /// The rule's definition when the checkpoint was taken.
    pub definition: String,
    /// Every window ending at or before this has been emitted.
    pub closed_through: Option<i64>,
    pub windows: Vec<WindowSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowSnapshot {
    pub start_ms: i64,
    /// `(host, key, count, sum, min, max)`; host and key index `strings`.
    pub cells: Vec<(u32, u32, u64, f64, f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamSnapshot {
    pub name: String,
    /// `(lane, newest event time, last arrival)`: the stream's clock, empty before its
    /// first event. An engine reads one lane and writes it as lane 0; the layout keeps
    /// the lane number (and a list), so checkpoints are written as they always were.
    pub lanes: Vec<(u32, i64, i64)>,
}

impl WindowSnapshot {
    pub(crate) fn cell(c: &(u32, u32, u64, f64, f64, f64)) -> ((u32, u32), Cell) {
        ((c.0, c.1), Cell { count: c.2, sum: c.3, min: c.4, max: c.5 })
    }
}

impl StreamSnapshot {
    pub(crate) fn new(name: String, clock: Option<LaneClock>) -> Self {
        let lanes = clock.map(|c| (0, c.max_event_ms, c.last_arrival_ms)).into_iter().collect();
        StreamSnapshot { name, lanes }
    }

    /// The stream's clock; `None` before its first event. Entries of several lanes
    /// (never written: the engine's callers have always read one lane per engine, as
    /// lane 0) fold into one clock, as if their events had come on one lane.
    pub(crate) fn clock(&self) -> Option<LaneClock> {
        let clocks =
            self.lanes.iter().map(|&(_, max_event_ms, last_arrival_ms)| LaneClock { max_event_ms, last_arrival_ms });
        clocks.reduce(|a, b| LaneClock {
            max_event_ms: a.max_event_ms.max(b.max_event_ms),
            last_arrival_ms: a.last_arrival_ms.max(b.last_arrival_ms),
        })
    }
}

/// Why a snapshot could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("checkpoint version {found} is not {SNAPSHOT_VERSION}")]
    Version { found: u32 },
    #[error("checkpoint cell refers to string {index}, but it holds {len}")]
    StringIndex { index: u32, len: usize },
}

#[cfg(test)]
mod tests;
