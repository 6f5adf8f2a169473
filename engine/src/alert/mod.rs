//! Alert evaluation over closed windows: DESIGN.md, "Alert semantics (event time)".
//!
//! The evaluator takes what the engine emits (closed windows as `aggregates` record
//! batches, plus each rule's frontier: every window ending at or before it has
//! closed) and returns the notifications the alerts send. It runs rule alerts
//! (`when = "..."` and `when = "absent"`); SQL alerts need the query layer and
//! run in the worker.
//!
//! Invariants:
//! - **Event time only.** A window is evaluated when its rule's frontier passes its
//!   end, never on a wall clock, and every window end of the rule's grid is evaluated,
//!   in order, once: so a replay and a live worker notify the same sequence, and a
//!   lagging pipeline (a frontier that does not move) evaluates nothing: `absent`
//!   cannot mistake "behind" for "quiet".
//! - **Merged input.** Rows are partial (one per producer); rows of one (window,
//!   host, key) are merged before evaluation, so the order and split of the batches
//!   does not change the outcome.
//! - **Missing windows are zero.** A key seen within `forget` and absent from a
//!   window has `count = 0` and null `sum`, `min`, `max`, `avg` (any comparison with
//!   null is false).
//! - **Deterministic.** Keys are evaluated in sorted order, so the notification
//!   sequence is a function of the input alone; [`AlertSnapshot`] carries all state
//!   across restarts.
//! - No I/O: delivering notifications is the caller's.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, TimestampMillisecondType, UInt64Type};
use serde::{Deserialize, Serialize};

use crate::compile::{AlertKind, AlertSpec, AlertView, RuleId, RuleSet, WHEN_VARIABLES};
use crate::expr::Value;

#[cfg(test)]
mod tests;

/// `firing` or `resolved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

/// One notification, as DESIGN.md gives its JSON (webhook body, Kafka value,
/// `replay --alerts` line). `id` = `alert|host|key|window_end|state` is the
/// idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    pub alert: String,
    pub rule: String,
    pub state: AlertState,
    pub host: String,
    pub key: String,
    /// The value the condition is about: the first of count, sum, min, max, avg that
    /// `when` names (count for `absent`); null when that is null.
    pub value: Option<f64>,
    /// RFC 3339, UTC.
    pub window_start: String,
    pub window_end: String,
    pub severity: String,
    pub message: String,
    #[serde(skip)]
    pub window_start_ms: i64,
    #[serde(skip)]
    pub window_end_ms: i64,
    /// The notifiers to deliver to (not part of the JSON).
    #[serde(skip)]
    pub notify: Vec<String>,
}

pub use crate::batch::rfc3339_ms;

/// A series: (host, key); both empty for the `sum` and `avg` views.
type SeriesKey = (String, String);

/// One series' alert state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesState {
    /// Consecutive evaluated windows in which `when` held.
    pub streak: u32,
    pub firing: bool,
    /// Firing notifications in the current episode (the first included).
    pub sent: u32,
    /// `window_end` of the last firing notification.
    pub last_notified_end: i64,
    /// `window_end` of the last window with data for the series (for `forget` and `absent`).
    pub last_seen_end: i64,
    /// The value at the last evaluation, for `/api/alerts`.
    pub last_value: Option<f64>,
    /// `window_end` of the last evaluation.
    pub last_end: i64,
    /// `window_start` of the first window of the current streak (when `streak > 0`):
    /// the windows from here to `last_end` are the ones in which `when` held.
    #[serde(default)]
    pub streak_from: i64,
    /// `window_end` of the window in which the current episode fired (when `firing`).
    #[serde(default)]
    pub firing_since: i64,
}

/// A window's rows waiting for their rule's frontier.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct PendingWindow {
    start_ms: i64,
    cells: BTreeMap<SeriesKey, CellData>,
}

