//! Decoding one measured value into an [`Event`]: a map with named keys or a compact
//! array in [`FIELDS`] order.
//!
//! Invariants:
//! - a value is decoded (with rmpv) only after it measured, and only if it has at most
//!   [`MAX_EVENT_ITEMS`] items: memory follows the input's real size;
//! - the event time is `time` (unix seconds) and nothing else: no `time`, no event
//!   (reason `time`), never a guessed timestamp;
//! - strings are text, numbers keep the text they are written as, anything else is
//!   its JSON rendering, nil is missing; `message` is always text.

use std::borrow::Cow;

use rmpv::ValueRef;

use super::event::{FIELDS, MESSAGE, SERVER_IP, TIME};
use super::measure::{MAX_NEST, value_len};
use super::render::{float_text, short_json, to_json};
use crate::error::{DecodeError, ErrorReason};
use crate::event::{Event, FieldValue};
use crate::time::{seconds_f64_to_ms, unix_seconds_to_ms};

/// The most items (values at any depth) one event may have; beyond it the event is refused
/// before decoding, since decoded items take ~10x the bytes of the encoded ones.
pub const MAX_EVENT_ITEMS: usize = 1 << 16;
/// Nesting limit handed to rmpv, which counts two levels per container and up to three
/// for a string: anything [`value_len`] accepts decodes.
const MAX_DEPTH: usize = 2 * MAX_NEST + 8;

/// Decodes one measured value of `items` items into an event.
pub(super) fn decode_measured(bytes: &[u8], items: usize) -> Result<Event<'static>, DecodeError> {
    if items > MAX_EVENT_ITEMS {
        return Err(DecodeError::new(
            ErrorReason::Decode,
            format!("event has {items} MessagePack items, more than {MAX_EVENT_ITEMS}"),
        ));
    }
    let value = rmpv::decode::read_value_ref_with_max_depth(&mut &bytes[..], MAX_DEPTH)
        .map_err(|e| DecodeError::new(ErrorReason::Decode, format!("undecodable MessagePack: {e}")))?;
    event_from_value(&value)
}

/// Decode one MessagePack value holding one event: a map with named keys (str or bin
/// keys; unknown keys ignored; missing keys are missing fields; `time` required: int,
/// float or numeric string, unix seconds, else reason `time`) or rmp-serde's compact
/// array in [`FIELDS`] order. Bytes after the value are an error.
pub fn decode_event(bytes: &[u8]) -> Result<Event<'static>, DecodeError> {
    let (len, items) =
        value_len(bytes, MAX_EVENT_ITEMS).map_err(|e| DecodeError::new(ErrorReason::Decode, e.describe()))?;
    if len != bytes.len() {
        return Err(DecodeError::new(ErrorReason::Decode, format!("{} bytes after the event", bytes.len() - len)));
    }
    decode_measured(bytes, items)
}

/// The event of a decoded map or compact array.
fn event_from_value(value: &ValueRef<'_>) -> Result<Event<'static>, DecodeError> {
    let mut slots: [Option<&ValueRef<'_>>; FIELDS.len()] = [None; FIELDS.len()];
    match value {
        ValueRef::Map(pairs) => {
            for (key, val) in pairs {
                let name: &[u8] = match key {
                    ValueRef::String(s) => s.as_bytes(),
                    ValueRef::Binary(b) => b,
                    _ => continue,
                };
                if let Some(i) = FIELDS.iter().position(|f| f.as_bytes() == name) {
                    slots[i] = Some(val);
                }
            }
        }
        ValueRef::Array(items) if matches!(items.first(), Some(ValueRef::String(_) | ValueRef::Binary(_))) => {
            for (slot, item) in slots.iter_mut().zip(items) {
                *slot = Some(item);
            }
        }
        other => {
            return Err(DecodeError::new(
                ErrorReason::Decode,
                format!("not a Qalarm event (a map or a compact array): {}", short_json(other)),
            ));
        }
    }

    let time_ms = match slots[TIME] {
        Some(ValueRef::Integer(i)) => i.as_i64().and_then(|s| s.checked_mul(1000)),
        Some(ValueRef::F64(f)) => seconds_f64_to_ms(*f),
        Some(ValueRef::F32(f)) => seconds_f64_to_ms(f64::from(*f)),
        Some(ValueRef::String(s)) => std::str::from_utf8(s.as_bytes()).ok().and_then(unix_seconds_to_ms),
        Some(ValueRef::Binary(b)) => std::str::from_utf8(b).ok().and_then(unix_seconds_to_ms),
        _ => None,
    };
    let Some(time_ms) = time_ms else {
        let detail = match slots[TIME] {
            None | Some(ValueRef::Nil) => "no \"time\"".to_owned(),
            Some(v) => format!("\"time\" {} is not unix seconds", short_json(v)),
        };
        return Err(DecodeError::new(ErrorReason::Time, detail));
    };

    let fields: Vec<Option<FieldValue<'static>>> = slots
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let v = (*v)?;
            if i == MESSAGE { message_value(v) } else { field_value(v) }
        })
        .collect();
    let text = fields[MESSAGE].as_ref().map(|m| m.text().to_owned()).unwrap_or_default();
    let host = fields[SERVER_IP].as_ref().map(|h| h.text()).filter(|h| !h.is_empty()).map(|h| Cow::Owned(h.to_owned()));
    Ok(Event { time_ms: Some(time_ms), host, text: Cow::Owned(text), fields })
}

/// A field's value: strings as text, numbers as numbers (with their text as written),
/// anything else as its JSON rendering; nil is missing.
fn field_value(v: &ValueRef<'_>) -> Option<FieldValue<'static>> {
    let owned = |s: String| Some(FieldValue::Text(Cow::Owned(s)));
    match v {
        ValueRef::Nil => None,
        ValueRef::Integer(i) => {
            Some(FieldValue::Number { value: i.as_f64().unwrap_or(f64::NAN), text: Cow::Owned(i.to_string()) })
        }
        ValueRef::F64(f) => float_value(*f, float_text(*f)),
        ValueRef::F32(f) => float_value(f64::from(*f), float_text(*f)),
        ValueRef::String(s) => owned(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        ValueRef::Binary(b) => owned(String::from_utf8_lossy(b).into_owned()),
        other => owned(to_json(other)),
    }
}

/// `message` is always text: a string as it is, anything else as JSON.
fn message_value(v: &ValueRef<'_>) -> Option<FieldValue<'static>> {
    match v {
        ValueRef::Nil => None,
        ValueRef::String(_) | ValueRef::Binary(_) => field_value(v),
        other => Some(FieldValue::Text(Cow::Owned(to_json(other)))),
    }
}

/// A float as a number, or as text when it is not finite (NaN would poison sums).
fn float_value(value: f64, text: String) -> Option<FieldValue<'static>> {
    Some(if value.is_finite() {
        FieldValue::Number { value, text: Cow::Owned(text) }
    } else {
        FieldValue::Text(Cow::Owned(text))
    })
}
