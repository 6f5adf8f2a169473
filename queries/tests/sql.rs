//! The views on hand-computed cases (partial rows of one key from two lanes included),
//! memory ∪ Parquet without loss or double counting, read-only refusals, and limits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int64Type, UInt64Type};
use engine::batch::AggregatesBuilder;
use engine::window::Cell;
use queries::{QueryConfig, QueryError, QueryService};
use sinks::{ParquetStoreConfig, RetentionConfig, SeqRange, Table};

const MIN: i64 = 60_000;
/// 2026-11-26T00:00:00Z
const T0: i64 = 1_795_651_200_000;

struct Row<'a> {
    rule: &'a str,
    window: i64,
    host: &'a str,
    key: &'a str,
    count: u64,
    /// (sum, min, max) for value rules.
    value: Option<(f64, f64, f64)>,
}

fn batch(rows: &[Row<'_>]) -> RecordBatch {
    let mut b = AggregatesBuilder::default();
    for r in rows {
        let (sum, min, max) = r.value.unwrap_or((0.0, 0.0, 0.0));
        let cell = Cell { count: r.count, sum, min, max };
        b.push(r.rule, T0 + r.window * MIN, T0 + (r.window + 1) * MIN, r.host, r.key, &cell, r.value.is_some());
    }
    b.finish()
}

fn row<'a>(
    rule: &'a str,
    window: i64,
    host: &'a str,
    key: &'a str,
    count: u64,
    value: Option<(f64, f64, f64)>,
) -> Row<'a> {
    Row { rule, window, host, key, count, value }
}

/// Two lanes of the same stream, each with partial rows for the same keys.
fn two_lanes(dir: &std::path::Path) {
    let store = ParquetStoreConfig::default().build(dir).unwrap();
    let lane_a = batch(&[
        row("latency", 0, "h1", "", 2, Some((10.0, 3.0, 7.0))),
        row("latency", 0, "h2", "", 1, Some((4.0, 4.0, 4.0))),
        row("status", 0, "h1", "status=200", 4, None),
        row("status", 0, "h1", "status=500", 1, None),
    ]);
    let lane_b = batch(&[
        row("latency", 0, "h1", "", 3, Some((30.0, 5.0, 15.0))),
        row("status", 0, "h1", "status=200", 2, None),
    ]);
    let range = SeqRange { lo: 0, hi: T0 + MIN };
    store.write(Table::Aggregates, "nginx-0", range, &[lane_a]).unwrap();
    store.write(Table::Aggregates, "nginx-1", range, &[lane_b]).unwrap();
}

fn service(dir: &std::path::Path) -> QueryService {
    QueryService::new(dir, QueryConfig::default()).unwrap()
}

async fn one_row(service: &QueryService, sql: &str) -> RecordBatch {
    let result = service.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(result.num_rows(), 1, "{sql}");
    result.batches.into_iter().find(|b| b.num_rows() == 1).unwrap()
}

fn f64_at(b: &RecordBatch, column: &str) -> Option<f64> {
    let c = b.column_by_name(column).unwrap_or_else(|| panic!("no column {column}"));
    let c = c.as_primitive::<Float64Type>();
    c.is_valid(0).then(|| c.value(0))
}

fn u64_at(b: &RecordBatch, column: &str) -> u64 {
    b.column_by_name(column).unwrap().as_primitive::<UInt64Type>().value(0)
}

fn i64_at(b: &RecordBatch, column: &str) -> i64 {
    b.column_by_name(column).unwrap().as_primitive::<Int64Type>().value(0)
}