/// A merged partial aggregate (`crate::window::Cell` as it comes out of a batch: nulls, not infinities).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct CellData {
    count: u64,
    sum: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
}

impl CellData {
    fn merge(&mut self, other: &CellData) {
        self.count += other.count;
        self.sum = merge_opt(self.sum, other.sum, |a, b| a + b);
        self.min = merge_opt(self.min, other.min, f64::min);
        self.max = merge_opt(self.max, other.max, f64::max);
    }
}

fn merge_opt(a: Option<f64>, b: Option<f64>, f: impl Fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, b) => a.or(b),
    }
}

/// The `when` variables of one series in one window, by [`WHEN_VARIABLES`] slot.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Values {
    count: f64,
    sum: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    avg: Option<f64>,
}

impl Values {
    const ZERO: Values = Values { count: 0.0, sum: None, min: None, max: None, avg: None };

    fn of(cell: &CellData) -> Values {
        let avg = cell.sum.filter(|_| cell.count > 0).map(|s| s / cell.count as f64);
        Values { count: cell.count as f64, sum: cell.sum, min: cell.min, max: cell.max, avg }
    }

    fn slots(&self) -> [Option<Value<'static>>; 5] {
        [Some(self.count), self.sum, self.min, self.max, self.avg].map(|v| v.map(Value::Number))
    }

    fn get(&self, slot: usize) -> Option<f64> {
        [Some(self.count), self.sum, self.min, self.max, self.avg][slot]
    }
}

/// Mean over hosts of each variable (nulls left out, as SQL's `avg` does): `avg_view`.
fn mean_over_hosts(per_host: &[Values]) -> Values {
    let mean = |f: &dyn Fn(&Values) -> Option<f64>| {
        let v: Vec<f64> = per_host.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    Values {
        count: mean(&|v| Some(v.count)).unwrap_or(0.0),
        sum: mean(&|v| v.sum),
        min: mean(&|v| v.min),
        max: mean(&|v| v.max),
        avg: mean(&|v| v.avg),
    }
}

/// One series of one alert, for `/api/alerts`.
#[derive(Debug)]
pub struct SeriesView<'a> {
    pub spec: &'a AlertSpec,
    pub rule: &'a str,
    pub host: &'a str,
    pub key: &'a str,
    pub state: &'a SeriesState,
}

/// What the evaluator keeps per alert.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AlertStateSnapshot {
    /// The alert's definition when the state was taken: a changed alert starts fresh.
    pub definition: String,
    pub series: BTreeMap<String, BTreeMap<String, SeriesState>>,
}

/// The evaluator's whole state, for checkpoints.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AlertSnapshot {
    /// Per rule name: every window ending at or before this was evaluated.
    pub evaluated_through: BTreeMap<String, i64>,
    /// Per watched rule name: its definition when the state was taken. A changed rule
    /// (another window grid, say) starts fresh: its `evaluated_through` would not line
    /// up. A rule listed here without `evaluated_through` had nothing evaluated yet.
    #[serde(default)]
    pub rule_definitions: BTreeMap<String, String>,
    /// Per alert name.
    pub alerts: BTreeMap<String, AlertStateSnapshot>,
    /// Per rule name: windows closed but not yet evaluated.
    pending: BTreeMap<String, BTreeMap<i64, PendingWindow>>,
}

impl AlertSnapshot {
    /// The snapshot without the windows that were waiting for their frontier: for a
    /// caller that feeds those rows again on restore (a worker re-reads them from the
    /// `aggregates` table), so that they are not counted twice.
    pub fn without_pending(mut self) -> Self {
        self.pending.clear();
        self
    }

    /// Drops what the snapshot says of `rule`: a restore starts it afresh.
    pub fn forget_rule(&mut self, rule: &str) {
        self.rule_definitions.remove(rule);
        self.evaluated_through.remove(rule);
        self.pending.remove(rule);
    }

