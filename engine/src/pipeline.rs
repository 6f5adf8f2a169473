//! The engine proper: events in, closed windows out as Arrow batches.
//!
//! Invariants:
//! - no I/O and no clock: the caller passes processing time (`now_ms`) in,
//!   so replays are deterministic and tests need no sleeping;
//! - each event is scanned once by its stream's matcher; captures run only
//!   for rules that matched and need them;
//! - a closed window is emitted once; contributions to closed windows are
//!   counted as late and reported, never dropped silently.

use std::sync::Arc;

use arrow::array::RecordBatch;
use hashbrown::HashMap;
use ingest::error::sample_of;
use ingest::{ErrorReason, Event, FieldValue, IngestError};
use regex_automata::Input;
use regex_automata::util::captures::Captures;

use crate::batch::AggregatesBuilder;
use crate::checkpoint::{EngineSnapshot, RestoreError, RuleSnapshot, SNAPSHOT_VERSION, StreamSnapshot, WindowSnapshot};
use crate::compile::{Rule, RuleId, RuleSet, Slot, StreamId, ValueSource};
use crate::expr::{Slots, Value};
use crate::matcher::Scratch;
use crate::window::{Cell, RuleWindows, Watermark};

/// Interned strings (hosts, group keys); id 0 is the empty string.
#[derive(Debug, Default)]
pub struct Interner {
    ids: HashMap<Box<str>, u32>,
    strings: Vec<Box<str>>,
    /// The id [`Interner::intern_host`] gave last: events mostly come from the host of
    /// the event before, and comparing with it is cheaper than hashing the name.
    last_host: u32,
}

impl Interner {
    pub fn new() -> Self {
        let mut i = Self::default();
        i.intern("");
        i
    }

    #[inline]
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }

    /// [`Interner::intern`] for host names, trying the last host first.
    #[inline]
    pub fn intern_host(&mut self, host: &str) -> u32 {
        if self.strings.get(self.last_host as usize).is_some_and(|last| **last == *host) {
            return self.last_host;
        }
        self.last_host = self.intern(host);
        self.last_host
    }

    pub fn get(&self, id: u32) -> &str {
        &self.strings[id as usize]
    }

    pub fn heap_bytes(&self) -> usize {
        self.strings.iter().map(|s| 2 * s.len()).sum::<usize>()
            + self.ids.allocation_size()
            + self.strings.capacity() * 16
    }
}

/// Where an event came from and what to assume when the event does not say.
#[derive(Debug, Clone, Copy)]
pub struct RecordMeta<'a> {
    /// The host when neither the record nor the stream names one.
    pub default_host: &'a str,
    /// The event time when the record has none (Kafka timestamp, else read time).
    pub default_time_ms: i64,
    /// Processing time: when the record arrived (a quiet stream's watermark moves on
    /// from it, see [`crate::window::Watermark`]), and `ingest_errors.at`.
    pub now_ms: i64,
}

/// Counters for `/metrics` and the replay summary.
#[derive(Debug, Clone, Default)]
pub struct EngineStats {
    pub events_in: u64,
    /// Per rule: events that counted.
    pub matched: Vec<u64>,
    /// Events refused because a window of theirs had closed.
    pub late_events: u64,
    /// Bad input by reason (decode, parse, time, too_long) as reported by the caller, and late.
    pub errors_by_reason: std::collections::BTreeMap<&'static str, u64>,
    pub windows_closed: u64,
    pub rows_emitted: u64,
}

/// The largest number of `ingest_errors` rows held before the caller takes them;
/// past it, errors are still counted but their rows are dropped (a flood of
/// garbage must not grow memory without bound).
pub const MAX_PENDING_ERRORS: usize = 100_000;

