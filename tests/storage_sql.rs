//! `replay --out` and `logpulse sql` end to end: a writer killed between a Parquet file's
//! temp name and its rename, idempotent re-runs, read-only SQL, limits and formats.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use common::{duckdb_sql, logpulse_sql};

const RULES: &str = r#"
[[stream]]
name = "app"
format = "raw"
time = { regex = '^(\S+)', format = "%Y-%m-%dT%H:%M:%S%z" }
host = { regex = '^\S+ (\S+)' }
lateness = "1m"

[[rule]]
name = "lines"
stream = "app"

[[rule]]
name = "errors"
stream = "app"
match = "ERROR"

[[rule]]
name = "cost"
stream = "app"
value = { after = "cost=", before = "ms" }
group_by = ["host", "op"]
regex = 'op=(?P<op>\w+)'
"#;

/// Three hours of lines from three hosts, so that one flush has a file per hour folder.
fn input() -> String {
    let mut out = String::new();
    for i in 0..3 * 3600 / 7 {
        let secs = i * 7;
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        let host = ["web-1", "web-2", "web-3"][i % 3];
        let level = if i % 5 == 0 { "ERROR" } else { "INFO" };
        let op = ["get", "put"][i % 2];
        out.push_str(&format!("2026-11-26T{h:02}:{m:02}:{s:02}+0000 {host} {level} op={op} cost={}ms\n", i % 97));
    }
    out
}

fn logpulse(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_logpulse"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running logpulse")
}

fn replay_out(dir: &Path, data: &Path, env: &[(&str, &str)]) -> Output {
    let rules = dir.join("rules.toml");
    let log = dir.join("app.log");
    if !rules.exists() {
        std::fs::write(&rules, RULES).unwrap();
        std::fs::write(&log, input()).unwrap();
    }
    let args =
        ["replay", "-r", rules.to_str().unwrap(), "-s", "app", "--out", data.to_str().unwrap(), log.to_str().unwrap()];
    logpulse(&args, env)
}

/// (rule, window_start, host, key) -> (count, sum) as `logpulse sql` reads the table.
fn cells(data: &Path) -> BTreeMap<Vec<String>, Vec<String>> {
    let rows = logpulse_sql(
        data,
        "SELECT rule, window_start, host, key, count, sum FROM machine_view ORDER BY rule, window_start, host, key",
    );
    rows[1..].iter().map(|r| (r[..4].to_vec(), r[4..].to_vec())).collect()
}

fn temp_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.path().is_dir() {
                stack.push(e.path());
            } else if e.file_name().to_string_lossy().ends_with(".tmp") {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

#[test]
fn a_writer_killed_before_rename_leaves_consistent_tables_and_a_rerun_completes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let clean_dir = tmp.path().join("clean");
    let clean = replay_out(tmp.path(), &clean_dir, &[]);
    assert!(clean.status.success(), "{}", String::from_utf8_lossy(&clean.stderr));
    let want = cells(&clean_dir);
    assert!(want.len() > 500, "enough cells to mean something: {}", want.len());

    // Killed while renaming the second file of the aggregates flush (hour 01).
    let data = tmp.path().join("data");
    let crashed = replay_out(tmp.path(), &data, &[("LOGPULSE_FAULT", "parquet.before_rename:2")]);
    assert!(!crashed.status.success(), "the fault point must abort the writer");
    assert!(String::from_utf8_lossy(&crashed.stderr).contains("aborting at parquet.before_rename"));
    assert_eq!(temp_files(&data).len(), 1, "the killed write left its temp file");

    // Readers see whole windows of the first hour and nothing of the killed file.
    let seen = cells(&data);
    assert!(!seen.is_empty() && seen.len() < want.len(), "{} of {} cells", seen.len(), want.len());
    for (key, value) in &seen {
        assert_eq!(want.get(key), Some(value), "cell {key:?} differs from the clean run's");
    }
    let dd = duckdb_sql(&data, "SELECT count(*) FROM aggregates");
    let lp = logpulse_sql(&data, "SELECT count(*) FROM aggregates");
    assert_eq!(dd[0][0], lp[1][0], "DuckDB and logpulse read the same rows");

    // A rerun over the same input cleans up and completes the tables.
    let rerun = replay_out(tmp.path(), &data, &[]);
    assert!(rerun.status.success(), "{}", String::from_utf8_lossy(&rerun.stderr));
    assert!(temp_files(&data).is_empty(), "recovery removed the temp file");
    assert_eq!(cells(&data), want, "after the rerun the tables equal a run that never crashed");

    // And once more: nothing is written twice.
    let again = replay_out(tmp.path(), &data, &[]);
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already in"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(cells(&data), want);
    let totals = |dir: &Path| duckdb_sql(dir, "SELECT rule, sum(count) FROM aggregates GROUP BY rule ORDER BY rule");
    assert_eq!(totals(&data), totals(&clean_dir), "DuckDB agrees");
}