    /// Whether the snapshot carries `rule`'s evaluation state (same name and definition).
    pub fn knows_rule(&self, name: &str, definition: &str) -> bool {
        self.rule_definitions.get(name).is_some_and(|d| d == definition)
    }
}

/// One row of a SQL alert's result, as the worker reads it: `host` from a column of
/// that name, `value` from the column `value`, the window from `window_start` and
/// `window_end`, and `key` from every other column (`name=value`, joined by `,`).
#[derive(Debug, Clone, PartialEq)]
pub struct SqlRow {
    pub host: String,
    pub key: String,
    pub value: Option<f64>,
    pub window_start_ms: Option<i64>,
    pub window_end_ms: Option<i64>,
}

/// A SQL alert and its series (those its query returned at the last run).
#[derive(Debug)]
struct SqlAlert {
    spec: AlertSpec,
    series: BTreeMap<SeriesKey, SeriesState>,
}

/// A rule alert and its series.
#[derive(Debug)]
struct RuleAlert {
    spec: AlertSpec,
    rule: RuleId,
    /// Slot of the variable reported as `value`.
    value_slot: usize,
    series: BTreeMap<SeriesKey, SeriesState>,
}

/// Evaluates the rule alerts of a rule set; see the module docs.
#[derive(Debug)]
pub struct AlertEvaluator {
    rules: Arc<RuleSet>,
    alerts: Vec<RuleAlert>,
    /// Per rule: the alerts watching it (indexes into `alerts`).
    by_rule: Vec<Vec<usize>>,
    /// Per rule: windows closed but not yet evaluated, by end.
    pending: Vec<BTreeMap<i64, PendingWindow>>,
    /// Per rule: every window ending at or before this was evaluated.
    evaluated_through: Vec<Option<i64>>,
    /// SQL alerts: run by the caller on its clock, fed through [`Self::observe_sql`].
    sql: Vec<SqlAlert>,
}

impl AlertEvaluator {
    pub fn new(rules: Arc<RuleSet>) -> Self {
        let mut alerts = Vec::new();
        let mut sql = Vec::new();
        let mut by_rule = vec![Vec::new(); rules.rules.len()];
        for spec in &rules.alerts {
            let (rule, value_slot) = match &spec.kind {
                AlertKind::Threshold { rule, when_text, .. } => (*rule, first_variable(when_text)),
                AlertKind::Absent { rule } => (*rule, 0),
                AlertKind::Sql { .. } => {
                    sql.push(SqlAlert { spec: spec.clone(), series: BTreeMap::new() });
                    continue;
                }
            };
            by_rule[rule].push(alerts.len());
            alerts.push(RuleAlert { spec: spec.clone(), rule, value_slot, series: BTreeMap::new() });
        }
        let n = rules.rules.len();
        Self { rules, alerts, by_rule, pending: vec![BTreeMap::new(); n], evaluated_through: vec![None; n], sql }
    }

