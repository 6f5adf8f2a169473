//! Probing: whether the value at some offset is an event, a batch of events, or neither,
//! judged from its headers and keys before anything is decoded; and whether an event has
//! the shape the SDKs write.
//!
//! Invariants:
//! - the cheap header checks come first: inside garbage, [`probe`] runs at every byte;
//! - a probe that answers has measured the whole value ([`value_len`]), so the decoder
//!   can take its length and item count as they are;
//! - a strict probe (inside garbage) believes only a value that fully decodes as an event.

use rmp::Marker;

use super::decode::{MAX_EVENT_ITEMS, decode_measured};
use super::event::{CODE, FIELDS, MESSAGE, TIME};
use super::measure::{container_header, is_array, is_map, is_number, is_str_or_bin, is_text, str_payload, value_len};

/// During resynchronisation, a map with more keys than this is not taken for an event.
const RESYNC_MAX_KEYS: usize = 64;

/// What a complete value at some offset is, judged from its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
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
pub(super) struct MapKeys {
    /// How many keys are Qalarm field names.
    pub(super) known: usize,
    /// Every key is a str or bin.
    all_text: bool,
    has_time: bool,
    has_project: bool,
    /// Some Qalarm field name is a key more than once.
    repeated: bool,
    /// A field other than `message` holds a map or an array.
    nested_scalar: bool,
}

pub(super) fn map_keys(bytes: &[u8], count: usize, mut pos: usize) -> Option<MapKeys> {
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
pub(super) fn has_sdk_shape(bytes: &[u8]) -> bool {
    match container_header(bytes) {
        Some((marker, count, first)) if is_map(marker) => {
            map_keys(bytes, count, first).is_some_and(|k| k.all_text && !k.repeated && !k.nested_scalar)
        }
        Some((marker, count, first)) if is_array(marker) => compact_fields_typed(bytes, count, first),
        _ => true,
    }
}

/// Whether the compact array whose elements start at `bytes[pos]` has the field types
/// rmp-serde writes for [`QalarmEvent`](super::QalarmEvent) (the one encoder of compact arrays): valid UTF-8
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

/// Looks at the value starting at `bytes[0]`: an event, a batch of events, or neither
/// (`None`: malformed, truncated, a map without any Qalarm key, an empty array, or some
/// other value). `strict` is for resynchronising inside garbage, where a value must look
/// even more like an event to be believed (bounded key and element counts).
pub(super) fn probe(bytes: &[u8], strict: bool) -> Option<Found> {
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

/// Whether `found`, the event or batch at `bytes[0]`, has an SDK's shape (a batch: its
/// first element). A real event found inside a suspect one must: the bytes of a good
/// event's `message` can measure as a compact event or batch that runs on into garbage
/// after the event, and resuming there would drop the good event for a made-up one
/// (proptest `good_events_survive_garbage`: `message = "𑙢𑶓A®aa0a"` holds `91 99 a2`, a
/// batch of one 9-field array whose first field is not UTF-8). After garbage, where no
/// good event is at stake, any event-like value is a resync point, so that odd events
/// are not lost.
pub(super) fn found_has_sdk_shape(bytes: &[u8], found: Found) -> bool {
    match found {
        Found::Event { len, .. } => has_sdk_shape(&bytes[..len]),
        Found::Batch { len, first, .. } => has_sdk_shape(&bytes[first..len]),
    }
}
