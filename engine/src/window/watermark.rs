//! The watermark of one stream in one engine.
//!
//! An engine reads one ordered input, its *lane* (the worker runs one engine per
//! Kafka partition and per followed file; a replay is one lane), so a stream's
//! watermark follows one clock: the newest event time seen, less `lateness`. An
//! event older than the newest does not move it back.
//!
//! With a processing-time clock (`now`, passed in by the caller; the engine reads no
//! clock) a quiet stream's time moves on with the clock from its newest event
//! (newest + time since it arrived), so the last windows of a burst close `lateness`
//! after the input stops instead of never.
//!
//! Without a clock (`now = None`: replays, tests) the watermark is a pure function of
//! the events seen, which keeps replays deterministic.
//!
//! Holding windows open for the slowest of several inputs, and not waiting for an
//! input idle past the stream's `idle_timeout`, is the business of whoever combines
//! several engines' windows (the worker's alert hub), not of one engine.

/// What the stream's lane has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneClock {
    /// Newest event time seen.
    pub max_event_ms: i64,
    /// Processing time at which the lane last delivered an event.
    pub last_arrival_ms: i64,
}

/// The watermark of one stream.
#[derive(Debug, Clone)]
pub struct Watermark {
    /// How far behind the newest event time windows stay open.
    pub lateness_ms: i64,
    /// `None` until the stream's first event.
    clock: Option<LaneClock>,
}

impl Watermark {
    pub fn new(lateness_ms: i64) -> Self {
        Self { lateness_ms, clock: None }
    }

    #[inline]
    pub fn observe(&mut self, event_ms: i64, now_ms: i64) {
        let clock = self.clock.get_or_insert(LaneClock { max_event_ms: event_ms, last_arrival_ms: now_ms });
        if event_ms >= clock.max_event_ms {
            clock.max_event_ms = event_ms;
        }
        clock.last_arrival_ms = clock.last_arrival_ms.max(now_ms);
    }

    /// Restores the clock from a checkpoint.
    pub fn restore(&mut self, clock: LaneClock) {
        self.clock = Some(clock);
    }

    /// The clock, for a checkpoint; `None` before the first event.
    pub fn clock(&self) -> Option<LaneClock> {
        self.clock
    }

    /// Newest event time seen.
    pub fn newest_event(&self) -> Option<i64> {
        self.clock.map(|c| c.max_event_ms)
    }

    /// The watermark; `None` until the stream has seen an event.
    pub fn current(&self, now_ms: Option<i64>) -> Option<i64> {
        let c = self.clock?;
        let time = match now_ms {
            None => c.max_event_ms,
            Some(now) => c.max_event_ms + (now - c.last_arrival_ms).max(0),
        };
        Some(time - self.lateness_ms)
    }
}

#[cfg(test)]
mod tests;
