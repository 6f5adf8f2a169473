//! Alerts from a running worker to a webhook: the receiver gets exactly the sequence
//! that `logpulse replay --alerts` backtests over the same input, a webhook that fails
//! three times is delivered once, and `/api/alerts` shows what fires.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::kafka::{Worker, logpulse};
use common::{APP_STREAM, T0, wait_for};

const RULES: &str = r#"
[[rule]]
name = "errors"
stream = "app"
match = "error"
group_by = ["host"]
window = "1m"

[[alert]]
name = "burst"
rule = "errors"
when = "count > 5"
severity = "critical"
notify = ["hook"]

[[alert]]
name = "silent"
rule = "errors"
when = "absent"
for = 2
notify = ["hook", "log"]
"#;

/// Per minute from T0: `error` lines of web-1 and web-2, and one `beat` line at the
/// end of each minute (so that each window closes as soon as the next line comes).
fn log_lines(web1: &[u32], web2: &[u32]) -> String {
    let mut out = String::new();
    for i in 0..web1.len() {
        let base = T0 + 60 * i as i64;
        for (host, n) in [("web-1", web1[i]), ("web-2", web2[i])] {
            for j in 0..n {
                out.push_str(&format!("{} {host} error code={j}\n", base + 1 + j as i64));
            }
        }
        out.push_str(&format!("{} beat ok\n", base + 59));
    }
    out
}

/// A webhook receiver on 127.0.0.1:0: answers the first `failures` requests with 500,
/// the rest with 200, and keeps every request body (`accepted` only the 200s).
struct Receiver {
    url: String,
    requests: Arc<Mutex<Vec<serde_json::Value>>>,
    accepted: Arc<Mutex<Vec<serde_json::Value>>>,
    /// When set: an alert checkpoint file that must already hold each request's `id`
    /// (in its outbox) when the request arrives.
    checkpoint: Arc<Mutex<Option<PathBuf>>>,
    /// The ids that arrived before the checkpoint held them.
    unbacked: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    /// With `hang`, no request is ever answered (the connection is held open).
    fn start(failures: usize, hang: bool) -> Receiver {
        Self::start_with(failures, hang, Duration::ZERO)
    }

    /// Each answer comes `delay` after its request (a slow webhook: notifications queue up).
    fn start_with(failures: usize, hang: bool, delay: Duration) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let (all, ok) = (Arc::clone(&requests), Arc::clone(&accepted));
        let checkpoint: Arc<Mutex<Option<PathBuf>>> = Arc::default();
        let unbacked: Arc<Mutex<Vec<String>>> = Arc::default();
        let (watched, early) = (Arc::clone(&checkpoint), Arc::clone(&unbacked));
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                // A sender killed mid-request (the kill -9 tests) leaves a torn request.
                let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) else { continue };
                if let Some(path) = watched.lock().unwrap().as_ref() {
                    // MessagePack keeps strings as their bytes.
                    let id = json["id"].as_str().unwrap_or_default().to_string();
                    let held = std::fs::read(path).unwrap_or_default();
                    if !held.windows(id.len()).any(|w| w == id.as_bytes()) {
                        early.lock().unwrap().push(id);
                    }
                }
                let n = {
                    let mut all = all.lock().unwrap();
                    all.push(json.clone());
                    all.len()
                };
                if hang {
                    held.push(stream);
                    continue;
                }
                std::thread::sleep(delay);
                let status = if n <= failures { "500 Internal Server Error" } else { "200 OK" };
                if n > failures {
                    ok.lock().unwrap().push(json);
                }
                let _ = write!(stream, "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            }
        });
        Receiver { url, requests, accepted, checkpoint, unbacked }
    }

    fn accepted_ids(&self) -> Vec<String> {
        self.accepted.lock().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_string()).collect()
    }

    /// What an idempotent receiver keeps: the first of each `id`, in order; and how
    /// many repeats it dropped.
    fn deduplicated_ids(&self) -> (Vec<String>, usize) {
        let all = self.accepted_ids();
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<String> = all.iter().filter(|id| seen.insert(id.to_string())).cloned().collect();
        let repeats = all.len() - unique.len();
        (unique, repeats)
    }
}

