use std::sync::Arc;

use arrow::array::RecordBatch;

use crate::{Engine, RecordMeta, SourceFile, compile};

const RULES: &str = r#"
[[stream]]
name = "app"
format = "raw"
time = { regex = '^(\d+) ', format = "%s" }
host = { regex = '^\d+ (\S+)' }
lateness = "5s"

[[rule]]
name = "errors"
stream = "app"
match = "error"

[[rule]]
name = "cost"
stream = "app"
value = { after = "cost=", before = "ms" }
window = "2m"
slide = "1m"

[[rule]]
name = "lines"
stream = "app"
"#;

fn lines() -> Vec<String> {
    (0..2_000)
        .map(|i| {
            let ts = 1_700_000_000 + i * 7 / 10;
            let host = ["web-1", "web-2", "db-1"][(i % 3) as usize];
            let what = if i % 4 == 0 { "error" } else { "ok" };
            format!("{ts} {host} {what} cost={}ms", i % 97)
        })
        .collect()
}

fn feed(engine: &mut Engine, lines: &[String], out: &mut Vec<RecordBatch>) {
    let stream = engine.rules().streams.iter().position(|s| s.name == "app").unwrap();
    let rules = Arc::clone(engine.rules());
    for line in lines {
        let event = rules.streams[stream].decode_line(line, 0).unwrap();
        let meta = RecordMeta { default_host: "h", default_time_ms: 0, now_ms: 0 };
        engine.process(stream, &event, &meta, String::new);
        engine.advance(None);
        out.extend(engine.take_closed());
    }
}

fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut rows: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            (0..b.num_rows()).map(move |r| {
                (0..b.num_columns())
                    .map(|c| {
                        let column = match b.column(c).data_type() {
                            arrow::datatypes::DataType::Timestamp(..) => {
                                arrow::compute::cast(b.column(c), &arrow::datatypes::DataType::Int64).unwrap()
                            }
                            _ => b.column(c).clone(),
                        };
                        arrow::util::display::array_value_to_string(&column, r).unwrap()
                    })
                    .collect::<Vec<_>>()
                    .join("|")
            })
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn restored_engine_closes_the_same_windows_as_one_that_never_stopped() {
    let set = Arc::new(compile(&[SourceFile::new("r.toml", RULES)]).unwrap());
    let input = lines();
    let mut straight = Vec::new();
    let mut whole = Engine::new(Arc::clone(&set));
    feed(&mut whole, &input, &mut straight);
    whole.finish();
    straight.extend(whole.take_closed());

    for split in [1, 700, 1_333, 1_999] {
        let mut resumed = Vec::new();
        let mut first = Engine::new(Arc::clone(&set));
        feed(&mut first, &input[..split], &mut resumed);
        let snapshot = first.snapshot();
        assert!(snapshot.strings.len() <= 4, "only the strings open cells use: {:?}", snapshot.strings);
        let mut second = Engine::restore(Arc::clone(&set), &snapshot).unwrap();
        assert_eq!(second.snapshot(), snapshot);
        feed(&mut second, &input[split..], &mut resumed);
        second.finish();
        resumed.extend(second.take_closed());
        assert_eq!(rows(&resumed), rows(&straight), "split at {split}");
        assert_eq!(second.stats().late_events, 0);
    }
}

#[test]
fn a_changed_rule_starts_empty_and_a_removed_one_is_dropped() {
    let set = Arc::new(compile(&[SourceFile::new("r.toml", RULES)]).unwrap());
    let mut engine = Engine::new(Arc::clone(&set));
    feed(&mut engine, &lines()[..100], &mut Vec::new());
    let snapshot = engine.snapshot();
    let changed = RULES
        .replace("match = \"error\"", "match = \"ok\"")
        .replace("[[rule]]\nname = \"lines\"\nstream = \"app\"\n", "");
    let changed = Arc::new(compile(&[SourceFile::new("r.toml", &changed)]).unwrap());
    let mut restored = Engine::restore(changed, &snapshot).unwrap();
    restored.finish();
    let batch = restored.take_closed().unwrap();
    let rules = rows(&[batch]);
    assert!(rules.iter().all(|r| r.starts_with("cost|")), "{rules:?}");
}

#[test]
fn another_version_is_refused() {
    let set = Arc::new(compile(&[SourceFile::new("r.toml", RULES)]).unwrap());
    let mut snapshot = Engine::new(Arc::clone(&set)).snapshot();
    snapshot.version += 1;
    assert!(Engine::restore(set, &snapshot).is_err());
}
