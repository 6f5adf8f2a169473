//! The hub's writer thread: queues notifications to the notifiers, writes them to the
//! `alerts` table, and saves alert checkpoints, in the order the evaluator made them, so
//! that a lane's flush only pays for the evaluation.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use engine::RuleSet;
use engine::alert::{AlertSnapshot, Notification};
use sinks::{ParquetStore, SeqRange, Table};

use super::checkpoint::{ALERT_CHECKPOINT_VERSION, AlertCheckpoint};
use crate::worker::ledger::Ledger;
use crate::worker::metrics::Metrics;
use crate::worker::notify::Notifiers;

/// Messages to the writer thread, in the evaluator's order.
pub enum Outgoing {
    Notes(Vec<Notification>),
    /// A SQL alert's notifications with the state that made them: admitted, then
    /// checkpointed, and only then handed to the notifiers (see `sql_observed`).
    SqlNotes(Vec<Notification>, AlertSnapshot),
    Checkpoint(AlertSnapshot),
    /// After a reload: alert name -> rule name.
    Rules(HashMap<String, String>),
}

/// What the writer thread owns.
pub struct Writer {
    pub notifiers: Notifiers,
    pub ledger: Arc<Ledger>,
    pub store: Arc<ParquetStore>,
    pub metrics: Arc<Metrics>,
    pub checkpoint_dir: PathBuf,
    /// Per alert: the highest `window_end` written to the `alerts` table.
    pub written_hi: BTreeMap<String, i64>,
    /// Alert name -> rule name, for compacting the ledger.
    pub rule_of: HashMap<String, String>,
}

impl Writer {
    pub fn run(mut self, messages: Receiver<Outgoing>) {
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

    pub fn checkpoint(&self, snapshot: AlertSnapshot) -> anyhow::Result<()> {
        let checkpoint = AlertCheckpoint {
            version: ALERT_CHECKPOINT_VERSION,
            evaluator: snapshot,
            outbox: self.ledger.outbox(),
            written_at_ms: crate::machine::now_ms(),
        };
        checkpoint.save(&self.checkpoint_dir)?;
        self.ledger.compact(remade_after(&self.rule_of, &checkpoint.evaluator.evaluated_through))
    }

    /// Writes notifications to the `alerts` table, one producer per alert. A failed
    /// write is logged and counted; the notifications still go out.
    fn record(&mut self, notes: &[Notification]) {
        let now = crate::machine::now_ms();
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

/// Whether a restart from a checkpoint with `evaluated_through` (per rule) can make the
/// notification of `alert` for the window ending at `window_end` again: one of a rule
/// alert after its rule's evaluation point (any, if the rule evaluated nothing yet).
/// Never one of a SQL alert (a run is not repeated; what it owes is in the outbox) nor
/// of an alert that is no longer in the rules.
pub fn remade_after(
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
pub fn rule_of(rules: &RuleSet) -> HashMap<String, String> {
    rules.alerts.iter().filter_map(|a| Some((a.name.clone(), rules.rules[a.kind.rule()?].name.clone()))).collect()
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
    let now = crate::machine::now_ms();
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
