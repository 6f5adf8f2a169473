//! A lane: one ordered input (a Kafka partition, a followed file) with its own engine.
//!
//! Each lane is a Parquet producer of its own (`kafka-<topic>-<partition>`,
//! `file-<path>`), with its own checkpoint. A lane's state moves whole: when a
//! partition goes to another member of the group, its open windows go with it
//! through the checkpoint, and the rows it wrote stay deduplicated by its producer
//! name.
//!
//! Delivery, per lane:
//! 1. closed windows are written to `aggregates` as they close (every
//!    `flush_interval`), each flush covering window ends `(last flush, newest]`;
//!    the store drops rows at or below the producer's durable mark, so a flush
//!    repeated after a crash adds nothing;
//! 2. at a checkpoint, the per-record tables (`qalarm_events`, `ingest_errors`) are
//!    written for positions `(last checkpoint, position]`, then the checkpoint
//!    (position and open windows) replaces the previous one atomically;
//! 3. only then is `position` committed to Kafka.
//!
//! After a crash, the lane restarts from its checkpoint and re-reads. The windows
//! it closes again are dropped by the store as already written; per-record rows
//! below the store's mark for the producer are not built again.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arrow::array::RecordBatch;
use engine::compile::{Decoded, Decoder, Place, StreamId};
use engine::{Engine, RecordMeta, RuleSet};
use ingest::ErrorReason;
use sinks::tables::{IngestErrorsBuilder, QalarmEventsBuilder};
use sinks::{Checkpoint, CheckpointStore, ParquetStore, SeqRange, Table};

use super::metrics::Metrics;

/// How often open windows are published for `live_aggregates` while nobody reads them.
const LIVE_QUIET_EVERY_MS: i64 = 10_000;

/// How often lanes flush closed windows and checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub flush_interval: Duration,
    pub checkpoint_interval: Duration,
}

/// What every lane of a worker shares.
pub struct Shared {
    /// The rules in force and their generation (bumped by each reload): lanes switch
    /// to a new generation at their next tick.
    rules: std::sync::RwLock<(u64, Arc<RuleSet>)>,
    pub store: Arc<ParquetStore>,
    pub checkpoints: CheckpointStore,
    pub metrics: Arc<Metrics>,
    pub live: Arc<super::live::LiveBoard>,
    /// The host of records that name none, when the source names none either.
    pub machine_host: String,
    /// Alert evaluation over every lane; `None` when the rules have no rule alerts.
    pub alerts: Option<Arc<super::alerts::AlertHub>>,
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        rules: Arc<RuleSet>,
        store: Arc<ParquetStore>,
        checkpoints: CheckpointStore,
        metrics: Arc<Metrics>,
        live: Arc<super::live::LiveBoard>,
        machine_host: String,
        alerts: Option<Arc<super::alerts::AlertHub>>,
    ) -> Self {
        Self { rules: std::sync::RwLock::new((0, rules)), store, checkpoints, metrics, live, machine_host, alerts }
    }

    /// The rules in force, with their generation.
    pub fn rules(&self) -> (u64, Arc<RuleSet>) {
        let guard = self.rules.read().unwrap_or_else(|p| p.into_inner());
        (guard.0, Arc::clone(&guard.1))
    }

    /// Puts a reloaded rule set in force; returns its generation.
    pub fn set_rules(&self, rules: Arc<RuleSet>) -> u64 {
        let mut guard = self.rules.write().unwrap_or_else(|p| p.into_inner());
        *guard = (guard.0 + 1, rules);
        guard.0
    }
}

