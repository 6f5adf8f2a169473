//! JSON lines: one object per line; the fields rules use are top-level keys or dotted
//! paths (`req.status`).
//!
//! Invariants:
//! - only the configured paths are looked at: everything else is skipped by the parser
//!   without being built, and the values taken borrow from the line (raw JSON text);
//! - a dotted path matches nested objects (`{"req":{"status":200}}`) and also a key
//!   that itself contains the dots (`{"req.status":200}`), whichever the line has;
//! - numbers keep their text as written (`1.50` stays `1.50`), `null` is missing;
//! - a line that is not one JSON object is a `decode` error; with a configured time, a
//!   missing or unparseable time is a `time` error.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::{DecodeError, ErrorReason, short};
use crate::event::{Event, FieldValue};
use crate::time::TimeParser;

/// Decodes JSON lines into events with the configured fields.
#[derive(Debug, Clone)]
pub struct JsonDecoder {
    /// The field paths, in [`Event::fields`] order.
    names: Vec<String>,
    /// Every path looked up per line: `names`, then the time path if any.
    targets: Vec<String>,
    /// The top-level candidates (target index, offset 0 into its path), built once.
    top: Vec<(usize, usize)>,
    /// Parses the time field's text; `None` leaves the time to the transport.
    time: Option<TimeParser>,
}

impl JsonDecoder {
    /// `paths`: the fields rules use, top-level keys or dotted paths (`req.status`); these
    /// become [`Event::fields`] in this order. `time`: (field path, parser).
    pub fn new(paths: Vec<String>, time: Option<(String, TimeParser)>) -> JsonDecoder {
        let mut targets = paths.clone();
        let time = time.map(|(path, parser)| {
            targets.push(path);
            parser
        });
        let top = (0..targets.len()).map(|i| (i, 0)).collect();
        JsonDecoder { names: paths, targets, top, time }
    }

    /// The configured paths, in [`Event::fields`] order.
    pub fn field_names(&self) -> &[String] {
        &self.names
    }

    /// Decodes one line; `received_ms` is when it arrived (see [`TimeParser::parse`]).
    pub fn decode<'a>(&self, line: &'a str, received_ms: i64) -> Result<Event<'a>, DecodeError> {
        let mut slots: Vec<Option<&'a RawValue>> = vec![None; self.targets.len()];
        let mut de = serde_json::Deserializer::from_str(line);
        Level { targets: &self.targets, candidates: &self.top, slots: &mut slots }
            .deserialize(&mut de)
            .and_then(|()| de.end())
            .map_err(|e| DecodeError::new(ErrorReason::Decode, format!("not a JSON object: {e}")))?;

        let time_ms = match &self.time {
            None => None,
            Some(parser) => {
                let path = &self.targets[self.names.len()];
                let raw = slots.pop().flatten().map(RawValue::get);
                let text = match raw.map(leaf_value) {
                    Some(Some(v)) => v,
                    _ => return Err(DecodeError::new(ErrorReason::Time, format!("no time field {path:?}"))),
                };
                let t = parser.parse_detailed(text.text(), received_ms).map_err(|e| {
                    DecodeError::new(ErrorReason::Time, format!("{path} {:?} does not parse: {e}", short(text.text())))
                })?;
                Some(t)
            }
        };
        let fields =
            slots.into_iter().take(self.names.len()).map(|raw| raw.and_then(|r| leaf_value(r.get()))).collect();
        Ok(Event { time_ms, host: None, text: Cow::Borrowed(line), fields })
    }
}

/// A value's raw JSON text as a field: strings unescaped (borrowed when they have no
/// escapes), numbers with their text, `null` missing, anything else its JSON text.
fn leaf_value(raw: &str) -> Option<FieldValue<'_>> {
    match raw.as_bytes().first()? {
        b'"' => {
            let inner = raw.get(1..raw.len().saturating_sub(1)).unwrap_or("");
            if !inner.contains('\\') {
                return Some(FieldValue::Text(Cow::Borrowed(inner)));
            }
            Some(match serde_json::from_str::<String>(raw) {
                Ok(s) => FieldValue::Text(Cow::Owned(s)),
                Err(_) => FieldValue::Text(Cow::Borrowed(raw)),
            })
        }
        b'n' => None,
        b'-' | b'0'..=b'9' => Some(match raw.parse::<f64>() {
            Ok(value) if value.is_finite() => FieldValue::Number { value, text: Cow::Borrowed(raw) },
            _ => FieldValue::Text(Cow::Borrowed(raw)),
        }),
        _ => Some(FieldValue::Text(Cow::Borrowed(raw))),
    }
}

/// An object key, borrowed from the line unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// One object level of the walk: which targets can still match here, and where found
/// values go.
struct Level<'p, 's, 'a> {
    /// All target paths.
    targets: &'p [String],
    /// (target index, byte offset of the path's remaining part) for the targets that
    /// can match inside this object.
    candidates: &'p [(usize, usize)],
    /// Found raw values, by target index.
    slots: &'s mut [Option<&'a RawValue>],
}

impl<'a> DeserializeSeed<'a> for Level<'_, '_, 'a> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'a>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'a> Visitor<'a> for Level<'_, '_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'a>>(self, mut map: M) -> Result<(), M::Error> {
        let mut nested: Vec<(usize, usize)> = Vec::new();
        while let Some(Key(key)) = map.next_key::<Key<'a>>()? {
            nested.clear();
            let mut leaf = false;
            for &(target, offset) in self.candidates {
                let rest = &self.targets[target][offset..];
                if let Some(after) = rest.strip_prefix(key.as_ref()) {
                    if after.is_empty() {
                        leaf = true;
                    } else if after.starts_with('.') {
                        nested.push((target, offset + key.len() + 1));
                    }
                }
            }
            if !leaf && nested.is_empty() {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let raw: &'a RawValue = map.next_value()?;
            if leaf {
                for &(target, offset) in self.candidates {
                    if self.targets[target][offset..] == *key {
                        self.slots[target] = Some(raw);
                    }
                }
            }
            if !nested.is_empty() && raw.get().starts_with('{') {
                let mut inner = serde_json::Deserializer::from_str(raw.get());
                Level { targets: self.targets, candidates: &nested, slots: &mut *self.slots }
                    .deserialize(&mut inner)
                    .map_err(de::Error::custom)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
