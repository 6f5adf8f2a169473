use std::collections::BTreeMap;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{TimestampMillisecondType, UInt64Type};
use engine::batch::AggregatesBuilder;
use engine::window::Cell;

use super::*;

const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;
/// 2026-11-26T00:00:00Z
const DAY: i64 = 1_795_651_200_000;

/// One row per (rule, window, host) with count = a checkable function of them.
fn aggregates(rules: &[&str], windows: std::ops::Range<i64>, hosts: &[&str]) -> RecordBatch {
    let mut b = AggregatesBuilder::default();
    for w in windows {
        for (r, rule) in rules.iter().enumerate() {
            for (h, host) in hosts.iter().enumerate() {
                let count = (w as u64 % 7) + r as u64 * 10 + h as u64 * 100 + 1;
                let cell = Cell { count, sum: count as f64 * 1.5, min: 1.0, max: count as f64 };
                b.push(rule, DAY + w * MIN, DAY + (w + 1) * MIN, host, "", &cell, r % 2 == 0);
            }
        }
    }
    b.finish()
}

/// (rule, window_end, host) -> count over every data file in the table, read back with
/// the parquet crate (what any reader would see).
fn read_table(store: &ParquetStore, table: Table) -> BTreeMap<(String, i64, String), u64> {
    let mut out = BTreeMap::new();
    for dir in hour_dirs(&store.table_dir(table)).unwrap() {
        for name in list_data_files(&dir).unwrap() {
            let (batches, _) = read_file(&dir.join(name)).unwrap();
            for b in batches {
                let rule = b.column_by_name("rule").unwrap().as_string::<i32>();
                let end = b.column_by_name("window_end").unwrap().as_primitive::<TimestampMillisecondType>();
                let host = b.column_by_name("host").unwrap().as_string::<i32>();
                let count = b.column_by_name("count").unwrap().as_primitive::<UInt64Type>();
                for i in 0..b.num_rows() {
                    *out.entry((rule.value(i).to_string(), end.value(i), host.value(i).to_string())).or_default() +=
                        count.value(i);
                }
            }
        }
    }
    out
}

fn expected(batch: &RecordBatch) -> BTreeMap<(String, i64, String), u64> {
    let store_dir = tempfile::tempdir().unwrap();
    let store = ParquetStoreConfig::default().build(store_dir.path()).unwrap();
    store.write(Table::Aggregates, "x", SeqRange { lo: 0, hi: i64::MAX }, std::slice::from_ref(batch)).unwrap();
    read_table(&store, Table::Aggregates)
}

fn data_files(store: &ParquetStore, table: Table) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in hour_dirs(&store.table_dir(table)).unwrap() {
        out.extend(list_data_files(&dir).unwrap().into_iter().map(|n| dir.join(n)));
    }
    out
}

#[test]
fn a_flush_lands_in_hour_folders_sorted_with_page_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = ParquetStoreConfig { data_page_rows: 64, ..Default::default() }.build(dir.path()).unwrap();
    // 00:50 to 01:10: two hour folders.
    let batch = aggregates(&["b", "a"], 50..70, &["h2", "h1"]);
    let out = store.write(Table::Aggregates, "replay-x", SeqRange { lo: 0, hi: DAY + 70 * MIN }, &[batch]).unwrap();
    assert_eq!(out.rows_written, 80);
    let names: Vec<String> =
        out.files.iter().map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string()).collect();
    let hi = DAY + 70 * MIN;
    assert_eq!(
        names,
        [
            format!("aggregates/date=2026-11-26/hour=00/replay-x_0_{hi}_1of2.parquet"),
            format!("aggregates/date=2026-11-26/hour=01/replay-x_0_{hi}_2of2.parquet"),
        ]
    );
    let file = File::open(&out.files[0]).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(
        file,
        datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions::new()
            .with_page_index_policy(datafusion::parquet::file::metadata::PageIndexPolicy::Required),
    )
    .unwrap();
    assert!(builder.metadata().column_index().is_some(), "page index written");
    assert!(builder.metadata().row_group(0).sorting_columns().is_some());
    let batches: Vec<RecordBatch> = builder.build().unwrap().collect::<Result<_, _>>().unwrap();
    let sorted = compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let rules = sorted.column_by_name("rule").unwrap().as_string::<i32>();
    let hosts = sorted.column_by_name("host").unwrap().as_string::<i32>();
    let keys: Vec<(&str, &str)> = (0..sorted.num_rows()).map(|i| (rules.value(i), hosts.value(i))).collect();
    let mut want = keys.clone();
    want.sort();
    assert_eq!(keys, want, "rows sorted by rule, host");
    assert_eq!(store.high_water(Table::Aggregates, "replay-x"), Some(hi));
}

