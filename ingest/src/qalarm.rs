//! Qalarm alarm events in MessagePack, as the Python, PHP and Go SDKs send them: maps with
//! named keys (str or bin), or rmp-serde's compact arrays in [`FIELDS`] order; one event or
//! an array of events per Kafka message, or concatenated values in a file.
//!
//! Invariants:
//! - every value is first measured by `value_len`, which walks the MessagePack structure
//!   without allocating, limits nesting, and refuses a declared length that the remaining
//!   input cannot hold; only then is it decoded (with rmpv), element by element for
//!   batches, and only if it has at most [`MAX_EVENT_ITEMS`] items. So memory follows the
//!   input's real size, never an untrusted length prefix;
//! - the stream decoder always moves forward: each item it yields consumes at least one
//!   byte, so it ends on any input; a contiguous undecodable region is one error, and
//!   inside one only a value that fully decodes as an event ends it (so bytes of a
//!   damaged event's text are not mistaken for events);
//! - a top-level map is an event only if it has at least one key from [`FIELDS`];
//! - the event time is `time` (unix seconds) and nothing else: no `time`, no event
//!   (reason `time`), never a guessed timestamp.

use std::borrow::Cow;

use rmp::Marker;
use rmpv::ValueRef;

use crate::error::{DecodeError, ErrorReason};
use crate::event::{Event, FieldValue};
use crate::time::{seconds_f64_to_ms, unix_seconds_to_ms};

/// The event's fields, in order: the indexes of [`Event::fields`] and the order of the
/// compact-array form.
pub const FIELDS: [&str; 9] =
    ["project", "module", "code", "env", "message", "time", "server_ip", "client_ip", "script"];

const MESSAGE: usize = 4;
const TIME: usize = 5;
const CODE: usize = 2;
const SERVER_IP: usize = 6;

/// The most items (values at any depth) one event may have; beyond it the event is refused
/// before decoding, since decoded items take ~10x the bytes of the encoded ones.
pub const MAX_EVENT_ITEMS: usize = 1 << 16;
/// Deepest nesting of arrays and maps accepted in a value (a Qalarm event is 2 or 3 deep).
const MAX_NEST: usize = 64;
/// Nesting limit handed to rmpv, which counts two levels per container and up to three
/// for a string: anything [`value_len`] accepts decodes.
const MAX_DEPTH: usize = 2 * MAX_NEST + 8;
/// During resynchronisation, a map with more keys than this is not taken for an event.
const RESYNC_MAX_KEYS: usize = 64;

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

/// Why a MessagePack value could not even be measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Malformed {
    /// The input ends inside the value (or a declared length exceeds what is left).
    Truncated,
    /// Byte 0xc1, which MessagePack never uses.
    ReservedMarker,
    /// Containers nested deeper than [`MAX_NEST`].
    TooDeep,
    /// More items than the caller allows.
    TooMany,
}

impl Malformed {
    fn describe(self) -> &'static str {
        match self {
            Malformed::Truncated => "truncated MessagePack value",
            Malformed::ReservedMarker => "invalid MessagePack marker 0xc1",
            Malformed::TooDeep => "MessagePack value nested too deeply",
            Malformed::TooMany => "MessagePack value with too many items",
        }
    }
}

/// The size of one complete MessagePack value at the start of `bytes`: (byte length,
/// number of items at all depths). Walks the structure iteratively, without allocating
/// (open containers live in a fixed array, hence [`MAX_NEST`]), and stops after
/// `max_items` items. A container whose declared element count exceeds the remaining
/// bytes is `Truncated` at once, so huge declared lengths cost nothing. The depth limit
/// also bounds the cost of probing garbage at every byte: a byte is inside at most
/// `MAX_NEST` of the values that get measured.
fn value_len(bytes: &[u8], max_items: usize) -> Result<(usize, usize), Malformed> {
    // Children still to read, per open container, innermost last.
    let mut open = [0usize; MAX_NEST];
    let mut depth = 0usize;
    // Sum of `open`: values still to read, each at least a byte, so never more than the input left.
    let mut pending = 0usize;
    let mut pos = 0usize;
    let mut items = 0usize;
    let be = |at: usize, n: usize| -> Result<usize, Malformed> {
        let b = bytes.get(at..at + n).ok_or(Malformed::Truncated)?;
        Ok(b.iter().fold(0usize, |acc, &x| (acc << 8) | usize::from(x)))
    };
    loop {
        // The value about to be read fills one slot of the innermost open container.
        if depth > 0 {
            open[depth - 1] -= 1;
            pending -= 1;
        }
        let marker = *bytes.get(pos).ok_or(Malformed::Truncated)?;
        pos += 1;
        items += 1;
        if items > max_items {
            return Err(Malformed::TooMany);
        }
        let (skip, children) = match Marker::from_u8(marker) {
            Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::True | Marker::False => (0, 0),
            Marker::Reserved => return Err(Malformed::ReservedMarker),
            Marker::U8 | Marker::I8 => (1, 0),
            Marker::U16 | Marker::I16 => (2, 0),
            Marker::U32 | Marker::I32 | Marker::F32 => (4, 0),
            Marker::U64 | Marker::I64 | Marker::F64 => (8, 0),
            Marker::FixStr(n) => (usize::from(n), 0),
            Marker::Str8 | Marker::Bin8 => (be(pos, 1)?.saturating_add(1), 0),
            Marker::Str16 | Marker::Bin16 => (be(pos, 2)?.saturating_add(2), 0),
            Marker::Str32 | Marker::Bin32 => (be(pos, 4)?.saturating_add(4), 0),
            Marker::FixExt1 => (2, 0),
            Marker::FixExt2 => (3, 0),
            Marker::FixExt4 => (5, 0),
            Marker::FixExt8 => (9, 0),
            Marker::FixExt16 => (17, 0),
            Marker::Ext8 => (be(pos, 1)?.saturating_add(2), 0),
            Marker::Ext16 => (be(pos, 2)?.saturating_add(3), 0),
            Marker::Ext32 => (be(pos, 4)?.saturating_add(5), 0),
            Marker::FixArray(n) => (0, usize::from(n)),
            Marker::Array16 => (2, be(pos, 2)?),
            Marker::Array32 => (4, be(pos, 4)?),
            Marker::FixMap(n) => (0, 2 * usize::from(n)),
            Marker::Map16 => (2, 2 * be(pos, 2)?),
            Marker::Map32 => (4, be(pos, 4)?.saturating_mul(2)),
        };
        if skip > bytes.len() - pos {
            return Err(Malformed::Truncated);
        }
        pos += skip;
        if children > 0 {
            if depth == MAX_NEST {
                return Err(Malformed::TooDeep);
            }
            pending = pending.saturating_add(children);
            if pending > bytes.len() - pos {
                return Err(Malformed::Truncated);
            }
            open[depth] = children;
            depth += 1;
            continue;
        }
        // A value is complete: close every container that it completes.
        while depth > 0 && open[depth - 1] == 0 {
            depth -= 1;
        }
        if depth == 0 {
            return Ok((pos, items));
        }
    }
}