/// What `replay --alerts` backtests: the notification ids for `notifier`, in order.
fn backtest(dir: &Path, rules: &Path, log: &Path) -> Vec<serde_json::Value> {
    let out_file = dir.join("backtest.jsonl");
    let out = Command::new(logpulse())
        .args(["replay", "-r"])
        .arg(rules)
        .args(["-s", "app", "--alerts"])
        .arg(&out_file)
        .arg(log)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(&out_file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn worker_config(dir: &Path, rules: &Path, log: &Path, url: &str, timeout: &str) -> std::path::PathBuf {
    let config = dir.join("worker.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = '{}'\nrules = ['{}']\nflush_interval = '100ms'\n[http]\nlisten = '127.0.0.1:0'\n\
             [[source]]\nkind = 'file'\npath = '{}'\nfollow = true\nhost = 'unused'\nstream = 'app'\n\
             [[notifier]]\nname = 'hook'\nkind = 'webhook'\nurl = '{url}'\ntimeout = '{timeout}'\n",
            dir.join("data").display(),
            rules.display(),
            log.display()
        ),
    )
    .unwrap();
    config
}

fn setup(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<serde_json::Value>) {
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, format!("{APP_STREAM}{RULES}")).unwrap();
    let log = dir.join("app.log");
    // web-1 bursts in minutes 1-2 and 4-5; web-2 goes quiet after minute 1.
    std::fs::write(&log, log_lines(&[1, 7, 8, 2, 7, 7, 0, 0], &[2, 2, 0, 0, 0, 0, 0, 0])).unwrap();
    let expected = backtest(dir, &rules, &log);
    let states: Vec<String> = expected.iter().map(|n| format!("{} {} {}", n["alert"], n["state"], n["host"])).collect();
    assert_eq!(
        states,
        [
            r#""burst" "firing" "web-1""#,
            r#""burst" "resolved" "web-1""#,
            r#""silent" "firing" "web-2""#,
            r#""burst" "firing" "web-1""#,
            r#""burst" "resolved" "web-1""#,
            r#""silent" "firing" "web-1""#,
        ],
        "the backtest itself: {expected:#?}"
    );
    (rules, log, expected)
}

/// A worker following the scripted log, notifying a receiver that fails `failures`
/// times first, after the receiver has accepted as many notifications as replay backtests
/// (and checked that they are those, in order).
struct Delivered {
    receiver: Receiver,
    worker: Worker,
    /// replay's notifications, and their ids.
    expected: Vec<serde_json::Value>,
    want: Vec<String>,
}

fn run_until_delivered(dir: &Path, failures: usize) -> Delivered {
    let (rules, log, expected) = setup(dir);
    let receiver = Receiver::start(failures, false);
    let worker = Worker::start(&worker_config(dir, &rules, &log, &receiver.url, "2s"), &[]);
    let want: Vec<String> = expected.iter().map(|n| n["id"].as_str().unwrap().to_string()).collect();
    wait_for("every notification", Duration::from_secs(60), || receiver.accepted_ids().len() >= want.len());
    // Anything extra (a duplicate) would arrive right after.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.accepted_ids(), want, "each once, in order; worker log:\n{}", worker.log());
    Delivered { receiver, worker, expected, want }
}

#[test]
fn a_running_worker_notifies_the_webhook_exactly_what_replay_backtests() {
    let dir = tempfile::tempdir().unwrap();
    let Delivered { receiver, worker, expected, .. } = run_until_delivered(dir.path(), 0);
    // The whole body too, not only the ids.
    assert_eq!(*receiver.accepted.lock().unwrap(), expected);

    // Both `silent` series are firing still; `burst` resolved.
    let (status, body) = worker.get("/api/alerts?state=firing");
    assert_eq!(status, 200, "{body}");
    let firing: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut series: Vec<String> = firing["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{} {}", a["alert"].as_str().unwrap(), a["host"].as_str().unwrap()))
        .collect();
    series.sort();
    assert_eq!(series, ["silent web-1", "silent web-2"], "{body}");
    assert_eq!(worker.get("/api/alerts?state=nonsense").0, 400);

    // The alerts table has the same notifications.
    let rows = worker.sql_csv("SELECT alert, state, host FROM alerts ORDER BY window_end, alert, host").unwrap();
    assert_eq!(rows.lines().count(), 1 + expected.len(), "{rows}");
    let (_, metrics) = worker.get("/metrics");
    assert!(metrics.contains("logpulse_notifications_total{notifier=\"hook\",outcome=\"sent\"} 6"), "{metrics}");
    assert!(worker.terminate().success());
}

