//! A real nginx loaded by wrk, for the end-to-end tests: an nginx front proxying to a
//! backend that answers 200/404/500/503, to an upstream group where nothing listens,
//! and retrying a backend error through error_page, so that its access log has every
//! shape the nginx pack must read (upstream lists `a, b`, chains `a : b`, `-`).
//!
//! Needs /usr/sbin/nginx (or nginx on PATH) and wrk: scripts/install-test-deps.sh.
//! Their absence fails the test rather than skipping it, so that CI cannot go green
//! without having run it.

#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use regex::Regex;

pub const LOG_FORMAT: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time"#;
/// wrk's connections: each may leave one request that nginx logged and wrk did not count.
pub const CONNECTIONS: u64 = 4;
/// A zone with a +05:45 offset, given as a POSIX TZ string so that it needs no tzdata:
/// `$time_local` then carries an offset that is neither UTC nor whole hours, whatever the
/// machine's own zone.
pub const NGINX_TZ: &str = "NPT-05:45";

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

pub fn find_tool(name: &str, also: &[&str]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .chain(also.iter().map(PathBuf::from))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not installed: run scripts/install-test-deps.sh (this test does not skip)")
        })
}

/// Distinct free ports: all listeners are held until every port is picked, so the
/// kernel cannot hand out one twice.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> =
        (0..N).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")).collect();
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

pub fn count_lines(path: &Path) -> u64 {
    let mut bytes = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        f.read_to_end(&mut bytes).unwrap();
    }
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

pub fn capture(re: &str, text: &str) -> Option<u64> {
    Regex::new(re).unwrap().captures(text).map(|c| c[1].parse().unwrap())
}

/// What one load of nginx by wrk left behind.
pub struct WrkRun {
    /// nginx's access log, in `LOG_FORMAT`; nginx has exited, so it is complete.
    pub access_log: PathBuf,
    /// Requests wrk counted as answered.
    pub requests: u64,
    /// Responses wrk counted with a status over 399.
    pub non_2xx_3xx: u64,
    /// wrk's report, for messages.
    pub wrk_text: String,
}

/// Starts nginx in `dir`, loads it with wrk for `seconds`, stops it gracefully
/// (so that it logs the requests in flight) and returns the access log.
pub fn load_with_wrk(dir: &Path, seconds: u32) -> WrkRun {
    use std::os::unix::fs::PermissionsExt;
    let nginx_bin = find_tool("nginx", &["/usr/sbin/nginx"]);
    let wrk = find_tool("wrk", &[]);
    std::fs::create_dir_all(dir).unwrap();
    // nginx's worker runs as nobody when the tests run as root: it must get into `dir`
    // (a tempdir is 0700). Its parents must be traversable already: pass a tempdir.
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

    let out = Command::new(&wrk)
        .args(["-t1", &format!("-c{CONNECTIONS}"), &format!("-d{seconds}s"), "-s"])
        .arg(&script)
        .arg(format!("http://127.0.0.1:{front}/"))
        .output()
        .unwrap_or_else(|e| panic!("running wrk: {e}"));
    let wrk_text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "wrk failed: {wrk_text}{}", String::from_utf8_lossy(&out.stderr));
    let requests = capture(r"(\d+) requests in", &wrk_text)
        .unwrap_or_else(|| panic!("no request count in wrk's output:\n{wrk_text}"));
    // wrk prints this line only when there are such responses.
    let non_2xx_3xx = capture(r"Non-2xx or 3xx responses: (\d+)", &wrk_text).unwrap_or(0);
    assert!(requests > 0, "wrk made no request:\n{wrk_text}");

    let until = Instant::now() + Duration::from_secs(5);
    while count_lines(&access_log) < requests && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    nginx.quit();
    WrkRun { access_log, requests, non_2xx_3xx, wrk_text }
}
