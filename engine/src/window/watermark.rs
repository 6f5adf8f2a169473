//! Per-lane watermarks.
//!
//! A lane is one ordered input: a Kafka partition, a file. The engine knows
//! no Kafka; the caller numbers lanes. A stream's watermark is the minimum
//! over its lanes of (newest event time - lateness), so that a lagging lane
//! holds windows open until it catches up.
//!
//! With a processing-time clock (`now`, passed in by the caller; the engine
//! reads no clock) two more rules apply:
//! - a lane quiet for longer than `idle_timeout` stops holding the watermark back;
//! - a quiet lane's time moves on with the clock from its newest event
//!   (newest + time since it arrived), so the last windows of a burst close
//!   `lateness` after the input stops instead of never.
//!
//! Without a clock (`now = None`: replays, tests) the watermark is a pure
//! function of the events seen, which keeps replays deterministic.

use std::collections::BTreeMap;

/// What one lane has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneClock {
    /// Newest event time seen on the lane.
    pub max_event_ms: i64,
    /// Processing time at which that lane last delivered an event.
    pub last_arrival_ms: i64,
}

/// The watermark of one stream.
#[derive(Debug, Clone)]
pub struct Watermark {
    /// How far behind the newest event time windows stay open.
    pub lateness_ms: i64,
    /// A lane quiet for longer than this does not hold the watermark back.
    pub idle_timeout_ms: i64,
    /// Lanes by caller-chosen id.
    lanes: BTreeMap<u32, LaneClock>,
}

impl Watermark {
    pub fn new(lateness_ms: i64, idle_timeout_ms: i64) -> Self {
        Self { lateness_ms, idle_timeout_ms, lanes: BTreeMap::new() }
    }

    #[inline]
    pub fn observe(&mut self, lane: u32, event_ms: i64, now_ms: i64) {
        let clock = self.lanes.entry(lane).or_insert(LaneClock { max_event_ms: event_ms, last_arrival_ms: now_ms });
        if event_ms >= clock.max_event_ms {
            clock.max_event_ms = event_ms;
        }
        clock.last_arrival_ms = clock.last_arrival_ms.max(now_ms);
    }

    /// Forgets a lane (a Kafka partition revoked from this worker).
    pub fn remove_lane(&mut self, lane: u32) -> Option<LaneClock> {
        self.lanes.remove(&lane)
    }

    /// Restores a lane from a checkpoint.
    pub fn restore_lane(&mut self, lane: u32, clock: LaneClock) {
        self.lanes.insert(lane, clock);
    }

    pub fn lanes(&self) -> impl Iterator<Item = (u32, LaneClock)> + '_ {
        self.lanes.iter().map(|(&l, &c)| (l, c))
    }

    /// Newest event time over all lanes.
    pub fn newest_event(&self) -> Option<i64> {
        self.lanes.values().map(|c| c.max_event_ms).max()
    }

    /// The watermark; `None` until some lane has seen an event.
    pub fn current(&self, now_ms: Option<i64>) -> Option<i64> {
        let Some(now) = now_ms else {
            return self.lanes.values().map(|c| c.max_event_ms).min().map(|t| t - self.lateness_ms);
        };
        let effective = |c: &LaneClock| c.max_event_ms + (now - c.last_arrival_ms).max(0);
        let active =
            self.lanes.values().filter(|c| now - c.last_arrival_ms <= self.idle_timeout_ms).map(effective).min();
        active.or_else(|| self.lanes.values().map(effective).max()).map(|t| t - self.lateness_ms)
    }
}

#[cfg(test)]
mod tests;