/// One input's engine and delivery state.
pub struct Lane {
    /// The Parquet producer and checkpoint name.
    pub producer: String,
    pub stream_id: StreamId,
    /// The generation of the rules the engine runs (see [`Shared::rules`]).
    generation: u64,
    /// The lane's number in its engine's watermark (always 0: one lane per engine).
    engine: Engine,
    /// The next input position to read (Kafka offset, file byte offset).
    pub position: i64,
    /// Lines read before `position` (files).
    pub line_number: u64,
    /// `(device, inode)` of the file being read, and the offset in it (files).
    pub file_identity: Option<(u64, u64)>,
    pub file_offset: u64,
    /// The position of the last checkpoint: the low end of the next per-record flush.
    checkpointed: i64,
    /// When the last checkpoint was written (unix ms), for the age gauge.
    pub checkpointed_at_ms: i64,
    /// The high end (window end) of the last `aggregates` flush.
    aggregates_hi: i64,
    /// Positions below these are already in the per-record tables (a re-read after a
    /// crash between their flush and the checkpoint).
    qalarm_durable: i64,
    errors_durable: i64,
    /// Closed windows not yet in Parquet (a failed write is retried from here).
    pending: Vec<RecordBatch>,
    /// How many of `pending` the alert hub has been handed already (a failed write
    /// keeps them pending; they must not be evaluated twice).
    pending_handed: usize,
    /// `qalarm_events` rows since the last checkpoint, for Qalarm streams.
    qalarm: Option<QalarmEventsBuilder>,
    /// `ingest_errors` rows since the last checkpoint.
    errors: IngestErrorsBuilder,
    /// The engine's counters as last reported to the metrics.
    reported: engine::pipeline::EngineStats,
    /// Whether the lane started from a checkpoint (else the source picks the start).
    pub restored: bool,
    /// When the open windows were last published for `live_aggregates` (unix ms).
    live_published_ms: i64,
}

/// Where a record came from, for `ingest_errors.source`.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    Kafka { topic: &'a str, partition: i32, offset: i64 },
    File { path: &'a str },
}

/// One record handed to a lane.
pub struct Record<'a> {
    pub origin: Origin<'a>,
    /// The record's position, and the position after it.
    pub position: i64,
    pub next_position: i64,
    pub payload: &'a [u8],
    /// The transport's host (Kafka key or `host` header, file source's `host`).
    pub host: Option<&'a str>,
    /// The transport's time (Kafka timestamp), for streams without `time`.
    pub time_ms: Option<i64>,
}

impl Lane {
    /// Opens a lane at its checkpoint, if it has one, else at `start`.
    pub fn open(shared: &Shared, producer: String, stream: &str, now_ms: i64) -> anyhow::Result<Lane> {
        let (generation, rules) = shared.rules();
        let stream_id = rules.streams.iter().position(|s| s.name == stream).with_context(|| {
            format!("the rules in force define no stream '{stream}' (a reload is checked for this)")
        })?;
        let checkpoint =
            shared.checkpoints.load(&producer).with_context(|| format!("loading the checkpoint of {producer}"))?;
        let durable = |table| shared.store.high_water(table, &producer).unwrap_or(i64::MIN);
        let (engine, position, line_number, file_identity, file_offset, aggregates_hi, checkpointed_at_ms) =
            match &checkpoint {
                Some(c) => {
                    let mut snapshot = c.engine.clone();
                    // The quiet-stream clock restarts now: the downtime must not close windows
                    // before the backlog that belongs in them is read.
                    for stream in &mut snapshot.streams {
                        for lane in &mut stream.lanes {
                            lane.2 = now_ms;
                        }
                    }
                    let engine = Engine::restore(Arc::clone(&rules), &snapshot)
                        .with_context(|| format!("restoring the checkpoint of {producer}"))?;
                    (
                        engine,
                        c.position,
                        c.line_number,
                        c.file_identity,
                        c.file_offset,
                        c.aggregates_hi,
                        c.written_at_ms,
                    )
                }
                None => {
                    let hi = shared.store.high_water(Table::Aggregates, &producer).unwrap_or(0);
                    (Engine::new(Arc::clone(&rules)), 0, 0, None, 0, hi, now_ms)
                }
            };
        let is_qalarm = matches!(rules.streams[stream_id].decoder, Decoder::Qalarm);
        if let Some(hub) = &shared.alerts {
            hub.lane_opened(&producer, generation, stream_id, now_ms);
        }
        Ok(Lane {
            stream_id,
            generation,
            reported: engine.stats().clone(),
            engine,
            position,
            line_number,
            file_identity,
            file_offset,
            checkpointed: position,
            checkpointed_at_ms,
            aggregates_hi,
            qalarm_durable: durable(Table::QalarmEvents),
            errors_durable: durable(Table::IngestErrors),
            pending: Vec::new(),
            pending_handed: 0,
            qalarm: is_qalarm.then(QalarmEventsBuilder::default),
            errors: IngestErrorsBuilder::default(),
            restored: checkpoint.is_some(),
            live_published_ms: 0,
            producer,
        })
    }