#[tokio::test]
async fn machine_view_merges_partial_rows_of_two_lanes() {
    let dir = tempfile::tempdir().unwrap();
    two_lanes(dir.path());
    let s = service(dir.path());
    let h1 = one_row(&s, "SELECT * FROM machine_view WHERE rule = 'latency' AND host = 'h1'").await;
    assert_eq!(u64_at(&h1, "count"), 5);
    assert_eq!(f64_at(&h1, "sum"), Some(40.0));
    assert_eq!(f64_at(&h1, "min"), Some(3.0));
    assert_eq!(f64_at(&h1, "max"), Some(15.0));
    assert_eq!(f64_at(&h1, "avg"), Some(8.0));
    let ok = one_row(&s, "SELECT * FROM machine_view WHERE rule = 'status' AND key = 'status=200'").await;
    assert_eq!(u64_at(&ok, "count"), 6);
    assert_eq!(f64_at(&ok, "sum"), None, "count rules have no sum");
    assert_eq!(f64_at(&ok, "avg"), None);
    let raw = s.sql("SELECT * FROM aggregates").await.unwrap();
    assert_eq!(raw.num_rows(), 6, "the table keeps the partial rows");
}

#[tokio::test]
async fn sum_view_sums_over_hosts() {
    let dir = tempfile::tempdir().unwrap();
    two_lanes(dir.path());
    let s = service(dir.path());
    let r = one_row(&s, "SELECT * FROM sum_view WHERE rule = 'latency'").await;
    assert_eq!(u64_at(&r, "count"), 6);
    assert_eq!(f64_at(&r, "sum"), Some(44.0));
    assert_eq!(f64_at(&r, "min"), Some(3.0));
    assert_eq!(f64_at(&r, "max"), Some(15.0));
    assert!((f64_at(&r, "avg").unwrap() - 44.0 / 6.0).abs() < 1e-12);
    assert_eq!(i64_at(&r, "hosts"), 2);
    let st = one_row(&s, "SELECT * FROM sum_view WHERE rule = 'status'").await;
    assert_eq!((u64_at(&st, "count"), i64_at(&st, "hosts")), (7, 1));
    assert_eq!(f64_at(&st, "avg"), None);
}

#[tokio::test]
async fn avg_view_averages_per_host_values() {
    let dir = tempfile::tempdir().unwrap();
    two_lanes(dir.path());
    let s = service(dir.path());
    // Per host after merging lanes: h1 count 5 sum 40 min 3 max 15 avg 8; h2 1/4/4/4/4.
    let r = one_row(&s, "SELECT * FROM avg_view WHERE rule = 'latency'").await;
    assert_eq!(f64_at(&r, "count"), Some(3.0));
    assert_eq!(f64_at(&r, "sum"), Some(22.0));
    assert_eq!(f64_at(&r, "min"), Some(3.5));
    assert_eq!(f64_at(&r, "max"), Some(9.5));
    assert_eq!(f64_at(&r, "avg"), Some(6.0));
    assert_eq!(i64_at(&r, "hosts"), 2);
    // h1's keys merge into one per-host value: 4 + 1 + 2 = 7.
    let st = one_row(&s, "SELECT * FROM avg_view WHERE rule = 'status'").await;
    assert_eq!(f64_at(&st, "count"), Some(7.0));
    assert_eq!(i64_at(&st, "hosts"), 1);
}

#[tokio::test]
async fn recent_batches_and_history_count_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = ParquetStoreConfig::default().build(dir.path()).unwrap();
    // Windows 0..5 written before the "worker" started: history only.
    for w in 0..5 {
        let b = batch(&[row("r", w, "h", "", 1, None)]);
        store.write(Table::Aggregates, "p", SeqRange { lo: T0 + w * MIN, hi: T0 + (w + 1) * MIN }, &[b]).unwrap();
    }
    let cut = store.high_water(Table::Aggregates, "p").unwrap();
    let retention = RetentionConfig { max_age: Duration::from_secs(180), max_bytes: 1 << 30 };
    let recent = Arc::new(Mutex::new(retention.build("window_end", cut).unwrap()));
    let s = QueryService::new(dir.path(), QueryConfig::default()).unwrap().with_recent(Arc::clone(&recent));
    for w in 5..20 {
        let b = batch(&[row("r", w, "h", "", 1, None)]);
        store
            .write(
                Table::Aggregates,
                "p",
                SeqRange { lo: T0 + w * MIN, hi: T0 + (w + 1) * MIN },
                std::slice::from_ref(&b),
            )
            .unwrap();
        recent.lock().unwrap().push(b);
        let total = one_row(&s, "SELECT sum(count) AS n, count(*) AS rows FROM aggregates").await;
        assert_eq!(total.column(0).as_primitive::<UInt64Type>().value(0), (w + 1) as u64, "after window {w}");
    }
    assert!(recent.lock().unwrap().cut_ms() > cut, "eviction moved the cut");
}

