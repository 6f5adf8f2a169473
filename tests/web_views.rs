//! The views as charts: `GET /api/series` against the views of DESIGN.md, the page at
//! `/`, and the page itself in a real browser (Debian's chromium, driven by
//! playwright-core from `web/test/browser.mjs`), all against one worker fed a known
//! scripted data set.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::kafka::Worker;
use common::{APP_STREAM, T0, wait_for};

const RULES: &str = r#"
[[rule]]
name = "requests"
stream = "app"

[[rule]]
name = "latency"
stream = "app"
value = { after = "cost=", before = "ms" }

[[rule]]
name = "errors"
stream = "app"
regex = 'status=(?P<status>5\d\d)'
group_by = ["host", "status"]

[[alert]]
name = "silent"
rule = "requests"
when = "absent"
for = 2
severity = "critical"

[[alert]]
name = "busy"
rule = "requests"
when = "count > 45"
for = 2
"#;

const HOSTS: [&str; 5] = ["web-1", "web-2", "web-3", "web-4", "web-5"];
const MINUTES: i64 = 15;
/// web-5 goes quiet after this many minutes: `silent` fires for it and stays firing.
const WEB5_MINUTES: i64 = 8;

/// Lines `<unix seconds> <host> GET /api/items status=S cost=Cms`, varied per host and
/// minute by a fixed linear congruential sequence, so every run has the same data.
fn scripted_log() -> String {
    let mut seed: u64 = 42;
    let mut next = move |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let mut out = String::new();
    for minute in 0..MINUTES {
        for (h, host) in HOSTS.iter().enumerate() {
            if *host == "web-5" && minute >= WEB5_MINUTES {
                continue;
            }
            let lines = 10 + 8 * h as u64 + next(20);
            for i in 0..lines {
                let t = T0 + minute * 60 + (i * 59 / lines) as i64;
                let status = match next(20) {
                    0 => 503,
                    1 | 2 => 500,
                    _ => 200,
                };
                let cost = 20 + 15 * h as u64 + next(200);
                out.push_str(&format!("{t} {host} GET /api/items status={status} cost={cost}ms\n"));
            }
        }
    }
    out
}

fn start_worker(dir: &Path) -> Worker {
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, format!("{APP_STREAM}{RULES}")).unwrap();
    let log = dir.join("app.log");
    std::fs::write(&log, scripted_log()).unwrap();
    let config = dir.join("worker.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = '{}'\nrules = ['{}']\nflush_interval = '100ms'\n[http]\nlisten = '127.0.0.1:0'\n\
             [[source]]\nkind = 'file'\npath = '{}'\nfollow = true\nhost = 'unused'\nstream = 'app'\n",
            dir.join("data").display(),
            rules.display(),
            log.display()
        ),
    )
    .unwrap();
    let worker = Worker::start(&config, &[]);
    let last_end = (T0 + MINUTES * 60) * 1000;
    wait_for("every scripted window", Duration::from_secs(60), || {
        let rows = sql_json(&worker, "SELECT CAST(max(window_end) AS BIGINT) AS t FROM aggregates");
        rows[0]["t"].as_i64().is_some_and(|t| t >= last_end)
    });
    wait_for("silent to fire for web-5", Duration::from_secs(30), || {
        worker.get("/api/alerts?state=firing").1.contains("web-5")
    });
    worker
}