/// The element count of the array or map whose marker is `bytes[0]`, and where its
/// first element starts; `None` for other markers or a cut header.
fn container_header(bytes: &[u8]) -> Option<(Marker, usize, usize)> {
    let be = |n: usize| -> Option<usize> {
        Some(bytes.get(1..1 + n)?.iter().fold(0usize, |acc, &x| (acc << 8) | usize::from(x)))
    };
    let marker = Marker::from_u8(*bytes.first()?);
    let (count, start) = match marker {
        Marker::FixArray(n) | Marker::FixMap(n) => (usize::from(n), 1),
        Marker::Array16 | Marker::Map16 => (be(2)?, 3),
        Marker::Array32 | Marker::Map32 => (be(4)?, 5),
        _ => return None,
    };
    Some((marker, count, start))
}

fn is_map(m: Marker) -> bool {
    matches!(m, Marker::FixMap(_) | Marker::Map16 | Marker::Map32)
}

fn is_array(m: Marker) -> bool {
    matches!(m, Marker::FixArray(_) | Marker::Array16 | Marker::Array32)
}

fn is_str_or_bin(m: Marker) -> bool {
    matches!(
        m,
        Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 | Marker::Bin8 | Marker::Bin16 | Marker::Bin32
    )
}

/// What a complete value at some offset is, judged from its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// One event (a map or a compact array) of `len` bytes and `items` items.
    Event { len: usize, items: usize },
    /// An array of `count` events, `len` bytes long, whose first element starts at `first`.
    Batch { len: usize, count: usize, first: usize },
}

/// Whether the map whose entries start at `bytes[pos]` has a key from [`FIELDS`].
fn map_has_known_key(bytes: &[u8], count: usize, pos: usize, strict: bool) -> bool {
    let Some(keys) = map_keys(bytes, count, pos) else { return false };
    if strict {
        // Inside garbage, a truncated map header can swallow the start of the next
        // event and still measure as a map with some known key; a real event has
        // text keys only, its time and its project.
        keys.all_text && keys.has_time && keys.has_project && keys.known >= 3
    } else {
        keys.known > 0
    }
}

/// What the keys of an encoded map say about it.
struct MapKeys {
    /// How many keys are Qalarm field names.
    known: usize,
    /// Every key is a str or bin.
    all_text: bool,
    has_time: bool,
    has_project: bool,
    /// Some Qalarm field name is a key more than once.
    repeated: bool,
    /// A field other than `message` holds a map or an array.
    nested_scalar: bool,
}

fn map_keys(bytes: &[u8], count: usize, mut pos: usize) -> Option<MapKeys> {
    let mut keys = MapKeys {
        known: 0,
        all_text: true,
        has_time: false,
        has_project: false,
        repeated: false,
        nested_scalar: false,
    };
    let mut seen = 0u32;
    for _ in 0..count {
        let (klen, _) = value_len(&bytes[pos..], usize::MAX).ok()?;
        match str_payload(&bytes[pos..pos + klen]) {
            Some(name) => {
                if let Some(field) = FIELDS.iter().position(|f| f.as_bytes() == name) {
                    keys.known += 1;
                    keys.repeated |= seen & (1 << field) != 0;
                    seen |= 1 << field;
                }
                keys.has_time |= name == b"time";
                keys.has_project |= name == b"project";
            }
            None => keys.all_text = false,
        }
        let scalar_field = str_payload(&bytes[pos..pos + klen])
            .is_some_and(|name| name != b"message" && FIELDS.iter().any(|f| f.as_bytes() == name));
        pos += klen;
        if scalar_field {
            let marker = Marker::from_u8(*bytes.get(pos)?);
            keys.nested_scalar |= is_map(marker) || is_array(marker);
        }
        let (vlen, _) = value_len(&bytes[pos..], usize::MAX).ok()?;
        pos += vlen;
    }
    Some(keys)
}

/// Whether a value that measured as an event has the shape SDKs write: text keys, each
/// once (maps), or rmp-serde's field types (compact arrays, [`compact_fields_typed`]). A
/// value without it is still an event (some producers write integer keys, or a `code`
/// array), but it may also be an event cut short that ran on into the next ones (taking
/// the next map in a key's or a field's place, or its entries), so the decoder then looks
/// inside it for a real event.
fn has_sdk_shape(bytes: &[u8]) -> bool {
    match container_header(bytes) {
        Some((marker, count, first)) if is_map(marker) => {
            map_keys(bytes, count, first).is_some_and(|k| k.all_text && !k.repeated && !k.nested_scalar)
        }
        Some((marker, count, first)) if is_array(marker) => compact_fields_typed(bytes, count, first),
        _ => true,
    }
}

/// Whether the compact array whose elements start at `bytes[pos]` has the field types
/// rmp-serde writes for [`QalarmEvent`] (the one encoder of compact arrays): valid UTF-8
/// text in the text fields, a number in `time`, a scalar in `code` (a number, text, a
/// boolean or nil);
/// `message` may be anything. Looser checks let the bytes of a good event's `message`
/// pass for a compact event running on into garbage after it (see [`found_has_sdk_shape`]).
fn compact_fields_typed(bytes: &[u8], count: usize, mut pos: usize) -> bool {
    for index in 0..count {
        let Some(&first) = bytes.get(pos) else { return false };
        let marker = Marker::from_u8(first);
        let Ok((len, _)) = value_len(&bytes[pos..], usize::MAX) else { return false };
        let value = &bytes[pos..pos + len];
        let typed = match index {
            MESSAGE => true,
            TIME => is_number(marker),
            CODE => {
                is_number(marker) || matches!(marker, Marker::Null | Marker::True | Marker::False) || is_text(value)
            }
            i if i < FIELDS.len() => is_text(value),
            _ => true,
        };
        if !typed {
            return false;
        }
        pos += len;
    }
    true
}