#[test]
fn re_emitted_windows_are_not_written_twice() {
    let dir = tempfile::tempdir().unwrap();
    let all = aggregates(&["r"], 0..30, &["a", "b"]);
    let want = expected(&all);
    {
        let store = ParquetStoreConfig::default().build(dir.path()).unwrap();
        let first = aggregates(&["r"], 0..20, &["a", "b"]);
        store.write(Table::Aggregates, "p", SeqRange { lo: 0, hi: DAY + 20 * MIN }, &[first]).unwrap();
    }
    // A restart from an older checkpoint re-closes windows 10..30 in one flush.
    let store = ParquetStoreConfig::default().build(dir.path()).unwrap();
    assert_eq!(store.high_water(Table::Aggregates, "p"), Some(DAY + 20 * MIN));
    let again = aggregates(&["r"], 10..30, &["a", "b"]);
    let out =
        store.write(Table::Aggregates, "p", SeqRange { lo: DAY + 10 * MIN, hi: DAY + 30 * MIN }, &[again]).unwrap();
    assert_eq!((out.rows_written, out.rows_skipped), (20, 20));
    // And the very same flush again: nothing.
    let same = aggregates(&["r"], 20..30, &["a", "b"]);
    let out =
        store.write(Table::Aggregates, "p", SeqRange { lo: DAY + 20 * MIN, hi: DAY + 30 * MIN }, &[same]).unwrap();
    assert_eq!((out.rows_written, out.rows_skipped), (0, 20));
    assert_eq!(read_table(&store, Table::Aggregates), want);
    // Another producer's rows are its own.
    let other = aggregates(&["r"], 0..1, &["a"]);
    let out = store.write(Table::Aggregates, "q", SeqRange { lo: 0, hi: DAY + MIN }, &[other]).unwrap();
    assert_eq!(out.rows_written, 1);
}

#[test]
fn open_removes_temp_files_and_partial_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let batch = aggregates(&["r"], 50..70, &["a"]);
    let hi = DAY + 70 * MIN;
    let files = {
        let store = ParquetStoreConfig::default().build(dir.path()).unwrap();
        store.write(Table::Aggregates, "p", SeqRange { lo: 0, hi }, std::slice::from_ref(&batch)).unwrap().files
    };
    // Simulate a crash after part 1 of 2 was renamed, with part 2 left as a temp file.
    let second = &files[1];
    let temp = second.with_file_name(files::temp_name(&second.file_name().unwrap().to_string_lossy()));
    fs::rename(second, &temp).unwrap();
    let store = ParquetStoreConfig::default().build(dir.path()).unwrap();
    assert_eq!(store.recovery(), &Recovery { temp_files_removed: 1, partial_parts_removed: 1 });
    assert_eq!(store.high_water(Table::Aggregates, "p"), None);
    assert!(data_files(&store, Table::Aggregates).is_empty());
    // The rerun writes the flush whole.
    store.write(Table::Aggregates, "p", SeqRange { lo: 0, hi }, std::slice::from_ref(&batch)).unwrap();
    assert_eq!(read_table(&store, Table::Aggregates), expected(&batch));
}

#[test]
fn compaction_merges_an_hour_and_keeps_high_water_marks() {
    let dir = tempfile::tempdir().unwrap();
    let store = ParquetStoreConfig::default().build(dir.path()).unwrap();
    let mut all = Vec::new();
    for (i, producer) in ["p", "q"].iter().enumerate() {
        for step in 0..6 {
            let windows = step * 10..step * 10 + 10;
            let batch = aggregates(&["r", "s"], windows.clone(), &[&format!("h{i}")]);
            let range = SeqRange { lo: DAY + windows.start * MIN, hi: DAY + windows.end * MIN };
            store.write(Table::Aggregates, producer, range, std::slice::from_ref(&batch)).unwrap();
            all.push(batch);
        }
    }
    let want = expected(&compute::concat_batches(&all[0].schema(), &all).unwrap());
    assert_eq!(data_files(&store, Table::Aggregates).len(), 12);
    let report = store.compact(false).unwrap();
    assert_eq!(report.hours_compacted, 0, "not quiet yet");
    let report = store.compact(true).unwrap();
    assert_eq!((report.hours_compacted, report.files_merged), (1, 12));
    let files = data_files(&store, Table::Aggregates);
    assert_eq!(files.len(), 1);
    assert!(files[0].file_name().unwrap().to_string_lossy().starts_with("compacted_"));
    assert_eq!(read_table(&store, Table::Aggregates), want);
    assert!(!dir.path().join(STAGING).read_dir().unwrap().any(|_| true), "staging emptied");

    // High-water marks survive compaction and a restart.
    drop(store);
    let store = ParquetStoreConfig::default().build(dir.path()).unwrap();
    assert_eq!(store.high_water(Table::Aggregates, "p"), Some(DAY + 60 * MIN));
    let again = aggregates(&["r", "s"], 50..60, &["h0"]);
    let out =
        store.write(Table::Aggregates, "p", SeqRange { lo: DAY + 50 * MIN, hi: DAY + 60 * MIN }, &[again]).unwrap();
    assert_eq!(out.rows_written, 0);
    // A later flush into the compacted hour, then a second compaction absorbs the first.
    let later = aggregates(&["r"], 60..61, &["h0"]);
    store.write(Table::Aggregates, "p", SeqRange { lo: DAY + 60 * MIN, hi: DAY + 61 * MIN }, &[later]).unwrap();
    store.compact(true).unwrap();
    assert_eq!(data_files(&store, Table::Aggregates).len(), 2, "hour 00 compacted, hour 01 has one file");
    drop(store);
    let store = ParquetStoreConfig::default().build(dir.path()).unwrap();
    assert_eq!(store.high_water(Table::Aggregates, "p"), Some(DAY + 61 * MIN));
    assert_eq!(store.high_water(Table::Aggregates, "q"), Some(DAY + 60 * MIN));
}