/// The windowed aggregation engine for one rule set.
pub struct Engine {
    rules: Arc<RuleSet>,
    /// Per rule: its open windows.
    windows: Vec<RuleWindows>,
    /// Per stream: its clock and lateness.
    watermarks: Vec<Watermark>,
    /// Per stream: matcher scratch.
    scratch: Vec<Scratch>,
    /// Hosts and group keys.
    interner: Interner,
    /// Patterns matched by the current event.
    matched: Vec<u32>,
    /// Per rule: a reusable capture buffer for its pattern.
    captures: Vec<Option<Captures>>,
    /// Per rule: a reusable capture buffer for its `{ after, before }` value.
    value_captures: Vec<Option<Captures>>,
    /// Reused buffer for building group keys.
    key_buffer: String,
    /// Closed rows not yet taken.
    closed: AggregatesBuilder,
    /// Bad input not yet taken.
    errors: Vec<IngestError>,
    stats: EngineStats,
}

impl Engine {
    pub fn new(rules: Arc<RuleSet>) -> Self {
        let watermarks = rules.streams.iter().map(|s| Watermark::new(s.lateness_ms)).collect();
        let scratch = rules.streams.iter().map(|s| s.matcher.new_scratch()).collect();
        Self {
            windows: vec![RuleWindows::default(); rules.rules.len()],
            captures: vec![None; rules.rules.len()],
            value_captures: vec![None; rules.rules.len()],
            watermarks,
            scratch,
            interner: Interner::new(),
            matched: Vec::new(),
            key_buffer: String::new(),
            closed: AggregatesBuilder::default(),
            errors: Vec::new(),
            stats: EngineStats { matched: vec![0; rules.rules.len()], ..Default::default() },
            rules,
        }
    }

    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    pub fn stream_id(&self, name: &str) -> Option<StreamId> {
        self.rules.streams.iter().position(|s| s.name == name)
    }

    /// Records bad input seen by the caller (decode, parse, time, too_long).
    pub fn record_error(&mut self, stream: StreamId, source: String, reason: ErrorReason, sample: &[u8], now_ms: i64) {
        *self.stats.errors_by_reason.entry(reason.as_str()).or_default() += 1;
        if self.errors.len() < MAX_PENDING_ERRORS {
            self.errors.push(IngestError {
                at_ms: now_ms,
                stream: self.rules.streams[stream].name.clone(),
                source,
                reason,
                sample: sample_of(sample),
            });
        }
    }

    /// Counts one event into every rule of `stream` that it matches.
    /// `source` names the record for `ingest_errors` if it turns out late.
    pub fn process(
        &mut self,
        stream_id: StreamId,
        event: &Event<'_>,
        meta: &RecordMeta<'_>,
        source: impl FnOnce() -> String,
    ) {
        // The rule set is borrowed apart from what the event updates, instead of
        // cloning its `Arc` per event (two atomic operations, 3% of a replay).
        let Engine {
            rules,
            windows,
            watermarks,
            scratch,
            interner,
            matched,
            captures,
            value_captures,
            key_buffer,
            stats,
            ..
        } = self;
        let stream = &rules.streams[stream_id];
        stats.events_in += 1;
        let ts = event.time_ms.unwrap_or(meta.default_time_ms);
        watermarks[stream_id].observe(ts, meta.now_ms);

        let host: &str = match (&event.host, &stream.fixed_host) {
            (Some(h), _) => h,
            (None, Some(h)) => h,
            (None, None) => meta.default_host,
        };
        let mut host_id = None;
        let text: &str = &event.text;

        matched.clear();
        let scratch = &mut scratch[stream_id];
        stream.matcher.find(text, scratch, matched);
        let mut tally =
            Tally { windows, captures, value_captures, interner, key_buffer, matched_per_rule: &mut stats.matched };
        let mut late = false;
        for &pattern in matched.iter() {
            let rule_id = stream.pattern_rules[pattern as usize];
            late |= !tally.apply_rule(rules, scratch, rule_id, event, text, host, &mut host_id, ts);
        }
        for &rule_id in &stream.unconditional_rules {
            late |= !tally.apply_rule(rules, scratch, rule_id, event, text, host, &mut host_id, ts);
        }
        if late {
            self.stats.late_events += 1;
            self.record_error(stream_id, source(), ErrorReason::Late, text.as_bytes(), meta.now_ms);
        }
    }
    /// Closes the windows the watermarks have passed. `now_ms = None` uses
    /// event time only (replays); `Some` lets quiet streams' watermarks move on with it.
    pub fn advance(&mut self, now_ms: Option<i64>) {
        for stream_id in 0..self.rules.streams.len() {
            if let Some(watermark) = self.watermarks[stream_id].current(now_ms) {
                self.close_stream(stream_id, watermark);
            }
        }
    }

