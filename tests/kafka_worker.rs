//! `logpulse run` against a real Kafka-protocol broker (tansu, sqlite storage).
//!
//! Every test compares the worker's tables with `logpulse replay` over the same
//! input: per (rule, window, host, key), count, sum, min and max must be equal, so
//! nothing was lost and nothing counted twice.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::kafka::{Broker, Worker, logpulse};

const LOG_FORMAT: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time"#;

fn rules_toml() -> String {
    format!(
        r#"
[[stream]]
name = "nginx"
format = "nginx"
log_format = '{LOG_FORMAT}'
lateness = "1s"

[[stream]]
name = "qalarm"
format = "qalarm"
lateness = "1s"

[[rule]]
name = "nginx"
stream = "nginx"
builtin = "nginx"
window = "10s"

[[rule]]
name = "by_status"
stream = "nginx"
group_by = ["host", "status"]
window = "10s"

[[rule]]
name = "slow"
stream = "nginx"
value = "request_time"
filter = "request_time > 0.5"
window = "20s"
slide = "10s"

[[rule]]
name = "api_errors"
stream = "nginx"
regex = 'GET /api/(?P<api>\w+)'
filter = "status >= 500"
group_by = ["api"]
window = "10s"

[[rule]]
name = "qalarm"
stream = "qalarm"
window = "10s"
"#
    )
}

/// `lines` nginx lines from `start` (unix s), 100 per second of event time.
fn nginx_log(lines: usize, start: i64, seed: u64) -> String {
    let mut out = String::new();
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    for i in 0..lines {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let r = (x >> 33) as usize;
        let t = chrono::DateTime::from_timestamp(start + (i / 100) as i64, 0).unwrap();
        let status = [200, 200, 200, 200, 301, 404, 499, 500, 502, 503][r % 10];
        let path = ["/", "/api/users", "/api/orders", "/static/app.js", "/api/pay"][(r / 10) % 5];
        let rt = ((r / 50) % 1500) as f64 / 1000.0;
        let upstream = if path.starts_with("/api") { format!("{:.3}", rt * 0.9) } else { "-".to_string() };
        out.push_str(&format!(
            "10.1.{}.{} - - [{}] \"GET {path} HTTP/1.1\" {status} {} \"-\" \"wrk/4.2\" {rt:.3} {upstream}\n",
            r % 7,
            r % 250,
            t.format("%d/%b/%Y:%H:%M:%S +0000"),
            r % 5000,
        ));
    }
    out
}

/// Qalarm events as JSON lines, `n` of them over `n / 20` seconds from `start`.
fn qalarm_json(n: usize, start: i64) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{{\"project\":\"p{}\",\"module\":\"m{}\",\"code\":{},\"env\":\"prod\",\"message\":\"boom {i}\",\"time\":{},\"server_ip\":\"10.0.0.{}\",\"client_ip\":\"1.2.3.4\",\"script\":\"/x.php\"}}\n",
                i % 3,
                i % 4,
                [500, 404, 1001][i % 3],
                start + (i / 20) as i64,
                i % 5
            )
        })
        .collect()
}

/// The same events as concatenated MessagePack maps, by Python's msgpack (an
/// encoder independent of ours), for `replay`.
fn msgpack_by_python(json_lines: &Path, out: &Path) {
    let script = "import sys, json, msgpack\nw = open(sys.argv[2], 'wb')\nfor line in open(sys.argv[1]):\n    if line.strip():\n        w.write(msgpack.packb(json.loads(line), use_bin_type=True))\n";
    let status = Command::new("python3").args(["-c", script]).arg(json_lines).arg(out).status().unwrap();
    assert!(status.success(), "python msgpack encoding failed");
}

type Row = (String, i64, String, String);
type Agg = (u64, Option<f64>, Option<f64>, Option<f64>);

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap_or_else(|e| panic!("{rfc3339}: {e}")).timestamp_millis()
}

fn num(s: &str) -> Option<f64> {
    (!s.is_empty()).then(|| s.parse().unwrap())
}

