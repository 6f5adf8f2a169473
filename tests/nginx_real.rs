//! End to end with a real nginx (tests/common/nginx.rs: wrk loads an nginx front that
//! proxies to a backend answering 200/404/500/503, to an upstream group where nothing
//! listens, and retries a backend error through error_page), then `logpulse replay`
//! runs the builtin nginx pack and a per-status rule over the access log, and the test
//! checks every aggregate against its own parse of the same log.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};
use std::time::Instant;

use chrono::DateTime;
use regex::Regex;

mod common;

use common::nginx::{CONNECTIONS, LOG_FORMAT, WrkRun, load_with_wrk};

const HOST: &str = "testhost";
const WINDOW_MS: i64 = 60_000;

const RULES: &str = r#"
[[stream]]
name = "nginx"
format = "nginx"
log_format = 'LOG_FORMAT'
lateness = "30s"

[[rule]]
name = "nginx"
stream = "nginx"
builtin = "nginx"

[[rule]]
name = "by_status"
stream = "nginx"
group_by = ["host", "status"]

[[rule]]
name = "errors_by_status"
stream = "nginx"
filter = "status >= 500"
group_by = ["host", "status"]
"#;

/// One aggregate cell; `sum`/`min`/`max` are `None` for rules without a value.
#[derive(Debug, Clone, Default, PartialEq)]
struct Agg {
    count: u64,
    sum: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
}

impl Agg {
    fn add(&mut self, value: Option<f64>) {
        self.count += 1;
        if let Some(v) = value {
            self.sum = Some(self.sum.unwrap_or(0.0) + v);
            self.min = Some(self.min.map_or(v, |m| m.min(v)));
            self.max = Some(self.max.map_or(v, |m| m.max(v)));
        }
    }
}

/// (rule, window_start ms, host, key)
type Key = (String, i64, String, String);

/// What a rule set of RULES must produce for this log, computed without logpulse.
struct Expected {
    aggs: BTreeMap<Key, Agg>,
    lines: u64,
    statuses: BTreeMap<u16, u64>,
    upstream_lists: u64,
    upstream_chains: u64,
    no_upstream: u64,
}

fn expected_from_log(log: &str) -> Expected {
    let re = Regex::new(
        r#"^(\S+) - (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)" (\d+\.\d{3}) (.+)$"#,
    )
    .unwrap();
    let mut e = Expected {
        aggs: BTreeMap::new(),
        lines: 0,
        statuses: BTreeMap::new(),
        upstream_lists: 0,
        upstream_chains: 0,
        no_upstream: 0,
    };
    for (n, line) in log.lines().enumerate() {
        let c = re.captures(line).unwrap_or_else(|| panic!("access.log:{}: unexpected shape: {line:?}", n + 1));
        e.lines += 1;
        let ts = DateTime::parse_from_str(&c[3], "%d/%b/%Y:%H:%M:%S %z")
            .unwrap_or_else(|err| panic!("access.log:{}: $time_local {:?}: {err}", n + 1, &c[3]))
            .timestamp_millis();
        let start = ts - ts.rem_euclid(WINDOW_MS);
        let status: u16 = c[5].parse().unwrap();
        let request_time: f64 = c[9].parse().unwrap();
        *e.statuses.entry(status).or_default() += 1;

        let mut put = |rule: &str, key: String, value: Option<f64>| {
            e.aggs.entry((rule.to_string(), start, HOST.to_string(), key)).or_default().add(value);
        };
        put("nginx.requests", String::new(), None);
        put("nginx.request_time", String::new(), Some(request_time));
        if (500..=599).contains(&status) {
            put("nginx.status_5xx", String::new(), None);
            put("errors_by_status", format!("status={status}"), None);
        }
        if status == 499 {
            put("nginx.status_499", String::new(), None);
        }
        put("by_status", format!("status={status}"), None);

        // `0.001, 0.000` (tries within one upstream group) and `0.000 : 0.001` (an
        // internal redirect to another) both sum; `-` entries are skipped, and a field
        // with no number at all is missing, so that line does not count.
        let upstream = c[10].trim();
        let numbers: Vec<f64> = upstream
            .split([',', ':'])
            .map(str::trim)
            .filter(|p| *p != "-")
            .map(|p| p.parse().unwrap_or_else(|err| panic!("access.log:{}: upstream time {upstream:?}: {err}", n + 1)))
            .collect();
        if numbers.is_empty() {
            e.no_upstream += 1;
        } else {
            put("nginx.upstream_time", String::new(), Some(numbers.iter().sum()));
        }
        e.upstream_lists += u64::from(upstream.contains(','));
        e.upstream_chains += u64::from(upstream.contains(':'));
    }
    e
}