    /// End of a finite input: every stream's watermark moves to the end of
    /// its newest event's window, so every window with data closes.
    pub fn finish(&mut self) {
        let rules = Arc::clone(&self.rules);
        for (stream_id, stream) in rules.streams.iter().enumerate() {
            let Some(newest) = self.watermarks[stream_id].newest_event() else { continue };
            for &rule_id in &stream.rules {
                let spec = rules.rules[rule_id].window;
                let end = spec.last_start(newest) + spec.width_ms;
                self.close_rule(rule_id, end);
            }
        }
    }

    fn close_stream(&mut self, stream_id: StreamId, watermark: i64) {
        let rules = Arc::clone(&self.rules);
        for &rule_id in &rules.streams[stream_id].rules {
            self.close_rule(rule_id, watermark);
        }
    }

    fn close_rule(&mut self, rule_id: RuleId, watermark: i64) {
        let rule = &self.rules.rules[rule_id];
        let mut out = Vec::new();
        self.windows[rule_id].close_until(&rule.window, watermark, &mut out);
        for window in out {
            self.stats.windows_closed += 1;
            for ((host, key), cell) in &window.cells {
                self.closed.push(
                    &rule.name,
                    window.start_ms,
                    window.end_ms,
                    self.interner.get(*host),
                    self.interner.get(*key),
                    cell,
                    rule.has_value(),
                );
                self.stats.rows_emitted += 1;
            }
        }
    }

    /// Rows of the windows closed since the last call, as one batch.
    pub fn take_closed(&mut self) -> Option<RecordBatch> {
        if self.closed.is_empty() {
            return None;
        }
        Some(self.closed.finish())
    }

    pub fn take_errors(&mut self) -> Vec<IngestError> {
        std::mem::take(&mut self.errors)
    }

    /// Every window ending at or before this has closed, per rule.
    pub fn closed_through(&self, rule: RuleId) -> Option<i64> {
        self.windows[rule].closed_through()
    }

    pub fn interner(&self) -> &Interner {
        &self.interner
    }

    /// Open (rule, window, host, key) cells.
    pub fn open_cells(&self) -> usize {
        self.windows.iter().map(RuleWindows::open_cells).sum()
    }

    pub fn open_windows(&self) -> usize {
        self.windows.iter().map(RuleWindows::open_windows).sum()
    }

    /// Heap bytes held by open windows and the interner.
    pub fn state_bytes(&self) -> usize {
        self.windows.iter().map(RuleWindows::heap_bytes).sum::<usize>() + self.interner.heap_bytes()
    }

