//! The Qalarm event: its fields, in the order of [`crate::Event::fields`] and of the
//! compact-array form, and [`QalarmEvent`], the SDK-side representation that
//! `logpulse produce` encodes and tests build events with.
//!
//! Invariants:
//! - [`FIELDS`] is the one list of field names and their order; the index constants
//!   below name positions in it;
//! - a [`QalarmEvent`] encodes as the SDKs do (named map, keys in [`FIELDS`] order), and
//!   `time` is required when one is read from JSON.

use crate::error::{DecodeError, ErrorReason};

/// The event's fields, in order: the indexes of [`Event::fields`](crate::Event::fields)
/// and the order of the compact-array form.
pub const FIELDS: [&str; 9] =
    ["project", "module", "code", "env", "message", "time", "server_ip", "client_ip", "script"];

/// Where `message` is in [`FIELDS`].
pub(super) const MESSAGE: usize = 4;
/// Where `time` is in [`FIELDS`].
pub(super) const TIME: usize = 5;
/// Where `code` is in [`FIELDS`].
pub(super) const CODE: usize = 2;
/// Where `server_ip` is in [`FIELDS`].
pub(super) const SERVER_IP: usize = 6;

/// Our own SDK-side representation, used by `logpulse produce` and tests. Field order is
/// [`FIELDS`] order, which is also the compact-array order.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct QalarmEvent {
    /// The project (application) that raised the alarm.
    pub project: String,
    /// The module within the project.
    pub module: String,
    /// The alarm code: an integer in the SDKs, but some send strings; kept as given.
    pub code: serde_json::Value,
    /// The environment (`prod`, `test`, ...).
    pub env: String,
    /// The alarm message: usually a string, sometimes a map of details; kept as given.
    pub message: serde_json::Value,
    /// Event time, unix seconds (fractional allowed).
    pub time: f64,
    /// The server that raised it; the event's host.
    pub server_ip: String,
    /// The client being served, if any.
    pub client_ip: String,
    /// The script or binary that raised it.
    pub script: String,
}

impl QalarmEvent {
    /// The event as a MessagePack map with named keys, as the SDKs send it.
    pub fn to_msgpack(&self) -> Vec<u8> {
        // Serializing strings, finite-or-not floats and JSON values into a Vec has no
        // failure mode (no I/O, no unsized sequences); an empty result would only come
        // from a broken rmp-serde and decodes as an error, not as a wrong event.
        rmp_serde::to_vec_named(self).unwrap_or_default()
    }

    /// One JSON object per line, as `logpulse produce --format qalarm` reads it. Missing
    /// strings are empty; `time` (number or numeric string, unix seconds) is required.
    pub fn from_json_line(line: &str) -> Result<QalarmEvent, DecodeError> {
        let mut map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line.trim())
            .map_err(|e| DecodeError::new(ErrorReason::Decode, format!("not a JSON object: {e}")))?;
        let time = match map.get("time") {
            Some(serde_json::Value::Number(n)) => n.as_f64(),
            Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|t| t.is_finite())
        .ok_or_else(|| DecodeError::new(ErrorReason::Time, "\"time\" (unix seconds) is missing or not a number"))?;
        let mut text = |key: &str| match map.remove(key) {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(s)) => s,
            Some(other) => other.to_string(),
        };
        Ok(QalarmEvent {
            project: text("project"),
            module: text("module"),
            env: text("env"),
            server_ip: text("server_ip"),
            client_ip: text("client_ip"),
            script: text("script"),
            code: map.remove("code").unwrap_or_default(),
            message: map.remove("message").unwrap_or_default(),
            time,
        })
    }
}
