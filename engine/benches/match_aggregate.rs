//! Match + aggregate throughput over ~200-byte nginx-like lines, with 10 to
//! 10,000 rules mixing `match` and `regex` (BENCHMARKS.md).
//!
//! Run: `cargo bench -p engine --bench match_aggregate`

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use engine::{Engine, RecordMeta, SourceFile};
use ingest::Event;

#[path = "../tests/common/workload.rs"]
mod workload;

fn bench(c: &mut Criterion) {
    let lines = workload::nginx_like_lines(20_000, 42);
    let mean_len = lines.iter().map(String::len).sum::<usize>() / lines.len();
    let mut group = c.benchmark_group("match_aggregate");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.sample_size(10);
    for rules in [10usize, 100, 1_000, 10_000] {
        group.bench_function(format!("{rules}_rules_{mean_len}B_lines"), |b| {
            // Compiled inside, so that a filtered run compiles only what it measures.
            let text = workload::rules_toml(rules);
            let set = Arc::new(engine::compile(&[SourceFile::new("bench.toml", text)]).expect("bench rules compile"));
            let stream = set.streams.iter().position(|s| s.name == "app").unwrap();
            let mut engine = Engine::new(Arc::clone(&set));
            let mut t = 1_700_000_000_000i64;
            b.iter(|| {
                for line in &lines {
                    t += 1;
                    let event = Event { text: line.as_str().into(), ..Default::default() };
                    let meta = RecordMeta { default_host: "web-1", default_time_ms: t, now_ms: t };
                    engine.process(stream, &event, &meta, String::new);
                }
                engine.advance(None);
                engine.take_closed();
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
