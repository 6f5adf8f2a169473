//! [`AlertHub`]: one [`AlertEvaluator`] over every lane of the worker. Lanes hand it their
//! kept rows and frontiers; it evaluates each rule's windows once every lane of the
//! stream has closed them, and hands the notifications to its writer thread.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use engine::RuleSet;
use engine::alert::{AlertEvaluator, AlertSnapshot};
use engine::compile::{RuleId, StreamId};
use sinks::{ParquetStore, Table};

use super::checkpoint::AlertCheckpoint;
use super::writer::{Outgoing, Writer, rule_of};
use crate::worker::ledger::{Ledger, OutboxEntry};
use crate::worker::metrics::Metrics;
use crate::worker::notify::Notifiers;

/// The worker's alerting; shared by every lane.
pub struct AlertHub {
    state: Mutex<HubState>,
    /// To the writer thread; taken at shutdown, so that it finishes and drains.
    writer: Mutex<Option<(Sender<Outgoing>, JoinHandle<()>)>>,
    /// How often the evaluator's state is checkpointed.
    checkpoint_every: Duration,
}

struct LaneFrontier {
    /// The generation of the rules the lane runs: a lane not yet switched to the
    /// hub's holds every frontier back (its rule and stream ids are the old set's).
    generation: u64,
    stream: StreamId,
    /// Wall time the lane opened: until its first event, it holds the frontier back
    /// for at most its stream's `idle_timeout` from then (a partition with a backlog
    /// must get to it; an empty one must not stop alerts).
    opened_ms: i64,
    closed_through: Vec<Option<i64>>,
}

struct HubState {
    /// The rules in force, and their generation.
    rules: Arc<RuleSet>,
    generation: u64,
    /// Per reload generation: the rules it removed or changed. Rows of those from a lane
    /// still on an older generation are the old definition's: not fed.
    changed_by: BTreeMap<u64, Vec<String>>,
    /// Rules a reload added or changed, until every lane has switched: then each skips
    /// to the latest window start any lane gave it (before it, some lanes were not
    /// counting). Meanwhile checkpoints do not claim them, so a restart starts them
    /// after the table's last window instead of back-filling their history.
    fresh: Vec<RuleId>,
    evaluator: AlertEvaluator,
    /// Per lane (producer): its stream, when it opened, and `closed_through` per rule.
    frontiers: HashMap<String, LaneFrontier>,
    /// Per series (rule, host, key) with rows here: the lanes that fed it. When the
    /// last of them is revoked (a Kafka rebalance), the series is dropped without a
    /// notification: its input went to another worker, it did not go quiet. Pruned to
    /// the series the evaluator still tracks.
    feeders: HashMap<(String, String, String), Vec<String>>,
    /// When the state was last sent to be checkpointed.
    checkpointed_at: Instant,
    /// Whether the evaluator moved since.
    dirty: bool,
}

/// How the hub starts: from a checkpoint or afresh.
pub struct HubStart {
    pub rules: Arc<RuleSet>,
    pub notifiers: Notifiers,
    pub ledger: Arc<Ledger>,
    pub store: Arc<ParquetStore>,
    pub metrics: Arc<Metrics>,
    pub checkpoint_dir: PathBuf,
    pub checkpoint_every: Duration,
}

impl AlertHub {
    /// The evaluator a start begins with: restored from `checkpoint` where definitions
    /// match, with the rows to read back given by [`recovery_sql`].
    pub fn restored_evaluator(rules: &Arc<RuleSet>, checkpoint: Option<&AlertCheckpoint>) -> AlertEvaluator {
        match checkpoint {
            Some(c) => AlertEvaluator::restore(Arc::clone(rules), &c.evaluator.clone().without_pending()),
            None => AlertEvaluator::new(Arc::clone(rules)),
        }
    }

