//! Alerting in the worker: one [`AlertEvaluator`] over every lane, and the notifiers.
//!
//! - After each flush, a lane hands over the `aggregates` rows the store kept (rows
//!   it dropped as already written are not fed twice) and its `closed_through` per
//!   rule.
//! - A rule's window is evaluated once every lane of the rule's stream has closed it:
//!   the frontier is the minimum over those lanes (a lane that has seen no event yet
//!   does not hold it back; a quiet lane's clock moves on with the wall clock). This
//!   is "the worker's watermark is the minimum over its partitions", where it matters.
//! - Notifications are written to the `alerts` table, one producer per alert
//!   (`alert-<name>`, whose window ends only grow), and queued to their notifiers.
//!   Each notifier has its own thread and bounded queue ([`super::notify`]), so a slow
//!   or dead one delays only its own deliveries and never ingestion.
//!
//! Not yet (issue 5, next part): the evaluator's state is not checkpointed, so after
//! a restart `for` streaks and `absent`'s "seen before" start over, and a series that
//! was firing may be notified again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use arrow::array::RecordBatch;
use engine::RuleSet;
use engine::alert::{AlertEvaluator, Notification};
use engine::compile::{RuleId, StreamId};
use sinks::{ParquetStore, SeqRange, Table};

use super::metrics::Metrics;
use super::notify::Notifiers;

/// The worker's alerting; shared by every lane.
pub struct AlertHub {
    rules: Arc<RuleSet>,
    state: Mutex<HubState>,
    /// Taken at shutdown, so that the queues close and drain.
    notifiers: Mutex<Option<Notifiers>>,
    store: Arc<ParquetStore>,
    metrics: Arc<Metrics>,
}

struct LaneFrontier {
    stream: StreamId,
    /// Wall time the lane opened: until its first event, it holds the frontier back
    /// for at most its stream's `idle_timeout` from then (a partition with a backlog
    /// must get to it; an empty one must not stop alerts).
    opened_ms: i64,
    closed_through: Vec<Option<i64>>,
}

struct HubState {
    evaluator: AlertEvaluator,
    /// Per lane (producer): its stream, when it opened, and `closed_through` per rule.
    frontiers: HashMap<String, LaneFrontier>,
    /// Per alert: the highest `window_end` written to the `alerts` table.
    written_hi: BTreeMap<String, i64>,
}

impl AlertHub {
    pub fn new(rules: Arc<RuleSet>, notifiers: Notifiers, store: Arc<ParquetStore>, metrics: Arc<Metrics>) -> Self {
        let state = HubState {
            evaluator: AlertEvaluator::new(Arc::clone(&rules)),
            frontiers: HashMap::new(),
            written_hi: BTreeMap::new(),
        };
        Self { rules, state: Mutex::new(state), notifiers: Mutex::new(Some(notifiers)), store, metrics }
    }