#[test]
fn compaction_gives_up_an_hour_that_changed_while_merging() {
    let dir = tempfile::tempdir().unwrap();
    let store = ParquetStoreConfig::default().build(dir.path()).unwrap();
    for step in 0..2 {
        let batch = aggregates(&["r"], step * 5..step * 5 + 5, &["a"]);
        let range = SeqRange { lo: DAY + step * 5 * MIN, hi: DAY + (step * 5 + 5) * MIN };
        store.write(Table::Aggregates, "p", range, &[batch]).unwrap();
    }
    let hour = hour_dirs(&store.table_dir(Table::Aggregates)).unwrap().remove(0);
    let listed = list_data_files(&hour).unwrap();
    // A writer adds a file after the compactor listed the folder.
    let batch = aggregates(&["r"], 10..11, &["a"]);
    store.write(Table::Aggregates, "p", SeqRange { lo: DAY + 10 * MIN, hi: DAY + 11 * MIN }, &[batch]).unwrap();
    assert!(!store.compact_hour(Table::Aggregates, &hour, &listed).unwrap());
    assert_eq!(list_data_files(&hour).unwrap().len(), 3, "nothing swapped");
    assert!(!dir.path().join(STAGING).read_dir().unwrap().any(|_| true), "staging emptied");
}

#[test]
fn background_compactor_runs_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let config = ParquetStoreConfig { compact_min_files: 2, compact_quiet: Duration::ZERO, ..Default::default() };
    let store = Arc::new(config.build(dir.path()).unwrap());
    for step in 0..3 {
        let batch = aggregates(&["r"], step..step + 1, &["a"]);
        let range = SeqRange { lo: DAY + step * MIN, hi: DAY + (step + 1) * MIN };
        store.write(Table::Aggregates, "p", range, &[batch]).unwrap();
    }
    let compactor = store.spawn_compactor(Duration::from_millis(10));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while data_files(&store, Table::Aggregates).len() > 1 {
        assert!(std::time::Instant::now() < deadline, "compactor did not run");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!compactor.has_failed());
    drop(compactor);
}

#[test]
fn other_tables_dedupe_per_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = ParquetStoreConfig::default().build(dir.path()).unwrap();
    let mut errors = crate::tables::IngestErrorsBuilder::default();
    for i in 0..3 {
        errors.push(&ingest::IngestError {
            at_ms: DAY + i * HOUR,
            stream: "s".into(),
            source: format!("f:{i}"),
            reason: ingest::ErrorReason::Parse,
            sample: "x".into(),
        });
    }
    let batch = errors.finish();
    let out = store.write(Table::IngestErrors, "f", SeqRange { lo: 0, hi: 3 }, std::slice::from_ref(&batch)).unwrap();
    assert_eq!((out.rows_written, out.files.len()), (3, 3));
    let out = store.write(Table::IngestErrors, "f", SeqRange { lo: 0, hi: 3 }, &[batch]).unwrap();
    assert_eq!((out.rows_written, out.rows_skipped), (0, 3));
}

#[test]
fn bad_config_and_schema_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(ParquetStoreConfig { compression: "lzma".into(), ..Default::default() }.build(dir.path()).is_err());
    let config: Result<ParquetStoreConfig, _> = toml_like("{\"row_group_rows\": 5, \"bogus\": 1}");
    assert!(config.is_err(), "unknown keys refused");
    let config = toml_like(r#"{"compact_quiet": "5m", "compression": "snappy"}"#).unwrap();
    assert_eq!((config.compact_quiet, config.compression.as_str()), (Duration::from_secs(300), "snappy"));
    assert!(toml_like(r#"{"compact_quiet": "soon"}"#).is_err());
    let store = ParquetStoreConfig::default().build(dir.path()).unwrap();
    let wrong = aggregates(&["r"], 0..1, &["a"]);
    let err = store.write(Table::Alerts, "p", SeqRange { lo: 0, hi: 1 }, &[wrong]).unwrap_err();
    assert!(matches!(err, SinkError::Schema { table: "alerts", .. }), "{err}");
}

fn toml_like(json: &str) -> Result<ParquetStoreConfig, serde_json::Error> {
    serde_json::from_str(json)
}
