//! The `replay` and `check` commands as a user meets them: exit codes,
//! `path:line:col` refusals, bad input that is summarised and never stops a
//! replay nor changes what good lines produce, JSON lines, stdin.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn logpulse(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_logpulse"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

const RULES: &str = r#"
[[stream]]
name = "app"
format = "raw"
time = { regex = '^(\S+)', format = "%Y-%m-%dT%H:%M:%S%z" }
host = "app-1"
max_line_bytes = 200

[[stream]]
name = "events"
format = "json"
time = { field = "ts", format = "rfc3339" }

[[rule]]
name = "errors"
stream = "app"
regex = 'level=error code=(?P<code>\d+)'
group_by = ["code"]

[[rule]]
name = "cost"
stream = "app"
value = { after = "cost=", before = "ms" }

[[rule]]
name = "slow_requests"
stream = "events"
filter = "req.status >= 500 and env == 'prod'"
value = "req.ms"
group_by = ["host", "req.status"]
"#;

fn write_rules(dir: &std::path::Path) -> String {
    let path = dir.join("rules.toml");
    std::fs::write(&path, RULES).unwrap();
    path.display().to_string()
}

fn csv_rows(out: &Output) -> Vec<Vec<String>> {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut reader = csv::Reader::from_reader(&out.stdout[..]);
    reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect()
}

#[test]
fn bad_input_is_counted_aside_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(dir.path());
    let good = "2026-11-26T10:15:01+00:00 level=error code=500 cost=12ms\n\
                2026-11-26T10:15:30+00:00 level=error code=500 cost=30ms\n\
                2026-11-26T10:16:00+00:00 level=error code=404\n";
    let mut dirty = Vec::new();
    dirty.extend_from_slice(b"2026-11-26T10:15:02+00:00 level=error code=500 \xff\xfe invalid utf-8\n");
    dirty.extend_from_slice(good.lines().next().unwrap().as_bytes());
    dirty.push(b'\n');
    dirty.extend_from_slice(format!("2026-11-26T10:15:03+00:00 {}\n", "x".repeat(500)).as_bytes());
    dirty.extend_from_slice(b"yesterday level=error code=500\n");
    for line in good.lines().skip(1) {
        dirty.extend_from_slice(line.as_bytes());
        dirty.push(b'\n');
    }
    let clean_out = logpulse(&["replay", "-r", &rules, "-s", "app", "-"], Some(good.as_bytes()));
    let dirty_out = logpulse(&["replay", "-r", &rules, "-s", "app", "-"], Some(&dirty));
    assert_eq!(csv_rows(&clean_out), csv_rows(&dirty_out), "bad lines must not change good lines' results");
    let stderr = String::from_utf8_lossy(&dirty_out.stderr);
    for reason in ["decode: 1", "too_long: 1", "time: 1"] {
        assert!(stderr.contains(reason), "summary names {reason}: {stderr}");
    }
    assert!(stderr.contains("stdin:4"), "the summary says where: {stderr}");

    let rows = csv_rows(&clean_out);
    let want: Vec<Vec<&str>> = vec![
        vec!["cost", "2026-11-26T10:15:00Z", "2026-11-26T10:16:00Z", "app-1", "", "2", "42", "12", "30"],
        vec!["errors", "2026-11-26T10:15:00Z", "2026-11-26T10:16:00Z", "", "code=500", "2", "", "", ""],
        vec!["errors", "2026-11-26T10:16:00Z", "2026-11-26T10:17:00Z", "", "code=404", "1", "", "", ""],
    ];
    assert_eq!(rows, want);
}

#[test]
fn json_lines_with_dotted_fields() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(dir.path());
    let input = r#"{"ts":"2026-11-26T10:15:01Z","env":"prod","req":{"status":503,"ms":120.5}}
{"ts":"2026-11-26T10:15:02Z","env":"prod","req":{"status":503,"ms":80}}
{"ts":"2026-11-26T10:15:03Z","env":"test","req":{"status":503,"ms":999}}
{"ts":"2026-11-26T10:15:04Z","env":"prod","req":{"status":200,"ms":5}}
not json at all
"#;
    let path = dir.path().join("events.jsonl");
    std::fs::write(&path, input).unwrap();
    let out = logpulse(&["replay", "-r", &rules, "-s", "events", "--host", "h1", path.to_str().unwrap()], None);
    let rows = csv_rows(&out);
    assert_eq!(
        rows,
        vec![vec![
            "slow_requests",
            "2026-11-26T10:15:00Z",
            "2026-11-26T10:16:00Z",
            "h1",
            "req.status=503",
            "2",
            "200.5",
            "80",
            "120.5"
        ]]
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("decode: 1"));
}

#[test]
fn refused_rule_file_exits_2_with_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[[stream]]\nname = \"s\"\n\n[[rule]]\nname = \"r\"\nstream = \"s\"\nregex = 'a(b'\n")
        .unwrap();
    for args in [vec!["check", path.to_str().unwrap()], vec!["replay", "-r", path.to_str().unwrap(), "-s", "s", "-"]] {
        let out = logpulse(&args, Some(b""));
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected = format!("{}:7:11: rule 'r': bad regex", path.display());
        assert!(stderr.starts_with(&expected), "{stderr}");
    }
}

#[test]
fn check_prints_the_compiled_matcher() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(dir.path());
    let out = logpulse(&["check", &rules], None);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("matcher: 2 patterns in one pass"), "{stdout}");
    assert!(stdout.contains("slow_requests on events"), "{stdout}");
    assert!(stdout.trim_end().ends_with("ok"));
}

#[test]
fn unknown_stream_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(dir.path());
    let out = logpulse(&["replay", "-r", &rules, "-s", "nope", "-"], Some(b""));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown stream 'nope' (streams: app, events)"));
}
