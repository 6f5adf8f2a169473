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
//! - The `alerts` table write and the queuing happen on the hub's writer thread, in
//!   the order the evaluator made the notifications, so a lane's flush only pays for
//!   the evaluation.
//!
//! # One evaluating worker per data dir
//! The alert checkpoint and the delivery ledger are single-writer files, so one
//! worker of a data dir evaluates and notifies: the one holding the `flock` on
//! `checkpoints/alerts.lock` ([`AlertOwner`]). Other workers of the group count and
//! store as usual but evaluate no alerts (they log it, and `/api/alerts` says so); if
//! the owner dies, the next worker to start takes the lock over.
//!
//! # Exactly once across a crash
//! - Every `checkpoint_interval` the evaluator's state (streaks, firing series,
//!   `evaluated_through` per rule, but not the rows of windows still waiting for their
//!   frontier) goes to the writer, which saves it with the ledger's outbox (what the
//!   notifiers still owe) in `checkpoints/alerts.ckpt`, atomically.
//! - On start the state is restored and every `aggregates` row after a rule's
//!   `evaluated_through` is read back from Parquet: rows the lanes wrote after the
//!   checkpoint are in the table and nowhere else, and the lanes only hand over rows
//!   the store kept (above the marks at start). So the evaluator sees each row once,
//!   re-makes the notifications it made after the checkpoint (same ids), and the
//!   [`Ledger`] drops those already delivered. The outbox is queued again.
//! - A rule that the checkpoint does not know (a first start, a changed definition)
//!   starts after the last window the table holds for it
//!   ([`AlertEvaluator::skip_through`]): alerts are not back-filled over history (that
//!   is `replay --alerts`). The state is checkpointed right then, before any lane runs,
//!   so that from the first notification on there is a checkpoint to come back to.
//! - SQL alerts have no table to re-make a run from, so their notifications are
//!   admitted to the ledger, checkpointed with the state that made them, and only then
//!   handed to the notifiers ([`AlertHub::sql_observed`]).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use arrow::array::{AsArray, RecordBatch};
use engine::RuleSet;
use engine::alert::{AlertEvaluator, AlertSnapshot, Notification};
use engine::compile::{RuleId, StreamId};
use serde::{Deserialize, Serialize};
use sinks::{ParquetStore, SeqRange, Table};

use super::ledger::{Ledger, OutboxEntry};
use super::metrics::Metrics;
use super::notify::Notifiers;

/// Bumped when the layout changes; another version is refused, not misread.
const ALERT_CHECKPOINT_VERSION: u32 = 1;

/// `checkpoints/alerts.ckpt`: see the module docs.
#[derive(Debug, Serialize, Deserialize)]
pub struct AlertCheckpoint {
    pub version: u32,
    /// The evaluator's state, without windows waiting for their frontier.
    pub evaluator: AlertSnapshot,
    /// What the notifiers owed when it was taken.
    pub outbox: Vec<OutboxEntry>,
    pub written_at_ms: i64,
}

impl AlertCheckpoint {
    pub fn path(checkpoint_dir: &Path) -> PathBuf {
        checkpoint_dir.join("alerts.ckpt")
    }

    /// The last alert checkpoint; an unreadable one is an error (the operator decides,
    /// by deleting it), never silently replaced by a fresh state.
    pub fn load(checkpoint_dir: &Path) -> anyhow::Result<Option<Self>> {
        let path = Self::path(checkpoint_dir);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let checkpoint: Self = rmp_serde::from_slice(&bytes)
            .with_context(|| format!("{} is unreadable (delete it to start alerts afresh)", path.display()))?;
        anyhow::ensure!(
            checkpoint.version == ALERT_CHECKPOINT_VERSION,
            "{}: version {} is not {ALERT_CHECKPOINT_VERSION}",
            path.display(),
            checkpoint.version
        );
        Ok(Some(checkpoint))
    }

    fn save(&self, checkpoint_dir: &Path) -> anyhow::Result<()> {
        let bytes = rmp_serde::to_vec_named(self).context("encoding the alert checkpoint")?;
        sinks::write_atomic(&Self::path(checkpoint_dir), &bytes, None)?;
        Ok(())
    }
}

/// What a start reads from `aggregates` (see the module docs), as SQL.
pub struct RecoveryQueries {
    /// The rows after each recovered rule's `evaluated_through` (all of a recovered
    /// rule's rows when it had evaluated nothing yet).
    pub rows: Option<String>,
    /// `rule, max(window_end)` of the rules starting afresh: they start after what
    /// the table already holds (alerts are not back-filled over history).
    pub marks: Option<String>,
}