    /// Starts the hub with `evaluator` (from [`Self::restored_evaluator`]): rules
    /// starting afresh skip to their `marks` (rule name, last `window_end` in the
    /// table), recovered ones are fed the `recovered` rows ([`RecoveryQueries`]), the
    /// checkpoint's outbox is queued again, and the state is checkpointed before any
    /// lane runs, so that from here on a crash loses nothing.
    pub fn start(
        start: HubStart,
        mut evaluator: AlertEvaluator,
        marks: &[(String, i64)],
        recovered: &[RecordBatch],
        outbox: Vec<OutboxEntry>,
    ) -> anyhow::Result<Self> {
        let HubStart { rules, notifiers, ledger, store, metrics, checkpoint_dir, checkpoint_every } = start;
        for (name, mark) in marks {
            if let Some(rule) = rules.rules.iter().position(|r| &r.name == name) {
                evaluator.skip_through(rule, *mark);
            }
        }
        let schema = Table::Aggregates.schema();
        for batch in recovered {
            // DataFusion may hand strings back as views; the evaluator reads the table's types.
            let columns = schema
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(field, column)| arrow::compute::cast(column, field.data_type()))
                .collect::<Result<Vec<_>, _>>()?;
            evaluator.add_batch(&RecordBatch::try_new(Arc::clone(&schema), columns)?);
        }
        notifiers.resend(outbox);
        let written_hi = rules
            .alerts
            .iter()
            .filter_map(|a| Some((a.name.clone(), store.high_water(Table::Alerts, &format!("alert-{}", a.name))?)))
            .collect();
        let writer = Writer { notifiers, ledger, store, metrics, checkpoint_dir, written_hi, rule_of: rule_of(&rules) };
        writer.checkpoint(evaluator.snapshot().without_pending())?;
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new().name("alert-writer".into()).spawn(move || writer.run(rx))?;
        let state = HubState {
            rules,
            generation: 0,
            changed_by: BTreeMap::new(),
            fresh: Vec::new(),
            evaluator,
            frontiers: HashMap::new(),
            feeders: HashMap::new(),
            checkpointed_at: Instant::now(),
            dirty: false,
        };
        Ok(Self { state: Mutex::new(state), writer: Mutex::new(Some((tx, thread))), checkpoint_every })
    }

    fn send(&self, message: Outgoing) {
        if let Some((tx, _)) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = tx.send(message);
        }
    }

    fn state(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A lane opened: it holds its stream's frontier back until it has closed windows
    /// of its own (or its stream's `idle_timeout` passed without any event). What its
    /// producer wrote before is in the table, and was read back at start.
    pub fn lane_opened(&self, producer: &str, generation: u64, stream: StreamId, now_ms: i64) {
        let mut state = self.state();
        let closed_through = vec![None; state.rules.rules.len()];
        state
            .frontiers
            .insert(producer.to_string(), LaneFrontier { generation, stream, opened_ms: now_ms, closed_through });
    }

    /// Rules were reloaded (generation `generation`): alerts and rules whose definitions
    /// did not change keep their state and waiting windows; the rest start afresh at
    /// their first window with data (the engine starts them at a window boundary).
    /// Lanes switch at their next tick; until all have, no window is evaluated.
    pub fn reload(&self, rules: Arc<RuleSet>, generation: u64) {
        let mut state = self.state();
        let changed: Vec<String> = state
            .rules
            .rules
            .iter()
            .filter(|old| !rules.rules.iter().any(|r| r.name == old.name && r.definition == old.definition))
            .map(|old| old.name.clone())
            .collect();
        let snapshot = state.evaluator.snapshot();
        state.evaluator = AlertEvaluator::restore(Arc::clone(&rules), &snapshot);
        let fresh: Vec<RuleId> = (0..rules.rules.len())
            .filter(|&r| {
                state.evaluator.watches(r) && !snapshot.knows_rule(&rules.rules[r].name, &rules.rules[r].definition)
            })
            .collect();
        state.fresh = fresh;
        state.changed_by.insert(generation, changed);
        state.rules = Arc::clone(&rules);
        state.generation = generation;
        state.dirty = true;
        self.send(Outgoing::Rules(rule_of(&rules)));
    }

    /// A lane flushed: `rows` are the `aggregates` rows the store kept, `closed_through`
    /// the lane's frontier per rule (of its rules' `generation`). Evaluates what every
    /// lane has now closed.
    pub fn lane_flushed(
        &self,
        producer: &str,
        generation: u64,
        stream: StreamId,
        rows: &[RecordBatch],
        closed_through: Vec<Option<i64>>,
        now_ms: i64,
    ) {
        let mut state = self.state();
        let stale: Vec<String> =
            state.changed_by.range(generation + 1..).flat_map(|(_, names)| names.iter().cloned()).collect();
        for batch in rows {
            let batch = without_rules(batch, &stale).unwrap_or_else(|| batch.clone());
            state.evaluator.add_batch(&batch);
            let HubState { feeders, evaluator, rules, .. } = &mut *state;
            note_feeders(feeders, producer, &batch, |name| {
                rules.rules.iter().position(|r| r.name == name).is_some_and(|id| evaluator.watches(id))
            });
        }
        let opened_ms = state.frontiers.get(producer).map_or(now_ms, |l| l.opened_ms);
        let lane = LaneFrontier { generation, stream, opened_ms, closed_through };
        state.frontiers.insert(producer.to_string(), lane);
        if let Some(oldest) = state.frontiers.values().map(|l| l.generation).min() {
            // Reloads every lane has switched past are history.
            state.changed_by = state.changed_by.split_off(&(oldest + 1));
        }
        let rules = Arc::clone(&state.rules);
        let all_switched = state.frontiers.values().all(|l| l.generation == state.generation);
        if all_switched && !state.fresh.is_empty() {
            for rule in std::mem::take(&mut state.fresh) {
                let start =
                    state.frontiers.values().filter_map(|l| l.closed_through.get(rule).copied().flatten()).max();
                if let Some(t) = start {
                    state.evaluator.skip_through(rule, t);
                }
            }
        }
        let frontier = |rule: RuleId| {
            if !all_switched {
                return None;
            }
            let stream = rules.rules[rule].stream;
            let idle_after = rules.streams[stream].idle_timeout_ms;
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
        let frontiers: Vec<Option<i64>> = (0..rules.rules.len()).map(frontier).collect();
        let before: Vec<Option<i64>> = (0..rules.rules.len()).map(|r| state.evaluator.evaluated_through(r)).collect();
        let notes = state.evaluator.advance_all(|rule| frontiers[rule]);
        state.dirty |=
            !notes.is_empty() || (0..rules.rules.len()).any(|r| state.evaluator.evaluated_through(r) != before[r]);
        // Sent while the state is still held, so that two lanes flushing at once cannot
        // queue a later window's notification before an earlier one's.
        if !notes.is_empty() {
            self.send(Outgoing::Notes(notes));
        }
        if state.dirty && state.checkpointed_at.elapsed() >= self.checkpoint_every {
            let HubState { feeders, evaluator, .. } = &mut *state;
            feeders.retain(|(rule, host, key), _| evaluator.tracks(rule, host, key));
            self.send(Outgoing::Checkpoint(checkpointable(&state)));
            state.checkpointed_at = Instant::now();
            state.dirty = false;
        }
    }

    /// The SQL alerts: (name, sql, every).
    pub fn sql_alerts(&self) -> Vec<(String, String, Duration)> {
        let state = self.state();
        state
            .evaluator
            .sql_alerts()
            .filter_map(|spec| {
                let (sql, every_ms) = spec.kind.sql()?;
                Some((spec.name.clone(), sql.to_string(), every(every_ms)))
            })
            .collect()
    }

    /// A SQL alert's run returned `rows`. A run is not re-made after a restart the way
    /// a window is (the tables move on, and a resolve's id carries the run time), so
    /// its notifications go out only once a checkpoint holds both the state that made
    /// them and them in its outbox: a crash before that sends none of them and restores
    /// the state from before the run; a crash after it sends what the outbox owes.
    pub fn sql_observed(&self, alert: &str, run_at_ms: i64, rows: Vec<engine::alert::SqlRow>) {
        let mut state = self.state();
        let notes = state.evaluator.observe_sql(alert, run_at_ms, rows);
        if notes.is_empty() {
            return;
        }
        self.send(Outgoing::SqlNotes(notes, checkpointable(&state)));
        state.checkpointed_at = Instant::now();
        state.dirty = false;
    }

    /// A lane's input ended (a finite file, stdin): its windows are all in, so it no
    /// longer holds the frontier or waits for a reload; its series stay.
    pub fn lane_finished(&self, producer: &str) {
        self.state().frontiers.remove(producer);
    }

    /// A lane went away (its partition was revoked): it no longer holds the frontier,
    /// and the series only it fed are dropped without a notification (see `feeders`).
    pub fn lane_gone(&self, producer: &str) {
        let mut state = self.state();
        state.frontiers.remove(producer);
        let HubState { feeders, evaluator, .. } = &mut *state;
        let mut dropped = 0;
        feeders.retain(|(rule, host, key), lanes| {
            lanes.retain(|l| l != producer);
            if lanes.is_empty() {
                dropped += evaluator.drop_series(rule, host, key);
                return false;
            }
            true
        });
        if dropped > 0 {
            tracing::info!(lane = producer, series = dropped, "alert series of a revoked lane dropped");
            state.dirty = true;
        }
    }

    /// Checkpoints the state one last time, then stops the writer and the notifiers,
    /// giving queued notifications until `deadline`.
    pub fn close(&self, deadline: Duration) {
        let snapshot = checkpointable(&self.state());
        self.send(Outgoing::Checkpoint(snapshot));
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((tx, thread)) = writer {
            drop(tx);
            let until = Instant::now() + deadline;
            while !thread.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                tracing::warn!("notifications were still pending at shutdown; the next start sends them");
            }
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
                // The windows in which `when` held, for a chart to mark.
                "held_from": engine::alert::rfc3339_ms(s.state.streak_from),
                "since": s.state.firing.then(|| engine::alert::rfc3339_ms(s.state.firing_since)),
                "notifications": s.state.sent,
            }));
        }
        serde_json::json!({ "alerts": out })
    }
}

