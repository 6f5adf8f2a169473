//! Starting alerting after a restart: the alert checkpoint is restored and every
//! `aggregates` row written after it is read back (see the module docs of [`super`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arrow::array::AsArray;
use engine::RuleSet;
use engine::alert::AlertEvaluator;

use super::checkpoint::AlertCheckpoint;
use super::hub::{AlertHub, HubStart};

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

/// Starts alerting, from the alert checkpoint if there is one: the `aggregates` rows
/// written after it are read back (see the module docs of [`super`]).
pub fn start(
    start: HubStart,
    runtime: &tokio::runtime::Runtime,
    data_dir: &Path,
    query: &queries::QueryConfig,
) -> anyhow::Result<Arc<AlertHub>> {
    let checkpoint = AlertCheckpoint::load(&start.checkpoint_dir)?;
    let evaluator = AlertHub::restored_evaluator(&start.rules, checkpoint.as_ref());
    let plan = RecoveryQueries::new(&start.rules, &evaluator, checkpoint.as_ref());
    // Its own limits: a restart reads what it needs, however much that is.
    let config =
        queries::QueryConfig { timeout: Duration::from_secs(3600), max_result_bytes: usize::MAX, ..query.clone() };
    let service = queries::QueryService::new(data_dir, config)?;
    let mut marks = Vec::new();
    if let Some(sql) = &plan.marks {
        let result = runtime.block_on(service.sql(sql)).context("reading where new alerts start")?;
        for batch in &result.batches {
            let names = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)?;
            let names = names.as_string::<i32>();
            let ends = batch.column(1).as_primitive::<arrow::datatypes::Int64Type>();
            marks.extend((0..batch.num_rows()).map(|i| (names.value(i).to_string(), ends.value(i))));
        }
    }
    let mut recovered = Vec::new();
    if let Some(sql) = &plan.rows {
        let result =
            runtime.block_on(service.sql(sql)).context("reading back the windows after the alert checkpoint")?;
        tracing::info!(rows = result.num_rows(), "alert state restored; windows after it read back");
        recovered = result.batches;
    }
    let outbox = checkpoint.map(|c| c.outbox).unwrap_or_default();
    Ok(Arc::new(AlertHub::start(start, evaluator, &marks, &recovered, outbox)?))
}