    /// Whether no alert exists (callers skip the work then).
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty() && self.sql.is_empty()
    }

    /// Whether `rule` has alerts watching it.
    pub fn watches(&self, rule: RuleId) -> bool {
        !self.by_rule[rule].is_empty()
    }

    /// Takes closed-window rows (the `aggregates` schema). Rows of rules without
    /// alerts, and of windows already evaluated (a re-read after a restart), are ignored.
    pub fn add_batch(&mut self, batch: &RecordBatch) {
        let Some(cols) = AggregateColumns::of(batch) else { return };
        let mut last: Option<(&str, Option<RuleId>)> = None;
        for row in 0..batch.num_rows() {
            let name = cols.rule.value(row);
            let rule = match last {
                Some((n, id)) if n == name => id,
                _ => {
                    let id = self.rules.rules.iter().position(|r| r.name == name);
                    last = Some((name, id));
                    id
                }
            };
            let Some(rule) = rule.filter(|&r| self.watches(r)) else { continue };
            let end = cols.window_end.value(row);
            if self.evaluated_through[rule].is_some_and(|t| end <= t) {
                continue;
            }
            let cell = CellData {
                count: cols.count.value(row),
                sum: cols.sum.is_valid(row).then(|| cols.sum.value(row)),
                min: cols.min.is_valid(row).then(|| cols.min.value(row)),
                max: cols.max.is_valid(row).then(|| cols.max.value(row)),
            };
            let window = self.pending[rule].entry(end).or_default();
            window.start_ms = cols.window_start.value(row);
            window
                .cells
                .entry((cols.host.value(row).to_string(), cols.key.value(row).to_string()))
                .or_default()
                .merge(&cell);
        }
    }

    /// Evaluates every window of `rule` ending at or before `frontier` that has not
    /// been evaluated, in order; returns the notifications.
    pub fn advance(&mut self, rule: RuleId, frontier: i64) -> Vec<Notification> {
        let mut out = Vec::new();
        while let Some(end) = self.next_window(rule, frontier) {
            self.evaluate_window(rule, end, &mut out);
        }
        out
    }

    /// Marks every window of `rule` ending at or before `t` as evaluated, without
    /// evaluating it: for windows whose rows cannot all come (a restarted worker whose
    /// lanes wrote them before it stopped), so that none is judged on part of its data.
    pub fn skip_through(&mut self, rule: RuleId, t: i64) {
        if !self.watches(rule) {
            return;
        }
        let spec = self.rules.rules[rule].window;
        let end = last_end_at_or_before(t, spec.width_ms, spec.slide_ms);
        if self.evaluated_through[rule].is_none_or(|e| e < end) {
            self.evaluated_through[rule] = Some(end);
            self.pending[rule] = self.pending[rule].split_off(&(end + 1));
        }
    }

    /// Every watched rule up to its frontier (`None`: not known yet), windows in order
    /// of `window_end` across rules (ties by rule): so the sequence is the same however
    /// often this is called, in a replay and in a live worker.
    pub fn advance_all(&mut self, frontier: impl Fn(RuleId) -> Option<i64>) -> Vec<Notification> {
        let mut out = Vec::new();
        let frontiers: Vec<Option<i64>> =
            (0..self.rules.rules.len()).map(|r| frontier(r).filter(|_| self.watches(r))).collect();
        loop {
            let next =
                (0..frontiers.len()).filter_map(|rule| Some((self.next_window(rule, frontiers[rule]?)?, rule))).min();
            let Some((end, rule)) = next else { return out };
            self.evaluate_window(rule, end, &mut out);
        }
    }

    /// The end of the next window of `rule` to evaluate, if it is at or before
    /// `frontier`. With no series to carry, that is the next window with data (and
    /// with none, the rule is marked evaluated up to the frontier).
    fn next_window(&mut self, rule: RuleId, frontier: i64) -> Option<i64> {
        if !self.watches(rule) {
            return None;
        }
        let spec = self.rules.rules[rule].window;
        let next = match self.evaluated_through[rule] {
            // At the end of time there is no next window.
            Some(t) => t.checked_add(spec.slide_ms)?,
            // Nothing evaluated yet: start at the first window with data.
            None => *self.pending[rule].keys().next()?,
        };
        if next > frontier {
            return None;
        }
        let tracked = self.by_rule[rule].iter().any(|&a| !self.alerts[a].series.is_empty());
        if tracked {
            return Some(next);
        }
        match self.pending[rule].range(next..=frontier).next() {
            Some((&end, _)) => Some(end),
            None => {
                self.evaluated_through[rule] = Some(last_end_at_or_before(frontier, spec.width_ms, spec.slide_ms));
                None
            }
        }
    }

    /// Evaluates every alert of `rule` on the window ending at `end`.
    fn evaluate_window(&mut self, rule: RuleId, end: i64, out: &mut Vec<Notification>) {
        let width = self.rules.rules[rule].window.width_ms;
        let window = self.pending[rule]
            .remove(&end)
            .unwrap_or_else(|| PendingWindow { start_ms: end - width, cells: BTreeMap::new() });
        for &a in &self.by_rule[rule].clone() {
            self.evaluate(a, end, &window, out);
        }
        self.evaluated_through[rule] = Some(end);
    }

    fn evaluate(&mut self, a: usize, end: i64, window: &PendingWindow, out: &mut Vec<Notification>) {
        let rule_name = &self.rules.rules[self.alerts[a].rule].name;
        let alert = &mut self.alerts[a];
        // The window's series under the alert's view.
        let observed: BTreeMap<SeriesKey, Values> = match alert.spec.view {
            AlertView::Machine => window.cells.iter().map(|(k, c)| (k.clone(), Values::of(c))).collect(),
            AlertView::Sum if !window.cells.is_empty() => {
                let mut total = CellData::default();
                window.cells.values().for_each(|c| total.merge(c));
                BTreeMap::from([(SeriesKey::default(), Values::of(&total))])
            }
            AlertView::Avg if !window.cells.is_empty() => {
                let mut per_host: BTreeMap<&str, CellData> = BTreeMap::new();
                for ((host, _), c) in &window.cells {
                    per_host.entry(host).or_default().merge(c);
                }
                let values: Vec<Values> = per_host.values().map(Values::of).collect();
                BTreeMap::from([(SeriesKey::default(), mean_over_hosts(&values))])
            }
            AlertView::Sum | AlertView::Avg => BTreeMap::new(),
        };
        for key in observed.keys() {
            alert.series.entry(key.clone()).or_default().last_seen_end = end;
        }
        let forget_before = end - alert.spec.forget_ms;
        let keys: BTreeSet<SeriesKey> = alert.series.keys().cloned().collect();
        for key in keys {
            let values = observed.get(&key).copied();
            let state = alert.series.get_mut(&key).expect("tracked");
            if values.is_none() && state.last_seen_end < forget_before {
                // Forgotten: a firing series resolves, so that no page stays open forever.
                let state = alert.series.remove(&key).expect("tracked");
                if state.firing && alert.spec.resolve {
                    out.push(notification(
                        &alert.spec,
                        rule_name,
                        &key,
                        AlertState::Resolved,
                        None,
                        window.start_ms,
                        end,
                    ));
                }
                continue;
            }
            let values = values.unwrap_or(Values::ZERO);
            let holds = match &alert.spec.kind {
                AlertKind::Threshold { when, .. } => when.eval(&values.slots()),
                AlertKind::Absent { .. } => state.last_seen_end < end,
                AlertKind::Sql { .. } => false,
            };
            let value = values.get(alert.value_slot);
            if let Some(change) = step(&alert.spec, state, holds, value, window.start_ms, end) {
                out.push(notification(&alert.spec, rule_name, &key, change, value, window.start_ms, end));
            }
        }
    }

    /// The SQL alerts, by name.
    pub fn sql_alerts(&self) -> impl Iterator<Item = &AlertSpec> {
        self.sql.iter().map(|a| &a.spec)
    }

    /// A SQL alert's query returned `rows` at `run_at_ms` (see [`SqlRow`]): each
    /// series in them holds, each tracked series missing from them resolves and is
    /// dropped. Timing (`for`, `repeat_interval`) counts runs, on the rows'
    /// `window_end` (the run time for rows without one).
    pub fn observe_sql(&mut self, alert: &str, run_at_ms: i64, rows: Vec<SqlRow>) -> Vec<Notification> {
        let mut out = Vec::new();
        let Some(alert) = self.sql.iter_mut().find(|a| a.spec.name == alert) else { return out };
        // Several rows of one series: the latest window stands for it.
        let mut latest: BTreeMap<SeriesKey, SqlRow> = BTreeMap::new();
        for row in rows {
            let key = (row.host.clone(), row.key.clone());
            let end = |r: &SqlRow| r.window_end_ms.unwrap_or(run_at_ms);
            if latest.get(&key).is_none_or(|old| end(old) <= end(&row)) {
                latest.insert(key, row);
            }
        }
        let keys: BTreeSet<SeriesKey> = alert.series.keys().chain(latest.keys()).cloned().collect();
        // A row's window can stay the same over several runs (the latest window of a
        // query that has not moved on), and a series can fire, resolve and fire again, or
        // repeat, within it. Each run notifies at most once per series, so the run time
        // makes every SQL notification's id its own; without it a second firing in the
        // same window would repeat the first one's id and be dropped as delivered.
        let run_suffix = format!("|run={run_at_ms}");
        let first = out.len();
        for key in keys {
            let state = alert.series.entry(key.clone()).or_default();
            match latest.get(&key) {
                Some(row) => {
                    let end = row.window_end_ms.unwrap_or(run_at_ms);
                    let start = row.window_start_ms.unwrap_or(end);
                    state.last_seen_end = end;
                    if let Some(change) = step(&alert.spec, state, true, row.value, start, end) {
                        out.push(notification(&alert.spec, "", &key, change, row.value, start, end));
                    }
                }
                None => {
                    if let Some(change) = step(&alert.spec, state, false, None, run_at_ms, run_at_ms) {
                        out.push(notification(&alert.spec, "", &key, change, None, run_at_ms, run_at_ms));
                    }
                    alert.series.remove(&key);
                }
            }
        }
        for note in &mut out[first..] {
            note.id.push_str(&run_suffix);
        }
        out
    }

    /// Stops tracking the series (`host`, `key`) of `rule`'s machine-view alerts,
    /// without a notification: its input went to another worker (a Kafka rebalance),
    /// so its silence here is not the key going quiet. Returns how many were dropped.
    pub fn drop_series(&mut self, rule: &str, host: &str, key: &str) -> usize {
        let Some(rule) = self.rules.rules.iter().position(|r| r.name == rule) else { return 0 };
        let series = (host.to_string(), key.to_string());
        let mut dropped = 0;
        for &a in &self.by_rule[rule] {
            let alert = &mut self.alerts[a];
            if alert.spec.view == AlertView::Machine && alert.series.remove(&series).is_some() {
                dropped += 1;
            }
        }
        dropped
    }

    /// Whether any machine-view alert of `rule` tracks (`host`, `key`).
    pub fn tracks(&self, rule: &str, host: &str, key: &str) -> bool {
        let Some(rule) = self.rules.rules.iter().position(|r| r.name == rule) else { return false };
        let series = (host.to_string(), key.to_string());
        self.by_rule[rule].iter().any(|&a| self.alerts[a].series.contains_key(&series))
    }

    /// Every tracked series with its state, alert by alert, in key order.
    pub fn series(&self) -> impl Iterator<Item = SeriesView<'_>> {
        let rule_alerts = self.alerts.iter().map(|a| (&a.spec, self.rules.rules[a.rule].name.as_str(), &a.series));
        let sql_alerts = self.sql.iter().map(|a| (&a.spec, "", &a.series));
        rule_alerts.chain(sql_alerts).flat_map(|(spec, rule, series)| {
            series.iter().map(move |((host, key), state)| SeriesView { spec, rule, host, key, state })
        })
    }

    /// Per rule: every window ending at or before this was evaluated.
    pub fn evaluated_through(&self, rule: RuleId) -> Option<i64> {
        self.evaluated_through[rule]
    }

    pub fn snapshot(&self) -> AlertSnapshot {
        let mut snap = AlertSnapshot::default();
        for (rule, t) in self.evaluated_through.iter().enumerate() {
            let spec = &self.rules.rules[rule];
            if self.watches(rule) {
                snap.rule_definitions.insert(spec.name.clone(), spec.definition.clone());
            }
            if let Some(t) = t {
                snap.evaluated_through.insert(spec.name.clone(), *t);
            }
            if !self.pending[rule].is_empty() {
                snap.pending.insert(self.rules.rules[rule].name.clone(), self.pending[rule].clone());
            }
        }
        let all = self.alerts.iter().map(|a| (&a.spec, &a.series)).chain(self.sql.iter().map(|a| (&a.spec, &a.series)));
        for (spec, tracked) in all {
            let mut series: BTreeMap<String, BTreeMap<String, SeriesState>> = BTreeMap::new();
            for ((host, key), state) in tracked {
                series.entry(host.clone()).or_default().insert(key.clone(), state.clone());
            }
            snap.alerts.insert(spec.name.clone(), AlertStateSnapshot { definition: spec.definition.clone(), series });
        }
        snap
    }

    /// An evaluator for `rules` carrying over what `snapshot` holds for alerts and
    /// rules whose definitions did not change (a rule alert also needs its rule
    /// unchanged); the rest start fresh.
    pub fn restore(rules: Arc<RuleSet>, snapshot: &AlertSnapshot) -> Self {
        let mut e = Self::new(rules);
        for rule in 0..e.rules.rules.len() {
            let spec = &e.rules.rules[rule];
            if !snapshot.knows_rule(&spec.name, &spec.definition) {
                continue;
            }
            let name = &spec.name;
            e.evaluated_through[rule] = snapshot.evaluated_through.get(name).copied();
            if let Some(p) = snapshot.pending.get(name) {
                e.pending[rule] = p.clone();
            }
        }
        // A rule alert keeps its state only if its rule is unchanged too: its series
        // were judged on what the rule counted.
        let rules = Arc::clone(&e.rules);
        let all = e
            .alerts
            .iter_mut()
            .filter(|a| {
                let rule = &rules.rules[a.rule];
                snapshot.knows_rule(&rule.name, &rule.definition)
            })
            .map(|a| (&a.spec, &mut a.series));
        for (spec, series) in all.chain(e.sql.iter_mut().map(|a| (&a.spec, &mut a.series))) {
            let Some(saved) = snapshot.alerts.get(&spec.name).filter(|s| s.definition == spec.definition) else {
                continue;
            };
            for (host, keys) in &saved.series {
                for (key, state) in keys {
                    series.insert((host.clone(), key.clone()), state.clone());
                }
            }
        }
        e
    }
}

