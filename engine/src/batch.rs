//! The `aggregates` table as Arrow (DESIGN.md, "Tables").

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, Float64Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::window::Cell;

static AGGREGATES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = || DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("rule", DataType::Utf8, false),
        Field::new("window_start", ts(), false),
        Field::new("window_end", ts(), false),
        Field::new("host", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("count", DataType::UInt64, false),
        Field::new("sum", DataType::Float64, true),
        Field::new("min", DataType::Float64, true),
        Field::new("max", DataType::Float64, true),
    ]))
});

/// The schema of `aggregates` (and `live_aggregates`).
pub fn aggregates_schema() -> SchemaRef {
    AGGREGATES_SCHEMA.clone()
}

/// Builds `aggregates` rows.
pub struct AggregatesBuilder {
    rule: StringBuilder,
    window_start: TimestampMillisecondBuilder,
    window_end: TimestampMillisecondBuilder,
    host: StringBuilder,
    key: StringBuilder,
    count: UInt64Builder,
    sum: Float64Builder,
    min: Float64Builder,
    max: Float64Builder,
    rows: usize,
}

impl Default for AggregatesBuilder {
    fn default() -> Self {
        Self {
            rule: StringBuilder::new(),
            window_start: TimestampMillisecondBuilder::new().with_timezone("UTC"),
            window_end: TimestampMillisecondBuilder::new().with_timezone("UTC"),
            host: StringBuilder::new(),
            key: StringBuilder::new(),
            count: UInt64Builder::new(),
            sum: Float64Builder::new(),
            min: Float64Builder::new(),
            max: Float64Builder::new(),
            rows: 0,
        }
    }
}

impl AggregatesBuilder {
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        rule: &str,
        start_ms: i64,
        end_ms: i64,
        host: &str,
        key: &str,
        cell: &Cell,
        has_value: bool,
    ) {
        self.rule.append_value(rule);
        self.window_start.append_value(start_ms);
        self.window_end.append_value(end_ms);
        self.host.append_value(host);
        self.key.append_value(key);
        self.count.append_value(cell.count);
        if has_value && cell.count > 0 {
            self.sum.append_value(cell.sum);
            self.min.append_value(cell.min);
            self.max.append_value(cell.max);
        } else {
            self.sum.append_null();
            self.min.append_null();
            self.max.append_null();
        }
        self.rows += 1;
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn finish(&mut self) -> RecordBatch {
        self.rows = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.rule.finish()),
            Arc::new(self.window_start.finish()),
            Arc::new(self.window_end.finish()),
            Arc::new(self.host.finish()),
            Arc::new(self.key.finish()),
            Arc::new(self.count.finish()),
            Arc::new(self.sum.finish()),
            Arc::new(self.min.finish()),
            Arc::new(self.max.finish()),
        ];
        RecordBatch::try_new(aggregates_schema(), columns).expect("columns follow the schema")
    }
}

/// RFC 3339 in UTC with a `Z`, as replay's CSV and notifications write timestamps:
/// whole seconds unless there are milliseconds.
pub fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ms.to_string())
}

/// The newest `window_end` in batches of `aggregates` rows.
pub fn max_window_end(batches: &[RecordBatch]) -> Option<i64> {
    batches
        .iter()
        .filter_map(|b| {
            let ends = arrow::array::AsArray::as_primitive_opt::<arrow::datatypes::TimestampMillisecondType>(
                b.column_by_name("window_end")?,
            )?;
            arrow::compute::max(ends)
        })
        .max()
}
