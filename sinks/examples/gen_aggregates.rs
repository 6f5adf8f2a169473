//! Writes a synthetic `aggregates` history through the project's own Parquet writer, for
//! the dashboard benchmark (BENCHMARKS.md): HOURS of 1-minute windows for HOSTS hosts and
//! RULES rules, one flush per hour (the layout compaction leaves behind).
//!
//! `cargo run --release -p sinks --example gen_aggregates -- DIR [HOURS] [HOSTS] [RULES]`
//! Layout knobs, for measuring what each choice buys: LOGPULSE_BENCH_UNSORTED=1,
//! LOGPULSE_BENCH_NO_PAGE_INDEX=1, LOGPULSE_BENCH_ROW_GROUP_ROWS=N, LOGPULSE_BENCH_PAGE_ROWS=N,
//! LOGPULSE_BENCH_BLOOM=1.

use std::time::Instant;

use engine::batch::AggregatesBuilder;
use engine::window::Cell;
use sinks::{ParquetStoreConfig, SeqRange, Table};

/// 2026-11-25T00:00:00Z: the benchmark's day.
const START_MS: i64 = 1_795_564_800_000;
const MINUTE: i64 = 60_000;

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The first rules are the nginx pack's names, so the queries read like real ones.
fn rule_names(n: usize) -> Vec<(String, bool)> {
    let pack = [
        ("nginx.requests", false),
        ("nginx.request_time", true),
        ("nginx.status_499", false),
        ("nginx.status_5xx", false),
        ("nginx.upstream_time", true),
    ];
    (0..n)
        .map(|i| match pack.get(i) {
            Some((name, value)) => (name.to_string(), *value),
            None => (format!("app_rule_{i:02}"), i % 3 == 0),
        })
        .collect()
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().expect("usage: gen_aggregates DIR [HOURS] [HOSTS] [RULES]");
    let hours: i64 = args.get(1).map_or(24, |v| v.parse().expect("HOURS"));
    let hosts: usize = args.get(2).map_or(1000, |v| v.parse().expect("HOSTS"));
    let rules = rule_names(args.get(3).map_or(20, |v| v.parse().expect("RULES")));
    let defaults = ParquetStoreConfig::default();
    let config = ParquetStoreConfig {
        sort_rows: !env_flag("LOGPULSE_BENCH_UNSORTED"),
        page_statistics: !env_flag("LOGPULSE_BENCH_NO_PAGE_INDEX"),
        host_bloom_filter: env_flag("LOGPULSE_BENCH_BLOOM"),
        row_group_rows: env_usize("LOGPULSE_BENCH_ROW_GROUP_ROWS").unwrap_or(defaults.row_group_rows),
        data_page_rows: env_usize("LOGPULSE_BENCH_PAGE_ROWS").unwrap_or(defaults.data_page_rows),
        ..defaults
    };
    eprintln!("layout: {config:?}");
    let store = config.build(dir).expect("open the store");
    let host_names: Vec<String> = (0..hosts).map(|h| format!("web-{h:04}")).collect();
    let started = Instant::now();
    let mut rows = 0usize;
    for hour in 0..hours {
        let mut builder = AggregatesBuilder::default();
        for minute in 0..60 {
            let start = START_MS + (hour * 60 + minute) * MINUTE;
            for (h, host) in host_names.iter().enumerate() {
                for (r, (rule, has_value)) in rules.iter().enumerate() {
                    let noise = splitmix((start as u64) ^ ((h as u64) << 20) ^ r as u64);
                    let base = match r {
                        0 => 600,
                        3 => 1 + (h % 17) as u64,
                        _ => 50,
                    };
                    let count = base + noise % (base + 1);
                    let cell = if *has_value {
                        let min = (noise % 7) as f64 * 0.001 + 0.001;
                        let max = min + (noise % 1000) as f64 * 0.01;
                        Cell { count, sum: count as f64 * (min + max) / 2.0, min, max }
                    } else {
                        Cell { count, sum: 0.0, min: 0.0, max: 0.0 }
                    };
                    builder.push(rule, start, start + MINUTE, host, "", &cell, *has_value);
                }
            }
        }
        let batch = builder.finish();
        rows += batch.num_rows();
        let range = SeqRange { lo: START_MS + hour * 60 * MINUTE, hi: START_MS + (hour + 1) * 60 * MINUTE };
        store.write(Table::Aggregates, "bench", range, &[batch]).expect("write");
        eprint!("\rhour {}/{hours}, {rows} rows, {:.1}s", hour + 1, started.elapsed().as_secs_f64());
    }
    eprintln!();
    println!("{rows} rows in {:.1}s", started.elapsed().as_secs_f64());
}