fn is_number(m: Marker) -> bool {
    matches!(
        m,
        Marker::FixPos(_)
            | Marker::FixNeg(_)
            | Marker::U8
            | Marker::U16
            | Marker::U32
            | Marker::U64
            | Marker::I8
            | Marker::I16
            | Marker::I32
            | Marker::I64
            | Marker::F32
            | Marker::F64
    )
}

/// Whether `value` (one whole MessagePack value) is a str (not a bin) of valid UTF-8.
fn is_text(value: &[u8]) -> bool {
    matches!(
        value.first().map(|&b| Marker::from_u8(b)),
        Some(Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32)
    ) && str_payload(value).is_some_and(|text| std::str::from_utf8(text).is_ok())
}

/// The payload of an encoded str or bin value (header skipped, nothing decoded);
/// `None` for other values.
fn str_payload(encoded: &[u8]) -> Option<&[u8]> {
    let header = match Marker::from_u8(*encoded.first()?) {
        Marker::FixStr(_) => 1,
        Marker::Str8 | Marker::Bin8 => 2,
        Marker::Str16 | Marker::Bin16 => 3,
        Marker::Str32 | Marker::Bin32 => 5,
        _ => return None,
    };
    encoded.get(header..)
}

/// Looks at the value starting at `bytes[0]`: an event, a batch of events, or neither
/// (`None`: malformed, truncated, a map without any Qalarm key, an empty array, or some
/// other value). `strict` is for resynchronising inside garbage, where a value must look
/// even more like an event to be believed (bounded key and element counts).
fn probe(bytes: &[u8], strict: bool) -> Option<Found> {
    probe_inner(bytes, strict, true)
}

/// [`probe`], with batches allowed or not (a batch's elements must not be batches,
/// which also keeps the recursion one level deep whatever the input's nesting).
fn probe_inner(bytes: &[u8], strict: bool, allow_batch: bool) -> Option<Found> {
    // Cheap header checks come first: inside garbage this runs at every byte.
    let (marker, count, first) = container_header(bytes)?;
    if count == 0 {
        return None;
    }
    let first_marker = Marker::from_u8(*bytes.get(first)?);
    let batch = is_array(marker) && (is_map(first_marker) || is_array(first_marker));
    if is_map(marker) {
        if strict && count > RESYNC_MAX_KEYS {
            return None;
        }
    } else if batch {
        if !allow_batch {
            return None;
        }
    } else if !is_str_or_bin(first_marker) || (strict && count != FIELDS.len()) {
        // rmp-serde, the one encoder of compact arrays, writes all the fields.
        return None;
    }

    if batch && allow_batch {
        // Check the first element before measuring the whole batch: it is the cheaper test.
        match probe_inner(&bytes[first..], strict, false) {
            Some(Found::Event { .. }) => {}
            _ => return None,
        }
    }
    // Inside garbage, an event with more items than allowed is not worth measuring.
    let cap = if strict && !batch { MAX_EVENT_ITEMS } else { usize::MAX };
    let (len, items) = value_len(bytes, cap).ok()?;
    if !batch {
        if is_map(marker) && !map_has_known_key(bytes, count, first, strict) {
            return None;
        }
        // Text (UTF-8 continuation bytes are container markers) can hold byte runs that
        // measure as a map or array; inside garbage only a value that fully decodes
        // as an event, with a valid time, is believed.
        if strict && decode_measured(&bytes[..len], items).is_err() {
            return None;
        }
        return Some(Found::Event { len, items });
    }
    Some(Found::Batch { len, count, first })
}

/// Decodes one measured value of `items` items into an event.
fn decode_measured(bytes: &[u8], items: usize) -> Result<Event<'static>, DecodeError> {
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

/// One Kafka message: one event, or an array of events (told apart from a compact-array
/// event by its first element: a map or array, not a string). Each element is decoded
/// separately. Anything after the first value is read as further values (as a file of
/// concatenated values would be); an empty message is one `decode` error.
pub fn decode_message(bytes: &[u8]) -> Vec<Result<Event<'static>, DecodeError>> {
    if bytes.is_empty() {
        return vec![Err(DecodeError::new(ErrorReason::Decode, "empty message"))];
    }
    StreamDecoder::new(bytes).map(|(_, r)| r).collect()
}

/// The batch the stream decoder is in the middle of.
#[derive(Debug, Clone)]
struct Batch {
    /// Where the batch value starts: the offset reported for each of its events.
    offset: usize,
    /// Where the next element starts.
    next: usize,
    /// Elements still to decode.
    left: usize,
}

/// A file of concatenated MessagePack values. Yields (byte offset of the value, result);
/// events of a batch (an array of events) all carry the batch's offset. After an
/// undecodable region it resynchronises by trying each following byte; a contiguous
/// undecodable region yields one error.
///
/// Such a file has no framing, so an event cut short (a producer killed mid-write)
/// runs on into the next ones: its map or array takes their bytes as its missing
/// entries. A value that is followed by neither the end nor another event, or that
/// lacks an SDK's shape (text keys, each once; only `message` nested), is looked into:
/// if a real event starts inside it and events run on from there past its end, it is
/// cut short there (tested for every cut point of an event followed by two good ones,
/// in both encodings). Otherwise it is decoded as it is, odd shape and all.
#[derive(Debug, Clone)]
pub struct StreamDecoder<'a> {
    /// The whole input.
    bytes: &'a [u8],
    /// Where the next top-level value starts.
    pos: usize,
    /// Set while the elements of a batch are being handed out.
    batch: Option<Batch>,
    /// What `probe` said of the value at this offset, when it was looked at to check
    /// the end of the previous event (so that each value is measured once).
    lookahead: Option<(usize, Option<Found>)>,
}

impl<'a> StreamDecoder<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        StreamDecoder { bytes, pos: 0, batch: None, lookahead: None }
    }
}