fn sql_json(worker: &Worker, sql: &str) -> Vec<serde_json::Value> {
    let (status, body) = worker.post("/api/sql", sql);
    assert_eq!(status, 200, "{sql}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn series(worker: &Worker, query: &str) -> serde_json::Value {
    let (status, body) = worker.get(&format!("/api/series?{query}"));
    assert_eq!(status, 200, "{query}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn range() -> (i64, i64) {
    ((T0 - 60) * 1000, (T0 + MINUTES * 60 + 60) * 1000)
}

/// `(label, window_end ms) -> value` of an `/api/series` answer.
fn points(answer: &serde_json::Value) -> BTreeMap<(String, i64), f64> {
    let times: Vec<i64> = answer["times"].as_array().unwrap().iter().map(|t| t.as_i64().unwrap()).collect();
    let mut out = BTreeMap::new();
    for s in answer["series"].as_array().unwrap() {
        let label = s["label"].as_str().unwrap().to_string();
        let values = s["values"].as_array().unwrap();
        assert_eq!(values.len(), times.len(), "one value per time: {answer}");
        for (t, v) in times.iter().zip(values) {
            if let Some(v) = v.as_f64() {
                out.insert((label.clone(), *t), v);
            }
        }
    }
    out
}

/// The same from rows `{label, t (ms), value}` of an independent query over the views.
fn expected(worker: &Worker, sql: &str) -> BTreeMap<(String, i64), f64> {
    sql_json(worker, sql)
        .into_iter()
        .filter_map(|r| Some(((r["label"].as_str()?.to_string(), r["t"].as_i64()?), r["value"].as_f64()?)))
        .collect()
}

fn assert_close(got: &BTreeMap<(String, i64), f64>, want: &BTreeMap<(String, i64), f64>, what: &str) {
    assert!(!want.is_empty(), "{what}: the data set has rows");
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{what}: the same points");
    for (k, w) in want {
        let g = got[k];
        assert!((g - w).abs() <= 1e-9 * w.abs().max(1.0), "{what} at {k:?}: {g} != {w}");
    }
}

#[test]
fn series_equal_the_machine_sum_and_avg_views() {
    let dir = tempfile::tempdir().unwrap();
    let worker = start_worker(dir.path());
    let (from, to) = range();
    let window = format!(
        "rule = 'latency' AND window_end > to_timestamp_millis({from}) AND window_end <= to_timestamp_millis({to})"
    );
    let t = "CAST(window_end AS BIGINT)";
    for (metric, merged) in [
        ("count", "CAST(sum(count) AS DOUBLE)"),
        ("avg", "sum(sum) / CAST(sum(count) AS DOUBLE)"),
        ("max", "max(max)"),
        ("min", "min(min)"),
        ("sum", "sum(sum)"),
    ] {
        let query = |view: &str| format!("rule=latency&view={view}&metric={metric}&from={from}&to={to}");
        let machine = series(&worker, &query("machine"));
        assert_eq!(machine["hosts_total"], 5);
        assert_close(
            &points(&machine),
            &expected(
                &worker,
                &format!(
                    "SELECT host AS label, {t} AS t, {merged} AS value FROM machine_view WHERE {window} \
                     GROUP BY host, window_end"
                ),
            ),
            &format!("machine view, {metric}"),
        );
        let column = if metric == "count" { "CAST(count AS DOUBLE)".to_string() } else { metric.to_string() };
        for view in ["sum", "avg"] {
            assert_close(
                &points(&series(&worker, &query(view))),
                &expected(
                    &worker,
                    &format!("SELECT '{view}' AS label, {t} AS t, {column} AS value FROM {view}_view WHERE {window}"),
                ),
                &format!("{view} view, {metric}"),
            );
        }
    }

    // Top N: the hosts with the most lines over the range, most first.
    let top = series(&worker, &format!("rule=requests&view=machine&top=2&from={from}&to={to}"));
    let want: Vec<String> = sql_json(
        &worker,
        "SELECT host FROM machine_view WHERE rule = 'requests' GROUP BY host ORDER BY sum(count) DESC, host LIMIT 2",
    )
    .iter()
    .map(|r| r["host"].as_str().unwrap().to_string())
    .collect();
    let labels: Vec<&str> = top["series"].as_array().unwrap().iter().map(|s| s["label"].as_str().unwrap()).collect();
    assert_eq!(labels, want);
    assert_eq!(top["window_ms"], 60_000, "the rule's window comes along");

    // A group key and a host narrow the rows; keys are listed for a picker.
    let errors = series(&worker, &format!("rule=errors&view=sum&key=status%3D500&host=web-4&from={from}&to={to}"));
    assert_eq!(errors["keys"], serde_json::json!(["status=500"]), "the keys of web-4's status=500 rows");
    let all_keys = series(&worker, &format!("rule=errors&view=sum&from={from}&to={to}"));
    assert_eq!(all_keys["keys"], serde_json::json!(["status=500", "status=503"]));
    assert_close(
        &points(&errors),
        &expected(
            &worker,
            &format!(
                "SELECT 'sum' AS label, {t} AS t, CAST(sum(count) AS DOUBLE) AS value FROM machine_view \
                 WHERE rule = 'errors' AND host = 'web-4' AND key = 'status=500' GROUP BY window_end"
            ),
        ),
        "errors, one host and key",
    );

    // RFC 3339 times work as well as epoch milliseconds; a quote in a value stays a value.
    let rfc = series(&worker, "rule=latency&view=sum&from=2026-11-25T23:59:00Z&to=2026-11-26T00:16:00Z");
    assert_eq!(points(&rfc), points(&series(&worker, &format!("rule=latency&view=sum&from={from}&to={to}"))));
    assert!(series(&worker, "rule=x'y&from=0&to=1")["series"].as_array().unwrap().is_empty());

    for (bad, says) in [
        ("rule=latency&view=pie", "unknown view"),
        ("rule=latency&metric=p99", "unknown metric"),
        ("rule=latency&from=10&to=5", "must be before"),
        ("rule=latency&from=yesterday", "neither epoch"),
        ("rule=latency&top=0", "top must be"),
        ("rule=latency&colour=red", "unknown field"),
        ("view=sum", "rule"),
    ] {
        let (status, body) = worker.get(&format!("/api/series?{bad}"));
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains(says) && body.contains("\"error\""), "{bad}: {body}");
    }

    // The alerts carry what the page marks: the windows in which `when` held.
    let (_, alerts) = worker.get("/api/alerts?state=firing");
    let alerts: serde_json::Value = serde_json::from_str(&alerts).unwrap();
    let silent = alerts["alerts"].as_array().unwrap().iter().find(|a| a["alert"] == "silent").expect("silent fires");
    assert_eq!(silent["host"], "web-5");
    assert_eq!(silent["held_from"], "2026-11-26T00:08:00Z", "web-5's first empty window: {silent}");
    assert_eq!(silent["since"], "2026-11-26T00:10:00Z", "the second empty window fired it: {silent}");
    assert!(worker.terminate().success());
}

#[test]
fn the_page_is_served_from_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let worker = start_worker(dir.path());
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut page = agent.get(&format!("{}/", worker.base)).call().unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(headers["content-security-policy"].to_str().unwrap().contains("default-src 'self'"));
    let html = page.body_mut().read_to_string().unwrap();
    let built = std::fs::read_to_string(web_dir().join("dist/index.html")).unwrap();
    assert!(html == built, "the page is the checked-in build (web/dist/index.html)");
    // Offline: nothing loaded from another origin.
    assert!(html.contains("assets/app.js") && !html.contains("src=\"http") && !html.contains("href=\"http"));

    let mut script = agent.get(&format!("{}/assets/app.js", worker.base)).call().unwrap();
    assert_eq!(script.status(), 200);
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    let etag = script.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(script.body_mut().read_to_vec().unwrap(), std::fs::read(web_dir().join("dist/assets/app.js")).unwrap());
    let again = agent.get(&format!("{}/assets/app.js", worker.base)).header("If-None-Match", &etag).call().unwrap();
    assert_eq!(again.status(), 304, "unchanged: not sent again");
    assert_eq!(worker.get("/assets/nothing.js").0, 404);
    assert_eq!(worker.get("/assets/../Cargo.toml").0, 404);
    assert!(worker.terminate().success());
}

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

