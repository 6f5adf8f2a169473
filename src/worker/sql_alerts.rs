//! SQL alerts (`sql` + `every`): each runs on the worker's clock through the same
//! read-only [`QueryService`] as `POST /api/sql`, and its rows go to the
//! [`AlertHub`] (see [`engine::alert::AlertEvaluator::observe_sql`]).
//!
//! A row is read as: `host` from a column of that name, `value` from the column
//! `value`, the window from `window_start`/`window_end`, and the key from every other
//! column, as `name=value` joined by `,` (the `aggregates` key format). DESIGN.md
//! keys a row by "its non-value columns"; the time columns are left out of the key so
//! that a condition that holds window after window is one firing series (notified
//! once, resolved once) rather than a new series every window.
//!
//! A query that fails (a timeout, a table being compacted) is logged and counted
//! (`logpulse_failures_total{kind="sql_alert"}`) and changes no state: a failed run
//! is not "no rows", which would resolve everything.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMillisecondType};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use engine::alert::SqlRow;
use queries::QueryService;

use super::alerts::AlertHub;
use super::metrics::Metrics;

/// Checks every SQL alert's query against the tables (planning it, reading nothing):
/// a bad query stops the worker at start, not at its first run.
pub async fn check(rules: &engine::RuleSet, queries: &QueryService) -> Result<(), String> {
    for (name, (sql, _)) in rules.alerts.iter().filter_map(|a| Some((&a.name, a.kind.sql()?))) {
        let probe = format!("SELECT * FROM ({sql}) AS alert_query LIMIT 0");
        if let Err(e) = queries.sql(&probe).await {
            return Err(format!("alert '{name}': its sql does not run: {e}"));
        }
    }
    Ok(())
}

/// Starts one task per SQL alert on the current runtime; abort them to stop.
pub fn spawn(
    hub: &Arc<AlertHub>,
    queries: &Arc<QueryService>,
    metrics: &Arc<Metrics>,
) -> Vec<tokio::task::JoinHandle<()>> {
    hub.sql_alerts()
        .into_iter()
        .map(|(name, sql, every)| {
            let (hub, queries, metrics) = (Arc::clone(hub), Arc::clone(queries), Arc::clone(metrics));
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(every);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    let run_at = crate::machine::now_ms();
                    let rows = match queries.sql(&sql).await.map(|r| rows_of(&r.batches)) {
                        Ok(Ok(rows)) => rows,
                        Ok(Err(e)) | Err(e) => {
                            let e = e.to_string();
                            tracing::error!(alert = %name, error = %e, "sql alert query failed; state unchanged");
                            metrics.failure("sql_alert");
                            continue;
                        }
                    };
                    let (hub, name) = (Arc::clone(&hub), name.clone());
                    let _ = tokio::task::spawn_blocking(move || hub.sql_observed(&name, run_at, rows)).await;
                }
            })
        })
        .collect()
}

/// Reads a result's rows as the module docs say.
fn rows_of(batches: &[RecordBatch]) -> Result<Vec<SqlRow>, queries::QueryError> {
    let mut rows = Vec::new();
    let options = FormatOptions::default().with_null("");
    let fail = |e: arrow::error::ArrowError| queries::QueryError::Execution(e.to_string());
    for batch in batches {
        let schema = batch.schema();
        let column = |name: &str| schema.index_of(name).ok().map(|i| batch.column(i));
        let host = column("host").map(|c| arrow::compute::cast(c, &DataType::Utf8)).transpose().map_err(fail)?;
        let value = column("value").map(|c| arrow::compute::cast(c, &DataType::Float64)).transpose().map_err(fail)?;
        let as_ms = |c: &Arc<dyn Array>| arrow::compute::cast(c, &DataType::Timestamp(TimeUnit::Millisecond, None));
        let start = column("window_start").map(as_ms).transpose().map_err(fail)?;
        let end = column("window_end").map(as_ms).transpose().map_err(fail)?;
        let key_columns: Vec<(&str, ArrayFormatter)> = schema
            .fields()
            .iter()
            .zip(batch.columns())
            .filter(|(f, _)| !matches!(f.name().as_str(), "host" | "value" | "window_start" | "window_end"))
            .map(|(f, c)| Ok((f.name().as_str(), ArrayFormatter::try_new(c.as_ref(), &options)?)))
            .collect::<Result<_, arrow::error::ArrowError>>()
            .map_err(fail)?;
        let time = |c: &Option<Arc<dyn Array>>, row: usize| {
            c.as_ref().filter(|c| c.is_valid(row)).map(|c| c.as_primitive::<TimestampMillisecondType>().value(row))
        };
        for row in 0..batch.num_rows() {
            let key: Vec<String> = key_columns.iter().map(|(name, f)| format!("{name}={}", f.value(row))).collect();
            rows.push(SqlRow {
                host: host
                    .as_ref()
                    .filter(|c| c.is_valid(row))
                    .map_or(String::new(), |c| c.as_string::<i32>().value(row).to_string()),
                key: key.join(","),
                value: value.as_ref().filter(|c| c.is_valid(row)).map(|c| c.as_primitive::<Float64Type>().value(row)),
                window_start_ms: time(&start, row),
                window_end_ms: time(&end, row),
            });
        }
    }
    Ok(rows)
}