#[test]
fn a_webhook_that_fails_three_times_then_succeeds_gets_each_notification_once() {
    let dir = tempfile::tempdir().unwrap();
    let Delivered { receiver, worker, want, .. } = run_until_delivered(dir.path(), 3);
    let requests = receiver.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), want.len() + 3, "three failed attempts, then one per notification");
    assert!(requests[..4].iter().all(|r| r["id"] == want[0]), "the first notification was retried: {requests:#?}");
    assert!(worker.terminate().success());
}

#[test]
fn a_hung_webhook_does_not_hold_up_ingestion_or_the_alerts_table() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, log, expected) = setup(dir.path());
    let replay =
        Command::new(logpulse()).args(["replay", "-r"]).arg(&rules).args(["-s", "app"]).arg(&log).output().unwrap();
    let replay_rows = String::from_utf8(replay.stdout).unwrap().lines().count() - 1;
    // The webhook takes the first notification and never answers; its attempt may take a minute.
    let receiver = Receiver::start(0, true);
    let worker = Worker::start(&worker_config(dir.path(), &rules, &log, &receiver.url, "60s"), &[]);
    let count = |sql: &str| worker.sql_csv(sql).ok().and_then(|t| t.lines().nth(1)?.parse::<usize>().ok()).unwrap_or(0);
    wait_for("every window in aggregates", Duration::from_secs(20), || {
        count("SELECT count(*) FROM machine_view") == replay_rows
    });
    wait_for("every notification in the alerts table", Duration::from_secs(10), || {
        count("SELECT count(*) FROM alerts") == expected.len()
    });
    assert_eq!(receiver.requests.lock().unwrap().len(), 1, "only the first delivery is under way, and hung");
    assert!(receiver.accepted_ids().is_empty());
    assert!(worker.terminate().success(), "shutdown gives the hung notifier a deadline, then exits");
}

/// A window's alerts go out when the line that closes it is read, not at the next flush
/// tick (30 s here) nor the next checkpoint (60 s): the lane hands closed windows to the
/// alert hub as soon as it has read what closed them.
#[test]
fn a_window_closed_by_a_line_notifies_without_waiting_for_the_flush_tick() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, format!("{APP_STREAM}{RULES}")).unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, log_lines(&[7], &[0])).unwrap();
    let receiver = Receiver::start(0, false);
    let config = worker_config(dir.path(), &rules, &log, &receiver.url, "2s");
    let text = std::fs::read_to_string(&config).unwrap().replace("flush_interval = '100ms'", "flush_interval = '30s'");
    std::fs::write(&config, format!("checkpoint_interval = '60s'\n{text}")).unwrap();
    let worker = Worker::start(&config, &[]);
    // Metrics and live windows are published on the tick too: give the 10 ms file poll
    // ample time to read minute 0 instead.
    std::thread::sleep(Duration::from_secs(2));
    assert!(receiver.requests.lock().unwrap().is_empty(), "minute 0 is still open");
    let started = std::time::Instant::now();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(format!("{} beat ok\n", T0 + 61).as_bytes())
        .unwrap();
    wait_for("the burst notification", Duration::from_secs(10), || !receiver.accepted_ids().is_empty());
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(5), "notified {waited:?} after the closing line (flush tick: 30 s)");
    assert_eq!(receiver.accepted.lock().unwrap()[0]["alert"], "burst");
    assert!(worker.terminate().success());
}

/// Per minute from `minutes.start`, for hosts `h00..h11`: host `j` logs 7 errors in a
/// minute when `(minute + j) % 3 != 0` and 1 otherwise (so `burst` flaps on every host),
/// except that `h10` and `h11` stop after minute 8 (so `silent` fires for them).
fn flapping_lines(minutes: std::ops::Range<i64>) -> String {
    let mut out = String::new();
    for i in minutes {
        let base = T0 + 60 * i;
        let counts: Vec<i64> = (0..12)
            .map(|j| {
                if j >= 10 && i > 8 {
                    0
                } else if (i + j) % 3 != 0 {
                    7
                } else {
                    1
                }
            })
            .collect();
        for k in 0..7 {
            for (j, &n) in counts.iter().enumerate() {
                if k < n {
                    out.push_str(&format!("{} h{j:02} error code={k}\n", base + 1 + k));
                }
            }
        }
        out.push_str(&format!("{} beat ok\n", base + 59));
    }
    out
}

fn ids(notes: &[serde_json::Value]) -> Vec<String> {
    notes.iter().map(|n| n["id"].as_str().unwrap().to_string()).collect()
}