/// One evaluation of a series: `holds` is whether the condition held at `end`.
/// Returns the notification it makes, if any (DESIGN.md, "Alert semantics").
fn step(
    spec: &AlertSpec,
    state: &mut SeriesState,
    holds: bool,
    value: Option<f64>,
    start: i64,
    end: i64,
) -> Option<AlertState> {
    state.last_value = value;
    state.last_end = end;
    if !holds {
        state.streak = 0;
        if !state.firing {
            return None;
        }
        state.firing = false;
        state.sent = 0;
        return spec.resolve.then_some(AlertState::Resolved);
    }
    if state.streak == 0 {
        state.streak_from = start;
    }
    state.streak = state.streak.saturating_add(1);
    let notify = if !state.firing {
        if state.streak >= spec.for_windows {
            state.firing = true;
            state.firing_since = end;
            state.sent = 0;
            true
        } else {
            false
        }
    } else {
        spec.repeat_interval_ms.is_some_and(|r| end - state.last_notified_end >= r)
            && spec.max_notifications.is_none_or(|m| state.sent < m)
    };
    if !notify {
        return None;
    }
    state.sent += 1;
    state.last_notified_end = end;
    Some(AlertState::Firing)
}

/// The last window end of the grid (`start + width`, starts on multiples of `slide`)
/// at or before `t`.
fn last_end_at_or_before(t: i64, width: i64, slide: i64) -> i64 {
    // Saturating: event times come from input and may sit at either end of i64.
    t.saturating_sub(width).div_euclid(slide).saturating_mul(slide).saturating_add(width)
}

