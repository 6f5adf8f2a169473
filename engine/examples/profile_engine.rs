//! A fixed amount of engine work for instruction-count profiling, which is
//! repeatable on a noisy machine (unlike wall time):
//! `valgrind --tool=callgrind target/release/examples/profile_engine RULES LINES`
//! Prints instructions-independent facts (matches, cells) so runs can be compared.

use std::sync::Arc;

use engine::{Engine, RecordMeta, SourceFile};
use ingest::Event;

#[path = "../tests/common/workload.rs"]
mod workload;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("RULES LINES")).collect();
    let (rules, lines) = (args.first().copied().unwrap_or(1000), args.get(1).copied().unwrap_or(20_000));
    let set = Arc::new(engine::compile(&[SourceFile::new("p.toml", workload::rules_toml(rules))]).expect("compiles"));
    let input = workload::nginx_like_lines(lines, 42);
    let started = std::time::Instant::now();
    let mut engine = Engine::new(Arc::clone(&set));
    for (i, line) in input.iter().enumerate() {
        let t = 1_700_000_000_000 + i as i64;
        let event = Event { text: line.as_str().into(), ..Default::default() };
        let meta = RecordMeta { default_host: "web-1", default_time_ms: t, now_ms: t };
        engine.process(0, &event, &meta, String::new);
    }
    engine.finish();
    let matched: u64 = engine.stats().matched.iter().sum();
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!("{rules} rules, {lines} lines: {matched} matches, {:.0} lines/s", lines as f64 / elapsed);
}
