//! Writes the benchmark workload to files for the peer comparison
//! (scripts/bench-peers.sh): `gen_workload LINES RULES OUT_DIR`.
//! Produces lines.log, rules-RULES.toml and rules-RULES-timed.toml (logpulse; the second
//! parses each line's time), patterns-RULES.txt (one regex per line, for Hyperscan)
//! and rules-RULES.mtail (mtail counters).

use std::io::Write;

#[path = "../tests/common/workload.rs"]
mod workload;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, lines, rules, out] = &args[..] else {
        eprintln!("usage: gen_workload LINES RULES OUT_DIR");
        std::process::exit(2);
    };
    let (lines, rules): (usize, usize) = (lines.parse().expect("LINES"), rules.parse().expect("RULES"));
    let out = std::path::Path::new(out);
    std::fs::create_dir_all(out)?;
    let log = out.join("lines.log");
    if !log.exists() || std::fs::metadata(&log)?.len() == 0 {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&log)?);
        for chunk_start in (0..lines).step_by(100_000) {
            let n = (lines - chunk_start).min(100_000);
            for line in workload::nginx_like_lines(n, 42 + chunk_start as u64) {
                writeln!(f, "{line}")?;
            }
        }
    }
    std::fs::write(out.join(format!("rules-{rules}.toml")), workload::rules_toml(rules))?;
    std::fs::write(out.join(format!("rules-{rules}-timed.toml")), workload::rules_toml_timed(rules))?;
    let patterns = workload::patterns(rules);
    let mut hs = String::new();
    let mut mtail = String::new();
    for (i, (is_regex, p)) in patterns.iter().enumerate() {
        let re = if *is_regex { p.clone() } else { regex_syntax::escape(p) };
        hs.push_str(&re);
        hs.push('\n');
        // mtail regexes are RE2 between slashes; escape the slash.
        let re2 = re.replace('/', "\\/").replace("(?P<status>", "(");
        mtail.push_str(&format!("counter r{i}\n/{re2}/ {{\n  r{i}++\n}}\n"));
    }
    std::fs::write(out.join(format!("patterns-{rules}.txt")), hs)?;
    std::fs::write(out.join(format!("rules-{rules}.mtail")), mtail)?;
    Ok(())
}
