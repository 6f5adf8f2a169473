//! `logpulse run` with a file source (the embedded default): following a file through
//! rotation and a restart gives the tables `logpulse replay` gives for the same lines.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::kafka::{Worker, logpulse};

const RULES: &str = r#"
[[stream]]
name = "app"
format = "raw"
time = { regex = '^(\d+) ', format = "%s" }
lateness = "1s"

[[rule]]
name = "lines"
stream = "app"
window = "10s"

[[rule]]
name = "errors"
stream = "app"
match = "error"
window = "10s"

[[rule]]
name = "cost"
stream = "app"
value = { after = "cost=", before = "ms" }
window = "10s"
"#;

fn lines(from: usize, to: usize) -> String {
    (from..to)
        .map(|i| format!("{} {} cost={}ms\n", 1_795_600_000 + i / 50, if i % 7 == 0 { "error" } else { "ok" }, i % 300))
        .collect()
}

fn append(path: &Path, text: &str) {
    std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
}

fn totals(csv: &str) -> Vec<String> {
    // rule, window_start, host, count, sum: what must match.
    let mut rows: Vec<String> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let sum = f[6].parse::<f64>().map_or(String::new(), |v| v.to_string());
            format!("{},{},{},{},{sum}", f[0], f[1].trim_end_matches(".000Z").trim_end_matches('Z'), f[3], f[5])
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn a_followed_file_through_rotation_and_restart_equals_replay() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    let log = dir.path().join("app.log");
    let config = dir.path().join("w.toml");
    std::fs::write(
        &config,
        "data_dir = 'data'\nrules = ['rules.toml']\ncheckpoint_interval = '200ms'\nflush_interval = '100ms'\n\
         [http]\nlisten = '127.0.0.1:0'\n[[source]]\nkind = 'file'\npath = 'app.log'\nhost = 'web-1'\nstream = 'app'\npoll_interval = '50ms'\n",
    )
    .unwrap();

    append(&log, &lines(0, 3_000));
    let worker = Worker::start(&config, &[]);
    std::thread::sleep(Duration::from_millis(800));
    append(&log, &lines(3_000, 4_000));
    // Rotation by rename: the rest of the old file is read before the new one.
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(&dir.path().join("app.log.1"), &lines(4_000, 4_500));
    append(&log, &lines(4_500, 6_000));
    std::thread::sleep(Duration::from_millis(1_000));
    assert!(worker.terminate().success());

    // A restart resumes in the same file at the checkpoint's offset.
    append(&log, &lines(6_000, 9_000));
    let worker = Worker::start(&config, &[]);

    let all = dir.path().join("all.log");
    std::fs::write(&all, lines(0, 9_000)).unwrap();
    let out = Command::new(logpulse())
        .args(["replay", "-r"])
        .arg(&rules)
        .args(["-s", "app", "--host", "web-1"])
        .arg(&all)
        .output()
        .unwrap();
    assert!(out.status.success());
    let expected = totals(&String::from_utf8(out.stdout).unwrap());

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut actual = Vec::new();
    while Instant::now() < deadline {
        if let Ok(csv) =
            worker.sql_csv("SELECT rule, window_start, window_end, host, key, count, sum, min, max FROM machine_view")
        {
            actual = totals(&csv);
            if actual == expected {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(actual, expected, "worker log:\n{}", worker.log());
    assert!(worker.log().contains("resume=Some"), "the restart resumed from its checkpoint: {}", worker.log());
    assert!(worker.terminate().success());
}