impl RecoveryQueries {
    pub fn new(rules: &RuleSet, evaluator: &AlertEvaluator, checkpoint: Option<&AlertCheckpoint>) -> Self {
        let quote = |name: &str| format!("'{}'", name.replace('\'', "''"));
        let (mut recovered, mut fresh) = (Vec::new(), Vec::new());
        for (id, rule) in rules.rules.iter().enumerate().filter(|(id, _)| evaluator.watches(*id)) {
            if checkpoint.is_some_and(|c| c.evaluator.knows_rule(&rule.name, &rule.definition)) {
                recovered.push(match evaluator.evaluated_through(id) {
                    Some(t) => format!("(rule = {} AND window_end > to_timestamp_millis({t}))", quote(&rule.name)),
                    None => format!("rule = {}", quote(&rule.name)),
                });
            } else {
                fresh.push(quote(&rule.name));
            }
        }
        let rows = (!recovered.is_empty()).then(|| {
            format!(
                "SELECT rule, window_start, window_end, host, key, count, sum, min, max FROM aggregates WHERE {}",
                recovered.join(" OR ")
            )
        });
        let marks = (!fresh.is_empty()).then(|| {
            format!(
                "SELECT rule, CAST(max(window_end) AS BIGINT) AS mark FROM aggregates WHERE rule IN ({}) GROUP BY rule",
                fresh.join(", ")
            )
        });
        Self { rows, marks }
    }
}

/// Messages to the writer thread, in the evaluator's order.
enum Outgoing {
    Notes(Vec<Notification>),
    /// A SQL alert's notifications with the state that made them: admitted, then
    /// checkpointed, and only then handed to the notifiers (see `sql_observed`).
    SqlNotes(Vec<Notification>, AlertSnapshot),
    Checkpoint(AlertSnapshot),
    /// After a reload: alert name -> rule name.
    Rules(HashMap<String, String>),
}

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

/// What the writer thread owns.
struct Writer {
    notifiers: Notifiers,
    ledger: Arc<Ledger>,
    store: Arc<ParquetStore>,
    metrics: Arc<Metrics>,
    checkpoint_dir: PathBuf,
    /// Per alert: the highest `window_end` written to the `alerts` table.
    written_hi: BTreeMap<String, i64>,
    /// Alert name -> rule name, for compacting the ledger.
    rule_of: HashMap<String, String>,
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
                Some((spec.name.clone(), sql.to_string(), super::sql_alerts::every(every_ms)))
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

impl Writer {
    fn run(mut self, messages: Receiver<Outgoing>) {
        for message in messages {
            match message {
                Outgoing::Notes(notes) => {
                    // Queued first: the table is a record, not the outbox (the alert
                    // checkpoint is), so a delivery need not wait for a Parquet write.
                    self.notifiers.send_all(&notes);
                    self.record(&notes);
                }
                Outgoing::SqlNotes(notes, snapshot) => {
                    let admitted = self.notifiers.admit_all(&notes);
                    if let Err(e) = self.checkpoint(snapshot) {
                        tracing::error!(error = format!("{e:#}"), "alert checkpoint failed");
                        self.metrics.failure("alert_checkpoint");
                    }
                    self.notifiers.dispatch(&admitted);
                    self.record(&notes);
                }
                Outgoing::Rules(rule_of) => self.rule_of = rule_of,
                Outgoing::Checkpoint(snapshot) => {
                    if let Err(e) = self.checkpoint(snapshot) {
                        tracing::error!(error = format!("{e:#}"), "alert checkpoint failed");
                        self.metrics.failure("alert_checkpoint");
                    }
                }
            }
        }
        // Everything evaluated is queued: the notifiers drain what they can (the
        // caller bounds the wait); what they do not finish is in the last outbox.
        self.notifiers.close(Duration::from_secs(3600));
        self.ledger.close();
    }

    fn checkpoint(&self, snapshot: AlertSnapshot) -> anyhow::Result<()> {
        let checkpoint = AlertCheckpoint {
            version: ALERT_CHECKPOINT_VERSION,
            evaluator: snapshot,
            outbox: self.ledger.outbox(),
            written_at_ms: crate::cli::now_ms(),
        };
        checkpoint.save(&self.checkpoint_dir)?;
        self.ledger.compact(remade_after(&self.rule_of, &checkpoint.evaluator.evaluated_through))
    }

