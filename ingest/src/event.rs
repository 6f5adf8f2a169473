//! The decoded form of one input record.

use std::borrow::Cow;

/// One field of a structured record.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// A value that is text in the input.
    Text(Cow<'a, str>),
    /// A value that is a number in the input. `text` is the number as the input wrote
    /// it (group keys print `status=200`, never `200.0`).
    Number { value: f64, text: Cow<'a, str> },
}

impl<'a> FieldValue<'a> {
    /// The value as the input wrote it.
    pub fn text(&self) -> &str {
        match self {
            FieldValue::Text(t) => t,
            FieldValue::Number { text, .. } => text,
        }
    }

    /// The value as a number: numbers as they are, text when it parses as a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            FieldValue::Number { value, .. } => Some(*value),
            FieldValue::Text(t) => t.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
        }
    }

    pub fn into_owned(self) -> FieldValue<'static> {
        match self {
            FieldValue::Text(t) => FieldValue::Text(Cow::Owned(t.into_owned())),
            FieldValue::Number { value, text } => FieldValue::Number { value, text: Cow::Owned(text.into_owned()) },
        }
    }
}

/// One decoded record, ready for matching.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event<'a> {
    /// Event time in unix milliseconds, when the format or the stream's `time` gave one.
    /// `None` means "use the transport's time" (Kafka timestamp, else read time).
    pub time_ms: Option<i64>,
    /// The host, when the format or the stream's `host` gave one; `None` means the source's host.
    pub host: Option<Cow<'a, str>>,
    /// The text that `match` and `regex` rules scan: the whole line for raw, nginx and
    /// JSON lines, the `message` for Qalarm events.
    pub text: Cow<'a, str>,
    /// Fields by index into the decoder's `field_names()`; `None` is a missing field
    /// (nginx `-`). Empty for raw lines.
    pub fields: Vec<Option<FieldValue<'a>>>,
}