/// Parses `rule,window_start,window_end,host,key,count,sum,min,max` CSV (replay's and
/// the worker's), merging rows of the same group.
fn parse_rows(csv_text: &str, into: &mut BTreeMap<Row, Agg>) {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    for record in reader.records() {
        let r = record.unwrap();
        let key = (r[0].to_string(), ms(&r[1]), r[3].to_string(), r[4].to_string());
        let (count, sum, min, max) = (r[5].parse::<u64>().unwrap(), num(&r[6]), num(&r[7]), num(&r[8]));
        let e = into.entry(key).or_insert((0, None, None, None));
        e.0 += count;
        e.1 = match (e.1, sum) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        e.2 = match (e.2, min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        e.3 = match (e.3, max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

fn replay(rules: &Path, stream: &str, input: &Path, host: &str, into: &mut BTreeMap<Row, Agg>) {
    let out = Command::new(logpulse())
        .args(["replay", "-r"])
        .arg(rules)
        .args(["-s", stream, "--host", host])
        .arg(input)
        .output()
        .unwrap();
    assert!(out.status.success(), "replay: {}", String::from_utf8_lossy(&out.stderr));
    parse_rows(&String::from_utf8(out.stdout).unwrap(), into);
}

const MACHINE_VIEW: &str = "SELECT rule, window_start, window_end, host, key, count, sum, min, max FROM machine_view";

fn worker_rows(worker: &Worker) -> Option<BTreeMap<Row, Agg>> {
    let text = worker.sql_csv(MACHINE_VIEW).ok()?;
    let mut rows = BTreeMap::new();
    parse_rows(&text, &mut rows);
    Some(rows)
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0),
        _ => false,
    }
}

fn differences(actual: &BTreeMap<Row, Agg>, expected: &BTreeMap<Row, Agg>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, e) in expected {
        match actual.get(k) {
            None => out.push(format!("missing {k:?} = {e:?}")),
            Some(a) if a.0 != e.0 || !close(a.1, e.1) || !close(a.2, e.2) || !close(a.3, e.3) => {
                out.push(format!("{k:?}: worker {a:?}, replay {e:?}"))
            }
            _ => {}
        }
    }
    for (k, a) in actual {
        if !expected.contains_key(k) {
            out.push(format!("extra {k:?} = {a:?}"));
        }
    }
    out
}

/// Polls the worker until its tables equal `expected` (windows close `lateness`
/// after the input goes quiet), then asserts.
fn assert_converges(worker: &Worker, expected: &BTreeMap<Row, Agg>, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut last = Vec::new();
    while Instant::now() < deadline {
        if let Some(rows) = worker_rows(worker) {
            last = differences(&rows, expected);
            if last.is_empty() {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let shown: Vec<&String> = last.iter().take(20).collect();
    panic!("worker tables differ from replay in {} groups, e.g.:\n{shown:#?}\nworker log:\n{}", last.len(), worker.log());
}

fn scalar(worker: &Worker, sql: &str) -> String {
    let text = worker.sql_csv(sql).unwrap();
    text.lines().nth(1).unwrap_or("").to_string()
}

struct Setup {
    dir: tempfile::TempDir,
    broker: Broker,
    rules: PathBuf,
    expected: BTreeMap<Row, Agg>,
    qalarm_events: usize,
}

/// A broker with an `nginx` topic (3 partitions, one host each) and a `qalarm` topic
/// (2 partitions), loaded; and what replay says the tables must hold.
fn setup(lines_per_host: usize, qalarm_events: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    broker.create_topic("nginx", 3);
    broker.create_topic("qalarm", 2);
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, rules_toml()).unwrap();
    let start = 1_795_600_000;
    let mut expected = BTreeMap::new();
    for p in 0..3 {
        let log = dir.path().join(format!("access-{p}.log"));
        std::fs::write(&log, nginx_log(lines_per_host, start, p as u64)).unwrap();
        let host = format!("web-{p}");
        broker.produce("nginx", &log, &["--lines-per-message", "50", "--host", &host, "--partition", &p.to_string()]);
        replay(&rules, "nginx", &log, &host, &mut expected);
    }
    let json = dir.path().join("qalarm.jsonl");
    std::fs::write(&json, qalarm_json(qalarm_events, start)).unwrap();
    broker.produce("qalarm", &json, &["--format", "qalarm"]);
    let packed = dir.path().join("qalarm.msgpack");
    msgpack_by_python(&json, &packed);
    replay(&rules, "qalarm", &packed, "unused", &mut expected);
    Setup { dir, broker, rules, expected, qalarm_events }
}

fn worker_config(setup: &Setup, data_dir: &Path, group: &str, checkpoint: &str) -> PathBuf {
    let path = setup.dir.path().join(format!("worker-{group}.toml"));
    let text = format!(
        r#"
data_dir = "{data}"
rules = ["{rules}"]
checkpoint_interval = "{checkpoint}"
flush_interval = "100ms"

[http]
listen = "127.0.0.1:0"

[[source]]
kind = "kafka"
brokers = "{brokers}"
topics = ["nginx"]
group = "{group}"
stream = "nginx"
properties = {{ "session.timeout.ms" = "6000", "heartbeat.interval.ms" = "500" }}

[[source]]
kind = "kafka"
brokers = "{brokers}"
topics = ["qalarm"]
group = "{group}-qalarm"
stream = "qalarm"
properties = {{ "session.timeout.ms" = "6000", "heartbeat.interval.ms" = "500" }}
"#,
        data = data_dir.display(),
        rules = setup.rules.display(),
        brokers = setup.broker.address(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn worker_tables_equal_replay_over_the_same_topics() {
    let setup = setup(20_000, 3_000);
    let data = setup.dir.path().join("data");
    let config = worker_config(&setup, &data, "e2e", "1s");
    let worker = Worker::start(&config, &[]);

    // Health, metrics and rules while it runs.
    let deadline = Instant::now() + Duration::from_secs(30);
    while worker.get("/healthz").0 != 200 {
        assert!(Instant::now() < deadline, "never healthy: {}", worker.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, rules) = worker.get("/api/rules");
    assert_eq!(status, 200);
    let rules: serde_json::Value = serde_json::from_str(&rules).unwrap();
    assert!(rules["rules"].as_array().unwrap().iter().any(|r| r["name"] == "nginx.status_5xx"), "{rules}");
    assert_eq!(rules["version"].as_str().unwrap().len(), 16);

    assert_converges(&worker, &setup.expected, Duration::from_secs(90));
    let events = scalar(&worker, "SELECT count(*) FROM qalarm_events");
    assert_eq!(events, setup.qalarm_events.to_string());

    let (_, metrics) = worker.get("/metrics");
    for name in ["logpulse_events_in_total{stream=\"nginx\"} 60000", "logpulse_consumer_lag{", "logpulse_windows_open{", "logpulse_checkpoint_age_seconds{", "logpulse_last_commit_timestamp_seconds"] {
        assert!(metrics.contains(name), "/metrics lacks {name}:\n{metrics}");
    }
    // SQL over HTTP is read-only, and errors are JSON with a status.
    let (status, body) = worker.post("/api/sql", "DROP TABLE aggregates");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("\"error\":\"read_only\""), "{body}");
    let (status, body) = worker.post("/api/sql", "SELEC 1");
    assert_eq!(status, 400, "{body}");
    let (status, body) = worker.post("/api/sql?format=arrow", "SELECT 1 AS one");
    assert_eq!(status, 200);
    assert!(body.len() > 8);

    let status = worker.terminate();
    assert!(status.success(), "SIGTERM must exit 0: {status:?}");
}

#[test]
fn kill_9_at_any_point_then_restart_gives_the_tables_of_an_uninterrupted_run() {
    let setup = setup(60_000, 20_000);
    let data = setup.dir.path().join("data");
    let config = worker_config(&setup, &data, "crash", "150ms");
    let mut crashes = Vec::new();
    // Each run dies at a different point: during a checkpoint (temp file written, not
    // renamed), during a Parquet write, and by SIGKILL from outside at an arbitrary time.
    for fault in ["checkpoint.before_rename:4", "parquet.before_rename:3", "checkpoint.before_rename:9"] {
        let mut worker = Worker::start(&config, &[("LOGPULSE_FAULT", fault)]);
        match worker.wait_exit(Duration::from_secs(60)) {
            Some(status) => {
                assert!(!status.success(), "the fault point {fault} must abort");
                assert!(worker.log().contains("LOGPULSE_FAULT: aborting"), "{}", worker.log());
                crashes.push(fault.to_string());
            }
            None => panic!("fault {fault} never reached: {}", worker.log()),
        }
    }
    for after_ms in [700, 1500] {
        let worker = Worker::start(&config, &[]);
        std::thread::sleep(Duration::from_millis(after_ms));
        worker.kill9();
        crashes.push(format!("SIGKILL after {after_ms} ms"));
    }
    let worker = Worker::start(&config, &[]);
    assert_converges(&worker, &setup.expected, Duration::from_secs(120));
    let events = scalar(&worker, "SELECT count(*) FROM qalarm_events");
    assert_eq!(events, setup.qalarm_events.to_string(), "qalarm_events after {crashes:?}");
    let errors = scalar(&worker, "SELECT count(*) FROM ingest_errors");
    assert_eq!(errors, "0", "no input was bad");
    assert!(worker.terminate().success());
}

#[test]
fn bad_messages_land_in_ingest_errors_and_the_worker_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    broker.create_topic("nginx", 1);
    broker.create_topic("qalarm", 1);
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, rules_toml()).unwrap();
    let start = 1_795_600_000;

    // Raw: invalid UTF-8, an empty message, a 3 MB message (over max_line_bytes), then
    // good lines. Not 10 MB: tansu 0.6 stores a 10 MB message but never serves it to a
    // fetch (the partition stalls; a 2 MB one is served), which is tansu's limit, not ours.
    let bad = dir.path().join("bad.log");
    let mut f = std::fs::File::create(&bad).unwrap();
    f.write_all(b"10.0.0.1 - - [bad \xff\xfe utf8] \"GET / HTTP/1.1\" 200 1 \"-\" \"x\" 0.1 -\n").unwrap();
    f.write_all(b"\n").unwrap();
    f.write_all(&vec![b'x'; 3 << 20]).unwrap();
    f.write_all(b"\n").unwrap();
    drop(f);
    broker.produce("nginx", &bad, &["--host", "web-1", "-X", "message.max.bytes=20000000"]);
    let good = dir.path().join("good.log");
    std::fs::write(&good, nginx_log(2_000, start, 7)).unwrap();
    broker.produce("nginx", &good, &["--host", "web-1", "--lines-per-message", "10"]);
    // Qalarm: garbage bytes, then good events.
    let garbage = dir.path().join("garbage.bin");
    std::fs::write(&garbage, b"\xc1\xc1\xc1 not msgpack at all\n").unwrap();
    broker.produce("qalarm", &garbage, &[]);
    let json = dir.path().join("q.jsonl");
    std::fs::write(&json, qalarm_json(200, start)).unwrap();
    broker.produce("qalarm", &json, &["--format", "qalarm"]);

    let mut expected = BTreeMap::new();
    replay(&rules, "nginx", &good, "web-1", &mut expected);
    let packed = dir.path().join("q.msgpack");
    msgpack_by_python(&json, &packed);
    replay(&rules, "qalarm", &packed, "unused", &mut expected);

    let data = dir.path().join("data");
    let config = dir.path().join("w.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = '{}'\nrules = ['{}']\ncheckpoint_interval = '500ms'\nflush_interval = '100ms'\n[http]\nlisten = '127.0.0.1:0'\n\
             [[source]]\nkind = 'kafka'\nbrokers = '{b}'\ntopics = ['nginx']\ngroup = 'g'\nstream = 'nginx'\n\
             [[source]]\nkind = 'kafka'\nbrokers = '{b}'\ntopics = ['qalarm']\ngroup = 'gq'\nstream = 'qalarm'\n",
            data.display(),
            rules.display(),
            b = broker.address()
        ),
    )
    .unwrap();
    let worker = Worker::start(&config, &[]);
    assert_converges(&worker, &expected, Duration::from_secs(90));
    let deadline = Instant::now() + Duration::from_secs(30);
    let reasons = loop {
        let text = worker.sql_csv("SELECT stream, reason, count(*) AS n FROM ingest_errors GROUP BY stream, reason ORDER BY stream, reason").unwrap();
        if text.lines().count() >= 5 || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(
        reasons.trim(),
        "stream,reason,n\nnginx,decode,2\nnginx,too_long,1\nqalarm,decode,1",
        "invalid UTF-8 and the empty message are decode errors, 10 MB is too long, garbage is undecodable"
    );
    let sources = worker.sql_csv("SELECT source FROM ingest_errors WHERE stream = 'nginx' ORDER BY source").unwrap();
    assert!(sources.contains("nginx/0/0"), "source names topic/partition/offset: {sources}");
    assert!(worker.terminate().success());
}