/// The slot of the first `when` variable in `text` (count if none).
fn first_variable(when_text: &str) -> usize {
    crate::expr::parse(when_text)
        .ok()
        .and_then(|e| e.identifiers().into_iter().find_map(|(name, _)| WHEN_VARIABLES.iter().position(|v| *v == name)))
        .unwrap_or(0)
}

fn notification(
    spec: &AlertSpec,
    rule: &str,
    (host, key): &SeriesKey,
    state: AlertState,
    value: Option<f64>,
    start_ms: i64,
    end_ms: i64,
) -> Notification {
    let window_start = rfc3339_ms(start_ms);
    let window_end = rfc3339_ms(end_ms);
    let value_text = value.map_or_else(|| "null".to_string(), |v| format!("{v}"));
    let series = match (host.is_empty(), key.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(" on {host}"),
        (true, false) => format!(" for {key}"),
        (false, false) => format!(" on {host} for {key}"),
    };
    let message = match &spec.message {
        Some(template) => template
            .replace("{alert}", &spec.name)
            .replace("{rule}", rule)
            .replace("{state}", state.as_str())
            .replace("{severity}", &spec.severity)
            .replace("{host}", host)
            .replace("{key}", key)
            .replace("{value}", &value_text)
            .replace("{window_start}", &window_start)
            .replace("{window_end}", &window_end),
        None => {
            let condition = match &spec.kind {
                AlertKind::Threshold { when_text, .. } => when_text.clone(),
                AlertKind::Absent { .. } => "absent".to_string(),
                AlertKind::Sql { .. } => "sql".to_string(),
            };
            let subject = if rule.is_empty() { condition } else { format!("{rule} {condition}") };
            format!(
                "{} {}: {subject}{series} (value {value_text}, window ending {window_end})",
                spec.name,
                state.as_str()
            )
        }
    };
    Notification {
        id: format!("{}|{host}|{key}|{window_end}|{}", spec.name, state.as_str()),
        alert: spec.name.clone(),
        rule: rule.to_string(),
        state,
        host: host.clone(),
        key: key.clone(),
        value,
        window_start,
        window_end,
        severity: spec.severity.clone(),
        message,
        window_start_ms: start_ms,
        window_end_ms: end_ms,
        notify: spec.notify.clone(),
    }
}

