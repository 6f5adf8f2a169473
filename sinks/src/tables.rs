//! The tables of DESIGN.md ("Tables"): their schemas, how each is laid out on disk, and
//! builders for the rows that do not come from the engine's own batch builder.
//!
//! `aggregates` is built by the engine ([`engine::batch`]); its schema is taken from
//! there so that there is one definition of it.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayBuilder, Float64Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use ingest::{Event, IngestError};

/// One of the tables logpulse writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Aggregates,
    Alerts,
    QalarmEvents,
    IngestErrors,
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

static ALERTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("alert", DataType::Utf8, false),
        Field::new("rule", DataType::Utf8, false),
        Field::new("host", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
        Field::new("window_start", timestamp(), false),
        Field::new("window_end", timestamp(), false),
        Field::new("at", timestamp(), false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("message", DataType::Utf8, false),
    ]))
});

static QALARM_EVENTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        Field::new("time", timestamp(), false),
        text("project"),
        text("module"),
        text("code"),
        text("env"),
        text("message"),
        text("server_ip"),
        text("client_ip"),
        text("script"),
    ]))
});

static INGEST_ERRORS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("at", timestamp(), false),
        Field::new("stream", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("sample", DataType::Utf8, false),
    ]))
});

impl Table {
    pub const ALL: [Table; 4] = [Table::Aggregates, Table::Alerts, Table::QalarmEvents, Table::IngestErrors];

    /// The SQL name, which is also the folder under the data dir.
    pub fn name(self) -> &'static str {
        match self {
            Table::Aggregates => "aggregates",
            Table::Alerts => "alerts",
            Table::QalarmEvents => "qalarm_events",
            Table::IngestErrors => "ingest_errors",
        }
    }

    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Aggregates => engine::batch::aggregates_schema(),
            Table::Alerts => ALERTS_SCHEMA.clone(),
            Table::QalarmEvents => QALARM_EVENTS_SCHEMA.clone(),
            Table::IngestErrors => INGEST_ERRORS_SCHEMA.clone(),
        }
    }

    /// The timestamp column whose hour picks a row's `date=/hour=` folder.
    ///
    /// For `aggregates` it is `window_start`, so that all rows of one window land in one
    /// file of a flush and a reader sees a window whole or not at all.
    pub fn partition_column(self) -> &'static str {
        match self {
            Table::Aggregates => "window_start",
            Table::Alerts => "window_end",
            Table::QalarmEvents => "time",
            Table::IngestErrors => "at",
        }
    }

    /// The sort order of rows inside each file, chosen for the dashboard queries:
    /// `aggregates` by (rule, host, window_start) so that a rule's rows are contiguous and,
    /// inside a rule, one host's rows are, which makes page statistics prune both.
    pub fn sort_columns(self) -> &'static [&'static str] {
        match self {
            Table::Aggregates => &["rule", "host", "window_start", "key"],
            Table::Alerts => &["alert", "window_end", "host", "key"],
            Table::QalarmEvents => &["time"],
            Table::IngestErrors => &["at"],
        }
    }

    /// The column that orders a producer's rows across flushes (a timestamp), when there
    /// is one: rows of a re-emitted flush at or below the durable high-water mark are
    /// dropped row by row. Tables without one are deduplicated per whole flush.
    pub fn seq_column(self) -> Option<&'static str> {
        match self {
            Table::Aggregates | Table::Alerts => Some("window_end"),
            Table::QalarmEvents | Table::IngestErrors => None,
        }
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Builds `ingest_errors` rows.
#[derive(Default)]
pub struct IngestErrorsBuilder {
    at: TimestampMillisecondBuilder,
    stream: StringBuilder,
    source: StringBuilder,
    reason: StringBuilder,
    sample: StringBuilder,
}

impl IngestErrorsBuilder {
    pub fn push(&mut self, error: &IngestError) {
        self.at.append_value(error.at_ms);
        self.stream.append_value(&error.stream);
        self.source.append_value(&error.source);
        self.reason.append_value(error.reason.as_str());
        self.sample.append_value(&error.sample);
    }

    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn finish(&mut self) -> RecordBatch {
        let columns = vec![
            Arc::new(self.at.finish().with_timezone("UTC")) as _,
            Arc::new(self.stream.finish()) as _,
            Arc::new(self.source.finish()) as _,
            Arc::new(self.reason.finish()) as _,
            Arc::new(self.sample.finish()) as _,
        ];
        RecordBatch::try_new(Table::IngestErrors.schema(), columns).expect("columns match the ingest_errors schema")
    }
}