async fn refused(s: &QueryService, sql: &str) -> QueryError {
    match s.sql(sql).await {
        Ok(r) => panic!("{sql} was allowed: {:?}", r.batches),
        Err(e) => e,
    }
}

#[tokio::test]
async fn sql_is_read_only() {
    let dir = tempfile::tempdir().unwrap();
    two_lanes(dir.path());
    std::fs::write(dir.path().join("secret.csv"), "a,b\n1,2\n").unwrap();
    let s = service(dir.path());
    let csv = dir.path().join("secret.csv").display().to_string();
    for (sql, what) in [
        ("CREATE TABLE t (a INT)", "CREATE MEMORY TABLE"),
        ("CREATE TABLE t AS SELECT * FROM aggregates", "CREATE MEMORY TABLE"),
        ("INSERT INTO aggregates SELECT * FROM aggregates", "INSERT INTO"),
        ("CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '/etc'", "CREATE EXTERNAL TABLE"),
        ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
        ("DROP VIEW machine_view", "DROP VIEW"),
        ("SET datafusion.execution.target_partitions = 1", "SET VARIABLE"),
    ] {
        let e = refused(&s, sql).await;
        assert!(matches!(e, QueryError::ReadOnly(_)), "{sql}: {e:?}");
        assert!(e.to_string().contains(what), "{sql}: {e}");
        assert_eq!(e.http_status(), 403);
    }
    let copy = format!("COPY (SELECT * FROM aggregates) TO '{}/out.csv' STORED AS CSV", dir.path().display());
    assert!(matches!(refused(&s, &copy).await, QueryError::ReadOnly(_)));
    assert!(!dir.path().join("out.csv").exists());
    for sql in [format!("SELECT * FROM read_csv('{csv}')"), format!("SELECT * FROM '{csv}'")] {
        let e = refused(&s, &sql).await;
        assert!(e.is_user_error(), "{sql}: {e:?}");
    }
    // Still answers afterwards: the refusals changed nothing.
    assert_eq!(s.sql("SELECT * FROM aggregates").await.unwrap().num_rows(), 6);
}

#[tokio::test]
async fn bad_sql_is_a_one_line_user_error() {
    let dir = tempfile::tempdir().unwrap();
    two_lanes(dir.path());
    let s = service(dir.path());
    for sql in ["SELEC 1", "SELECT nope FROM aggregates", "SELECT * FROM no_such_table"] {
        let e = refused(&s, sql).await;
        assert!(e.is_user_error(), "{sql}: {e:?}");
        assert!(!e.to_string().contains('\n'), "{sql}: {e}");
    }
}

#[tokio::test]
async fn a_query_over_its_memory_limit_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    two_lanes(dir.path());
    let config = QueryConfig { memory_limit: 4 << 20, ..QueryConfig::default() };
    let s = QueryService::new(dir.path(), config).unwrap();
    let e = refused(&s, "SELECT v % 3000000 AS k, count(*) FROM generate_series(1, 6000000) AS t(v) GROUP BY k").await;
    assert!(matches!(e, QueryError::MemoryLimit(_)), "{e:?}");
    assert_eq!(s.sql("SELECT count(*) FROM machine_view").await.unwrap().num_rows(), 1, "the service is still up");
}

