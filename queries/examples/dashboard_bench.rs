//! Times the dashboard queries of bench/dashboard_queries.json through `QueryService`
//! (a fresh session per query, as the CLI and the HTTP API run them).
//!
//! `cargo run --release -p queries --example dashboard_bench -- DATA_DIR QUERIES.json [RUNS]`
//! prints one JSON object per query: name, median and all times in ms, rows, and a
//! checksum (the sum of every numeric cell) to compare with DuckDB's answer.
//! `... --example dashboard_bench -- --views` prints the view definitions as JSON.

use std::time::Instant;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, UInt64Type};
use queries::{QueryConfig, QueryService};

fn checksum(batches: &[RecordBatch]) -> f64 {
    let mut total = 0.0;
    for b in batches {
        for c in b.columns() {
            for i in 0..c.len() {
                if c.is_null(i) {
                    continue;
                }
                total += match c.data_type() {
                    DataType::Float64 => c.as_primitive::<Float64Type>().value(i),
                    DataType::UInt64 => c.as_primitive::<UInt64Type>().value(i) as f64,
                    DataType::Int64 => c.as_primitive::<Int64Type>().value(i) as f64,
                    _ => 0.0,
                };
            }
        }
    }
    total
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--views") {
        let views: Vec<serde_json::Value> =
            queries::views::VIEWS.iter().map(|(n, q)| serde_json::json!({"name": n, "sql": q})).collect();
        println!("{}", serde_json::Value::Array(views));
        return;
    }
    let dir = &args[0];
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&args[1]).expect("queries file")).expect("queries JSON");
    let runs: usize = args.get(2).map_or(7, |v| v.parse().expect("RUNS"));
    // LOGPULSE_BENCH_PARTITIONS=N sets the parallelism inside a query (default: one per core).
    let target_partitions = std::env::var("LOGPULSE_BENCH_PARTITIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    // LOGPULSE_BENCH_SINGLE_PARTITION_ROWS=N sets `single_partition_rows` (0 turns it off).
    let defaults = QueryConfig::default();
    let single_partition_rows = std::env::var("LOGPULSE_BENCH_SINGLE_PARTITION_ROWS")
        .ok()
        .map_or(defaults.single_partition_rows, |v| v.parse().expect("LOGPULSE_BENCH_SINGLE_PARTITION_ROWS"));
    let config = QueryConfig { memory_limit: 4 << 30, target_partitions, single_partition_rows, ..defaults };
    let service = QueryService::new(dir, config).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    for q in list {
        let (name, sql) = (q["name"].as_str().unwrap(), q["sql"].as_str().unwrap());
        let mut times = Vec::new();
        let mut answer = None;
        for _ in 0..runs {
            let started = Instant::now();
            let result = runtime.block_on(service.sql(sql)).unwrap_or_else(|e| panic!("{name}: {e}"));
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            answer = Some(result);
        }
        let answer = answer.expect("at least one run");
        let mut sorted = times.clone();
        sorted.sort_by(f64::total_cmp);
        let line = serde_json::json!({
            "engine": "logpulse", "name": name, "median_ms": sorted[sorted.len() / 2], "times_ms": times,
            "rows": answer.num_rows(), "checksum": checksum(&answer.batches),
        });
        println!("{line}");
    }
}