    fn state(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether there is anything to evaluate (lanes skip the work otherwise).
    pub fn is_active(&self) -> bool {
        !self.state().evaluator.is_empty()
    }

    /// A lane opened: it holds its stream's frontier back until it has closed windows
    /// of its own (or its stream's `idle_timeout` passed without any event).
    ///
    /// `written_through` is the highest window end the lane's producer already has in
    /// `aggregates` (a restart): those windows are not fed again, so they are skipped
    /// rather than judged on the other lanes' part of them. (Until the evaluator's state
    /// is checkpointed, a restart loses them for alerts.)
    pub fn lane_opened(&self, producer: &str, stream: StreamId, now_ms: i64, written_through: Option<i64>) {
        let lane = LaneFrontier { stream, opened_ms: now_ms, closed_through: vec![None; self.rules.rules.len()] };
        let mut state = self.state();
        state.frontiers.insert(producer.to_string(), lane);
        if let Some(t) = written_through {
            for &rule in &self.rules.streams[stream].rules {
                state.evaluator.skip_through(rule, t);
            }
        }
    }

    /// A lane flushed: `rows` are the `aggregates` rows the store kept, `closed_through`
    /// the lane's frontier per rule. Evaluates what every lane has now closed.
    pub fn lane_flushed(
        &self,
        producer: &str,
        stream: StreamId,
        rows: &[RecordBatch],
        closed_through: Vec<Option<i64>>,
        now_ms: i64,
    ) {
        let mut state = self.state();
        for batch in rows {
            state.evaluator.add_batch(batch);
        }
        let opened_ms = state.frontiers.get(producer).map_or(now_ms, |l| l.opened_ms);
        state.frontiers.insert(producer.to_string(), LaneFrontier { stream, opened_ms, closed_through });
        let frontier = |rule: RuleId| {
            let stream = self.rules.rules[rule].stream;
            let idle_after = self.rules.streams[stream].idle_timeout_ms;
            let mut lowest: Option<i64> = None;
            for lane in state.frontiers.values().filter(|l| l.stream == stream) {
                match lane.closed_through.get(rule).copied().flatten() {
                    Some(t) => lowest = Some(lowest.map_or(t, |l| l.min(t))),
                    // No event yet: it holds the frontier back, unless idle too long.
                    None if now_ms - lane.opened_ms < idle_after => return None,
                    None => {}
                }
            }
            lowest
        };
        let frontiers: Vec<Option<i64>> = (0..self.rules.rules.len()).map(frontier).collect();
        let notes = state.evaluator.advance_all(|rule| frontiers[rule]);
        if notes.is_empty() {
            return;
        }
        self.record(&mut state, &notes);
        // Queued while the state is still held, so that two lanes flushing at once
        // cannot queue a later window's notification before an earlier one's. Queuing
        // never blocks.
        let notifiers = self.notifiers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(notifiers) = notifiers.as_ref() {
            for note in notes {
                notifiers.send(note, &self.metrics);
            }
        }
        drop(notifiers);
        drop(state);
    }

    /// A lane went away (its partition was revoked): it no longer holds the frontier.
    pub fn lane_gone(&self, producer: &str) {
        self.state().frontiers.remove(producer);
    }

    /// Writes notifications to the `alerts` table, one producer per alert.
    fn record(&self, state: &mut HubState, notes: &[Notification]) {
        let now = crate::cli::now_ms();
        let mut by_alert: BTreeMap<&str, Vec<&Notification>> = BTreeMap::new();
        for n in notes {
            by_alert.entry(&n.alert).or_default().push(n);
        }
        for (alert, notes) in by_alert {
            let batch = sinks::tables::alerts_batch(notes.iter().map(|n| sinks::tables::AlertRow {
                alert: &n.alert,
                rule: &n.rule,
                host: &n.host,
                key: &n.key,
                state: n.state.as_str(),
                value: n.value,
                window_start_ms: n.window_start_ms,
                window_end_ms: n.window_end_ms,
                at_ms: now,
                severity: &n.severity,
                message: &n.message,
            }));
            let hi = notes.iter().map(|n| n.window_end_ms).max().expect("non-empty");
            let lo = state.written_hi.get(alert).copied().unwrap_or(i64::MIN).min(hi - 1);
            match self.store.write(Table::Alerts, &format!("alert-{alert}"), SeqRange { lo, hi }, &[batch]) {
                Ok(outcome) => {
                    self.metrics.rows_written(Table::Alerts, outcome.rows_written);
                    state.written_hi.insert(alert.to_string(), hi);
                }
                Err(e) => {
                    tracing::error!(alert, error = %e, "writing the alerts table failed");
                    self.metrics.failure("alerts_table");
                }
            }
        }
    }

    /// Stops the notifiers, giving queued notifications until `deadline`.
    pub fn close(&self, deadline: std::time::Duration) {
        let notifiers = self.notifiers.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(notifiers) = notifiers {
            notifiers.close(deadline);
        }
    }

    /// `GET /api/alerts`: series firing, and those pending (the condition holds, `for`
    /// not reached yet), optionally only one of the two.
    pub fn states_json(&self, only: Option<&str>) -> serde_json::Value {
        let state = self.state();
        let mut out = Vec::new();
        for s in state.evaluator.series() {
            let kind = if s.state.firing {
                "firing"
            } else if s.state.streak > 0 {
                "pending"
            } else {
                continue;
            };
            if only.is_some_and(|o| o != kind) {
                continue;
            }
            out.push(serde_json::json!({
                "alert": s.spec.name,
                "rule": s.rule,
                "host": s.host,
                "key": s.key,
                "state": kind,
                "severity": s.spec.severity,
                "streak": s.state.streak,
                "value": s.state.last_value,
                "window_end": engine::alert::rfc3339_ms(s.state.last_end),
                "notifications": s.state.sent,
            }));
        }
        serde_json::json!({ "alerts": out })
    }
}
