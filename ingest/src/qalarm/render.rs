//! Rendering MessagePack values as text: JSON for values that are not strings or numbers
//! (a map `message`, a `code` array), and numbers as JSON encoders write them.
//!
//! Invariants:
//! - the output is valid JSON for any value, including map keys that are not strings
//!   (rendered and quoted), binary (lossy UTF-8) and ext (`{"ext":type,"data":"hex"}`);
//! - the output grows linearly with the input: a map key that is a container is named
//!   (`"<map>"`), not rendered (rendering it escaped it again at every level of a chain
//!   of map keys, doubling the text per level).

use rmpv::ValueRef;

use crate::error::short;

/// A float the way JSON encoders write it (`500.0`, `1.5e300`), shortest round-trip form.
pub(super) fn float_text<F: serde::Serialize + std::fmt::Display + Copy>(f: F) -> String {
    match serde_json::to_string(&f) {
        Ok(s) if s != "null" => s,
        // Not finite: JSON has no spelling, so Rust's (`NaN`, `inf`, `-inf`).
        _ => f.to_string(),
    }
}

/// A MessagePack value rendered as JSON text (map keys that are not strings are rendered
/// and quoted; binary as lossy UTF-8 strings; ext as `{"ext":type,"data":"hex"}`).
pub(super) fn to_json(v: &ValueRef<'_>) -> String {
    let mut out = String::new();
    write_json(&mut out, v);
    out
}

fn write_json_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::String(s.to_owned()).to_string());
}

fn write_json(out: &mut String, v: &ValueRef<'_>) {
    match v {
        ValueRef::Nil => out.push_str("null"),
        ValueRef::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        ValueRef::Integer(i) => out.push_str(&i.to_string()),
        ValueRef::F64(f) if f.is_finite() => out.push_str(&float_text(*f)),
        ValueRef::F32(f) if f.is_finite() => out.push_str(&float_text(*f)),
        ValueRef::F64(_) | ValueRef::F32(_) => out.push_str("null"),
        ValueRef::String(s) => write_json_str(out, &String::from_utf8_lossy(s.as_bytes())),
        ValueRef::Binary(b) => write_json_str(out, &String::from_utf8_lossy(b)),
        ValueRef::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        ValueRef::Map(pairs) => {
            out.push('{');
            for (i, (k, val)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match k {
                    ValueRef::String(s) => write_json_str(out, &String::from_utf8_lossy(s.as_bytes())),
                    ValueRef::Binary(b) => write_json_str(out, &String::from_utf8_lossy(b)),
                    // JSON keys are strings. A container key is named, not rendered:
                    // rendering it and then escaping it again at every level of a
                    // chain of map keys doubles the text per level (found by fuzzing:
                    // 84 bytes of input became gigabytes).
                    ValueRef::Map(_) => out.push_str("\"<map>\""),
                    ValueRef::Array(_) => out.push_str("\"<array>\""),
                    ValueRef::Ext(..) => out.push_str("\"<ext>\""),
                    scalar => write_json_str(out, &to_json(scalar)),
                }
                out.push(':');
                write_json(out, val);
            }
            out.push('}');
        }
        ValueRef::Ext(ty, data) => {
            let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
            out.push_str(&format!("{{\"ext\":{ty},\"data\":\"{hex}\"}}"));
        }
    }
}

/// A value's JSON text, cut short for error details.
pub(super) fn short_json(v: &ValueRef<'_>) -> String {
    short(&to_json(v)).into_owned()
}
