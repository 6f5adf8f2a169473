//! The worker's Prometheus metrics (`GET /metrics`).
//!
//! Counters are fed from each lane's engine counters as deltas at every flush tick,
//! never per line, so the hot path pays nothing for them.

use std::sync::atomic::{AtomicI64, AtomicU64};

use engine::RuleSet;
use engine::compile::StreamId;
use engine::pipeline::EngineStats;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sinks::Table;

type Labels = Vec<(&'static str, String)>;

/// Every metric, registered once.
pub struct Metrics {
    registry: Registry,
    events_in: Family<Labels, Counter>,
    messages_in: Family<Labels, Counter>,
    bytes_in: Family<Labels, Counter>,
    matched: Family<Labels, Counter>,
    late_events: Counter,
    ingest_errors: Family<Labels, Counter>,
    consumer_lag: Family<Labels, Gauge>,
    windows_open: Family<Labels, Gauge>,
    cells_open: Family<Labels, Gauge>,
    checkpoint_age: Family<Labels, Gauge<f64, AtomicU64>>,
    checkpoints: Counter,
    checkpoint_bytes: Gauge,
    last_commit: Gauge<f64, AtomicU64>,
    rows_written: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    /// Lanes currently assigned to this worker.
    lanes: Family<Labels, Gauge<i64, AtomicI64>>,
    notifications: Family<Labels, Counter>,
    /// Rule reloads by outcome (`ok`, `error`).
    reloads: Family<Labels, Counter>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("logpulse");
        let m = Metrics {
            events_in: Family::default(),
            messages_in: Family::default(),
            bytes_in: Family::default(),
            matched: Family::default(),
            late_events: Counter::default(),
            ingest_errors: Family::default(),
            consumer_lag: Family::default(),
            windows_open: Family::default(),
            cells_open: Family::default(),
            checkpoint_age: Family::default(),
            checkpoints: Counter::default(),
            checkpoint_bytes: Gauge::default(),
            last_commit: Gauge::default(),
            rows_written: Family::default(),
            errors: Family::default(),
            lanes: Family::default(),
            notifications: Family::default(),
            reloads: Family::default(),
            registry: Registry::default(),
        };
        registry.register("events_in", "Events decoded (lines, Qalarm events), per stream", m.events_in.clone());
        registry.register(
            "messages_in",
            "Records read (Kafka messages, file chunks), per source",
            m.messages_in.clone(),
        );
        registry.register("bytes_in", "Bytes read, per source", m.bytes_in.clone());
        registry.register("matched", "Events counted, per rule", m.matched.clone());
        registry.register(
            "late_events",
            "Events behind their window's close (also in ingest_errors)",
            m.late_events.clone(),
        );
        registry.register(
            "ingest_errors",
            "Bad input, per reason (decode, parse, time, late, too_long)",
            m.ingest_errors.clone(),
        );
        registry.register(
            "consumer_lag",
            "Messages between this worker's position and the broker's high-water mark",
            m.consumer_lag.clone(),
        );
        registry.register("windows_open", "Open windows, per lane", m.windows_open.clone());
        registry.register("window_cells_open", "Open (rule, window, host, key) cells, per lane", m.cells_open.clone());
        registry.register(
            "checkpoint_age_seconds",
            "Seconds since the lane's last checkpoint",
            m.checkpoint_age.clone(),
        );
        registry.register("checkpoints", "Checkpoints written", m.checkpoints.clone());
        registry.register("checkpoint_bytes", "Size of the last checkpoint written", m.checkpoint_bytes.clone());
        registry.register(
            "last_commit_timestamp_seconds",
            "Unix time of the last Kafka offset commit",
            m.last_commit.clone(),
        );
        registry.register("rows_written", "Rows written to Parquet, per table", m.rows_written.clone());
        registry.register(
            "worker_errors",
            "Failures the worker retried (sink writes, commits), per kind",
            m.errors.clone(),
        );
        registry.register(
            "notifications",
            "Alert notifications per notifier and outcome (sent, duplicate, dropped, dead_letter)",
            m.notifications.clone(),
        );
        registry.register("rule_reloads", "Rule reloads by outcome (ok, error)", m.reloads.clone());
        registry.register("lanes", "Lanes (Kafka partitions, files) this worker holds, per source", m.lanes.clone());
        Metrics { registry, ..m }
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }

    pub fn read(&self, source: &str, messages: u64, bytes: u64) {
        let labels = vec![("source", source.to_string())];
        self.messages_in.get_or_create(&labels).inc_by(messages);
        self.bytes_in.get_or_create(&labels).inc_by(bytes);
    }

    /// Adds what an engine counted between two readings of its stats.
    pub fn engine_delta(&self, rules: &RuleSet, stream: StreamId, before: &EngineStats, now: &EngineStats) {
        let events = now.events_in - before.events_in;
        if events > 0 {
            self.events_in.get_or_create(&vec![("stream", rules.streams[stream].name.clone())]).inc_by(events);
        }
        for (rule, (&n, &b)) in now.matched.iter().zip(&before.matched).enumerate() {
            if n > b {
                self.matched.get_or_create(&vec![("rule", rules.rules[rule].name.clone())]).inc_by(n - b);
            }
        }
        self.late_events.inc_by(now.late_events - before.late_events);
        for (reason, &n) in &now.errors_by_reason {
            let b = before.errors_by_reason.get(reason).copied().unwrap_or(0);
            if n > b {
                self.ingest_errors.get_or_create(&vec![("reason", reason.to_string())]).inc_by(n - b);
            }
        }
    }

    pub fn lane_state(&self, lane: &str, windows: usize, cells: usize, checkpoint_age_s: f64) {
        let labels = vec![("lane", lane.to_string())];
        self.windows_open.get_or_create(&labels).set(windows as i64);
        self.cells_open.get_or_create(&labels).set(cells as i64);
        self.checkpoint_age.get_or_create(&labels).set(checkpoint_age_s);
    }

    pub fn lane_gone(&self, lane: &str, topic_partition: Option<(&str, i32)>) {
        let labels = vec![("lane", lane.to_string())];
        self.windows_open.remove(&labels);
        self.cells_open.remove(&labels);
        self.checkpoint_age.remove(&labels);
        if let Some((topic, partition)) = topic_partition {
            self.consumer_lag.remove(&vec![("topic", topic.to_string()), ("partition", partition.to_string())]);
        }
    }

    pub fn lanes(&self, source: &str, n: usize) {
        self.lanes.get_or_create(&vec![("source", source.to_string())]).set(n as i64);
    }

    pub fn lag(&self, topic: &str, partition: i32, lag: i64) {
        self.consumer_lag
            .get_or_create(&vec![("topic", topic.to_string()), ("partition", partition.to_string())])
            .set(lag.max(0));
    }

    pub fn checkpointed(&self, bytes: usize) {
        self.checkpoints.inc();
        self.checkpoint_bytes.set(bytes as i64);
    }

    pub fn committed(&self, unix_s: f64) {
        self.last_commit.set(unix_s);
    }

    pub fn rows_written(&self, table: Table, rows: usize) {
        self.rows_written.get_or_create(&vec![("table", table.name().to_string())]).inc_by(rows as u64);
    }

    pub fn notified(&self, notifier: &str, outcome: &str) {
        self.notifications
            .get_or_create(&vec![("notifier", notifier.to_string()), ("outcome", outcome.to_string())])
            .inc();
    }

    pub fn reloaded(&self, outcome: &str) {
        self.reloads.get_or_create(&vec![("outcome", outcome.to_string())]).inc();
    }

    pub fn failure(&self, kind: &str) {
        self.errors.get_or_create(&vec![("kind", kind.to_string())]).inc();
    }
}
