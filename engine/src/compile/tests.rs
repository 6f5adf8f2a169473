//! Every refusal the rule-file contract lists, with its line and column.

use super::*;
use crate::window::WindowSpec;

const STREAMS: &str = r#"
[[stream]]
name = "sshd"
format = "raw"
time = { regex = '^(\w{3} +\d+ \d\d:\d\d:\d\d)', format = "%b %d %H:%M:%S", year = 2026, tz = "+00:00" }
host = { regex = '^\w{3} +\d+ \d\d:\d\d:\d\d (\S+)' }
lateness = "30s"

[[stream]]
name = "nginx"
format = "nginx"
log_format = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time'

[[stream]]
name = "qalarm"
format = "qalarm"

[[stream]]
name = "app"
"#;

fn compile_text(text: &str) -> Result<RuleSet, RuleErrors> {
    compile(&[SourceFile::new("rules.toml", text)])
}

/// The first error of `text` appended to the standard streams, as `line:col: message`,
/// with lines counted within the appended part.
fn first_error(extra: &str) -> (usize, usize, String) {
    let offset_lines = STREAMS.lines().count();
    let text = format!("{STREAMS}{extra}");
    let errors = compile_text(&text).expect_err("must be refused").0;
    let e = &errors[0];
    assert_eq!(e.path, "rules.toml");
    (e.line.saturating_sub(offset_lines), e.col, e.message.clone())
}

#[test]
fn the_design_examples_compile() {
    let text = format!(
        "{STREAMS}{}",
        r#"
[[rule]]
name = "ssh_invalid_user"
stream = "sshd"
match = "Invalid user"
window = "1m"

[[rule]]
name = "ssh_failed_password"
stream = "sshd"
regex = 'Failed password for (invalid user )?(?P<user>\S+) from (?P<ip>\S+)'
group_by = ["host", "user"]
window = "5m"
slide = "1m"

[[rule]]
name = "error_words"
stream = "app"
regex = '(?i)\b(error|fatal|panic)\b'
count_repeats = true

[[rule]]
name = "app_lines"
stream = "app"

[[rule]]
name = "app_cost"
stream = "app"
value = { after = "cost=", before = "ms" }
filter = "value > 500"

[[rule]]
name = "nginx_5xx"
stream = "nginx"
filter = "status >= 500 and status <= 599"

[[rule]]
name = "nginx_request_time"
stream = "nginx"
value = "request_time"
group_by = ["host", "request"]

[[rule]]
name = "nginx"
stream = "nginx"
builtin = "nginx"

[[rule]]
name = "qalarm"
stream = "qalarm"
window = "1m"

[[alert]]
name = "nginx_5xx_burst"
rule = "nginx_5xx"
when = "count > 100"
for = 3
view = "machine"
severity = "critical"
repeat_interval = "10m"
max_notifications = 3
notify = ["ops"]

[[alert]]
name = "nginx_silent"
rule = "nginx.requests"
when = "absent"
for = 5

[[alert]]
name = "cluster_error_ratio"
sql = "SELECT window_end, sum(count) AS value FROM sum_view WHERE rule = 'nginx_5xx' GROUP BY window_end HAVING sum(count) > 1000"
every = "1m"
"#
    );
    let set = compile_text(&text).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = set.rules.iter().map(|r| r.name.as_str()).collect();
    for n in [
        "ssh_invalid_user",
        "nginx.requests",
        "nginx.request_time",
        "nginx.status_499",
        "nginx.status_5xx",
        "nginx.upstream_time",
        "qalarm",
    ] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
    assert_eq!(set.alerts.len(), 3);
    let failed = set.rules.iter().find(|r| r.name == "ssh_failed_password").unwrap();
    assert!(failed.host_in_key);
    assert_eq!(failed.window, WindowSpec { width_ms: 300_000, slide_ms: 60_000 });
    let qalarm = set.rules.iter().find(|r| r.name == "qalarm").unwrap();
    assert!(!qalarm.host_in_key);
    assert_eq!(qalarm.key_parts.iter().map(|k| k.0.as_str()).collect::<Vec<_>>(), ["project", "module", "code", "env"]);
}

