//! One rule's results as chart series, for `GET /api/series` and the page at `/`.
//!
//! The three views of DESIGN.md, one line each for the sum and avg views and one line
//! per host for the machine view, over the windows with `from < window_end <= to`:
//!
//! - **machine**: per host, the host's rows merged over keys (`count` and `sum` add,
//!   `min` of min, `max` of max, `avg = sum / count` after merging), the top `top`
//!   hosts by value: by their total for `count` and `sum`, their mean for `avg` and
//!   `min`, their maximum for `max`;
//! - **sum**: per window, merged over hosts and keys (as `sum_view`);
//! - **avg**: per window, each host merged first, then the mean over the hosts with
//!   rows in the window (as `avg_view`).
//!
//! # Invariants
//! - The answer is computed by SQL through the same read-only [`QueryService`] as
//!   `/api/sql`, and carries that SQL, so a client can check or reuse it; its numbers
//!   equal the views' (the tests compare them with `machine_view`, `sum_view` and
//!   `avg_view`).
//! - Every series has one value per entry of `times` (`null` where it has no row), so a
//!   charting library can take the columns as they are.
//! - User input reaches SQL only as quoted string literals (quotes doubled) or as
//!   integers that were parsed here.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampMillisecondType};
use serde::Serialize;

use crate::error::QueryError;
use crate::service::QueryResult;
use crate::service::QueryService;

/// The most hosts a machine view draws.
pub const MAX_TOP: usize = 100;
/// The most group keys an answer lists.
const MAX_KEYS: usize = 200;

/// How a rule's rows are combined across hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    Machine,
    Sum,
    Avg,
}

impl std::str::FromStr for View {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "machine" => Ok(View::Machine),
            "sum" => Ok(View::Sum),
            "avg" => Ok(View::Avg),
            other => Err(format!("unknown view '{other}' (machine, sum, avg)")),
        }
    }
}

/// Which aggregate of a window is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

impl std::str::FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "count" => Ok(Metric::Count),
            "sum" => Ok(Metric::Sum),
            "avg" => Ok(Metric::Avg),
            "min" => Ok(Metric::Min),
            "max" => Ok(Metric::Max),
            other => Err(format!("unknown metric '{other}' (count, sum, avg, min, max)")),
        }
    }
}

impl Metric {
    /// The metric of one host's (or the whole window's) partial rows, merged.
    fn merged(self) -> &'static str {
        match self {
            Metric::Count => "CAST(sum(count) AS DOUBLE)",
            Metric::Sum => "sum(sum)",
            Metric::Avg => "sum(sum) / CAST(NULLIF(sum(count), 0) AS DOUBLE)",
            Metric::Min => "min(min)",
            Metric::Max => "max(max)",
        }
    }

    /// How the machine view ranks a host's values over the range.
    fn rank(self) -> &'static str {
        match self {
            Metric::Count | Metric::Sum => "sum(value)",
            Metric::Avg | Metric::Min => "avg(value)",
            Metric::Max => "max(value)",
        }
    }
}

/// What `GET /api/series` asks for.
#[derive(Debug, Clone)]
pub struct SeriesRequest {
    pub rule: String,
    pub view: View,
    pub metric: Metric,
    /// Epoch ms; windows with `from_ms < window_end <= to_ms`.
    pub from_ms: i64,
    pub to_ms: i64,
    /// The machine view's number of hosts (1..=[`MAX_TOP`]).
    pub top: usize,
    /// Only this host's rows.
    pub host: Option<String>,
    /// Only this group key's rows (otherwise keys are merged).
    pub key: Option<String>,
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// The host (machine view), or the view's name.
    pub label: String,
    /// One per entry of [`SeriesAnswer::times`].
    pub values: Vec<Option<f64>>,
}

/// The answer, columnar.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesAnswer {
    pub rule: String,
    pub view: View,
    pub metric: Metric,
    pub from: i64,
    pub to: i64,
    /// `window_end` of every window with data, epoch ms, ascending.
    pub times: Vec<i64>,
    pub series: Vec<Series>,
    /// Distinct hosts with rows in the range, before the machine view's top N.
    pub hosts_total: u64,
    /// Distinct group keys in the range (the first [`MAX_KEYS`], sorted), for a key filter.
    pub keys: Vec<String>,
    /// The statement that computed `series`.
    pub sql: String,
}

impl SeriesRequest {
    /// Refuses what cannot be answered, with a message for the user.
    pub fn validate(&self) -> Result<(), String> {
        if self.rule.is_empty() {
            return Err("rule is required".into());
        }
        if self.from_ms >= self.to_ms {
            return Err(format!("from ({}) must be before to ({})", self.from_ms, self.to_ms));
        }
        if !(1..=MAX_TOP).contains(&self.top) {
            return Err(format!("top must be between 1 and {MAX_TOP}"));
        }
        Ok(())
    }

    /// The rows of the rule in range, as a CTE named `base`.
    fn base(&self) -> String {
        let mut filter = format!(
            "rule = {} AND window_end > to_timestamp_millis({}) AND window_end <= to_timestamp_millis({})",
            quote(&self.rule),
            self.from_ms,
            self.to_ms
        );
        if let Some(host) = &self.host {
            filter.push_str(&format!(" AND host = {}", quote(host)));
        }
        if let Some(key) = &self.key {
            filter.push_str(&format!(" AND key = {}", quote(key)));
        }
        format!("WITH base AS (SELECT * FROM aggregates WHERE {filter})")
    }