    /// The state a checkpoint keeps: open windows, closed-through marks, stream clocks.
    pub fn snapshot(&self) -> EngineSnapshot {
        // Only strings that open cells use: the interner also holds hosts and keys of
        // windows long closed, which a restart need not carry.
        let mut strings = Interner::new();
        let rules = self
            .rules
            .rules
            .iter()
            .zip(&self.windows)
            .map(|(rule, windows)| RuleSnapshot {
                name: rule.name.clone(),
                definition: rule.definition.clone(),
                closed_through: windows.closed_through(),
                windows: windows
                    .open_cells_iter()
                    .map(|(start_ms, cells)| {
                        // Sorted by host and key, so that equal states give equal checkpoints.
                        let mut named: Vec<(&str, &str, &Cell)> = cells
                            .iter()
                            .map(|(&(host, key), c)| (self.interner.get(host), self.interner.get(key), c))
                            .collect();
                        named.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
                        let cells = named
                            .into_iter()
                            .map(|(host, key, c)| {
                                (strings.intern(host), strings.intern(key), c.count, c.sum, c.min, c.max)
                            })
                            .collect();
                        WindowSnapshot { start_ms, cells }
                    })
                    .collect(),
            })
            .collect();
        let streams = self
            .rules
            .streams
            .iter()
            .zip(&self.watermarks)
            .map(|(stream, watermark)| StreamSnapshot::new(stream.name.clone(), watermark.clock()))
            .collect();
        EngineSnapshot {
            version: SNAPSHOT_VERSION,
            strings: strings.strings.into_iter().map(String::from).collect(),
            rules,
            streams,
        }
    }

    /// An engine for `rules` that carries on from `snapshot` (see [`crate::checkpoint`]
    /// for what happens to rules that changed in between).
    pub fn restore(rules: Arc<RuleSet>, snapshot: &EngineSnapshot) -> Result<Self, RestoreError> {
        if snapshot.version != SNAPSHOT_VERSION {
            return Err(RestoreError::Version { found: snapshot.version });
        }
        let mut engine = Engine::new(rules);
        let ids: Vec<u32> = snapshot.strings.iter().map(|s| engine.interner.intern(s)).collect();
        let id =
            |index: u32| ids.get(index as usize).copied().ok_or(RestoreError::StringIndex { index, len: ids.len() });
        for saved in &snapshot.rules {
            let Some(rule_id) =
                engine.rules.rules.iter().position(|r| r.name == saved.name && r.definition == saved.definition)
            else {
                continue;
            };
            let mut open = std::collections::BTreeMap::new();
            for window in &saved.windows {
                let mut cells = HashMap::with_capacity(window.cells.len());
                for c in &window.cells {
                    let ((host, key), cell) = WindowSnapshot::cell(c);
                    cells.insert((id(host)?, id(key)?), cell);
                }
                open.insert(window.start_ms, cells);
            }
            engine.windows[rule_id] = RuleWindows::restore(saved.closed_through, open);
        }
        for saved in &snapshot.streams {
            if let (Some(stream_id), Some(clock)) = (engine.stream_id(&saved.name), saved.clock()) {
                engine.watermarks[stream_id].restore(clock);
            }
        }
        Ok(engine)
    }

    /// Swaps in a new rule set (a hot reload), in place:
    /// - a rule whose name and definition are unchanged keeps its open windows;
    /// - a removed or changed rule emits what its open windows hold now (they close
    ///   early, as at the end of a finite input; [`Self::take_closed`] has them);
    /// - a new or changed rule starts at the next window boundary after its stream's
    ///   newest event: no partial first window mixes lines it saw with lines it did not;
    /// - stream clocks carry over by stream name; counters carry over by rule name.
    ///
    /// Returns the names of the rules that were removed or changed.
    pub fn reload(&mut self, rules: Arc<RuleSet>) -> Result<Vec<String>, RestoreError> {
        let old = Arc::clone(&self.rules);
        let same = |a: &Rule, b: &Rule| a.name == b.name && a.definition == b.definition;
        let mut gone = Vec::new();
        for (rule_id, rule) in old.rules.iter().enumerate() {
            if rules.rules.iter().any(|r| same(r, rule)) {
                continue;
            }
            gone.push(rule.name.clone());
            if let Some(newest) = self.watermarks[rule.stream].newest_event() {
                self.close_rule(rule_id, rule.window.last_start(newest) + rule.window.width_ms);
            }
        }
        let mut next = Engine::restore(Arc::clone(&rules), &self.snapshot())?;
        for (rule_id, rule) in rules.rules.iter().enumerate() {
            if old.rules.iter().any(|r| same(r, rule)) {
                continue;
            }
            if let Some(newest) = next.watermarks[rule.stream].newest_event() {
                let boundary = rule.window.last_start(newest) + rule.window.width_ms;
                next.windows[rule_id] = RuleWindows::restore(Some(boundary), std::collections::BTreeMap::new());
            }
        }
        next.closed = std::mem::take(&mut self.closed);
        next.errors = std::mem::take(&mut self.errors);
        let matched = rules
            .rules
            .iter()
            .map(|r| old.rules.iter().position(|o| same(o, r)).map_or(0, |o| self.stats.matched[o]))
            .collect();
        next.stats = EngineStats { matched, ..std::mem::take(&mut self.stats) };
        *self = next;
        Ok(gone)
    }

