//! End to end with a real nginx: wrk loads an nginx front (proxying to a backend that
//! answers 200/404/500/503, to an upstream group where nothing listens, and retrying a
//! backend error through error_page), then `logpulse replay` runs the builtin nginx pack
//! and a per-status rule over the access log, and the test checks every aggregate
//! against its own parse of the same log.
//!
//! Needs /usr/sbin/nginx (or nginx on PATH) and wrk: scripts/install-test-deps.sh.
//! Their absence fails the test rather than skipping it, so that CI cannot go green
//! without having run it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::DateTime;
use regex::Regex;

mod common;

const LOG_FORMAT: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time"#;
const HOST: &str = "testhost";
const CONNECTIONS: u64 = 4;
const WINDOW_MS: i64 = 60_000;
/// A zone with a +05:45 offset, given as a POSIX TZ string so that it needs no tzdata:
/// `$time_local` then carries an offset that is neither UTC nor whole hours, whatever the
/// machine's own zone.
const NGINX_TZ: &str = "NPT-05:45";

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

/// wrk cycles through these (method, path, headers, body). The mix covers: backend
/// 200/404/500/503, 502 from two dead upstreams (`$upstream_response_time` = `a, b`),
/// a 500 retried via error_page (`a : b`), paths the front serves itself (`-`), a
/// `$remote_user`, a query string, a POST body, HEAD, and header values nginx has to
/// escape (`"` and non-ASCII become `\x22`, `\xC3`).
const WRK_SCRIPT: &str = r#"
local ua = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
local reqs = {
    { "GET", "/api/ok", { ["User-Agent"] = ua, ["Referer"] = "http://shop.example/a b" } },
    { "GET", "/api/missing?q=1&r=%22x%22", { ["User-Agent"] = ua } },
    { "GET", "/api/err", { ["User-Agent"] = "probe \"quoted\" agent" } },
    { "GET", "/api/unavail", { ["User-Agent"] = "naïve/1.0" } },
    { "GET", "/dead/report", { ["User-Agent"] = ua } },
    { "GET", "/retry", { ["User-Agent"] = ua } },
    { "POST", "/api/ok", { ["User-Agent"] = "curl/7.88.1", ["Content-Type"] = "application/json" }, '{"n":1}' },
    { "GET", "/api/ok", { ["User-Agent"] = "curl/7.88.1", ["Authorization"] = "Basic YWxpY2U6c2VjcmV0" } },
    { "GET", "/static.txt", { ["User-Agent"] = ua } },
    { "GET", "/no-such-file.txt", { ["User-Agent"] = ua } },
    { "GET", "/old", { ["User-Agent"] = ua } },
    { "HEAD", "/healthz", { ["User-Agent"] = "kube-probe/1.29" } },
}
local i = 0
request = function()
    i = i + 1
    local r = reqs[(i - 1) % #reqs + 1]
    return wrk.format(r[1], r[2], r[3], r[4])
end
"#;

/// nginx as a child process; on drop (also when the test panics) it is stopped, and its
/// worker killed too should the master not get to it.
struct Nginx {
    child: Child,
}

impl Nginx {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill").args([sig, &self.pid().to_string()]).stderr(Stdio::null()).status();
    }

    /// The direct children of the master: its workers.
    fn workers(&self) -> Vec<u32> {
        let pid = self.pid();
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    fn wait_exit(&mut self, deadline: Duration) -> bool {
        let until = Instant::now() + deadline;
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Graceful stop: SIGQUIT makes nginx finish (and log) the requests in flight.
    fn quit(&mut self) {
        self.signal("-QUIT");
        assert!(self.wait_exit(Duration::from_secs(5)), "nginx did not exit within 5 s of SIGQUIT");
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let workers = self.workers();
        self.signal("-TERM");
        if !self.wait_exit(Duration::from_secs(2)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // A SIGKILLed master leaves its worker running; these pids were its children
        // (the name check guards against the pid having been reused since).
        for w in workers {
            if std::fs::read_to_string(format!("/proc/{w}/comm")).is_ok_and(|c| c.trim() == "nginx") {
                let _ = Command::new("kill").args(["-KILL", &w.to_string()]).stderr(Stdio::null()).status();
            }
        }
    }
}

fn find_tool(name: &str, also: &[&str]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .chain(also.iter().map(PathBuf::from))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed: run scripts/install-test-deps.sh (this test does not skip)"))
}

/// Distinct free ports: all listeners are held until every port is picked, so the
/// kernel cannot hand out one twice.
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")).collect();
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

fn nginx_conf(dir: &Path, [front, back, dead1, dead2]: [u16; 4]) -> String {
    let d = dir.display();
    format!(
        r#"
worker_processes 1;
# Not `error`: each request to the dead upstream would log two failed connects.
error_log {d}/error.log crit;
pid {d}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    default_type text/plain;
    log_format pulse '{LOG_FORMAT}';
    access_log off;
    client_body_temp_path {d}/tmp/client;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;

    # Keepalive to the backend: one new connection per request would run through the
    # ephemeral ports (TIME_WAIT) at wrk's rates.
    upstream backend {{ server 127.0.0.1:{back}; keepalive 8; }}
    # Nothing listens on either; max_fails=0 keeps nginx trying both every time, so that
    # every 502 has a two-entry upstream time list.
    upstream dead {{ server 127.0.0.1:{dead1} max_fails=0; server 127.0.0.1:{dead2} max_fails=0; }}

    server {{
        listen 127.0.0.1:{back};
        location = /ok {{ return 200 "ok\n"; }}
        location = /missing {{ return 404 "missing\n"; }}
        location = /err {{ return 500 "err\n"; }}
        location = /unavail {{ return 503 "unavailable\n"; }}
        location / {{ return 200 "fallback\n"; }}
    }}

    server {{
        listen 127.0.0.1:{front};
        access_log {d}/access.log pulse;
        root {d}/www;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location /api/ {{ proxy_pass http://backend/; }}
        location /dead/ {{ proxy_pass http://dead; }}
        location = /retry {{
            proxy_pass http://backend/err;
            proxy_intercept_errors on;
            error_page 500 = @fallback;
        }}
        location @fallback {{ proxy_pass http://backend; }}
        location = /old {{ return 301 /static.txt; }}
        location = /healthz {{ return 204; }}
    }}
}}
"#
    )
}

fn wait_for_port(nginx: &mut Nginx, port: u16, error_log: &Path) {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = nginx.child.try_wait() {
            panic!("nginx exited with {status}: {}", std::fs::read_to_string(error_log).unwrap_or_default());
        }
        assert!(Instant::now() < until, "nginx does not listen on {port} after 5 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn count_lines(path: &Path) -> u64 {
    let mut bytes = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        f.read_to_end(&mut bytes).unwrap();
    }
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

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
            DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("replay CSV row {}: {s:?}: {e}", i + 2)).timestamp_millis()
        };
        let (start, end) = (time(&r[1]), time(&r[2]));
        assert!(start % WINDOW_MS == 0 && end - start == WINDOW_MS, "replay CSV row {}: not a 1m window: {r:?}", i + 2);
        let float = |s: &str| (!s.is_empty()).then(|| s.parse::<f64>().unwrap_or_else(|e| panic!("row {}: {s:?}: {e}", i + 2)));
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
    let series: BTreeSet<(&str, &str, &str)> = expected.keys().map(|(r, _, h, k)| (r.as_str(), h.as_str(), k.as_str())).collect();
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

fn capture(re: &str, text: &str) -> Option<u64> {
    Regex::new(re).unwrap().captures(text).map(|c| c[1].parse().unwrap())
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
    use std::os::unix::fs::PermissionsExt;

    let started = Instant::now();
    let nginx_bin = find_tool("nginx", &["/usr/sbin/nginx"]);
    let wrk = find_tool("wrk", &[]);

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // tempdir's 0700 would keep nginx's worker (nobody, when the test runs as root) out of the docroot.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    std::fs::write(dir.join("www/static.txt"), "x".repeat(2048)).unwrap();
    let ports = free_ports::<4>();
    let front = ports[0];
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, nginx_conf(dir, ports)).unwrap();
    let access_log = dir.join("access.log");
    let error_log = dir.join("error.log");
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, RULES.replace("LOG_FORMAT", LOG_FORMAT)).unwrap();
    let script = dir.join("paths.lua");
    std::fs::write(&script, WRK_SCRIPT).unwrap();

    let mut nginx = Nginx {
        child: Command::new(&nginx_bin)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            // Before it reads the config nginx opens its compiled-in error log; keep that here too.
            .arg("-e")
            .arg(&error_log)
            .args(["-g", "daemon off;"])
            .env("TZ", NGINX_TZ)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("nginx.stderr")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", nginx_bin.display())),
    };
    wait_for_port(&mut nginx, front, &error_log);

    let wrk_out = run(Command::new(&wrk)
        .args(["-t1", &format!("-c{CONNECTIONS}"), "-d2s", "-s"])
        .arg(&script)
        .arg(format!("http://127.0.0.1:{front}/")));
    let wrk_text = String::from_utf8_lossy(&wrk_out.stdout).into_owned();
    let requests = capture(r"(\d+) requests in", &wrk_text).unwrap_or_else(|| panic!("no request count in wrk's output:\n{wrk_text}"));
    // wrk prints this line only when there are such responses.
    let wrk_non_2xx_3xx = capture(r"Non-2xx or 3xx responses: (\d+)", &wrk_text).unwrap_or(0);
    assert!(requests > 0, "wrk made no request:\n{wrk_text}");

    let until = Instant::now() + Duration::from_secs(5);
    while count_lines(&access_log) < requests && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    nginx.quit();
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