/// kill -9 twice while alerts fire and a slow webhook has notifications queued: after
/// each restart the receiver gets what was owed and what the restarted worker makes
/// again, each notification once, in replay's order, none missing. With checkpoints
/// every 200 ms the owed ones come from the checkpoint's outbox...
#[test]
fn kill_9_while_alerts_fire_neither_repeats_nor_loses_a_notification() {
    kill_9_twice("200ms", "sending what the last alert checkpoint owed");
}

/// ...and with none after the one at start, the restarted worker makes them all again
/// from the windows it reads back, and the delivery ledger drops those delivered.
#[test]
fn kill_9_before_any_alert_checkpoint_rebuilds_from_the_table() {
    kill_9_twice("1h", "windows after it read back rows=108");
}

fn kill_9_twice(checkpoint_interval: &str, first_restart_says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, format!("{APP_STREAM}{RULES}")).unwrap();
    let full = dir.path().join("full.log");
    std::fs::write(&full, flapping_lines(0..20)).unwrap();
    let want = ids(&backtest(dir.path(), &rules, &full));
    assert!(want.len() > 60, "enough to kill in the middle of: {}", want.len());

    let log = dir.path().join("app.log");
    std::fs::write(&log, flapping_lines(0..10)).unwrap();
    // 40 ms an answer: the queue is always some notifications deep.
    let receiver = Receiver::start_with(0, false, Duration::from_millis(40));
    let config = worker_config(dir.path(), &rules, &log, &receiver.url, "5s");
    let mut config_text = std::fs::read_to_string(&config).unwrap();
    config_text = config_text.replace(
        "flush_interval = '100ms'",
        &format!("flush_interval = '100ms'\ncheckpoint_interval = '{checkpoint_interval}'"),
    );
    std::fs::write(&config, config_text).unwrap();

    let worker = Worker::start(&config, &[]);
    wait_for("some notifications", Duration::from_secs(60), || receiver.accepted_ids().len() >= 15);
    worker.kill9();
    let at_first_kill = receiver.accepted_ids().len();

    // More input while it is down; then a restart, and a second kill mid-way.
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    file.write_all(flapping_lines(10..20).as_bytes()).unwrap();
    drop(file);
    let worker = Worker::start(&config, &[]);
    wait_for("more notifications", Duration::from_secs(60), || receiver.accepted_ids().len() >= at_first_kill + 20);
    let first_log = worker.log();
    worker.kill9();
    assert!(first_log.contains(first_restart_says), "{first_log}");
    let at_second_kill = receiver.accepted_ids().len();
    assert!(at_second_kill < want.len(), "the second kill came before the end: {at_second_kill} of {}", want.len());

    let worker = Worker::start(&config, &[]);
    wait_for("every notification", Duration::from_secs(90), || receiver.deduplicated_ids().0.len() >= want.len());
    // A duplicate would come right after.
    std::thread::sleep(Duration::from_millis(1500));
    let (got, repeats) = receiver.deduplicated_ids();
    let context = format!(
        "kills after {at_first_kill} and {at_second_kill}; received {:?}\nfirst restart:\n{first_log}\nlast:\n{}",
        receiver.accepted_ids(),
        worker.log()
    );
    assert_eq!(got, want, "each once, in order, none missing; {context}");
    // A kill between a 2xx and the fsync of its ledger line sends that one again, with
    // the same idempotency key: at most one per kill (one delivery is in flight at a time).
    assert!(repeats <= 2, "{repeats} repeats; {context}");
    let rows = worker.sql_csv("SELECT count(*) FROM alerts WHERE state <> 'undelivered'").unwrap();
    assert_eq!(rows.lines().nth(1).unwrap().parse::<usize>().unwrap(), want.len(), "the alerts table, once each");
    assert!(worker.terminate().success());
}