    /// The open windows' partial rows (`live_aggregates`).
    pub fn live(&self) -> RecordBatch {
        let mut b = AggregatesBuilder::default();
        for (rule_id, rule) in self.rules.rules.iter().enumerate() {
            for window in self.windows[rule_id].open_snapshot(&rule.window) {
                for ((host, key), cell) in &window.cells {
                    b.push(
                        &rule.name,
                        window.start_ms,
                        window.end_ms,
                        self.interner.get(*host),
                        self.interner.get(*key),
                        cell,
                        rule.has_value(),
                    );
                }
            }
        }
        b.finish()
    }
}

/// What the rules an event matched update: the engine's per-rule state, borrowed
/// apart from its rule set.
struct Tally<'e> {
    /// `Engine::windows`: where the counts go.
    windows: &'e mut [RuleWindows],
    /// `Engine::captures`: per-rule capture buffers.
    captures: &'e mut [Option<Captures>],
    /// `Engine::value_captures`: per-rule buffers for `{ after, before }` values.
    value_captures: &'e mut [Option<Captures>],
    /// `Engine::interner`: host and group-key ids.
    interner: &'e mut Interner,
    /// `Engine::key_buffer`: where group keys are built.
    key_buffer: &'e mut String,
    /// `EngineStats::matched`: events counted per rule.
    matched_per_rule: &'e mut [u64],
}