/// Builds `qalarm_events` rows from decoded Qalarm events (fields in
/// [`ingest::qalarm::FIELDS`] order).
pub struct QalarmEventsBuilder {
    time: TimestampMillisecondBuilder,
    /// One builder per text column, in schema order (every field but `time`).
    text: Vec<StringBuilder>,
    /// Where each text column's value is in an event's fields, found once, not per event.
    field_index: [usize; 8],
}

impl Default for QalarmEventsBuilder {
    fn default() -> Self {
        let field_index = QALARM_TEXT_COLUMNS.map(|name| {
            ingest::qalarm::FIELDS.iter().position(|f| *f == name).expect("every text column is a Qalarm field")
        });
        Self {
            time: TimestampMillisecondBuilder::new(),
            text: (0..8).map(|_| StringBuilder::new()).collect(),
            field_index,
        }
    }
}

/// The text columns of `qalarm_events`, in schema order.
const QALARM_TEXT_COLUMNS: [&str; 8] =
    ["project", "module", "code", "env", "message", "server_ip", "client_ip", "script"];

impl QalarmEventsBuilder {
    /// Adds one event; `time_ms` is the event time the engine used.
    pub fn push(&mut self, event: &Event<'_>, time_ms: i64) {
        self.time.append_value(time_ms);
        for (builder, &index) in self.text.iter_mut().zip(&self.field_index) {
            match event.fields.get(index).and_then(Option::as_ref) {
                Some(value) => builder.append_value(value.text()),
                None => builder.append_null(),
            }
        }
    }

    pub fn len(&self) -> usize {
        self.time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn finish(&mut self) -> RecordBatch {
        let mut columns = vec![Arc::new(self.time.finish().with_timezone("UTC")) as _];
        columns.extend(self.text.iter_mut().map(|b| Arc::new(b.finish()) as _));
        RecordBatch::try_new(Table::QalarmEvents.schema(), columns).expect("columns match the qalarm_events schema")
    }
}

/// One `alerts` row (a notification, or a dead letter).
#[derive(Debug, Clone, Copy)]
pub struct AlertRow<'a> {
    pub alert: &'a str,
    pub rule: &'a str,
    pub host: &'a str,
    pub key: &'a str,
    /// `firing` or `resolved`.
    pub state: &'a str,
    pub value: Option<f64>,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    /// When the worker decided it.
    pub at_ms: i64,
    pub severity: &'a str,
    pub message: &'a str,
}

/// `alerts` rows as one batch.
pub fn alerts_batch<'a>(rows: impl IntoIterator<Item = AlertRow<'a>>) -> RecordBatch {
    let (mut alert, mut rule, mut host, mut key, mut state) =
        (StringBuilder::new(), StringBuilder::new(), StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    let mut value = Float64Builder::new();
    let (mut start, mut end, mut at) =
        (TimestampMillisecondBuilder::new(), TimestampMillisecondBuilder::new(), TimestampMillisecondBuilder::new());
    let (mut severity, mut message) = (StringBuilder::new(), StringBuilder::new());
    for r in rows {
        alert.append_value(r.alert);
        rule.append_value(r.rule);
        host.append_value(r.host);
        key.append_value(r.key);
        state.append_value(r.state);
        value.append_option(r.value);
        start.append_value(r.window_start_ms);
        end.append_value(r.window_end_ms);
        at.append_value(r.at_ms);
        severity.append_value(r.severity);
        message.append_value(r.message);
    }
    let columns = vec![
        Arc::new(alert.finish()) as _,
        Arc::new(rule.finish()) as _,
        Arc::new(host.finish()) as _,
        Arc::new(key.finish()) as _,
        Arc::new(state.finish()) as _,
        Arc::new(value.finish()) as _,
        Arc::new(start.finish().with_timezone("UTC")) as _,
        Arc::new(end.finish().with_timezone("UTC")) as _,
        Arc::new(at.finish().with_timezone("UTC")) as _,
        Arc::new(severity.finish()) as _,
        Arc::new(message.finish()) as _,
    ];
    RecordBatch::try_new(Table::Alerts.schema(), columns).expect("columns match the alerts schema")
}

#[cfg(test)]
mod tests;