    /// Writes notifications to the `alerts` table, one producer per alert. A failed
    /// write is logged and counted; the notifications still go out.
    fn record(&mut self, notes: &[Notification]) {
        let now = crate::cli::now_ms();
        let mut by_alert: BTreeMap<&str, Vec<&Notification>> = BTreeMap::new();
        for n in notes {
            by_alert.entry(&n.alert).or_default().push(n);
        }
        for (alert, notes) in by_alert {
            let batch =
                sinks::tables::alerts_batch(notes.iter().map(|n| alert_row(n, n.state.as_str(), &n.message, now)));
            let (lo, hi) = if self.rule_of.contains_key(alert) {
                // Rule alerts: window ends only grow. From below the lowest, so that the
                // store drops what a restart re-made of what it already has.
                let hi = notes.iter().map(|n| n.window_end_ms).max().expect("non-empty");
                let lowest = notes.iter().map(|n| n.window_end_ms).min().expect("non-empty");
                (self.written_hi.get(alert).copied().unwrap_or(i64::MIN).min(lowest.saturating_sub(1)), hi)
            } else {
                // SQL alerts: a row's window end may be older than the last one written
                // (a resolve is at the run time, a firing at its row's window), so they
                // are sequenced by the time of writing and none is taken for a repeat.
                let mark = self.store.high_water(Table::Alerts, &format!("alert-{alert}")).unwrap_or(i64::MIN + 1);
                (mark, now.max(mark + 1))
            };
            match self.store.write(Table::Alerts, &format!("alert-{alert}"), SeqRange { lo, hi }, &[batch]) {
                Ok(outcome) => {
                    self.metrics.rows_written(Table::Alerts, outcome.rows_written);
                    self.written_hi.insert(alert.to_string(), hi);
                }
                Err(e) => {
                    tracing::error!(alert, error = %e, "writing the alerts table failed");
                    self.metrics.failure("alerts_table");
                }
            }
        }
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

/// Whether a restart from a checkpoint with `evaluated_through` (per rule) can make the
/// notification of `alert` for the window ending at `window_end` again: one of a rule
/// alert after its rule's evaluation point (any, if the rule evaluated nothing yet).
/// Never one of a SQL alert (a run is not repeated; what it owes is in the outbox) nor
/// of an alert that is no longer in the rules.
fn remade_after(
    rule_of: &HashMap<String, String>,
    evaluated_through: &BTreeMap<String, i64>,
) -> impl Fn(&str, i64) -> bool + Send + 'static {
    let evaluated: HashMap<String, Option<i64>> =
        rule_of.iter().map(|(alert, rule)| (alert.clone(), evaluated_through.get(rule).copied())).collect();
    move |alert, window_end| match evaluated.get(alert) {
        None => false,
        Some(through) => through.is_none_or(|t| window_end > t),
    }
}

/// Alert name -> the name of the rule it watches.
fn rule_of(rules: &RuleSet) -> HashMap<String, String> {
    rules.alerts.iter().filter_map(|a| Some((a.name.clone(), rules.rules[a.kind.rule()?].name.clone()))).collect()
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

fn alert_row<'a>(n: &'a Notification, state: &'a str, message: &'a str, at_ms: i64) -> sinks::tables::AlertRow<'a> {
    sinks::tables::AlertRow {
        alert: &n.alert,
        rule: &n.rule,
        host: &n.host,
        key: &n.key,
        state,
        value: n.value,
        window_start_ms: n.window_start_ms,
        window_end_ms: n.window_end_ms,
        at_ms,
        severity: &n.severity,
        message,
    }
}

/// Writes a notification a notifier gave up on to the `alerts` table, with state
/// `undelivered` (beyond DESIGN.md's `firing | resolved`: the dead-letter record) and
/// the reason in `message`. Producer `undelivered-<notifier>`, sequenced by the time
/// of writing: dead letters are not re-made, so there is nothing to deduplicate.
pub fn write_dead_letter(store: &ParquetStore, metrics: &Metrics, notifier: &str, note: &Notification, error: &str) {
    let producer = format!("undelivered-{notifier}");
    let message = format!("{} (not delivered to {notifier}: {error})", note.message);
    let now = crate::cli::now_ms();
    let batch = sinks::tables::alerts_batch(std::iter::once(alert_row(note, "undelivered", &message, now)));
    let mark = store.high_water(Table::Alerts, &producer).unwrap_or(i64::MIN + 1);
    let range = SeqRange { lo: mark, hi: now.max(mark + 1) };
    match store.write(Table::Alerts, &producer, range, &[batch]) {
        Ok(outcome) => metrics.rows_written(Table::Alerts, outcome.rows_written),
        Err(e) => {
            tracing::error!(notifier, id = %note.id, error = %e, "writing a dead letter to the alerts table failed");
            metrics.failure("alerts_table");
        }
    }
}

/// The exclusive right to evaluate and notify alerts for a data dir: an `flock` on
/// `checkpoints/alerts.lock`, held while this lives (the kernel drops it when the
/// process dies, however it dies).
pub struct AlertOwner {
    /// Closing it releases the lock.
    _lock: fs::File,
}

impl AlertOwner {
    /// The lock if no other live process holds it; `None` if one does.
    pub fn try_acquire(checkpoint_dir: &Path) -> anyhow::Result<Option<AlertOwner>> {
        let path = checkpoint_dir.join("alerts.lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(AlertOwner { _lock: file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(error)) => Err(error).with_context(|| format!("locking {}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compaction_forgets_sql_and_removed_alerts_and_keeps_what_a_restart_remakes() {
        let rule_of: HashMap<String, String> =
            [("hot", "errors"), ("new", "fresh")].iter().map(|(a, r)| (a.to_string(), r.to_string())).collect();
        let through: BTreeMap<String, i64> = [("errors".to_string(), 600)].into_iter().collect();
        let remade = remade_after(&rule_of, &through);
        assert!(!remade("hot", 600), "evaluated: the restored state never judges it again");
        assert!(remade("hot", 660), "after the evaluation point: made again");
        assert!(remade("new", 0), "a rule that evaluated nothing yet: all of it");
        assert!(!remade("sql_alert", i64::MAX), "a SQL alert's runs are not repeated");
        assert!(!remade("removed", i64::MAX), "an alert gone from the rules makes nothing");
    }
}