/// A SQL alert over the latest closed window: web-1 fires while its latest window has
/// more than 5 errors, and resolves when a newer window does not.
#[test]
fn a_sql_alert_fires_on_the_rows_its_query_returns_and_resolves_when_they_go() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    let stream_and_rule = format!("{APP_STREAM}{}", RULES.split("[[alert]]").next().unwrap());
    std::fs::write(
        &rules,
        format!(
            "{stream_and_rule}\n[[alert]]\nname = \"hot_host\"\nsql = \"\"\"\nSELECT host, count AS value, window_start, window_end \
             FROM machine_view WHERE rule = 'errors' AND count > 5 AND window_end = \
             (SELECT max(window_end) FROM machine_view WHERE rule = 'errors')\"\"\"\nevery = \"200ms\"\nseverity = \"critical\"\n\
             notify = [\"hook\"]\n"
        ),
    )
    .unwrap();
    let log = dir.path().join("app.log");
    // Minute 1 closes (a line of minute 2 came) with 7 errors on web-1.
    let mut lines = log_lines(&[1, 7], &[1, 1]);
    lines.push_str(&format!("{} beat ok\n", T0 + 120 + 5));
    std::fs::write(&log, lines).unwrap();
    let receiver = Receiver::start(0, false);
    // A run is not re-made after a crash, so a SQL alert's notification may go out only
    // once a checkpoint holds it (then a kill -9 at any point neither repeats nor loses it).
    *receiver.checkpoint.lock().unwrap() = Some(dir.path().join("data/checkpoints/alerts.ckpt"));
    let worker = Worker::start(&worker_config(dir.path(), &rules, &log, &receiver.url, "2s"), &[]);
    wait_for("the firing notification", Duration::from_secs(30), || !receiver.accepted_ids().is_empty());
    let (_, firing) = worker.get("/api/alerts?state=firing");
    assert!(firing.contains("\"hot_host\"") && firing.contains("web-1"), "{firing}");

    // Minute 2 has 2 errors on web-1 and closes: the latest window no longer qualifies.
    let mut minute_2 = String::new();
    for j in 0..2 {
        minute_2.push_str(&format!("{} web-1 error code={j}\n", T0 + 120 + 10 + j));
    }
    minute_2.push_str(&format!("{} beat ok\n", T0 + 180 + 5));
    std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(minute_2.as_bytes()).unwrap();
    wait_for("the resolved notification", Duration::from_secs(30), || receiver.accepted_ids().len() >= 2);
    std::thread::sleep(Duration::from_millis(600));
    let got: Vec<String> = receiver
        .accepted
        .lock()
        .unwrap()
        .iter()
        .map(|n| format!("{} {} {} {} {}", n["alert"], n["state"], n["host"], n["value"], n["window_end"]))
        .collect();
    assert_eq!(
        got,
        [
            r#""hot_host" "firing" "web-1" 7.0 "2026-11-26T00:02:00Z""#.to_string(),
            format!(r#""hot_host" "resolved" "web-1" null {}"#, receiver.accepted.lock().unwrap()[1]["window_end"]),
        ],
        "{}",
        worker.log()
    );
    let rows = worker.sql_csv("SELECT state FROM alerts WHERE alert = 'hot_host' ORDER BY at").unwrap();
    assert_eq!(rows, "state\nfiring\nresolved\n");
    assert_eq!(*receiver.unbacked.lock().unwrap(), Vec::<String>::new(), "sent before a checkpoint held them");
    assert!(worker.terminate().success());

    // A query that does not run stops the worker at start, naming the alert.
    std::fs::write(
        &rules,
        format!(
            "{stream_and_rule}\n[[alert]]\nname = \"broken\"\nsql = \"SELECT nope FROM machine_view\"\nevery = \"1m\"\n"
        ),
    )
    .unwrap();
    let out = Command::new(logpulse())
        .args(["run", "-c"])
        .arg(worker_config(dir.path(), &rules, &log, &receiver.url, "2s"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("alert 'broken': its sql does not run") && stderr.contains("nope"), "{stderr}");
}

/// Each of the issue's scripted sequences, delivered by a running worker to the
/// receiver: `for = 3` with a break after 2 windows, `repeat_interval`,
/// `max_notifications`, Qalarm's `limit = [2, 1m, 6]` as DESIGN.md writes it, and
/// `absent`. (That a lagging pipeline fires no `absent` is
/// `engine/src/alert/tests.rs::absent_does_not_fire_while_the_pipeline_lags`: the
/// evaluator moves only with the frontier.)
#[test]
fn each_scripted_sequence_reaches_the_webhook_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    let stream_and_rule = format!("{APP_STREAM}{}", RULES.split("[[alert]]").next().unwrap());
    let alerts = [
        ("for3", "when = \"count > 5\"\nfor = 3"),
        ("repeat", "when = \"count > 5\"\nrepeat_interval = \"2m\""),
        ("max", "when = \"count > 5\"\nrepeat_interval = \"1m\"\nmax_notifications = 2"),
        ("qalarm", "when = \"count >= 6\"\nfor = 2"),
        ("quiet", "when = \"absent\"\nfor = 2"),
    ];
    let mut text = stream_and_rule;
    for (name, body) in alerts {
        text.push_str(&format!("\n[[alert]]\nname = \"{name}\"\nrule = \"errors\"\n{body}\nnotify = [\"hook\"]\n"));
    }
    std::fs::write(&rules, text).unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, log_lines(&[6, 6, 0, 6, 6, 6, 6, 6, 0, 0], &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0])).unwrap();
    let expected = backtest(dir.path(), &rules, &log);
    let receiver = Receiver::start(0, false);
    let worker = Worker::start(&worker_config(dir.path(), &rules, &log, &receiver.url, "2s"), &[]);
    // Window i ends at T0 + 60 (i + 1); the last minute never closes (no later line).
    let by_alert = |notes: &[serde_json::Value], alert: &str| -> Vec<String> {
        notes
            .iter()
            .filter(|n| n["alert"] == alert)
            .map(|n| {
                let end = chrono::DateTime::parse_from_rfc3339(n["window_end"].as_str().unwrap()).unwrap().timestamp();
                format!("{}@{} {}", n["state"].as_str().unwrap(), (end - T0) / 60 - 1, n["host"].as_str().unwrap())
            })
            .collect()
    };
    let want = [
        ("for3", vec!["firing@5 web-1", "resolved@8 web-1"]),
        (
            "repeat",
            vec![
                "firing@0 web-1",
                "resolved@2 web-1",
                "firing@3 web-1",
                "firing@5 web-1",
                "firing@7 web-1",
                "resolved@8 web-1",
            ],
        ),
        (
            "max",
            vec![
                "firing@0 web-1",
                "firing@1 web-1",
                "resolved@2 web-1",
                "firing@3 web-1",
                "firing@4 web-1",
                "resolved@8 web-1",
            ],
        ),
        ("qalarm", vec!["firing@1 web-1", "resolved@2 web-1", "firing@4 web-1", "resolved@8 web-1"]),
        ("quiet", vec!["firing@2 web-2", "firing@9 web-1"]),
    ];
    for (alert, sequence) in &want {
        assert_eq!(&by_alert(&expected, alert), sequence, "replay's {alert}");
    }
    // The last minute closes too: replay ends its input, the worker's stream goes idle
    // (its clock then moves with the wall clock). web-1 had no error there.
    assert_eq!(by_alert(&expected, "quiet"), ["firing@2 web-2", "firing@9 web-1"]);
    wait_for("every notification", Duration::from_secs(30), || receiver.accepted_ids().len() >= expected.len());
    std::thread::sleep(Duration::from_millis(500));
    let got = receiver.accepted.lock().unwrap().clone();
    assert_eq!(ids(&got), ids(&expected), "the webhook gets exactly replay's notifications, in order");
    assert_eq!(got, expected, "whole bodies");
    for (alert, sequence) in &want {
        assert_eq!(&by_alert(&got, alert), sequence, "{alert}");
    }
    assert!(worker.terminate().success());
}