/// `logpulse replay`'s CSV as a map; each (rule, window, host, key) must come once.
fn parse_replay_csv(text: &str) -> BTreeMap<Key, Agg> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().expect("CSV header").iter().map(String::from).collect();
    assert_eq!(header, ["rule", "window_start", "window_end", "host", "key", "count", "sum", "min", "max"]);
    let mut out = BTreeMap::new();
    for (i, record) in reader.records().enumerate() {
        let r = record.unwrap_or_else(|e| panic!("replay CSV row {}: {e}", i + 2));
        let time = |s: &str| {
            assert!(s.ends_with('Z'), "replay CSV row {}: {s:?} is not RFC 3339 UTC", i + 2);
            DateTime::parse_from_rfc3339(s)
                .unwrap_or_else(|e| panic!("replay CSV row {}: {s:?}: {e}", i + 2))
                .timestamp_millis()
        };
        let (start, end) = (time(&r[1]), time(&r[2]));
        assert!(start % WINDOW_MS == 0 && end - start == WINDOW_MS, "replay CSV row {}: not a 1m window: {r:?}", i + 2);
        let float =
            |s: &str| (!s.is_empty()).then(|| s.parse::<f64>().unwrap_or_else(|e| panic!("row {}: {s:?}: {e}", i + 2)));
        let agg = Agg { count: r[5].parse().unwrap(), sum: float(&r[6]), min: float(&r[7]), max: float(&r[8]) };
        let key = (r[0].to_string(), start, r[3].to_string(), r[4].to_string());
        if let Some(previous) = out.insert(key, agg) {
            panic!("replay CSV row {}: a second row for {r:?} (first: {previous:?}); replay merges rows", i + 2);
        }
    }
    out
}

fn close(actual: Option<f64>, expected: Option<f64>) -> bool {
    match (actual, expected) {
        (None, None) => true,
        (Some(a), Some(e)) => (a - e).abs() <= 1e-6 * a.abs().max(e.abs()) + 1e-12,
        _ => false,
    }
}

/// Differences between replay's rows and the expected ones, one line each.
fn differences(actual: &BTreeMap<Key, Agg>, expected: &BTreeMap<Key, Agg>) -> Vec<String> {
    let first_window = expected.keys().map(|k| k.1).min().unwrap();
    let last_window = expected.keys().map(|k| k.1).max().unwrap();
    let series: BTreeSet<(&str, &str, &str)> =
        expected.keys().map(|(r, _, h, k)| (r.as_str(), h.as_str(), k.as_str())).collect();
    let keys: BTreeSet<&Key> = actual.keys().chain(expected.keys()).collect();
    let mut out = Vec::new();
    for key in keys {
        let show = |a: &Agg| format!("count={} sum={:?} min={:?} max={:?}", a.count, a.sum, a.min, a.max);
        match (actual.get(key), expected.get(key)) {
            (Some(a), Some(e)) => {
                if a.count != e.count || !close(a.sum, e.sum) || !close(a.min, e.min) || !close(a.max, e.max) {
                    out.push(format!("{key:?}: replay {} != log {}", show(a), show(e)));
                }
            }
            (None, Some(e)) => out.push(format!("{key:?}: missing from replay; log {}", show(e))),
            // DESIGN.md closes every window from a series' first event on, data or not:
            // an empty window of a series seen before may show as a count-0 row.
            (Some(a), None)
                if a.count == 0
                    && a.sum.is_none()
                    && (first_window..=last_window).contains(&key.1)
                    && series.contains(&(key.0.as_str(), key.2.as_str(), key.3.as_str())) => {}
            (Some(a), None) => out.push(format!("{key:?}: replay has {} but the log has no such line", show(a))),
            (None, None) => unreachable!(),
        }
    }
    out
}