fn sql(data: &Path, query: &str, extra: &[&str]) -> Output {
    let mut args = vec!["sql", "-d", data.to_str().unwrap(), query];
    args.extend(extra);
    logpulse(&args, &[])
}

fn stored(tmp: &Path) -> std::path::PathBuf {
    let data = tmp.join("data");
    let out = replay_out(tmp, &data, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    data
}

#[test]
fn sql_cli_refuses_writes_and_file_access_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let data = stored(tmp.path());
    std::fs::write(tmp.path().join("local.csv"), "a,b\n1,2\n").unwrap();
    let csv = tmp.path().join("local.csv").display().to_string();
    let copy_target = tmp.path().join("copied.csv");
    let cases = [
        "CREATE TABLE t (a INT)".to_string(),
        "INSERT INTO aggregates SELECT * FROM aggregates".to_string(),
        format!("COPY (SELECT * FROM aggregates) TO '{}' STORED AS CSV", copy_target.display()),
        "CREATE EXTERNAL TABLE etc STORED AS CSV LOCATION '/etc'".to_string(),
        format!("SELECT * FROM read_csv('{csv}')"),
        format!("SELECT * FROM '{csv}'"),
    ];
    for query in &cases {
        let out = sql(&data, query, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{query}: {stderr}");
        assert!(out.stdout.is_empty(), "{query}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{query}: one-line error, got {stderr}");
    }
    assert!(!copy_target.exists(), "COPY wrote nothing");
    let out = sql(&data, "CREATE TABLE t (a INT)", &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("read-only"));
}

#[test]
fn sql_cli_limits_and_bad_queries_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let data = stored(tmp.path());
    let heavy = "SELECT v % 3000000 AS k, count(*) FROM generate_series(1, 6000000) AS t(v) GROUP BY k";
    let out = sql(&data, heavy, &["--memory-limit", "4MiB"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("memory limit"), "{stderr}");

    let slow = "SELECT sum(v) FROM generate_series(1, 100000000000) AS t(v)";
    let out = sql(&data, slow, &["--timeout", "300ms"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("time limit"), "{stderr}");

    let out = sql(&data, "SELEC rule FROM aggregates", &[]);
    assert_eq!(out.status.code(), Some(2));
    let out = sql(&tmp.path().join("nope"), "SELECT 1", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no data dir"));
}

#[test]
fn sql_cli_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let data = stored(tmp.path());
    let query =
        "SELECT rule, window_start, count, hosts FROM sum_view WHERE rule = 'lines' ORDER BY window_start LIMIT 2";
    let out = sql(&data, query, &["--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON array");
    assert_eq!(rows[0]["rule"], "lines");
    assert_eq!(rows[0]["count"], 9, "lines every 7 s: 0..56 s");
    assert_eq!(rows[0]["window_start"], "2026-11-26T00:00:00Z");
    assert_eq!(rows[0]["hosts"], 3);
    let csv = sql(&data, query, &["--format", "csv"]);
    let text = String::from_utf8(csv.stdout).unwrap();
    assert!(text.starts_with("rule,window_start,count,hosts\nlines,2026-11-26T00:00:00Z,9,3\n"), "{text}");
    let table = sql(&data, query, &[]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("| rule") && text.contains("lines"), "{text}");
    let empty = sql(&data, "SELECT * FROM alerts", &["--format", "json"]);
    assert_eq!(String::from_utf8(empty.stdout).unwrap().trim(), "[]");
    let errors = sql(&data, "SELECT count(*) FROM ingest_errors", &["--format", "csv"]);
    assert!(errors.status.success());
}
