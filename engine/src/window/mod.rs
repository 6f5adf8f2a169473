//! Event-time windows, watermarks and partial aggregates.
//!
//! Invariants:
//! - windows are aligned to the Unix epoch: a window starts at a multiple of
//!   its `slide`, and an event at `ts` belongs to every window with
//!   `start <= ts < start + width` (one for tumbling windows, `width / slide`
//!   for hopping ones);
//! - a window is emitted exactly once, when the watermark passes its end, and
//!   a contribution to a window that has closed is refused (and reported as
//!   late), never merged into a row that was already emitted;
//! - cells hold mergeable partials (count, sum, min, max), so rows from
//!   several lanes or workers merge by summing counts and sums and taking the
//!   min of mins and max of maxes.

mod watermark;

pub use watermark::{LaneClock, Watermark};

use std::borrow::Cow;
use std::collections::BTreeMap;

use hashbrown::HashMap;

/// Width and hop of a rule's windows, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowSpec {
    pub width_ms: i64,
    pub slide_ms: i64,
}

impl WindowSpec {
    pub fn tumbling(width_ms: i64) -> Self {
        Self { width_ms, slide_ms: width_ms }
    }

    /// Start of the latest window containing `ts`.
    pub fn last_start(&self, ts: i64) -> i64 {
        ts.div_euclid(self.slide_ms) * self.slide_ms
    }

    /// Starts of every window containing `ts`, latest first.
    pub fn starts(&self, ts: i64) -> impl Iterator<Item = i64> + '_ {
        self.starts_from(self.last_start(ts), ts)
    }

    /// [`Self::starts`], given `last = self.last_start(ts)`.
    fn starts_from(&self, last: i64, ts: i64) -> impl Iterator<Item = i64> + '_ {
        let width = self.width_ms;
        std::iter::successors(Some(last), move |s| Some(s - self.slide_ms)).take_while(move |s| s + width > ts)
    }
}

/// A partial aggregate: what one (rule, window, host, key) saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub count: u64,
    /// Sum of values; 0 and unused for rules without a value.
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl Cell {
    pub const EMPTY: Cell = Cell { count: 0, sum: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY };

    #[inline]
    pub fn add(&mut self, count: u64, value: Option<f64>) {
        self.count += count;
        if let Some(v) = value {
            self.sum += v * count as f64;
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
    }

    pub fn merge(&mut self, other: &Cell) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }
}

/// Group identity inside a window: interned host and key.
pub type CellKey = (u32, u32);

/// One closed window's rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedWindow {
    pub start_ms: i64,
    pub end_ms: i64,
    pub cells: Vec<(CellKey, Cell)>,
}

/// The open windows of one rule.
#[derive(Debug, Clone, Default)]
pub struct RuleWindows {
    /// Open windows by start; closed from the front as the watermark passes.
    open: BTreeMap<i64, HashMap<CellKey, Cell>>,
    /// Every window ending at or before this has been emitted.
    closed_through: Option<i64>,
    /// The last `(slide, latest window start)` computed: consecutive events
    /// mostly fall in the same slide, and this spares them a 64-bit division.
    last_slide: (i64, i64),
    /// The cell last added to, held here and written back to `open` later: a rule's
    /// events mostly land in the same window and key as the one before, and this
    /// spares them a tree descent and a hash probe (about 9 ns an add). Readers take
    /// it in place of the copy in `open`.
    pending: Option<PendingCell>,
    /// Start of the oldest open window (`None`: none open). Every rule of a stream is
    /// asked at every advance whether a window is due; this answers from the rules'
    /// array, which is walked in order, without reaching into each rule's tree.
    oldest_start: Option<i64>,
}

/// The current value of one cell of an open window, ahead of its copy in `open` (which
/// always exists). The whole value is held, not a delta: adds then happen in the same
/// order as without it, so sums come out the same bit for bit, however often it is
/// written back (at a checkpoint, a close, another key).
#[derive(Debug, Clone, Copy)]
struct PendingCell {
    start: i64,
    key: CellKey,
    cell: Cell,
    /// Added to since it was taken from `open`: only then is it written back.
    dirty: bool,
}

impl RuleWindows {
    /// Adds to every window of `ts`; returns false when any of them had already closed (late).
    #[inline]
    pub fn add(&mut self, spec: &WindowSpec, ts: i64, key: CellKey, count: u64, value: Option<f64>) -> bool {
        let mut on_time = true;
        let (slide, slide_start) = self.last_slide;
        // (checked: timestamps far apart must not wrap into the cached slide)
        let last = if slide == spec.slide_ms && ts.checked_sub(slide_start).is_some_and(|d| (0..slide).contains(&d)) {
            slide_start
        } else {
            let last = spec.last_start(ts);
            self.last_slide = (spec.slide_ms, last);
            last
        };
        for start in spec.starts_from(last, ts) {
            if self.closed_through.is_some_and(|c| start + spec.width_ms <= c) {
                on_time = false;
                continue;
            }
            self.add_to(start, key, count, value);
        }
        on_time
    }