#[tokio::test]
async fn a_query_over_its_time_limit_is_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let config = QueryConfig { timeout: Duration::from_millis(200), ..QueryConfig::default() };
    let s = QueryService::new(dir.path(), config).unwrap();
    let started = std::time::Instant::now();
    let e = refused(&s, "SELECT sum(v) FROM generate_series(1, 100000000000) AS t(v)").await;
    assert!(matches!(e, QueryError::Timeout(_)), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "cancelled promptly: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_huge_result_is_refused_not_buffered() {
    let dir = tempfile::tempdir().unwrap();
    let config = QueryConfig { max_result_bytes: 1 << 20, ..QueryConfig::default() };
    let s = QueryService::new(dir.path(), config).unwrap();
    let e = refused(&s, "SELECT v FROM generate_series(1, 10000000) AS t(v)").await;
    assert!(matches!(e, QueryError::ResultTooLarge(_)), "{e:?}");
}

#[tokio::test]
async fn empty_data_dir_has_every_table_and_view() {
    let dir = tempfile::tempdir().unwrap();
    let s = service(dir.path());
    for table in [
        "aggregates",
        "alerts",
        "qalarm_events",
        "ingest_errors",
        "live_aggregates",
        "machine_view",
        "sum_view",
        "avg_view",
    ] {
        let r = s.sql(&format!("SELECT count(*) FROM {table}")).await.unwrap_or_else(|e| panic!("{table}: {e}"));
        assert_eq!(r.num_rows(), 1);
    }
}

/// The physical plan of `sql`, as `EXPLAIN` prints it.
async fn physical_plan(s: &QueryService, sql: &str) -> String {
    let result = s.sql(&format!("EXPLAIN {sql}")).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut plan = String::new();
    for b in &result.batches {
        let kinds =
            datafusion::arrow::compute::cast(b.column(0), &datafusion::arrow::datatypes::DataType::Utf8).unwrap();
        let texts =
            datafusion::arrow::compute::cast(b.column(1), &datafusion::arrow::datatypes::DataType::Utf8).unwrap();
        for i in 0..b.num_rows() {
            if kinds.as_string::<i32>().value(i) == "physical_plan" {
                plan.push_str(texts.as_string::<i32>().value(i));
            }
        }
    }
    assert!(!plan.is_empty(), "no physical plan for {sql}");
    plan
}

