//! Printing `aggregates` as CSV: DESIGN.md's columns and order, merged and
//! sorted by rule, window_start, host, key; timestamps RFC 3339 UTC.

use std::io::Write;

use anyhow::Context;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use arrow::datatypes::{Float64Type, TimestampMillisecondType, UInt64Type};
use engine::batch::rfc3339_ms;

/// Sorts batches of `aggregates` rows by rule, window_start, host, key.
pub fn sort_aggregates(batches: &[RecordBatch]) -> anyhow::Result<RecordBatch> {
    let batch = concat_batches(&engine::batch::aggregates_schema(), batches)?;
    if batch.num_rows() == 0 {
        return Ok(batch);
    }
    let columns: Vec<SortColumn> = ["rule", "window_start", "host", "key"]
        .iter()
        .map(|name| SortColumn {
            values: batch.column_by_name(name).expect("aggregates column").clone(),
            options: None,
        })
        .collect();
    let indices = lexsort_to_indices(&columns, None)?;
    Ok(take_record_batch(&batch, &indices)?)
}

/// A float as people read it: rounded to 12 significant digits, so that sums
/// of decimal inputs print `4.419`, not `4.418999999999992` (the error of
/// adding 1,199 binary fractions), then in the shortest form that reads back.
pub fn float_text(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let rounded: f64 = format!("{v:.11e}").parse().unwrap_or(v);
    rounded.to_string()
}

pub fn write_aggregates_csv(batch: &RecordBatch, out: impl Write) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["rule", "window_start", "window_end", "host", "key", "count", "sum", "min", "max"])?;
    let col = |name: &str| batch.column_by_name(name).expect("aggregates column");
    let rule = col("rule").as_string::<i32>();
    let start = col("window_start").as_primitive::<TimestampMillisecondType>();
    let end = col("window_end").as_primitive::<TimestampMillisecondType>();
    let host = col("host").as_string::<i32>();
    let key = col("key").as_string::<i32>();
    let count = col("count").as_primitive::<UInt64Type>();
    let floats = ["sum", "min", "max"].map(|n| col(n).as_primitive::<Float64Type>());
    for row in 0..batch.num_rows() {
        let f = |i: usize| if floats[i].is_null(row) { String::new() } else { float_text(floats[i].value(row)) };
        w.write_record([
            rule.value(row).to_string(),
            rfc3339_ms(start.value(row)),
            rfc3339_ms(end.value(row)),
            host.value(row).to_string(),
            key.value(row).to_string(),
            count.value(row).to_string(),
            f(0),
            f(1),
            f(2),
        ])
        .context("writing CSV")?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests;