#[test]
fn toml_syntax_error() {
    let (line, col, msg) = first_error("\n[[rule]\nname = 'x'\n");
    assert_eq!((line, col), (2, 8), "{msg}");
}

#[test]
fn unknown_key() {
    let (line, col, msg) = first_error("\n[[rule]]\nname = 'x'\nstream = 'app'\nwindw = '1m'\n");
    assert_eq!((line, col), (5, 1));
    assert!(msg.contains("unknown field `windw`"), "{msg}");
}

#[test]
fn bad_regex_names_the_rule_and_points_inside() {
    let (line, col, msg) = first_error("\n[[rule]]\nname = 'broken'\nstream = 'app'\nregex = 'ab(c'\n");
    assert_eq!(line, 5);
    assert_eq!(col, 12, "points at the unclosed '(': {msg}");
    assert!(msg.contains("rule 'broken'") && msg.contains("bad regex"), "{msg}");
}

#[test]
fn oversized_regex_is_refused() {
    let started = std::time::Instant::now();
    let (line, _, msg) = first_error("\n[[rule]]\nname = 'huge'\nstream = 'app'\nregex = '(\\w{1000}){1000}'\n");
    assert_eq!(line, 5);
    assert!(msg.contains("rule 'huge'") && msg.contains("limit of 10 MiB"), "{msg}");
    assert!(started.elapsed().as_secs() < 10);
}

#[test]
fn unknown_stream() {
    let (line, col, msg) = first_error("\n[[rule]]\nname = 'x'\nstream = 'nope'\n");
    assert_eq!((line, col), (4, 10));
    assert!(msg.contains("unknown stream 'nope'"), "{msg}");
}

#[test]
fn unknown_rule_in_alert() {
    let (line, col, msg) = first_error("\n[[alert]]\nname = 'a'\nrule = 'missing'\nwhen = 'count > 1'\n");
    assert_eq!((line, col), (4, 8));
    assert!(msg.contains("unknown rule 'missing'"), "{msg}");
}

#[test]
fn duplicate_names() {
    let (line, col, msg) =
        first_error("\n[[rule]]\nname = 'x'\nstream = 'app'\n\n[[rule]]\nname = 'x'\nstream = 'app'\n");
    assert_eq!((line, col), (7, 8));
    assert!(msg.contains("duplicate rule name 'x'"), "{msg}");
    let (line, _, msg) = first_error("\n[[stream]]\nname = 'app'\n");
    assert_eq!(line, 3);
    assert!(msg.contains("duplicate stream name"), "{msg}");
    let (line, _, msg) = first_error(
        "\n[[rule]]\nname = 'r'\nstream = 'app'\n[[alert]]\nname = 'a'\nrule = 'r'\nwhen = 'count > 1'\n[[alert]]\nname = 'a'\nrule = 'r'\nwhen = 'count > 1'\n",
    );
    assert_eq!(line, 10);
    assert!(msg.contains("duplicate alert name"), "{msg}");
}

#[test]
fn builtin_names_collide_too() {
    let (line, _, msg) = first_error(
        "\n[[rule]]\nname = 'nginx'\nstream = 'nginx'\nbuiltin = 'nginx'\n[[rule]]\nname = 'nginx.requests'\nstream = 'nginx'\n",
    );
    // 'nginx.requests' is not a valid user name anyway: refused at its name.
    assert_eq!(line, 7, "{msg}");
}

#[test]
fn bad_and_zero_durations() {
    let (line, col, msg) = first_error("\n[[rule]]\nname = 'x'\nstream = 'app'\nwindow = '0s'\n");
    assert_eq!((line, col), (5, 10));
    assert!(msg.contains("greater than zero"), "{msg}");
    let (line, _, msg) = first_error("\n[[rule]]\nname = 'x'\nstream = 'app'\nwindow = 'soon'\n");
    assert_eq!(line, 5);
    assert!(msg.contains("bad duration 'soon'"), "{msg}");
    let (line, _, msg) = first_error("\n[[stream]]\nname = 'other'\nlateness = '-5s'\n");
    assert_eq!(line, 4);
    assert!(msg.contains("bad duration"), "{msg}");
}