#[tokio::test]
async fn a_query_that_can_read_few_rows_runs_on_one_partition() {
    let dir = tempfile::tempdir().unwrap();
    let store = ParquetStoreConfig::default().build(dir.path()).unwrap();
    // Three hours, one file each, 2 rules x 3 hosts x 60 windows = 360 rows per file.
    for hour in 0..3 {
        let mut rows = Vec::new();
        for w in hour * 60..(hour + 1) * 60 {
            for rule in ["requests", "errors"] {
                for host in ["h1", "h2", "h3"] {
                    rows.push(row(rule, w, host, "", (w % 7 + 1) as u64, None));
                }
            }
        }
        let range = SeqRange { lo: T0 + hour * 60 * MIN, hi: T0 + (hour + 1) * 60 * MIN };
        store.write(Table::Aggregates, "p", range, &[batch(&rows)]).unwrap();
    }
    let last_hour = "SELECT host, sum(count) AS n FROM machine_view
                     WHERE rule = 'errors' AND window_start >= TIMESTAMP '2026-11-26 02:00:00'
                     GROUP BY host ORDER BY n DESC, host";
    let whole_day =
        "SELECT host, sum(count) AS n FROM machine_view WHERE rule = 'errors' GROUP BY host ORDER BY n DESC, host";
    let with = |single_partition_rows| {
        let config = QueryConfig { target_partitions: 4, single_partition_rows, ..QueryConfig::default() };
        QueryService::new(dir.path(), config).unwrap()
    };
    // 360 rows can be read (one file: the rule filter cannot rule a file out, the time
    // filter rules out the other two), 1,080 without the time filter.
    let small = with(400);
    let plan = physical_plan(&small, last_hour).await;
    assert!(!plan.contains("RepartitionExec"), "one partition expected:\n{plan}");
    let plan = physical_plan(&small, whole_day).await;
    assert!(plan.contains("RepartitionExec"), "three files, 1,080 rows: every partition expected:\n{plan}");
    let off = with(0);
    let plan = physical_plan(&off, last_hour).await;
    assert!(plan.contains("RepartitionExec"), "0 turns it off:\n{plan}");
    let at_bound = with(360);
    assert!(!physical_plan(&at_bound, last_hour).await.contains("RepartitionExec"), "at most 360 rows: one partition");
    let below = with(359);
    assert!(physical_plan(&below, last_hour).await.contains("RepartitionExec"), "over 359 rows: every partition");
    // The answer does not depend on the partitioning.
    for sql in [last_hour, whole_day] {
        let one = small.sql(sql).await.unwrap();
        let many = off.sql(sql).await.unwrap();
        let hosts = |r: &queries::QueryResult| -> Vec<(String, u64)> {
            r.batches
                .iter()
                .flat_map(|b| {
                    let host = b.column(0).as_string::<i32>().clone();
                    let n = b.column(1).as_primitive::<UInt64Type>().clone();
                    (0..b.num_rows()).map(move |i| (host.value(i).to_string(), n.value(i))).collect::<Vec<_>>()
                })
                .collect()
        };
        assert_eq!(hosts(&one), hosts(&many), "{sql}");
        assert_eq!(hosts(&one).len(), 3);
    }
}

#[tokio::test]
async fn rows_in_memory_count_toward_the_partitioning() {
    let dir = tempfile::tempdir().unwrap();
    let retention = RetentionConfig { max_age: Duration::from_secs(86_400), max_bytes: 1 << 30 };
    let recent = Arc::new(Mutex::new(retention.build("window_end", 0).unwrap()));
    let rows: Vec<_> = (0..100).map(|w| row("r", w, "h", "", 1, None)).collect();
    recent.lock().unwrap().push(batch(&rows));
    let with = |single_partition_rows| {
        let config = QueryConfig { target_partitions: 4, single_partition_rows, ..QueryConfig::default() };
        QueryService::new(dir.path(), config).unwrap().with_recent(Arc::clone(&recent))
    };
    let sql = "SELECT host, sum(count) FROM machine_view GROUP BY host";
    assert!(!physical_plan(&with(100), sql).await.contains("RepartitionExec"));
    assert!(physical_plan(&with(99), sql).await.contains("RepartitionExec"));
}

/// Every row of `sql`'s answer as text, columns joined by `|`.
async fn rows_text(s: &QueryService, sql: &str) -> Vec<String> {
    let result = s.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = Vec::new();
    for b in &result.batches {
        let columns: Vec<_> = b
            .columns()
            .iter()
            .map(|c| datafusion::arrow::compute::cast(c, &datafusion::arrow::datatypes::DataType::Utf8).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            let cells: Vec<String> = columns
                .iter()
                .map(|c| if c.is_null(i) { "NULL".to_string() } else { c.as_string::<i32>().value(i).to_string() })
                .collect();
            out.push(cells.join("|"));
        }
    }
    out
}