    /// The statement whose rows are `(window_end, label, value)`.
    pub fn sql(&self) -> String {
        let base = self.base();
        let merged = self.metric.merged();
        let per_host =
            format!("per_host AS (SELECT window_end, host, {merged} AS value FROM base GROUP BY window_end, host)");
        match self.view {
            View::Machine => format!(
                "{base}, {per_host},\n\
                 ranked AS (SELECT host, {rank} AS score FROM per_host GROUP BY host \
                 ORDER BY score DESC NULLS LAST, host LIMIT {top})\n\
                 SELECT p.window_end, p.host AS label, p.value FROM per_host p JOIN ranked r ON p.host = r.host \
                 ORDER BY r.score DESC NULLS LAST, p.host, p.window_end",
                rank = self.metric.rank(),
                top = self.top
            ),
            View::Sum => format!(
                "{base}\nSELECT window_end, 'sum' AS label, {merged} AS value FROM base GROUP BY window_end ORDER BY window_end"
            ),
            View::Avg => format!(
                "{base}, {per_host}\n\
                 SELECT window_end, 'avg' AS label, avg(value) AS value FROM per_host GROUP BY window_end ORDER BY window_end"
            ),
        }
    }
}

/// A SQL string literal.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl QueryService {
    /// The chart series of one rule and view (module docs).
    pub async fn series(&self, request: &SeriesRequest) -> Result<SeriesAnswer, QueryError> {
        request.validate().map_err(QueryError::Plan)?;
        let sql = request.sql();
        let base = request.base();
        let hosts_sql = format!("{base}\nSELECT count(DISTINCT host) AS hosts FROM base");
        // The first MAX_KEYS keys in order. Not `SELECT DISTINCT key ... ORDER BY key LIMIT n`:
        // DataFusion 55 runs that as a top-k aggregation, which took 250 ms over the
        // 1.44M rows of one rule's day where this form takes 21 ms (BENCHMARKS.md,
        // "The page's requests").
        let keys_sql = format!(
            "{base}, keys AS (SELECT DISTINCT key FROM base)\n\
             SELECT key FROM (SELECT key, row_number() OVER (ORDER BY key) AS n FROM keys) \
             WHERE n <= {MAX_KEYS} ORDER BY key"
        );
        let (rows, hosts, keys) = futures::try_join!(self.sql(&sql), self.sql(&hosts_sql), self.sql(&keys_sql))?;
        let (times, series) = columns(&rows)?;
        let hosts_total = single_i64(&hosts)?.unwrap_or(0).max(0) as u64;
        let keys = strings(&keys)?;
        Ok(SeriesAnswer {
            rule: request.rule.clone(),
            view: request.view,
            metric: request.metric,
            from: request.from_ms,
            to: request.to_ms,
            times,
            series,
            hosts_total,
            keys,
            sql,
        })
    }
}

/// `(window_end, label, value)` rows, in label order of first appearance, as aligned columns.
fn columns(result: &QueryResult) -> Result<(Vec<i64>, Vec<Series>), QueryError> {
    let mut labels: Vec<String> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut points: Vec<(i64, usize, Option<f64>)> = Vec::new();
    for batch in &result.batches {
        let ends = timestamp_ms(batch, 0)?;
        let label = batch.column(1).as_string_opt::<i32>().ok_or_else(|| unexpected("label", batch))?;
        let value = batch.column(2).as_primitive_opt::<Float64Type>().ok_or_else(|| unexpected("value", batch))?;
        for (row, &end) in ends.iter().enumerate() {
            let name = label.value(row);
            let slot = *index.entry(name.to_string()).or_insert_with(|| {
                labels.push(name.to_string());
                labels.len() - 1
            });
            points.push((end, slot, value.is_valid(row).then(|| value.value(row))));
        }
    }
    let mut times: Vec<i64> = points.iter().map(|p| p.0).collect();
    times.sort_unstable();
    times.dedup();
    let mut series: Vec<Series> =
        labels.into_iter().map(|label| Series { label, values: vec![None; times.len()] }).collect();
    for (end, slot, value) in points {
        let at = times.binary_search(&end).expect("every time was collected");
        series[slot].values[at] = value;
    }
    Ok((times, series))
}

fn timestamp_ms(batch: &RecordBatch, column: usize) -> Result<Vec<i64>, QueryError> {
    let array = batch.column(column);
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            Ok(array.as_primitive::<TimestampMillisecondType>().values().to_vec())
        }
        _ => Err(unexpected("window_end", batch)),
    }
}

fn single_i64(result: &QueryResult) -> Result<Option<i64>, QueryError> {
    let Some(batch) = result.batches.iter().find(|b| b.num_rows() > 0) else { return Ok(None) };
    let array = batch.column(0);
    let value =
        datafusion::arrow::compute::cast(array, &DataType::Int64).map_err(|e| QueryError::Execution(e.to_string()))?;
    let value = value.as_primitive::<Int64Type>();
    Ok(value.is_valid(0).then(|| value.value(0)))
}

fn strings(result: &QueryResult) -> Result<Vec<String>, QueryError> {
    let mut out = Vec::new();
    for batch in &result.batches {
        let column = batch.column(0).as_string_opt::<i32>().ok_or_else(|| unexpected("key", batch))?;
        out.extend((0..batch.num_rows()).filter(|&i| column.is_valid(i)).map(|i| column.value(i).to_string()));
    }
    Ok(out)
}

fn unexpected(column: &str, batch: &RecordBatch) -> QueryError {
    QueryError::Execution(format!("series: unexpected type of {column} in {:?}", batch.schema()))
}

#[cfg(test)]
mod tests;