/// A restart after a reload that changed a rule does not back-fill the changed rule's
/// history: it starts after the table's last window, as on a first start.
#[test]
fn a_restart_after_a_reload_does_not_back_fill_a_changed_rule() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    let v1 = format!("{APP_STREAM}{RULES}");
    std::fs::write(&rules, &v1).unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, log_lines(&[1, 7, 8, 2, 7, 7, 0, 0], &[2, 2, 0, 0, 0, 0, 0, 0])).unwrap();
    let expected = backtest(dir.path(), &rules, &log);
    let receiver = Receiver::start(0, false);
    let config = worker_config(dir.path(), &rules, &log, &receiver.url, "2s");
    let worker = Worker::start(&config, &[]);
    wait_for("every notification", Duration::from_secs(30), || receiver.accepted_ids().len() >= expected.len());

    // The rule changes (same counts, another definition), then a clean restart.
    std::fs::write(&rules, v1.replace("match = \"error\"", "match = \"error code\"")).unwrap();
    let (status, body) = worker.post("/api/reload", "");
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(worker.terminate().success());
    let worker = Worker::start(&config, &[]);
    std::thread::sleep(Duration::from_secs(2));
    let log_text = worker.log();
    assert!(
        log_text.contains("windows after it read back rows=0"),
        "nothing re-read for the changed rule:\n{log_text}"
    );
    assert_eq!(receiver.accepted_ids(), ids(&expected), "nothing more was sent");
    let (_, firing) = worker.get("/api/alerts");
    assert_eq!(firing, r#"{"alerts":[]}"#, "the changed rule's alerts start afresh");
    assert!(worker.terminate().success());
}