/// An aggregate over `machine_view` that only re-adds, re-mins or re-maxes runs as one
/// aggregate, and answers what the two-level aggregate answers (the same query with a
/// `count(*)` of merged groups added, which the rewrite leaves alone, is the reference).
#[tokio::test]
async fn re_aggregating_a_view_runs_as_one_aggregate_with_the_same_answer() {
    let dir = tempfile::tempdir().unwrap();
    two_lanes(dir.path());
    let s = service(dir.path());
    let aggregates_in = |plan: &str| plan.matches("AggregateExec").count();
    let cases = [
        ("host", "sum(count) AS a, sum(sum) AS b, min(min) AS c, max(max) AS d", "GROUP BY host ORDER BY host"),
        ("rule, host", "sum(count) AS a, min(min) AS c, max(max) AS d", "GROUP BY rule, host ORDER BY rule, host"),
        ("rule", "max(max) AS d, sum(count) AS a", "WHERE host = 'h1' GROUP BY rule ORDER BY rule"),
        ("", "sum(count) AS a, sum(sum) AS b, min(min) AS c, max(max) AS d", ""),
    ];
    for (keys, values, rest) in cases {
        let select = if keys.is_empty() { values.to_string() } else { format!("{keys}, {values}") };
        let merged = format!("SELECT {select} FROM machine_view {rest}");
        let reference = format!("SELECT {select}, count(*) AS merged_groups FROM machine_view {rest}");
        let plan = physical_plan(&s, &merged).await;
        assert_eq!(aggregates_in(&plan), 1, "one aggregate for {merged}:\n{plan}");
        assert_eq!(aggregates_in(&physical_plan(&s, &reference).await), 2, "two levels for {reference}");
        let want: Vec<String> = rows_text(&s, &reference)
            .await
            .into_iter()
            .map(|row| row.rsplit_once('|').unwrap().0.to_string())
            .collect();
        assert!(!want.is_empty());
        assert_eq!(rows_text(&s, &merged).await, want, "{merged}");
    }
    // Hand-computed: h1 has latency 2 + 3 (two lanes) and status 4 + 1 + 2; h2 latency 1.
    assert_eq!(
        rows_text(
            &s,
            "SELECT host, sum(count) AS n, min(min) AS lo, max(max) AS hi FROM machine_view GROUP BY host ORDER BY host"
        )
        .await,
        ["h1|12|3.0|15.0", "h2|1|4.0|4.0"]
    );
    // Not rewritten: an average of averages, a grouping on an aggregated value, a filter on one.
    for sql in [
        "SELECT host, avg(avg) FROM machine_view GROUP BY host",
        "SELECT count, sum(count) FROM machine_view GROUP BY count",
        "SELECT host, sum(count) FROM machine_view WHERE count > 1 GROUP BY host",
    ] {
        assert_eq!(aggregates_in(&physical_plan(&s, sql).await), 2, "{sql} keeps both levels");
    }
    assert_eq!(
        rows_text(&s, "SELECT host, sum(count) FROM machine_view WHERE count > 1 GROUP BY host ORDER BY host").await,
        ["h1|11"],
        "h1: latency 5 and status=200 6 pass, status=500 (1) does not; h2 (1) does not"
    );
}

/// A series answer lists the first 200 group keys in order, however many there are.
#[tokio::test]
async fn series_list_the_first_keys_in_order() {
    use queries::series::{Metric, SeriesRequest, View};
    let dir = tempfile::tempdir().unwrap();
    let store = ParquetStoreConfig::default().build(dir.path()).unwrap();
    let keys: Vec<String> = (0..250).rev().map(|i| format!("path=/p{i:03}")).collect();
    let rows: Vec<_> = keys.iter().map(|k| row("hits", 0, "h1", k, 1, None)).collect();
    store.write(Table::Aggregates, "p", SeqRange { lo: 0, hi: T0 + MIN }, &[batch(&rows)]).unwrap();
    let request = SeriesRequest {
        rule: "hits".into(),
        view: View::Sum,
        metric: Metric::Count,
        from_ms: T0 - MIN,
        to_ms: T0 + MIN,
        top: 10,
        host: None,
        key: None,
    };
    let answer = service(dir.path()).series(&request).await.unwrap();
    let want: Vec<String> = (0..200).map(|i| format!("path=/p{i:03}")).collect();
    assert_eq!(answer.keys, want);
}
