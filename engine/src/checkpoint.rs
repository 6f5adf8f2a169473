//! The engine's state as plain data, for checkpoints.
//!
//! A checkpoint holds what is not yet in any table: the open windows'
//! partial cells, how far each rule has closed, and each lane's clock. The
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
    /// `(lane, newest event time, last arrival)`.
    pub lanes: Vec<(u32, i64, i64)>,
}

impl WindowSnapshot {
    pub(crate) fn cell(c: &(u32, u32, u64, f64, f64, f64)) -> ((u32, u32), Cell) {
        ((c.0, c.1), Cell { count: c.2, sum: c.3, min: c.4, max: c.5 })
    }
}

impl StreamSnapshot {
    pub(crate) fn clocks(&self) -> impl Iterator<Item = (u32, LaneClock)> + '_ {
        self.lanes
            .iter()
            .map(|&(lane, max_event_ms, last_arrival_ms)| (lane, LaneClock { max_event_ms, last_arrival_ms }))
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
