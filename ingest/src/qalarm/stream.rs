//! The stream decoder: concatenated MessagePack values (a file, or a Kafka
//! message), events and batches of events, resynchronising after undecodable bytes.
//!
//! Invariants:
//! - it always moves forward: each item it yields consumes at least one byte, so it
//!   ends on any input;
//! - a contiguous undecodable region is one error, and inside one only a value that
//!   fully decodes as an event ends it (so bytes of a damaged event's text are not
//!   mistaken for events);
//! - an event cut short that runs on into the next ones is cut where a real event
//!   starts inside it, so it does not swallow them.

use super::decode::decode_measured;
use super::measure::{container_header, is_map, value_len};
use super::probe::{Found, found_has_sdk_shape, has_sdk_shape, map_keys, probe};
use crate::error::{DecodeError, ErrorReason};
use crate::event::Event;

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