    /// Adds to the cell `key` of the open window at `start`.
    #[inline]
    fn add_to(&mut self, start: i64, key: CellKey, count: u64, value: Option<f64>) {
        if let Some(pending) = &mut self.pending
            && pending.start == start
            && pending.key == key
        {
            pending.cell.add(count, value);
            pending.dirty = true;
            return;
        }
        self.add_to_cell(start, key, count, value);
    }

    /// [`Self::add_to`] past the pending cell: out of line, so that the common case
    /// inlines into the caller without this one's register saves.
    #[inline(never)]
    fn add_to_cell(&mut self, start: i64, key: CellKey, count: u64, value: Option<f64>) {
        self.write_back_pending();
        // Most events land in the newest window: reach it without a search.
        let cells = match self.open.last_entry() {
            Some(newest) if *newest.key() == start => newest.into_mut(),
            _ => self.open.entry(start).or_default(),
        };
        let cell = cells.entry(key).or_insert(Cell::EMPTY);
        cell.add(count, value);
        self.pending = Some(PendingCell { start, key, cell: *cell, dirty: false });
        self.oldest_start = Some(self.oldest_start.map_or(start, |oldest| oldest.min(start)));
    }

    /// Writes the pending cell back to `open`.
    fn write_back_pending(&mut self) {
        if let Some(pending) = self.pending.take()
            && pending.dirty
        {
            let cells = self.open.get_mut(&pending.start).expect("a pending cell's window is open");
            cells.insert(pending.key, pending.cell);
        }
    }

    /// The cells of the open window at `start`, with the pending cell's current value.
    fn cells_with_pending<'a>(&self, start: i64, cells: &'a HashMap<CellKey, Cell>) -> Cow<'a, HashMap<CellKey, Cell>> {
        match self.pending {
            Some(pending) if pending.start == start && pending.dirty => {
                let mut merged = cells.clone();
                merged.insert(pending.key, pending.cell);
                Cow::Owned(merged)
            }
            _ => Cow::Borrowed(cells),
        }
    }

    /// Would any window of `ts` be closed already?
    pub fn is_late(&self, spec: &WindowSpec, ts: i64) -> bool {
        self.closed_through.is_some_and(|c| spec.starts(ts).any(|s| s + spec.width_ms <= c))
    }

    /// Closes every window ending at or before `watermark`, oldest first.
    pub fn close_until(&mut self, spec: &WindowSpec, watermark: i64, out: &mut Vec<ClosedWindow>) {
        // Windows end at start + width; close those with end <= watermark.
        let first_open_start = watermark - spec.width_ms + 1;
        // Most calls close nothing (every rule of a stream is asked at every advance):
        // those skip the merge and the tree split.
        if self.oldest_start.is_some_and(|oldest| oldest < first_open_start) {
            self.write_back_pending();
            let still_open = self.open.split_off(&first_open_start);
            let closing = std::mem::replace(&mut self.open, still_open);
            for (start, cells) in closing {
                out.push(ClosedWindow {
                    start_ms: start,
                    end_ms: start + spec.width_ms,
                    cells: cells.into_iter().collect(),
                });
            }
            self.oldest_start = self.open.first_key_value().map(|(&start, _)| start);
        }
        // Window ends are multiples of slide (+ width offset); record the last passed end.
        let last_end = spec.last_start(watermark - spec.width_ms) + spec.width_ms;
        if self.closed_through.is_none_or(|c| last_end > c) {
            self.closed_through = Some(last_end);
        }
    }

    pub fn closed_through(&self) -> Option<i64> {
        self.closed_through
    }

    pub fn open_windows(&self) -> usize {
        self.open.len()
    }

    pub fn open_cells(&self) -> usize {
        // (The pending cell was created in its window when it became pending.)
        self.open.values().map(HashMap::len).sum()
    }

    /// Heap bytes of the open cells (hash tables and tree nodes).
    pub fn heap_bytes(&self) -> usize {
        self.open.values().map(|m| m.allocation_size() + std::mem::size_of::<(i64, HashMap<CellKey, Cell>)>()).sum()
    }

    /// Open windows as `(start, cells)`, oldest first (checkpoints).
    pub fn open_cells_iter(&self) -> impl Iterator<Item = (i64, Cow<'_, HashMap<CellKey, Cell>>)> {
        self.open.iter().map(|(&start, cells)| (start, self.cells_with_pending(start, cells)))
    }

    /// Rebuilds a rule's windows from a checkpoint.
    pub fn restore(closed_through: Option<i64>, open: BTreeMap<i64, HashMap<CellKey, Cell>>) -> Self {
        let oldest_start = open.first_key_value().map(|(&start, _)| start);
        Self { open, closed_through, last_slide: (0, 0), pending: None, oldest_start }
    }

    /// The open windows' partial values so far (for `live_aggregates`).
    pub fn open_snapshot(&self, spec: &WindowSpec) -> Vec<ClosedWindow> {
        self.open
            .iter()
            .map(|(&start, cells)| ClosedWindow {
                start_ms: start,
                end_ms: start + spec.width_ms,
                cells: self.cells_with_pending(start, cells).iter().map(|(k, c)| (*k, *c)).collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