impl Iterator for StreamDecoder<'_> {
    type Item = (usize, Result<Event<'static>, DecodeError>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(batch) = &mut self.batch {
                if batch.left == 0 {
                    self.batch = None;
                    continue;
                }
                batch.left -= 1;
                let offset = batch.offset;
                let rest = &self.bytes[batch.next..];
                // The batch as a whole was measured, so each element measures too.
                let Ok((len, items)) = value_len(rest, usize::MAX) else {
                    self.batch = None;
                    return Some((offset, Err(DecodeError::new(ErrorReason::Decode, "malformed batch element"))));
                };
                batch.next += len;
                return Some((offset, decode_measured(&rest[..len], items)));
            }

            let start = self.pos;
            let rest = self.bytes.get(start..).filter(|r| !r.is_empty())?;
            let found = match self.lookahead.take() {
                Some((at, found)) if at == start => found,
                _ => probe(rest, false),
            };
            match found {
                Some(Found::Event { len, items }) => {
                    // A truncated event can run on into the next ones and still measure
                    // as an event. Then it is followed by neither the end nor an event, or
                    // it lacks an SDK's shape; and a real event starts inside it and runs
                    // past its end: resume there.
                    let followed_well = len == rest.len() || {
                        let next = probe(&rest[len..], false);
                        self.lookahead = Some((start + len, next));
                        next.is_some()
                    };
                    if (!followed_well || !has_sdk_shape(&rest[..len]))
                        && let Some(inner) = (1..len).find(|&i| {
                            resync_point(&rest[i..]).is_some_and(|found| found_has_sdk_shape(&rest[i..], found))
                                && events_run_past(rest, i, len)
                        })
                    {
                        self.pos += inner;
                        self.lookahead = None;
                        let why = format!(
                            "an event cut short, with the next one inside it: skipped {inner} bytes at offset {start}"
                        );
                        return Some((start, Err(DecodeError::new(ErrorReason::Decode, why))));
                    }
                    self.pos += len;
                    return Some((start, decode_measured(&rest[..len], items)));
                }
                Some(Found::Batch { len, count, first }) => {
                    self.pos += len;
                    self.batch = Some(Batch { offset: start, next: start + first, left: count });
                }
                None => {
                    let why = match value_len(rest, usize::MAX) {
                        Err(e) => e.describe(),
                        Ok(_) => "a MessagePack value that is not an event",
                    };
                    let skip = (1..rest.len()).find(|&i| resync_point(&rest[i..]).is_some()).unwrap_or(rest.len());
                    self.pos += skip;
                    return Some((
                        start,
                        Err(DecodeError::new(
                            ErrorReason::Decode,
                            format!("{why}: skipped {skip} bytes at offset {start}"),
                        )),
                    ));
                }
            }
        }
    }
}

/// Do events follow one another from `bytes[at]` to at least `end`, and then end with
/// the input or meet another event? That is what the start of a real event inside a
/// cut-short one looks like; bytes inside a good event that merely measure as one
/// (an int's bytes are often array markers) stop before its end.
fn events_run_past(bytes: &[u8], mut at: usize, end: usize) -> bool {
    while at < end {
        match probe(&bytes[at..], false) {
            Some(Found::Event { len, .. } | Found::Batch { len, .. }) => at += len,
            None => return false,
        }
    }
    at == bytes.len() || probe(&bytes[at..], false).is_some()
}

/// Whether `found`, the event or batch at `bytes[0]`, has an SDK's shape (a batch: its
/// first element). A real event found inside a suspect one must: the bytes of a good
/// event's `message` can measure as a compact event or batch that runs on into garbage
/// after the event, and resuming there would drop the good event for a made-up one
/// (proptest `good_events_survive_garbage`: `message = "𑙢𑶓A®aa0a"` holds `91 99 a2`, a
/// batch of one 9-field array whose first field is not UTF-8). After garbage, where no
/// good event is at stake, any event-like value is a resync point, so that odd events
/// are not lost.
fn found_has_sdk_shape(bytes: &[u8], found: Found) -> bool {
    match found {
        Found::Event { len, .. } => has_sdk_shape(&bytes[..len]),
        Found::Batch { len, first, .. } => has_sdk_shape(&bytes[first..len]),
    }
}

