//! Helpers shared by the end-to-end tests: reading back what `replay --out` stored,
//! through `logpulse sql` and through DuckDB (PyPI `duckdb`, an independent Parquet
//! reader installed by scripts/install-test-deps.sh).

#![allow(dead_code)]

pub mod kafka;
pub mod nginx;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// 2026-11-26T00:00:00Z: the start of the scripted event times.
pub const T0: i64 = 1_795_651_200;

/// A raw stream `app` of lines `<unix seconds> <host> ...`, for scripted event times.
pub const APP_STREAM: &str = r#"
[[stream]]
name = "app"
format = "raw"
time = { regex = '^(\d+) ', format = "%s" }
host = { regex = '^\d+ (\S+)' }
lateness = "1s"
"#;

/// Polls `done` every 100 ms until it holds; panics after `limit`.
pub fn wait_for(what: &str, limit: std::time::Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Per rule: (sum of count, sum of sum), with sum `None` for counting rules.
pub type Totals = BTreeMap<String, (u64, Option<f64>)>;

/// Runs `logpulse sql -d DIR SQL --format csv` and returns its rows (header first).
pub fn logpulse_sql(data_dir: &Path, sql: &str) -> Vec<Vec<String>> {
    let out = Command::new(env!("CARGO_BIN_EXE_logpulse"))
        .args(["sql", "-d"])
        .arg(data_dir)
        .arg(sql)
        .args(["--format", "csv"])
        .output()
        .expect("running logpulse sql");
    assert!(out.status.success(), "logpulse sql {sql:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(out.stdout.as_slice());
    reader.records().map(|r| r.expect("CSV row").iter().map(str::to_string).collect()).collect()
}

/// Runs one query in DuckDB with `aggregates` defined over the Parquet files as any
/// user would: a glob over the table's folder. Rows as strings, no header.
pub fn duckdb_sql(data_dir: &Path, sql: &str) -> Vec<Vec<String>> {
    let script = format!(
        "import csv, sys, duckdb\n\
         con = duckdb.connect()\n\
         con.execute(\"SET TimeZone = 'UTC'\")\n\
         con.execute(\"CREATE VIEW aggregates AS SELECT * FROM read_parquet('{}/aggregates/**/*.parquet')\")\n\
         w = csv.writer(sys.stdout)\n\
         for row in con.execute(sys.argv[1]).fetchall():\n    w.writerow(['' if v is None else v for v in row])\n",
        data_dir.display()
    );
    let out = Command::new("python3").arg("-c").arg(script).arg(sql).output().expect("running python3");
    assert!(
        out.status.success(),
        "DuckDB query {sql:?} failed (is PyPI duckdb installed? scripts/install-test-deps.sh does it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(out.stdout.as_slice());
    reader.records().map(|r| r.expect("CSV row").iter().map(str::to_string).collect()).collect()
}

const TOTALS_SQL: &str =
    "SELECT rule, sum(count) AS count, sum(sum) AS sum FROM aggregates GROUP BY rule ORDER BY rule";

fn parse_totals(rows: &[Vec<String>]) -> Totals {
    rows.iter()
        .map(|r| {
            let sum = (!r[2].is_empty()).then(|| r[2].parse::<f64>().unwrap_or_else(|e| panic!("sum in {r:?}: {e}")));
            (r[0].clone(), (r[1].parse().unwrap_or_else(|e| panic!("count in {r:?}: {e}")), sum))
        })
        .collect()
}

fn assert_totals_close(what: &str, actual: &Totals, expected: &Totals) {
    assert_eq!(actual.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>(), "{what}: rules");
    for (rule, (count, sum)) in expected {
        let (a_count, a_sum) = &actual[rule];
        assert_eq!(a_count, count, "{what}: count of {rule}");
        match (a_sum, sum) {
            (None, None) => {}
            (Some(a), Some(e)) => {
                assert!((a - e).abs() <= 1e-6 * e.abs().max(1.0), "{what}: sum of {rule}: {a} vs {e}")
            }
            other => panic!("{what}: sum of {rule}: {other:?}"),
        }
    }
}

/// The stored tables agree with `expected` (the replay's own CSV totals), read three
/// ways: `logpulse sql` over `aggregates` and over `machine_view`, and DuckDB over the
/// Parquet files. Also: as many merged (rule, window, host, key) groups everywhere.
pub fn assert_stored_totals(data_dir: &Path, expected: &Totals, groups: usize) {
    let from_logpulse = parse_totals(&logpulse_sql(data_dir, TOTALS_SQL)[1..]);
    assert_totals_close("logpulse sql aggregates", &from_logpulse, expected);
    let view = logpulse_sql(data_dir, &TOTALS_SQL.replace("FROM aggregates", "FROM machine_view"));
    assert_totals_close("logpulse sql machine_view", &parse_totals(&view[1..]), expected);
    assert_totals_close("DuckDB", &parse_totals(&duckdb_sql(data_dir, TOTALS_SQL)), expected);

    let lp_groups = &logpulse_sql(data_dir, "SELECT count(*) FROM machine_view")[1][0];
    assert_eq!(lp_groups.parse::<usize>().unwrap(), groups, "machine_view rows vs replay CSV rows");
    let dd_groups =
        &duckdb_sql(data_dir, "SELECT count(*) FROM (SELECT DISTINCT rule, window_start, host, key FROM aggregates)")
            [0][0];
    assert_eq!(dd_groups.parse::<usize>().unwrap(), groups, "DuckDB groups vs replay CSV rows");
}

/// Per-rule totals of a replay CSV (header first): count and sum columns.
pub fn csv_totals(rows: &[Vec<String>]) -> Totals {
    let mut out: Totals = BTreeMap::new();
    for r in &rows[1..] {
        let entry = out.entry(r[0].clone()).or_insert((0, None));
        entry.0 += r[5].parse::<u64>().unwrap();
        if !r[6].is_empty() {
            *entry.1.get_or_insert(0.0) += r[6].parse::<f64>().unwrap();
        }
    }
    out
}