/// The page in Debian's chromium: loads clean, draws the three views with the numbers
/// of `/api/sql`, shows the firing alert and links it to its chart, and refuses DDL in
/// the SQL box. Screenshots go to `target/web-artifacts/`.
#[test]
fn the_page_works_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let worker = start_worker(dir.path());
    let web = web_dir();
    assert!(
        web.join("node_modules/playwright-core").is_dir(),
        "web/node_modules is missing: run scripts/install-test-deps.sh (it runs npm ci in web/)"
    );
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let (from, to) = range();
    let out = Command::new("node")
        .arg(web.join("test/browser.mjs"))
        .current_dir(&web)
        .env("LOGPULSE_URL", &worker.base)
        .env("ARTIFACTS", &artifacts)
        .env("FROM_MS", from.to_string())
        .env("TO_MS", to.to_string())
        .env("RULE", "latency")
        .env("ALERT", "silent")
        .env("TZ", "Europe/Berlin")
        .output()
        .expect("running node web/test/browser.mjs");
    let report = format!(
        "stdout:\n{}\nstderr:\n{}\nworker log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        worker.log()
    );
    assert!(out.status.success(), "the browser test failed\n{report}");
    for shot in ["page.png", "page-dark.png", "machine.png", "sum.png", "avg.png", "alert.png"] {
        let bytes = std::fs::metadata(artifacts.join(shot)).map(|m| m.len()).unwrap_or(0);
        assert!(bytes > 1000, "screenshot {shot} was saved\n{report}");
    }
    assert!(worker.terminate().success());
}

/// The page's own unit tests (`web/test/unit.test.mjs`: the URL state, the `/metrics`
/// parser, alert marks, the SQL box's chart and pivot), under node's test runner.
#[test]
fn the_page_unit_tests_pass() {
    let out = Command::new("node")
        .args(["--test", "test/unit.test.mjs"])
        .current_dir(web_dir())
        .output()
        .expect("running node --test");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("# fail 0") && !text.contains("# pass 0"), "{text}");
}