/// Can decoding restart at `bytes[0]` after garbage? The value there must look
/// like an event (strictly). A truncated map header in the garbage can swallow
/// the start of the next event and still measure as an event-like map; such a
/// map then has a key made of swallowed bytes, and it ends in the middle of the
/// next event. So the value must also either be followed by the end of the
/// input or by another event, or have nothing but Qalarm field names as keys
/// (or be a compact array, whose shape was already checked). The value, when it can.
fn resync_point(bytes: &[u8]) -> Option<Found> {
    let found = probe(bytes, true)?;
    let (Found::Event { len, .. } | Found::Batch { len, .. }) = found;
    if len == bytes.len() || probe(&bytes[len..], false).is_some() {
        return Some(found);
    }
    let restarts = match container_header(bytes) {
        Some((marker, count, first)) if is_map(marker) => {
            map_keys(bytes, count, first).is_some_and(|k| k.known == count)
        }
        Some(_) => true,
        None => false,
    };
    restarts.then_some(found)
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

/// A float the way JSON encoders write it (`500.0`, `1.5e300`), shortest round-trip form.
fn float_text<F: serde::Serialize + std::fmt::Display + Copy>(f: F) -> String {
    match serde_json::to_string(&f) {
        Ok(s) if s != "null" => s,
        // Not finite: JSON has no spelling, so Rust's (`NaN`, `inf`, `-inf`).
        _ => f.to_string(),
    }
}

/// A MessagePack value rendered as JSON text (map keys that are not strings are rendered
/// and quoted; binary as lossy UTF-8 strings; ext as `{"ext":type,"data":"hex"}`).
fn to_json(v: &ValueRef<'_>) -> String {
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
fn short_json(v: &ValueRef<'_>) -> String {
    crate::error::short(&to_json(v)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rmpv::Value;
    use serde_json::json;

    fn sample() -> QalarmEvent {
        QalarmEvent {
            project: "shop".into(),
            module: "pay".into(),
            code: json!(500),
            env: "prod".into(),
            message: json!("支付失败: timeout ✗"),
            time: 1_700_000_000.123,
            server_ip: "10.0.0.7".into(),
            client_ip: "1.2.3.4".into(),
            script: "/srv/pay.php".into(),
        }
    }

    fn encode(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, v).unwrap();
        out
    }

    fn text(ev: &Event<'_>, name: &str) -> Option<String> {
        let i = FIELDS.iter().position(|f| *f == name).unwrap();
        ev.fields[i].as_ref().map(|v| v.text().to_owned())
    }

    fn field<'e>(ev: &'e Event<'_>, name: &str) -> Option<&'e FieldValue<'e>> {
        let i = FIELDS.iter().position(|f| *f == name).unwrap();
        ev.fields[i].as_ref()
    }

    fn check_sample(ev: &Event<'_>) {
        assert_eq!(ev.fields.len(), FIELDS.len());
        assert_eq!(ev.time_ms, Some(1_700_000_000_123));
        assert_eq!(ev.host.as_deref(), Some("10.0.0.7"));
        assert_eq!(ev.text, "支付失败: timeout ✗");
        assert_eq!(text(ev, "project").as_deref(), Some("shop"));
        assert_eq!(text(ev, "module").as_deref(), Some("pay"));
        assert_eq!(field(ev, "code"), Some(&FieldValue::Number { value: 500.0, text: "500".into() }));
        assert_eq!(text(ev, "env").as_deref(), Some("prod"));
        assert_eq!(text(ev, "message").as_deref(), Some("支付失败: timeout ✗"));
        assert_eq!(field(ev, "time").and_then(FieldValue::as_f64), Some(1_700_000_000.123));
        assert_eq!(text(ev, "client_ip").as_deref(), Some("1.2.3.4"));
        assert_eq!(text(ev, "script").as_deref(), Some("/srv/pay.php"));
    }

    #[test]
    fn our_encoder_round_trips() {
        let bytes = sample().to_msgpack();
        check_sample(&decode_event(&bytes).unwrap());
        let back: QalarmEvent = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, sample());
        // Map keys in FIELDS order.
        let Value::Map(pairs) = rmpv::decode::read_value(&mut &bytes[..]).unwrap() else { panic!() };
        let keys: Vec<_> = pairs.iter().map(|(k, _)| k.as_str().unwrap().to_owned()).collect();
        assert_eq!(keys, FIELDS);
    }

    #[test]
    fn rmp_serde_compact_arrays() {
        let bytes = rmp_serde::to_vec(&sample()).unwrap();
        assert_eq!(bytes[0], 0x99, "a fixarray of 9");
        check_sample(&decode_event(&bytes).unwrap());
        // Older SDKs without the trailing fields: they are missing.
        let short = encode(&Value::Array(vec![
            "p".into(),
            "m".into(),
            1.into(),
            "dev".into(),
            "msg".into(),
            1_700_000_000.into(),
        ]));
        let ev = decode_event(&short).unwrap();
        assert_eq!(ev.time_ms, Some(1_700_000_000_000));
        assert_eq!(field(&ev, "server_ip"), None);
        assert_eq!(ev.host, None);
    }

    #[test]
    fn named_map_with_bin_keys_and_unknown_keys() {
        let v = Value::Map(vec![
            (Value::Binary(b"project".to_vec()), Value::Binary(b"legacy".to_vec())),
            (Value::Binary(b"code".to_vec()), Value::from("E42")),
            (Value::from("extra"), Value::from(1)),
            (Value::from(7), Value::from("int key")),
            (Value::Binary(b"time".to_vec()), Value::from("1700000000.5")),
            (
                Value::Binary(b"message".to_vec()),
                Value::Map(vec![(Value::from("k"), Value::from(vec![Value::from(1), Value::Nil, Value::from(2.5)]))]),
            ),
            (Value::Binary(b"server_ip".to_vec()), Value::from("")),
        ]);
        let ev = decode_event(&encode(&v)).unwrap();
        assert_eq!(ev.time_ms, Some(1_700_000_000_500));
        assert_eq!(text(&ev, "project").as_deref(), Some("legacy"));
        assert_eq!(field(&ev, "code"), Some(&FieldValue::Text("E42".into())));
        assert_eq!(ev.text, r#"{"k":[1,null,2.5]}"#);
        assert_eq!(text(&ev, "message").as_deref(), Some(r#"{"k":[1,null,2.5]}"#));
        assert_eq!(field(&ev, "module"), None);
        // An empty server_ip is no host.
        assert_eq!(ev.host, None);
    }

    /// Odd but legitimate events (an integer key, a `code` array, a repeated field, a
    /// compact array with an array `code`) decode through the stream decoder and the
    /// Kafka path too, not only through `decode_event`.
    #[test]
    fn odd_shaped_events_still_decode_in_streams_and_messages() {
        let int_key = Value::Map(vec![
            ("project".into(), "p".into()),
            ("time".into(), 1_700_000_000.into()),
            (Value::from(7), "int key".into()),
        ]);
        let code_array = Value::Map(vec![
            ("project".into(), "p".into()),
            ("time".into(), 1_700_000_000.into()),
            ("code".into(), Value::from(vec![Value::from(500), Value::from(3)])),
        ]);
        let repeated = Value::Map(vec![
            ("project".into(), "p".into()),
            ("time".into(), 1_700_000_000.into()),
            ("project".into(), "q".into()),
        ]);
        let mut odd: Vec<Vec<u8>> = [int_key, code_array, repeated].iter().map(encode).collect();
        odd.push(rmp_serde::to_vec(&QalarmEvent { code: json!([1, 2]), ..sample() }).unwrap());
        for bytes in &odd {
            assert!(decode_event(bytes).is_ok());
            assert!(decode_message(bytes).iter().all(Result::is_ok), "{bytes:?}");
        }
        let file: Vec<u8> = odd.concat();
        let out: Vec<_> = StreamDecoder::new(&file).collect();
        assert_eq!(out.len(), odd.len(), "{out:?}");
        assert!(out.iter().all(|(_, r)| r.is_ok()), "{out:?}");
        let batch = encode(&Value::Array(odd.iter().map(|b| rmpv::decode::read_value(&mut &b[..]).unwrap()).collect()));
        assert!(StreamDecoder::new(&batch).all(|(o, r)| o == 0 && r.is_ok()));
        // Each one after garbage, and a compact event with a boolean `code` (which
        // rmp-serde writes as such): the garbage is one error, the event is kept. (Not the
        // integer-keyed map: inside garbage only maps with text keys are taken for events.)
        odd.push(rmp_serde::to_vec(&QalarmEvent { code: json!(true), ..sample() }).unwrap());
        for (i, bytes) in odd.iter().enumerate().skip(1) {
            let mut file = vec![0xd6, 0, 0, 0, 0, 0];
            file.extend(bytes);
            let out: Vec<_> = StreamDecoder::new(&file).collect();
            assert_eq!(out.len(), 2, "{i}: {out:?}");
            assert!(out[0].1.is_err() && out[1].0 == 6 && out[1].1.is_ok(), "{i}: {out:?}");
        }
    }

    #[test]
    fn time_forms() {
        let with_time = |t: Value| encode(&Value::Map(vec![("project".into(), "p".into()), ("time".into(), t)]));
        assert_eq!(decode_event(&with_time(1_700_000_000.into())).unwrap().time_ms, Some(1_700_000_000_000));
        assert_eq!(decode_event(&with_time(Value::F64(1_700_000_000.999_6))).unwrap().time_ms, Some(1_700_000_001_000));
        assert_eq!(decode_event(&with_time(Value::F32(1.5))).unwrap().time_ms, Some(1500));
        assert_eq!(decode_event(&with_time(" 1700000000 ".into())).unwrap().time_ms, Some(1_700_000_000_000));
        for bad in [
            Value::Nil,
            "soon".into(),
            Value::F64(f64::NAN),
            Value::F64(1e300),
            Value::from(u64::MAX),
            Value::from(i64::MAX),
            Value::from(true),
            Value::Array(vec![]),
        ] {
            let e = decode_event(&with_time(bad.clone())).unwrap_err();
            assert_eq!(e.reason, ErrorReason::Time, "{bad:?}");
        }
        let no_time = encode(&Value::Map(vec![("project".into(), "p".into())]));
        assert_eq!(decode_event(&no_time).unwrap_err().reason, ErrorReason::Time);
        let e = decode_event(&rmp_serde::to_vec_named(&QalarmEvent::default()).unwrap()).unwrap();
        assert_eq!(e.time_ms, Some(0), "time 0 is a time, not a missing one");
    }

    #[test]
    fn value_renderings() {
        let v = Value::Map(vec![
            ("time".into(), 1.into()),
            ("code".into(), Value::F64(500.0)),
            ("env".into(), Value::Boolean(true)),
            ("module".into(), Value::F64(f64::INFINITY)),
            ("client_ip".into(), Value::Ext(3, vec![0xab, 0x01])),
            ("script".into(), Value::F32(0.1)),
            ("message".into(), Value::from(42)),
            ("project".into(), Value::from(-7)),
        ]);
        let ev = decode_event(&encode(&v)).unwrap();
        assert_eq!(field(&ev, "code"), Some(&FieldValue::Number { value: 500.0, text: "500.0".into() }));
        assert_eq!(text(&ev, "env").as_deref(), Some("true"));
        assert_eq!(field(&ev, "module"), Some(&FieldValue::Text("inf".into())));
        assert_eq!(text(&ev, "client_ip").as_deref(), Some(r#"{"ext":3,"data":"ab01"}"#));
        assert_eq!(text(&ev, "script").as_deref(), Some("0.1"));
        assert_eq!(field(&ev, "message"), Some(&FieldValue::Text("42".into())));
        assert_eq!(ev.text, "42");
        assert_eq!(field(&ev, "project"), Some(&FieldValue::Number { value: -7.0, text: "-7".into() }));
        let msg = Value::Map(vec![
            ("time".into(), 1.into()),
            (
                "message".into(),
                Value::Map(vec![
                    (Value::from(1), "one".into()),
                    (Value::Binary(vec![0xff]), "\"q\"\n".into()),
                    ("f".into(), Value::F64(f64::NAN)),
                ]),
            ),
        ]);
        assert_eq!(
            decode_event(&encode(&msg)).unwrap().text,
            "{\"1\":\"one\",\"\u{fffd}\":\"\\\"q\\\"\\n\",\"f\":null}"
        );
    }

    #[test]
    fn not_events() {
        for v in
            [Value::from(1), Value::from("s"), Value::Nil, Value::Array(vec![1.into(), 2.into()]), Value::Array(vec![])]
        {
            let e = decode_event(&encode(&v)).unwrap_err();
            assert_eq!(e.reason, ErrorReason::Decode, "{v:?}");
        }
        let mut two = sample().to_msgpack();
        two.extend(sample().to_msgpack());
        assert_eq!(decode_event(&two).unwrap_err().reason, ErrorReason::Decode);
        assert_eq!(decode_event(&[]).unwrap_err().reason, ErrorReason::Decode);
        assert_eq!(decode_event(&[0xc1]).unwrap_err().reason, ErrorReason::Decode);
    }

    #[test]
    fn messages_single_and_batches() {
        let one = decode_message(&sample().to_msgpack());
        assert_eq!(one.len(), 1);
        check_sample(one[0].as_ref().unwrap());

        let maps = Value::Array(vec![
            rmpv::decode::read_value(&mut &sample().to_msgpack()[..]).unwrap(),
            Value::Map(vec![("project".into(), "x".into())]),
            Value::from(3),
            rmpv::decode::read_value(&mut &rmp_serde::to_vec(&sample()).unwrap()[..]).unwrap(),
        ]);
        let out = decode_message(&encode(&maps));
        assert_eq!(out.len(), 4);
        check_sample(out[0].as_ref().unwrap());
        assert_eq!(out[1].as_ref().unwrap_err().reason, ErrorReason::Time);
        assert_eq!(out[2].as_ref().unwrap_err().reason, ErrorReason::Decode);
        check_sample(out[3].as_ref().unwrap());

        // A compact array is one event, not a batch.
        assert_eq!(decode_message(&rmp_serde::to_vec(&sample()).unwrap()).len(), 1);
        let empty = decode_message(&[]);
        assert_eq!(empty.len(), 1);
        assert_eq!(empty[0].as_ref().unwrap_err().reason, ErrorReason::Decode);
        assert_eq!(decode_message(&encode(&Value::Array(vec![]))).len(), 1);
        assert!(decode_message(b"\xc1garbage").iter().all(Result::is_err));
    }

    #[test]
    fn stream_skips_garbage_between_good_events() {
        let good = sample().to_msgpack();
        let garbage = b"\xc1\xc1 not msgpack at all \x00\xff\xde\xad\xbe\xef\x91\x92";
        let mut file = good.clone();
        file.extend_from_slice(garbage);
        let second_at = file.len();
        file.extend(rmp_serde::to_vec(&sample()).unwrap());
        let out: Vec<_> = StreamDecoder::new(&file).collect();
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(out[0].0, 0);
        check_sample(out[0].1.as_ref().unwrap());
        assert_eq!(out[1].0, good.len());
        assert_eq!(out[1].1.as_ref().unwrap_err().reason, ErrorReason::Decode);
        assert!(out[1].1.as_ref().unwrap_err().detail.contains(&format!("skipped {} bytes", garbage.len())));
        assert_eq!(out[2].0, second_at);
        check_sample(out[2].1.as_ref().unwrap());
    }

    #[test]
    fn stream_batches_carry_their_offset() {
        let batch = Value::Array(vec![
            rmpv::decode::read_value(&mut &sample().to_msgpack()[..]).unwrap(),
            rmpv::decode::read_value(&mut &sample().to_msgpack()[..]).unwrap(),
        ]);
        let mut file = sample().to_msgpack();
        let at = file.len();
        file.extend(encode(&batch));
        let offsets: Vec<_> = StreamDecoder::new(&file).map(|(o, r)| (o, r.is_ok())).collect();
        assert_eq!(offsets, [(0, true), (at, true), (at, true)]);
    }

    #[test]
    fn truncated_input() {
        let mut file = sample().to_msgpack();
        let whole = file.len();
        file.extend(sample().to_msgpack());
        for cut in 1..file.len() {
            let out: Vec<_> = StreamDecoder::new(&file[..cut]).collect();
            if cut < whole {
                assert_eq!(out.len(), 1, "cut {cut}: {out:?}");
                assert!(out[0].1.is_err());
                assert!(decode_event(&file[..cut]).is_err());
            } else if cut == whole {
                assert_eq!(out.len(), 1);
                assert!(out[0].1.is_ok());
            } else {
                assert_eq!(out.len(), 2, "cut {cut}: {out:?}");
                assert!(out[0].1.is_ok() && out[1].1.is_err());
                assert_eq!(out[1].0, whole);
            }
        }
    }

    /// A truncated event followed by good ones (a producer killed mid-write, then
    /// restarted, appending to the same file) must not swallow them: for every cut
    /// point of the first event, in both encodings, the next two events decode at
    /// their offsets and nothing else decodes.
    #[test]
    fn a_truncated_event_does_not_swallow_the_next_ones() {
        let second = QalarmEvent { project: "second".into(), code: json!(2), ..sample() };
        let third = QalarmEvent { project: "third".into(), code: json!(3), ..sample() };
        for compact in [false, true] {
            let encode = |e: &QalarmEvent| if compact { rmp_serde::to_vec(e).unwrap() } else { e.to_msgpack() };
            let first = encode(&sample());
            for cut in 1..first.len() {
                let mut file = first[..cut].to_vec();
                let second_at = file.len();
                file.extend(encode(&second));
                let third_at = file.len();
                file.extend(encode(&third));
                let out: Vec<_> = StreamDecoder::new(&file).collect();
                let good: Vec<(usize, String)> = out
                    .iter()
                    .filter_map(|(o, r)| r.as_ref().ok().map(|e| (*o, e.fields[0].as_ref().unwrap().text().to_owned())))
                    .collect();
                assert_eq!(
                    good,
                    [(second_at, "second".to_string()), (third_at, "third".to_string())],
                    "compact {compact}, cut {cut} of {}: {out:?}",
                    first.len()
                );
                assert!(out.iter().any(|(o, r)| *o == 0 && r.is_err()), "cut {cut}: the cut event is reported");
            }
        }
    }

    #[test]
    fn huge_declared_lengths_cost_nothing() {
        let cases: [&[u8]; 8] = [
            b"\xdd\xff\xff\xff\xff\x01",         // array32 of 4G elements
            b"\xdf\xff\xff\xff\xff\xa4time\x01", // map32 of 4G entries
            b"\xdb\xff\xff\xff\xffabc",          // str32 of 4 GiB
            b"\xc6\xff\xff\xff\xff",             // bin32
            b"\xc9\xff\xff\xff\xff\x01",         // ext32
            b"\x81\xa4time\xdd\xff\xff\xff\xff", // nested huge array
            b"\xdc\xff\xff\x81\xa4time",         // batch claiming 65535 events
            b"\x91\xdd\xff\xff\xff\xff",         // batch of a huge array
        ];
        for case in cases {
            assert!(decode_event(case).is_err(), "{case:?}");
            let out = decode_message(case);
            assert!(!out.is_empty() && out.iter().all(Result::is_err), "{case:?}: {out:?}");
            assert!(value_len(case, usize::MAX).is_err());
        }
        // Many items, each one byte: refused before rmpv builds them.
        let mut many = vec![0x82, 0xa4];
        many.extend(b"time");
        many.push(0x01);
        many.push(0xa7);
        many.extend(b"message");
        many.push(0xdd);
        many.extend(200_000u32.to_be_bytes());
        many.extend(std::iter::repeat_n(0xc0, 200_000));
        let e = decode_event(&many).unwrap_err();
        assert!(e.detail.contains("too many items"), "{e}");
        // Deep nesting is an error, not a stack overflow.
        let mut deep = vec![0x82, 0xa4];
        deep.extend(b"time");
        deep.push(0x01);
        deep.push(0xa7);
        deep.extend(b"message");
        deep.extend(std::iter::repeat_n(0x91, 50_000));
        deep.push(0x01);
        assert_eq!(decode_event(&deep).unwrap_err().reason, ErrorReason::Decode);
        let deep_batch: Vec<u8> = std::iter::repeat_n(0x91, 100_000).collect();
        assert!(StreamDecoder::new(&deep_batch).all(|(_, r)| r.is_err()));
    }

    #[test]
    fn json_lines_for_produce() {
        let line = r#"{"project":"shop","module":"pay","code":500,"env":"prod","message":"支付失败: timeout ✗","time":1700000000.123,"server_ip":"10.0.0.7","client_ip":"1.2.3.4","script":"/srv/pay.php","extra":1}"#;
        let ev = QalarmEvent::from_json_line(line).unwrap();
        assert_eq!(ev, sample());
        check_sample(&decode_event(&ev.to_msgpack()).unwrap());
        let ev =
            QalarmEvent::from_json_line(r#"{"time":"1700000000","code":"E1","message":{"a":[1]},"env":7}"#).unwrap();
        assert_eq!(ev.time, 1_700_000_000.0);
        assert_eq!(ev.code, json!("E1"));
        assert_eq!(ev.env, "7");
        assert_eq!(ev.project, "");
        let decoded = decode_event(&ev.to_msgpack()).unwrap();
        assert_eq!(decoded.text, r#"{"a":[1]}"#);
        assert_eq!(field(&decoded, "code"), Some(&FieldValue::Text("E1".into())));
        assert_eq!(QalarmEvent::from_json_line(r#"{"project":"x"}"#).unwrap_err().reason, ErrorReason::Time);
        assert_eq!(QalarmEvent::from_json_line(r#"{"time":"later"}"#).unwrap_err().reason, ErrorReason::Time);
        assert_eq!(QalarmEvent::from_json_line("[1]").unwrap_err().reason, ErrorReason::Decode);
        assert_eq!(QalarmEvent::from_json_line("nope").unwrap_err().reason, ErrorReason::Decode);
    }

    fn arb_event() -> impl Strategy<Value = QalarmEvent> {
        (
            "[a-z]{0,8}",
            "\\PC{0,12}",
            prop_oneof![any::<i32>().prop_map(|c| json!(c)), "[A-Z0-9]{1,4}".prop_map(|c| json!(c))],
            0u32..2_000_000_000,
            0u32..1000,
        )
            .prop_map(|(project, message, code, secs, ms)| QalarmEvent {
                project,
                module: "m".into(),
                code,
                env: "prod".into(),
                message: json!(message),
                time: f64::from(secs) + f64::from(ms) / 1000.0,
                server_ip: "10.1.1.1".into(),
                client_ip: String::new(),
                script: String::new(),
            })
    }

    /// Garbage that can never start an array or a map, so it cannot swallow a good event.
    fn arb_garbage() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            any::<u8>().prop_filter("no container markers", |b| !matches!(b, 0x80..=0x9f | 0xdc..=0xdf)),
            0..40,
        )
    }

    #[test]
    fn nested_map_keys_stay_linear() {
        // {"time": 1700000000, "message": {{...{nil: nil}...: nil}: nil}}, 32 levels
        // (fuzzing found it: each level used to re-escape the rendered level inside).
        let mut bytes = vec![0x82, 0xa4, b't', b'i', b'm', b'e', 0xce, 0x65, 0x53, 0xf1, 0x00, 0xa7];
        bytes.extend_from_slice(b"message");
        bytes.extend(std::iter::repeat_n(0x81, 32));
        bytes.extend(std::iter::repeat_n(0xc0, 33));
        let started = std::time::Instant::now();
        let event = decode_event(&bytes).expect("an event with a strange message");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(event.text.len() < 1000, "{}", event.text.len());
        assert!(event.text.starts_with("{\"<map>\":"), "{}", event.text);
    }

    proptest! {
        #[test]
        fn stream_never_panics_and_always_ends(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut last = None;
            let mut count = 0usize;
            for (offset, _) in StreamDecoder::new(&bytes) {
                prop_assert!(offset < bytes.len());
                if let Some(prev) = last {
                    prop_assert!(offset >= prev);
                }
                last = Some(offset);
                count += 1;
                prop_assert!(count <= bytes.len() * 64 + 1);
            }
            let _ = decode_event(&bytes);
            let _ = decode_message(&bytes);
        }

        #[test]
        fn good_events_survive_garbage(
            parts in proptest::collection::vec((arb_event(), any::<bool>(), arb_garbage()), 1..8),
        ) {
            let mut file = Vec::new();
            let mut expected = Vec::new();
            let mut errors = 0;
            for (ev, compact, garbage) in &parts {
                expected.push((file.len(), ev.clone()));
                file.extend(if *compact { rmp_serde::to_vec(ev).unwrap() } else { ev.to_msgpack() });
                if !garbage.is_empty() {
                    errors += 1;
                }
                file.extend(garbage);
            }
            let out: Vec<_> = StreamDecoder::new(&file).collect();
            let good: Vec<_> = out.iter().filter_map(|(o, r)| r.as_ref().ok().map(|e| (*o, e))).collect();
            prop_assert_eq!(good.len(), expected.len());
            prop_assert_eq!(out.len() - good.len(), errors);
            for ((offset, ev), (want_offset, want)) in good.iter().zip(&expected) {
                prop_assert_eq!(offset, want_offset);
                prop_assert_eq!(ev.time_ms, seconds_f64_to_ms(want.time));
                prop_assert_eq!(ev.text.as_ref(), want.message.as_str().unwrap());
                prop_assert_eq!(ev.fields[0].as_ref().map(|f| f.text().to_owned()), Some(want.project.clone()));
            }
        }
    }

    /// Every scalar `code` rmp-serde writes for a [`QalarmEvent`] keeps a compact event in
    /// an SDK's shape; a container `code` does not (it still decodes, see
    /// `odd_shaped_events_still_decode_in_streams_and_messages`).
    #[test]
    fn rmp_serde_compact_events_have_an_sdk_shape() {
        for code in [json!(500), json!(-3), json!(2.5), json!("E42"), json!(null), json!(true), json!(false)] {
            let bytes = rmp_serde::to_vec(&QalarmEvent { code: code.clone(), ..sample() }).unwrap();
            assert!(has_sdk_shape(&bytes), "{code}");
        }
        let bytes = rmp_serde::to_vec(&QalarmEvent { code: json!([1, 2]), ..sample() }).unwrap();
        assert!(!has_sdk_shape(&bytes));
    }

    /// A good compact event whose `message` bytes hold what measures as a compact event or
    /// a batch, followed by garbage that such a made-up event can run on into: the good
    /// event is kept and the garbage reported, not the good event dropped for a made-up
    /// one (found by `good_events_survive_garbage`).
    #[test]
    fn a_message_that_looks_like_an_event_is_not_a_resync_point() {
        for message in ["𑙡𑶓A®aa0a", "𑙢𑶓A®aa0a"] {
            let ev = QalarmEvent {
                module: "m".into(),
                code: serde_json::json!(0),
                env: "prod".into(),
                message: serde_json::json!(message),
                server_ip: "10.1.1.1".into(),
                ..Default::default()
            };
            let mut bytes = rmp_serde::to_vec(&ev).unwrap();
            let garbage_at = bytes.len();
            bytes.extend([0xd6, 0, 0, 0, 0, 0]);
            let out: Vec<_> = StreamDecoder::new(&bytes).collect();
            assert_eq!(out.len(), 2, "{message}: {out:?}");
            assert_eq!(out[0].0, 0);
            assert_eq!(out[0].1.as_ref().unwrap().text, message);
            assert_eq!(out[1].0, garbage_at);
            assert!(out[1].1.is_err());
        }
    }
}
