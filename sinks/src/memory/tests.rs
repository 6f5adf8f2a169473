use std::sync::Arc;

use datafusion::arrow::array::{TimestampMillisecondArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use super::*;

fn batch(ends: &[i64]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("window_end", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("count", DataType::UInt64, false),
    ]));
    let ends = TimestampMillisecondArray::from(ends.to_vec()).with_timezone("UTC");
    let counts = UInt64Array::from(vec![1; ends.len()]);
    RecordBatch::try_new(schema, vec![Arc::new(ends), Arc::new(counts)]).unwrap()
}

/// Rows visible through a snapshot plus the rows "in Parquet" (everything ever pushed,
/// plus what was durable before) at or below the cut: always each row exactly once.
fn visible(store: &RecentBatches, durable: &[i64]) -> Vec<i64> {
    let snap = store.snapshot();
    let mut rows: Vec<i64> = durable.iter().copied().filter(|t| *t <= snap.cut_ms).collect();
    for b in &snap.batches {
        let seq = b.column(0).as_primitive::<TimestampMillisecondType>();
        rows.extend(seq.values().iter().copied().filter(|t| *t > snap.cut_ms));
    }
    rows.sort();
    rows
}

#[test]
fn age_eviction_moves_rows_to_parquet_side_without_loss_or_double() {
    let config = RetentionConfig { max_age: Duration::from_millis(100), max_bytes: 1 << 30 };
    let before = [10, 20];
    let mut store = config.build("window_end", 20).unwrap();
    let mut durable = before.to_vec();
    for chunk in [[30, 40], [50, 60], [200, 210], [15, 25], [400, 401]] {
        durable.extend(chunk);
        store.push(batch(&chunk));
        let mut want = durable.clone();
        want.sort();
        assert_eq!(visible(&store, &durable), want);
    }
    assert!(store.cut_ms() >= 210, "old batches evicted by age: cut {}", store.cut_ms());
}

#[test]
fn byte_bound_holds() {
    let one = batch(&[1, 2, 3]).get_array_memory_size();
    let config = RetentionConfig { max_age: Duration::from_secs(3600), max_bytes: one * 2 };
    let mut store = config.build("window_end", 0).unwrap();
    let mut durable = Vec::new();
    for i in 0..10 {
        let rows = [i * 10 + 1, i * 10 + 2, i * 10 + 3];
        durable.extend(rows);
        store.push(batch(&rows));
        assert!(store.bytes() <= one * 2);
        assert_eq!(visible(&store, &durable), durable);
    }
}
