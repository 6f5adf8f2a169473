//! Hot reload during a steady stream: a rule-file change, SIGHUP and `POST /api/reload`
//! each put the rules in force; totals of the unchanged rule equal a replay without any
//! reload (no line lost or counted twice); a broken file keeps the old rules and says why.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::kafka::{Worker, logpulse};
use common::{APP_STREAM as STREAM, T0, wait_for};

fn rule(name: &str, pattern: &str) -> String {
    format!(
        "[[rule]]\nname = \"{name}\"\nstream = \"app\"\nmatch = \"{pattern}\"\ngroup_by = [\"host\"]\nwindow = \"1m\"\n"
    )
}

/// Minutes `from..to`: every 2 s an error, a warn and an info line, hosts alternating.
fn lines(from: i64, to: i64) -> String {
    let mut out = String::new();
    for s in (from * 60..to * 60).step_by(2) {
        for (i, level) in ["error", "warn", "info"].iter().enumerate() {
            out.push_str(&format!("{} web-{} {level} x\n", T0 + s, (s / 2 + i as i64) % 3));
        }
    }
    out
}

fn generation(worker: &Worker) -> i64 {
    let (_, body) = worker.get("/api/rules");
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["generation"].as_i64().unwrap_or(0)
}

fn replay_rows(rules: &Path, log: &Path, rule: &str) -> Vec<String> {
    let out = Command::new(logpulse()).args(["replay", "-r"]).arg(rules).args(["-s", "app"]).arg(log).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut rows: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| l.starts_with(&format!("{rule},")))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{} {} {}", f[2], f[3], f[5])
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn reloads_during_a_steady_stream_neither_lose_nor_double_count_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    let v1 = format!("{STREAM}\n{}\n{}\n{}", rule("errors", "error"), rule("warns", "warn"), rule("infos", "info"));
    let v2 = format!("{STREAM}\n{}\n{}\n{}", rule("errors", "error"), rule("warns", "warn x"), rule("added", "info"));
    std::fs::write(&rules, &v1).unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, lines(0, 2)).unwrap();
    let config = dir.path().join("worker.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = '{}'\nrules = ['{}']\nflush_interval = '100ms'\n[http]\nlisten = '127.0.0.1:0'\n\
             [[source]]\nkind = 'file'\npath = '{}'\nfollow = true\nhost = 'unused'\nstream = 'app'\n",
            dir.path().join("data").display(),
            rules.display(),
            log.display()
        ),
    )
    .unwrap();
    let worker = Worker::start(&config, &[]);
    assert_eq!(generation(&worker), 0);

    // A steady stream: minutes 2..12 appended in 40 slices over about 4 s, while the
    // rules are reloaded three ways.
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for quarter in 8..48 {
                let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
                let (from, to) = (quarter * 15, (quarter + 1) * 15);
                let text: String = lines(0, 12)
                    .lines()
                    .filter(|l| {
                        let t: i64 = l.split(' ').next().unwrap().parse().unwrap();
                        (from..to).contains(&(t - T0))
                    })
                    .map(|l| format!("{l}\n"))
                    .collect();
                file.write_all(text.as_bytes()).unwrap();
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    // 1. The file changes (a new rule set): the watcher reloads it.
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&rules, &v2).unwrap();
    wait_for("the file-change reload", Duration::from_secs(10), || generation(&worker) == 1);
    // 2. SIGHUP.
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(worker.pid() as i32, libc::SIGHUP) };
    wait_for("the SIGHUP reload", Duration::from_secs(10), || generation(&worker) == 2);
    // 3. POST /api/reload answers with the rules now in force.
    let (status, body) = worker.post("/api/reload", "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"added\"") && !body.contains("\"infos\""), "{body}");
    assert_eq!(generation(&worker), 3);

    // A broken file: 400 with path:line:col, the old rules stay, /api/rules and /metrics say so.
    std::fs::write(&rules, format!("{v2}\n[[rule]]\nname = \"bad\"\nstream = \"nowhere\"\nmatch = \"x\"\n")).unwrap();
    let (status, body) = worker.post("/api/reload", "");
    assert_eq!(status, 400, "{body}");
    let position = format!("{}:", rules.display());
    assert!(body.contains(&position) && body.contains("nowhere"), "{body}");
    let (_, shown) = worker.get("/api/rules");
    assert!(shown.contains("reload_error") && shown.contains("\"generation\":3"), "{shown}");
    let (_, metrics) = worker.get("/metrics");
    assert!(metrics.contains("logpulse_rule_reloads_total{outcome=\"error\"}"), "{metrics}");
    std::fs::write(&rules, &v2).unwrap();
    wait_for("the fixed file's reload", Duration::from_secs(10), || generation(&worker) >= 4);
    let (_, shown) = worker.get("/api/rules");
    assert!(!shown.contains("reload_error"), "a good reload clears the error: {shown}");

    writer.join().unwrap();
    // A late line of no rule closes every window.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(format!("{} beat ok\n", T0 + 900).as_bytes())
        .unwrap();

    // `errors` never changed: every window equals a replay of v1 without reloads.
    let v1_file = dir.path().join("v1.toml");
    std::fs::write(&v1_file, &v1).unwrap();
    let want = replay_rows(&v1_file, &log, "errors");
    assert_eq!(want.len(), 12 * 3, "12 minutes, 3 hosts");
    let sql =
        "SELECT to_char(window_end, '%Y-%m-%dT%H:%M:%SZ') AS e, host, count FROM machine_view WHERE rule = 'errors'";
    let got = || -> Vec<String> {
        let mut rows: Vec<String> =
            worker.sql_csv(sql).unwrap_or_default().lines().skip(1).map(|l| l.replace(',', " ")).collect();
        rows.sort();
        rows
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while got().len() < want.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(got(), want, "worker log:\n{}", worker.log());

    // `infos` was removed mid-stream: its windows stop, the last one partial; `added`
    // starts at a window boundary after the first reload.
    let count = |sql: &str| worker.sql_csv(sql).unwrap().lines().nth(1).unwrap().parse::<i64>().unwrap();
    let infos = count("SELECT count(*) FROM machine_view WHERE rule = 'infos'");
    let added = count("SELECT count(*) FROM machine_view WHERE rule = 'added'");
    assert!(infos > 0 && infos < 12 * 3, "{infos}");
    assert!(added > 0 && added < 12 * 3, "{added}");
    let overlap = count(
        "SELECT count(*) FROM machine_view a JOIN machine_view b ON a.window_end = b.window_end \
         WHERE a.rule = 'infos' AND b.rule = 'added'",
    );
    assert_eq!(overlap, 0, "the removed rule's windows end where the new one's begin: no info line counted twice");
    assert!(worker.terminate().success());
}