/// The columns of an `aggregates` batch.
struct AggregateColumns<'a> {
    rule: &'a arrow::array::StringArray,
    window_start: &'a arrow::array::PrimitiveArray<TimestampMillisecondType>,
    window_end: &'a arrow::array::PrimitiveArray<TimestampMillisecondType>,
    host: &'a arrow::array::StringArray,
    key: &'a arrow::array::StringArray,
    count: &'a arrow::array::PrimitiveArray<UInt64Type>,
    sum: &'a arrow::array::PrimitiveArray<Float64Type>,
    min: &'a arrow::array::PrimitiveArray<Float64Type>,
    max: &'a arrow::array::PrimitiveArray<Float64Type>,
}

impl<'a> AggregateColumns<'a> {
    fn of(batch: &'a RecordBatch) -> Option<Self> {
        let col = |name: &str| batch.column_by_name(name);
        Some(Self {
            rule: col("rule")?.as_string_opt()?,
            window_start: col("window_start")?.as_primitive_opt()?,
            window_end: col("window_end")?.as_primitive_opt()?,
            host: col("host")?.as_string_opt()?,
            key: col("key")?.as_string_opt()?,
            count: col("count")?.as_primitive_opt()?,
            sum: col("sum")?.as_primitive_opt()?,
            min: col("min")?.as_primitive_opt()?,
            max: col("max")?.as_primitive_opt()?,
        })
    }
}