/// The evaluator's state as a checkpoint keeps it: without waiting windows (read back
/// from the table on restore) and without rules a reload has not started yet.
fn checkpointable(state: &HubState) -> AlertSnapshot {
    let mut snapshot = state.evaluator.snapshot().without_pending();
    for &rule in &state.fresh {
        snapshot.forget_rule(&state.rules.rules[rule].name);
    }
    snapshot
}

/// Records that `producer` fed the series of `batch`'s rows.
fn note_feeders(
    feeders: &mut HashMap<(String, String, String), Vec<String>>,
    producer: &str,
    batch: &RecordBatch,
    watched: impl Fn(&str) -> bool,
) {
    let columns = ["rule", "host", "key"].map(|c| batch.column_by_name(c).and_then(|a| a.as_string_opt::<i32>()));
    let [Some(rule), Some(host), Some(key)] = columns else { return };
    let mut last: Option<(&str, bool)> = None;
    for row in 0..batch.num_rows() {
        let name = rule.value(row);
        let watch = match last {
            Some((n, w)) if n == name => w,
            _ => watched(name),
        };
        last = Some((name, watch));
        if !watch {
            continue;
        }
        let series = (rule.value(row).to_string(), host.value(row).to_string(), key.value(row).to_string());
        let lanes = feeders.entry(series).or_default();
        if !lanes.iter().any(|l| l == producer) {
            lanes.push(producer.to_string());
        }
    }
}

/// `batch` without the rows of `rules`; `None` when it has none of them.
fn without_rules(batch: &RecordBatch, rules: &[String]) -> Option<RecordBatch> {
    if rules.is_empty() {
        return None;
    }
    let names = batch.column_by_name("rule")?.as_string_opt::<i32>()?;
    let keep: arrow::array::BooleanArray =
        names.iter().map(|n| Some(!n.is_some_and(|n| rules.iter().any(|r| r == n)))).collect();
    if keep.true_count() == batch.num_rows() {
        return None;
    }
    arrow::compute::filter_record_batch(batch, &keep).ok()
}

/// How long a SQL alert's `every` is.
fn every(ms: i64) -> Duration {
    Duration::from_millis(ms.max(1) as u64)
}