fn run(cmd: &mut Command) -> Output {
    let output = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?}: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn replay_matches_a_real_nginx_access_log() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, RULES.replace("LOG_FORMAT", LOG_FORMAT)).unwrap();
    let WrkRun { access_log, requests, non_2xx_3xx: wrk_non_2xx_3xx, wrk_text } = load_with_wrk(dir, 2);
    let log = std::fs::read_to_string(&access_log).expect("nginx wrote no access log");
    let lines = log.lines().count() as u64;

    // (a) wrk counts a response once it has read all of it, nginx logs a request once it
    // has handed the response to the kernel: the log never has fewer. When wrk stops at
    // its deadline it drops at most one request per connection that nginx may still log.
    assert!(
        lines >= requests && lines - requests <= CONNECTIONS,
        "access log has {lines} lines, wrk counted {requests} requests over {CONNECTIONS} connections:\n{wrk_text}"
    );
    let extra = lines - requests;

    let expected = expected_from_log(&log);
    assert_eq!(expected.lines, lines);
    let log_non_2xx_3xx: u64 = expected.statuses.iter().filter(|(s, _)| **s > 399).map(|(_, n)| n).sum();
    assert!(
        (wrk_non_2xx_3xx..=wrk_non_2xx_3xx + extra).contains(&log_non_2xx_3xx),
        "log has {log_non_2xx_3xx} responses over 399, wrk saw {wrk_non_2xx_3xx}; statuses {:?}",
        expected.statuses
    );
    // The comparison below means something only if the log has what the setup is for.
    for status in [200, 204, 301, 404, 500, 502, 503] {
        assert!(expected.statuses.contains_key(&status), "no {status} in the log: {:?}", expected.statuses);
    }
    assert!(expected.upstream_lists > 0 && expected.upstream_chains > 0 && expected.no_upstream > 0);

    // (b)
    let replay = run(Command::new(env!("CARGO_BIN_EXE_logpulse"))
        .args(["replay", "-r"])
        .arg(&rules)
        .args(["-s", "nginx", "--host", HOST])
        .arg(&access_log));
    let stderr = String::from_utf8_lossy(&replay.stderr);
    assert!(!stderr.contains("not counted"), "replay did not count every line of nginx's log:\n{stderr}");
    let actual = parse_replay_csv(&String::from_utf8(replay.stdout).expect("replay's CSV is UTF-8"));
    let diffs = differences(&actual, &expected.aggs);
    assert!(diffs.is_empty(), "replay differs from the access log in {} rows:\n{}", diffs.len(), diffs.join("\n"));
    if !expected.statuses.contains_key(&499) {
        assert!(
            !actual.iter().any(|(k, a)| k.0 == "nginx.status_499" && a.count > 0),
            "nginx.status_499 counted lines, but the log has no 499"
        );
    }

    // (c)
    let replay_requests: u64 = actual.iter().filter(|(k, _)| k.0 == "nginx.requests").map(|(_, a)| a.count).sum();
    assert_eq!(replay_requests, lines, "nginx.requests over all windows vs access log lines");
    assert!(
        replay_requests >= requests && replay_requests - requests <= CONNECTIONS,
        "nginx.requests over all windows is {replay_requests}, wrk counted {requests}"
    );

    // (d) `replay --out` stores what it printed: logpulse sql and DuckDB read the same totals.
    let data = dir.join("data");
    let stored = run(Command::new(env!("CARGO_BIN_EXE_logpulse"))
        .args(["replay", "-r"])
        .arg(&rules)
        .args(["-s", "nginx", "--host", HOST, "--out"])
        .arg(&data)
        .arg(&access_log));
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(stored.stdout.as_slice());
    let csv_rows: Vec<Vec<String>> =
        reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
    let totals = common::csv_totals(&csv_rows);
    assert!(totals.get("nginx.request_time").is_some_and(|t| t.1.is_some()), "value rules stored with sums");
    common::assert_stored_totals(&data, &totals, csv_rows.len() - 1);

    let windows: BTreeSet<i64> = expected.aggs.keys().map(|k| k.1).collect();
    eprintln!(
        "nginx_real: wrk {requests} requests ({wrk_non_2xx_3xx} non-2xx/3xx), access log {lines} lines \
         ({} with an upstream list, {} redirected, {} without upstream), statuses {:?}, \
         {} window(s), {} replay rows, {:.1} s",
        expected.upstream_lists,
        expected.upstream_chains,
        expected.no_upstream,
        expected.statuses,
        windows.len(),
        actual.len(),
        started.elapsed().as_secs_f64()
    );
}