    /// Decodes a record and counts it into the lane's engine.
    pub fn process(&mut self, shared: &Shared, record: &Record<'_>, now_ms: i64) {
        let rules = Arc::clone(self.engine.rules());
        let stream = &rules.streams[self.stream_id];
        let host = record.host.unwrap_or(&shared.machine_host);
        let meta = RecordMeta { default_host: host, default_time_ms: record.time_ms.unwrap_or(now_ms), now_ms };
        let stream_id = self.stream_id;
        let origin = record.origin;
        let source = |line: u64| match origin {
            Origin::Kafka { topic, partition, offset } => format!("{topic}/{partition}/{offset}"),
            Origin::File { path } => format!("{path}:{line}"),
        };
        if record.payload.is_empty() && matches!(origin, Origin::Kafka { .. }) {
            self.engine.record_error(stream_id, source(0), ErrorReason::Decode, b"", now_ms);
        } else {
            let keep_rows = record.position >= self.qalarm_durable;
            let first_line = self.line_number;
            for Decoded { place, result } in stream.decode_record(record.payload, meta.default_time_ms) {
                // Lines are numbered across the lane's records; a Qalarm value is named by its record.
                let number = match place {
                    Place::Line(n) => {
                        self.line_number = first_line + n;
                        self.line_number
                    }
                    Place::Offset(_) => 0,
                };
                match result {
                    Ok(event) => {
                        self.engine.process(stream_id, &event, &meta, || source(number));
                        if let (true, Some(rows)) = (keep_rows, self.qalarm.as_mut()) {
                            rows.push(&event, event.time_ms.unwrap_or(meta.default_time_ms));
                        }
                    }
                    Err(bad) => self.engine.record_error(stream_id, source(number), bad.reason, &bad.sample, now_ms),
                }
            }
        }
        let errors = self.engine.take_errors();
        if record.position >= self.errors_durable {
            errors.iter().for_each(|e| self.errors.push(e));
        }
        self.position = record.next_position;
    }

    /// Closes the windows the watermark has passed and writes them to Parquet.
    pub fn flush(&mut self, shared: &Shared, now_ms: Option<i64>) -> anyhow::Result<()> {
        self.engine.advance(now_ms);
        self.write_closed(shared)
    }

    /// Switches the lane to reloaded rules ([`Engine::reload`]): what closed under the old
    /// rules is written (and evaluated) first, then what the removed and changed rules
    /// held is written, for the table only: their alerts start afresh.
    fn switch_rules(&mut self, shared: &Shared, generation: u64, rules: Arc<RuleSet>) -> anyhow::Result<()> {
        self.write_closed(shared)?;
        self.report(shared);
        let stream = &self.engine.rules().streams[self.stream_id].name;
        let stream_id = rules
            .streams
            .iter()
            .position(|s| &s.name == stream)
            .with_context(|| format!("the reloaded rules define no stream '{stream}'"))?;
        let gone = self.engine.reload(rules).context("carrying the open windows over")?;
        self.stream_id = stream_id;
        self.generation = generation;
        // What the removed and changed rules held goes under a producer of its own: its
        // window ends run ahead of the windows still open here, and under the lane's
        // producer they would raise the durable mark over them (their rows would then be
        // taken for re-emissions and dropped).
        if let Some(flushed) = self.engine.take_closed() {
            let hi = engine::batch::max_window_end(std::slice::from_ref(&flushed)).expect("closed windows have ends");
            // Unique across runs too: generations restart at 0 with the process.
            let producer = format!("{}-reload-{}", self.producer, crate::machine::now_ms());
            let outcome = shared
                .store
                .write(Table::Aggregates, &producer, SeqRange { lo: 0, hi }, &[flushed])
                .with_context(|| format!("writing what the reload flushed of {}", self.producer))?;
            shared.metrics.rows_written(Table::Aggregates, outcome.rows_written);
        }
        self.reported = self.engine.stats().clone();
        tracing::info!(lane = %self.producer, generation, flushed = ?gone, "lane switched to the reloaded rules");
        Ok(())
    }