#[test]
fn slide_greater_than_window() {
    let (line, col, msg) = first_error("\n[[rule]]\nname = 'x'\nstream = 'app'\nwindow = '1m'\nslide = '5m'\n");
    assert_eq!((line, col), (6, 9));
    assert!(msg.contains("slide (5m) is greater than window (1m)"), "{msg}");
}

#[test]
fn filter_syntax_error_points_inside_the_expression() {
    let (line, col, msg) = first_error("\n[[rule]]\nname = 'x'\nstream = 'nginx'\nfilter = 'status >= '\n");
    assert_eq!(line, 5);
    assert!(col > 10, "inside the string: {col} {msg}");
    assert!(msg.contains("rule 'x': filter"), "{msg}");
}

#[test]
fn filter_unknown_field() {
    let (line, col, msg) = first_error("\n[[rule]]\nname = 'x'\nstream = 'nginx'\nfilter = 'stauts == 500'\n");
    assert_eq!((line, col), (5, 11));
    assert!(msg.contains("stauts"), "{msg}");
}

#[test]
fn when_syntax_error() {
    let (line, _, msg) =
        first_error("\n[[rule]]\nname = 'r'\nstream = 'app'\n[[alert]]\nname = 'a'\nrule = 'r'\nwhen = 'count >> 3'\n");
    assert_eq!(line, 8);
    assert!(msg.contains("alert 'a': when"), "{msg}");
    let (line, _, msg) =
        first_error("\n[[rule]]\nname = 'r'\nstream = 'app'\n[[alert]]\nname = 'a'\nrule = 'r'\nwhen = 'avg > 3'\n");
    assert_eq!(line, 8);
    assert!(msg.contains("has no value"), "{msg}");
}

#[test]
fn group_by_unknown_capture_or_field() {
    let (line, col, msg) = first_error(
        "\n[[rule]]\nname = 'x'\nstream = 'sshd'\nregex = 'user (?P<user>\\S+)'\ngroup_by = ['host', 'usr']\n",
    );
    assert_eq!((line, col), (6, 21));
    assert!(msg.contains("group_by 'usr'") && msg.contains("user"), "{msg}");
    let (line, _, msg) = first_error("\n[[rule]]\nname = 'x'\nstream = 'nginx'\ngroup_by = ['server_name']\n");
    assert_eq!(line, 5);
    assert!(msg.contains("server_name"), "{msg}");
}

#[test]
fn all_errors_are_reported_not_just_the_first() {
    let text = format!(
        "{STREAMS}\n[[rule]]\nname = 'a'\nstream = 'nope'\n[[rule]]\nname = 'b'\nstream = 'app'\nregex = '('\n"
    );
    let errors = compile_text(&text).unwrap_err();
    assert_eq!(errors.0.len(), 2, "{errors}");
    assert!(errors.to_string().lines().all(|l| l.starts_with("rules.toml:")));
}

#[test]
fn streams_in_one_file_rules_in_another() {
    let a = SourceFile::new("streams.toml", STREAMS);
    let b = SourceFile::new("rules.toml", "[[rule]]\nname = 'x'\nstream = 'app'\nmatch = 'y'\n");
    let set = compile(&[a, b]).unwrap();
    assert_eq!(set.rules.len(), 1);
    let c = SourceFile::new("more.toml", "[[rule]]\nname = 'x'\nstream = 'app'\n");
    let errors = compile(&[
        SourceFile::new("streams.toml", STREAMS),
        SourceFile::new("rules.toml", "[[rule]]\nname = 'x'\nstream = 'app'\n"),
        c,
    ])
    .unwrap_err();
    assert_eq!(errors.0[0].path, "more.toml");
}
