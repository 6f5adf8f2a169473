//! A deterministic synthetic workload shared by the benches and the peer
//! comparison script: nginx-like lines of ~200 bytes and rule sets of any size.
//!
//! Rules: 10 "hot" rules that match often (a mix of `match` and `regex`,
//! one with a capture group key), the rest "cold" rules on `/svcN/` tokens
//! (half `match`, half `regex`), each matching ~1 line in 20,000, so that
//! more rules mean more patterns, not more matches.

#![allow(dead_code)]

/// Distinct `/svcN/` services in the lines; cold rule i targets service i.
pub const SERVICES: u64 = 20_000;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
    "curl/8.5.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) Gecko/20100101 Firefox/121.0",
    "python-requests/2.31.0 (monitoring probe; team=platform)",
];
const STATUSES: [u32; 8] = [200, 200, 200, 200, 301, 404, 500, 503];
const METHODS: [&str; 4] = ["GET", "GET", "GET", "POST"];

/// `n` lines, one second apart, starting 2026-11-26T00:00:00Z.
pub fn nginx_like_lines(n: usize, seed: u64) -> Vec<String> {
    let mut rng = XorShift(seed | 1);
    let start = 1_795_651_200i64; // 2026-11-26T00:00:00Z
    (0..n)
        .map(|i| {
            let t = start + i as i64 / 50;
            let (h, m, s) = ((t / 3600) % 24, (t / 60) % 60, t % 60);
            let service = rng.below(SERVICES);
            let api = if rng.below(4) == 0 { "/api" } else { "" };
            format!(
                "10.{}.{}.{} - - [26/Nov/2026:{h:02}:{m:02}:{s:02} +0000] \"{} {api}/svc{service}/item/{} HTTP/1.1\" {} {} \"-\" \"{}\" {}.{:03} {}.{:03}",
                rng.below(256),
                rng.below(256),
                rng.below(256),
                METHODS[rng.below(4) as usize],
                rng.below(100_000),
                STATUSES[rng.below(8) as usize],
                rng.below(50_000),
                AGENTS[rng.below(4) as usize],
                rng.below(2),
                rng.below(1000),
                rng.below(2),
                rng.below(1000),
            )
        })
        .collect()
}

/// Patterns of a rule set of `n` rules: `(is_regex, pattern)`.
pub fn patterns(n: usize) -> Vec<(bool, String)> {
    let hot: [(bool, &str); 10] = [
        (false, "GET "),
        (false, "\" 500 "),
        (true, r#"" 5\d\d "#),
        (true, r"(?i)mozilla/\d"),
        (false, "/api/"),
        (true, r#"HTTP/1\.[01]" 404 "#),
        (true, r"POST /api/\w+"),
        (false, "curl/"),
        (true, r"Firefox/\d+\.\d+"),
        (true, r#"" (?P<status>[45]\d\d) "#),
    ];
    let mut out: Vec<(bool, String)> = hot.iter().take(n).map(|(r, p)| (*r, p.to_string())).collect();
    for i in 0..n.saturating_sub(10) {
        if i % 2 == 0 {
            out.push((false, format!("/svc{i}/")));
        } else {
            out.push((true, format!(r"/svc{i}/item/\d+ HTTP")));
        }
    }
    out
}

/// A logpulse rule file with `n` rules on stream `app` (raw lines; event time = read time).
pub fn rules_toml(n: usize) -> String {
    rules_toml_with(n, "")
}

/// [`rules_toml`], with each line's own time parsed (`[26/Nov/2026:00:00:00 +0000]`).
pub fn rules_toml_timed(n: usize) -> String {
    rules_toml_with(n, "time = { regex = '\\[([^\\]]+)\\]', format = \"%d/%b/%Y:%H:%M:%S %z\" }\n")
}

fn rules_toml_with(n: usize, time: &str) -> String {
    let mut s = format!("[[stream]]\nname = \"app\"\nformat = \"raw\"\nlateness = \"1h\"\n{time}\n");
    for (i, (is_regex, p)) in patterns(n).into_iter().enumerate() {
        let key = if is_regex { "regex" } else { "match" };
        s.push_str(&format!("[[rule]]\nname = \"r{i}\"\nstream = \"app\"\n{key} = '{p}'\n"));
        if p.contains("?P<status>") {
            s.push_str("group_by = [\"host\", \"status\"]\n");
        }
        s.push('\n');
    }
    s
}