    /// The lane's input is over for good (a file read to its end, stdin closed): it
    /// no longer holds alert frontiers or reloads back.
    pub fn finished(&self, shared: &Shared) {
        if let Some(hub) = &shared.alerts {
            hub.lane_finished(&self.producer);
        }
    }

    /// End of a finite input: every window with data closes, and is written.
    pub fn finish(&mut self, shared: &Shared) -> anyhow::Result<()> {
        self.engine.finish();
        self.write_closed(shared)
    }

    /// The flush tick of a source: writes closed windows (a failed write is logged and
    /// retried on the next tick), publishes the open ones, and updates the lane's gauges.
    pub fn tick(&mut self, shared: &Shared, now_ms: i64) {
        let (generation, rules) = shared.rules();
        if generation != self.generation
            && let Err(e) = self.switch_rules(shared, generation, rules)
        {
            tracing::error!(lane = %self.producer, error = format!("{e:#}"), "switching to the reloaded rules failed; retrying");
            shared.metrics.failure("reload");
        }
        if let Err(e) = self.flush(shared, Some(now_ms)) {
            tracing::error!(lane = %self.producer, error = format!("{e:#}"), "flush failed; retrying");
            shared.metrics.failure("flush");
        }
        self.publish_live(shared, now_ms);
        let age = (now_ms - self.checkpointed_at_ms).max(0) as f64 / 1000.0;
        shared.metrics.lane_state(&self.producer, self.engine.open_windows(), self.engine.open_cells(), age);
    }

    /// Hands the closed windows to the alert hub, then writes them. Alerts go first so
    /// that a notification does not wait for a Parquet write; that is safe across a
    /// crash: the rows not yet written are re-emitted after the restart and make the
    /// same notifications (same ids, delivered once by the ledger), or, if the alert
    /// checkpoint already covers them, are ignored as evaluated.
    fn write_closed(&mut self, shared: &Shared) -> anyhow::Result<()> {
        self.hand_closed(shared)?;
        self.write_pending(shared)?;
        self.report(shared);
        Ok(())
    }

    /// Closes what the watermark has passed by now and hands it to the alert hub at
    /// once, between flush ticks: a window's alerts need not wait up to a
    /// `flush_interval` for its close. The Parquet write still waits for the tick (one
    /// write per tick, not per window, when a backlog closes many).
    pub fn close_due(&mut self, shared: &Shared, now_ms: i64) {
        if shared.alerts.is_none() {
            return;
        }
        let rules = self.engine.rules().rules.len();
        let before: Vec<Option<i64>> = (0..rules).map(|rule| self.engine.closed_through(rule)).collect();
        self.engine.advance(Some(now_ms));
        if (0..rules).all(|rule| self.engine.closed_through(rule) == before[rule]) {
            return;
        }
        if let Err(e) = self.hand_closed(shared) {
            tracing::error!(lane = %self.producer, error = format!("{e:#}"), "handing closed windows to alerts failed");
        }
    }

