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
mod tests {
    use super::*;

    /// When the lines of these tests arrived (only year-less times would depend on it).
    const RECEIVED_MS: i64 = 1_795_780_800_000;

    fn dec(paths: &[&str]) -> JsonDecoder {
        JsonDecoder::new(paths.iter().map(|s| s.to_string()).collect(), None)
    }

    #[test]
    fn top_level_and_dotted_paths() {
        let d = dec(&["status", "req.status", "req.path", "user.name", "missing", "a.b.c", "flag", "tags", "nothing"]);
        assert_eq!(d.field_names().len(), 9);
        let line = r#"{"status": 1.50, "req": {"status": 200, "path": "/x \"y\"", "deep": {"ignored": [1,2,{"q":3}]}}, "user.name": "bob", "a": {"b": {"c": -3e2}}, "flag": true, "tags": ["x", 1], "nothing": null, "big": 1e999}"#;
        let ev = d.decode(line, RECEIVED_MS).unwrap();
        assert_eq!(ev.text, line);
        assert_eq!(ev.time_ms, None);
        assert_eq!(ev.fields[0], Some(FieldValue::Number { value: 1.5, text: "1.50".into() }));
        assert_eq!(ev.fields[1], Some(FieldValue::Number { value: 200.0, text: "200".into() }));
        assert_eq!(ev.fields[2], Some(FieldValue::Text("/x \"y\"".into())));
        assert_eq!(ev.fields[3], Some(FieldValue::Text("bob".into())));
        assert_eq!(ev.fields[4], None);
        assert_eq!(ev.fields[5], Some(FieldValue::Number { value: -300.0, text: "-3e2".into() }));
        assert_eq!(ev.fields[6], Some(FieldValue::Text("true".into())));
        assert_eq!(ev.fields[7], Some(FieldValue::Text(r#"["x", 1]"#.into())));
        assert_eq!(ev.fields[8], None);
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        let d = dec(&["a", "b", "é"]);
        let ev = d.decode(r#"{"a":"plain","b":"tab\tand \u00e9","\u00e9":"key escaped"}"#, RECEIVED_MS).unwrap();
        assert!(matches!(ev.fields[0], Some(FieldValue::Text(Cow::Borrowed("plain")))));
        assert_eq!(ev.fields[1], Some(FieldValue::Text("tab\tand é".into())));
        assert_eq!(ev.fields[2], Some(FieldValue::Text("key escaped".into())));
    }

    #[test]
    fn objects_as_fields_and_nested_prefix_not_object() {
        let d = dec(&["req", "req.status"]);
        let ev = d.decode(r#"{"req": {"status": 404}}"#, RECEIVED_MS).unwrap();
        assert_eq!(ev.fields[0], Some(FieldValue::Text(r#"{"status": 404}"#.into())));
        assert_eq!(ev.fields[1].as_ref().and_then(FieldValue::as_f64), Some(404.0));
        let ev = d.decode(r#"{"req": "GET /"}"#, RECEIVED_MS).unwrap();
        assert_eq!(ev.fields[1], None);
        // A later duplicate key wins, as in most JSON readers.
        let ev = d.decode(r#"{"req": 1, "req": 2}"#, RECEIVED_MS).unwrap();
        assert_eq!(ev.fields[0].as_ref().unwrap().text(), "2");
    }

    #[test]
    fn bad_lines_are_decode_errors() {
        let d = dec(&["a"]);
        for line in ["", "[1,2]", "42", "\"s\"", "{", "{\"a\":1} trailing", "{\"a\":1}{}", "not json", "{\"a\":}"] {
            assert_eq!(d.decode(line, RECEIVED_MS).unwrap_err().reason, ErrorReason::Decode, "{line}");
        }
        assert!(d.decode("  {\"a\":1}  \r", RECEIVED_MS).is_ok());
        let deep = format!("{}{}", "{\"x\":".repeat(10_000), "}".repeat(10_000));
        assert_eq!(d.decode(&deep, RECEIVED_MS).unwrap_err().reason, ErrorReason::Decode);
    }

    #[test]
    fn time_fields() {
        let rfc =
            JsonDecoder::new(vec!["ts".into()], Some(("ts".into(), TimeParser::new("rfc3339", None, None).unwrap())));
        let ev = rfc.decode(r#"{"ts":"2000-10-10T13:55:36-07:00"}"#, RECEIVED_MS).unwrap();
        assert_eq!(ev.time_ms, Some(971_211_336_000));
        assert_eq!(ev.fields.len(), 1);
        assert_eq!(ev.fields[0].as_ref().unwrap().text(), "2000-10-10T13:55:36-07:00");
        for bad in [r#"{"ts":"yesterday"}"#, r#"{"ts":null}"#, r#"{"other":1}"#, r#"{"ts":{"a":1}}"#] {
            assert_eq!(rfc.decode(bad, RECEIVED_MS).unwrap_err().reason, ErrorReason::Time, "{bad}");
        }
        let unix =
            JsonDecoder::new(vec!["msg".into()], Some(("meta.t".into(), TimeParser::new("unix", None, None).unwrap())));
        let ev = unix.decode(r#"{"msg":"hi","meta":{"t":1700000000.5}}"#, RECEIVED_MS).unwrap();
        assert_eq!(ev.time_ms, Some(1_700_000_000_500));
        assert_eq!(ev.fields.len(), 1);
        let ev = unix.decode(r#"{"meta":{"t":"1700000000"}}"#, RECEIVED_MS).unwrap();
        assert_eq!(ev.time_ms, Some(1_700_000_000_000));
        let ms = JsonDecoder::new(vec![], Some(("t".into(), TimeParser::new("unix_ms", None, None).unwrap())));
        assert_eq!(ms.decode(r#"{"t":1700000000123}"#, RECEIVED_MS).unwrap().time_ms, Some(1_700_000_000_123));
        let chrono = JsonDecoder::new(
            vec![],
            Some(("t".into(), TimeParser::new("%Y-%m-%d %H:%M:%S", None, Some("+01:00")).unwrap())),
        );
        assert_eq!(
            chrono.decode(r#"{"t":"2000-10-10 21:55:36"}"#, RECEIVED_MS).unwrap().time_ms,
            Some(971_211_336_000)
        );
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(line in "\\PC{0,100}", json in "[{}\\[\\]\":,a-c0-9. \\\\nul-]{0,60}") {
            let d = dec(&["a", "a.b", "b.c.a", ""]);
            let _ = d.decode(&line, RECEIVED_MS);
            let _ = d.decode(&json, RECEIVED_MS);
        }
    }
}