impl Tally<'_> {
    /// Applies one rule that matched (or has no pattern); false when late.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn apply_rule(
        &mut self,
        rules: &RuleSet,
        scratch: &Scratch,
        rule_id: RuleId,
        event: &Event<'_>,
        text: &str,
        host: &str,
        host_id: &mut Option<u32>,
        ts: i64,
    ) -> bool {
        let rule = &rules.rules[rule_id];
        let stream = &rules.streams[rule.stream];
        let pattern = rule.pattern.map(|p| stream.matcher.pattern(p));
        // Where the scan saw the leftmost match start: searches start there, anchored.
        let leftmost = rule.pattern.and_then(|p| scratch.match_start(p as u32));
        if rule.needs_captures {
            let (Some(index), Some(regex)) = (rule.pattern, pattern.and_then(|p| p.regex())) else { return true };
            let mut on_time = true;
            if rule.count_repeats {
                for caps in regex.captures_iter(Input::new(text).range(leftmost.unwrap_or(0)..)) {
                    on_time &= self.count_occurrence(rule_id, rule, event, text, Some(&caps), host, host_id, ts, 1);
                }
            } else {
                // One reusable capture buffer per rule: no allocation per line.
                let mut caps = self.captures[rule_id].take().unwrap_or_else(|| regex.create_captures());
                if stream.matcher.search_captures(index, text, leftmost, &mut caps) {
                    on_time = self.count_occurrence(rule_id, rule, event, text, Some(&caps), host, host_id, ts, 1);
                }
                self.captures[rule_id] = Some(caps);
            }
            on_time
        } else {
            let count = match (rule.count_repeats, pattern) {
                (true, Some(p)) => p.count_from(text, leftmost.unwrap_or(0)),
                _ => 1,
            };
            if count == 0 {
                return true;
            }
            self.count_occurrence(rule_id, rule, event, text, None, host, host_id, ts, count)
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn count_occurrence(
        &mut self,
        rule_id: RuleId,
        rule: &Rule,
        event: &Event<'_>,
        text: &str,
        caps: Option<&Captures>,
        host: &str,
        host_id: &mut Option<u32>,
        ts: i64,
        count: u64,
    ) -> bool {
        let value = match &rule.value {
            None => None,
            Some(source) => {
                let v = match source {
                    ValueSource::Field(i) => event.fields.get(*i).and_then(|f| f.as_ref()).and_then(FieldValue::as_f64),
                    ValueSource::Capture(g) => {
                        caps.and_then(|c| c.get_group(*g)).and_then(|span| text[span.range()].parse::<f64>().ok())
                    }
                    ValueSource::Between(regex) => {
                        let mut c = self.value_captures[rule_id].take().unwrap_or_else(|| regex.create_captures());
                        regex.captures(text, &mut c);
                        let v = c.get_group_by_name("value").and_then(|span| text[span.range()].parse::<f64>().ok());
                        self.value_captures[rule_id] = Some(c);
                        v
                    }
                };
                match v.filter(|v| v.is_finite()) {
                    Some(v) => Some(v),
                    None => return true, // a value rule counts only lines with a value
                }
            }
        };
        if let Some(filter) = &rule.filter {
            let slots = RuleSlots { slots: &rule.filter_slots, event, text, caps, host, value };
            if !filter.eval(&slots) {
                return true;
            }
        }
        let key_id = if rule.key_parts.is_empty() {
            0
        } else {
            self.key_buffer.clear();
            let slots = RuleSlots { slots: &[], event, text, caps, host, value };
            for (i, (name, slot)) in rule.key_parts.iter().enumerate() {
                if i > 0 {
                    self.key_buffer.push(',');
                }
                self.key_buffer.push_str(name);
                self.key_buffer.push('=');
                if let Some(v) = slots.text_of(*slot) {
                    self.key_buffer.push_str(v);
                }
            }
            self.interner.intern(self.key_buffer)
        };
        let host_key =
            if rule.host_in_key { *host_id.get_or_insert_with(|| self.interner.intern_host(host)) } else { 0 };
        self.matched_per_rule[rule_id] += count;
        self.windows[rule_id].add(&rule.window, ts, (host_key, key_id), count, value)
    }
}

/// The values a rule's filter and key read.
struct RuleSlots<'e, 'a> {
    slots: &'e [Slot],
    event: &'e Event<'a>,
    text: &'e str,
    caps: Option<&'e Captures>,
    host: &'e str,
    value: Option<f64>,
}

impl RuleSlots<'_, '_> {
    fn value_of(&self, slot: Slot) -> Option<Value<'_>> {
        match slot {
            Slot::Host => Some(Value::Text(self.host)),
            Slot::Value => self.value.map(Value::Number),
            Slot::Field(i) => match self.event.fields.get(i)?.as_ref()? {
                FieldValue::Text(t) => Some(Value::Text(t)),
                FieldValue::Number { value, text } => Some(Value::NumberText(*value, text)),
            },
            Slot::Capture(g) => self.caps?.get_group(g).map(|span| Value::Text(&self.text[span.range()])),
        }
    }

    fn text_of(&self, slot: Slot) -> Option<&str> {
        match slot {
            Slot::Host => Some(self.host),
            Slot::Value => None,
            Slot::Field(i) => self.event.fields.get(i)?.as_ref().map(FieldValue::text),
            Slot::Capture(g) => self.caps?.get_group(g).map(|span| &self.text[span.range()]),
        }
    }
}

impl Slots for RuleSlots<'_, '_> {
    fn get(&self, slot: usize) -> Option<Value<'_>> {
        self.value_of(*self.slots.get(slot)?)
    }
}

#[cfg(test)]
mod tests;