    /// Moves the engine's closed windows to `pending` and hands the new ones to the
    /// alert hub (each batch once: `pending_handed`).
    fn hand_closed(&mut self, shared: &Shared) -> anyhow::Result<()> {
        self.pending.extend(self.engine.take_closed());
        if let Some(hub) = &shared.alerts {
            // Only rows above the store's mark: the rest are re-emissions of windows
            // written (and read back by the hub) before a restart.
            let mark = shared.store.high_water(Table::Aggregates, &self.producer);
            let fresh = &self.pending[self.pending_handed..];
            let kept: Vec<RecordBatch> = match mark {
                None => fresh.to_vec(),
                Some(mark) => {
                    fresh.iter().map(|b| sinks::rows_after(Table::Aggregates, b, mark)).collect::<Result<_, _>>()?
                }
            };
            self.pending_handed = self.pending.len();
            let through = (0..self.engine.rules().rules.len()).map(|rule| self.engine.closed_through(rule)).collect();
            hub.lane_flushed(&self.producer, self.generation, self.stream_id, &kept, through, crate::machine::now_ms());
        }
        Ok(())
    }

    /// Writes the pending closed windows (the store drops what it already has).
    fn write_pending(&mut self, shared: &Shared) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let hi = engine::batch::max_window_end(&self.pending).expect("closed windows have ends");
        let range = SeqRange { lo: self.aggregates_hi.clamp(0, hi - 1), hi };
        let outcome = shared
            .store
            .write(Table::Aggregates, &self.producer, range, &self.pending)
            .with_context(|| format!("writing aggregates of {}", self.producer))?;
        shared.metrics.rows_written(Table::Aggregates, outcome.rows_written);
        self.pending.clear();
        self.pending_handed = 0;
        self.aggregates_hi = self.aggregates_hi.max(hi);
        Ok(())
    }

    /// Makes everything up to `position` durable: closed windows, per-record rows, then
    /// the checkpoint. The caller commits `position` to Kafka after this returns.
    pub fn checkpoint(&mut self, shared: &Shared, now_ms: Option<i64>, wall_ms: i64) -> anyhow::Result<()> {
        self.flush(shared, now_ms)?;
        let range = SeqRange { lo: self.checkpointed, hi: self.position };
        if let Some(rows) = self.qalarm.as_mut().filter(|r| !r.is_empty()) {
            let batch = rows.finish();
            let outcome = shared.store.write(Table::QalarmEvents, &self.producer, range, &[batch])?;
            shared.metrics.rows_written(Table::QalarmEvents, outcome.rows_written);
        }
        if !self.errors.is_empty() {
            let batch = self.errors.finish();
            let outcome = shared.store.write(Table::IngestErrors, &self.producer, range, &[batch])?;
            shared.metrics.rows_written(Table::IngestErrors, outcome.rows_written);
        }
        let checkpoint = Checkpoint {
            version: sinks::checkpoint::CHECKPOINT_VERSION,
            producer: self.producer.clone(),
            position: self.position,
            file_identity: self.file_identity,
            file_offset: self.file_offset,
            line_number: self.line_number,
            aggregates_hi: self.aggregates_hi,
            written_at_ms: wall_ms,
            engine: self.engine.snapshot(),
        };
        let bytes = shared.checkpoints.save(&checkpoint).with_context(|| format!("checkpointing {}", self.producer))?;
        shared.metrics.checkpointed(bytes);
        self.checkpointed = self.position;
        self.checkpointed_at_ms = wall_ms;
        Ok(())
    }

    /// Publishes the open windows for `live_aggregates`: at every tick while somebody
    /// reads them, else every [`LIVE_QUIET_EVERY_MS`].
    fn publish_live(&mut self, shared: &Shared, now_ms: i64) {
        if shared.live.wanted() || now_ms - self.live_published_ms >= LIVE_QUIET_EVERY_MS {
            shared.live.publish(&self.producer, self.engine.live());
            self.live_published_ms = now_ms;
        }
    }

    /// Adds what the engine counted since the last report to the metrics.
    fn report(&mut self, shared: &Shared) {
        let now = self.engine.stats();
        shared.metrics.engine_delta(self.engine.rules(), self.stream_id, &self.reported, now);
        self.reported = now.clone();
    }
}
