//! The one decode path: a stream's records become events here, for the worker's
//! lanes (Kafka messages, file reads) and for `replay` alike.
//!
//! A *record* is what a source hands over at once: a Kafka message, or a read of whole
//! lines from a file. Text streams (raw, nginx, JSON) split it into lines
//! ([`SliceLines`]: `max_line_bytes`, UTF-8, `\r\n`) and decode each line; a Qalarm
//! stream's record is MessagePack, one event, a batch, or several events back to back,
//! decoded with resynchronisation after garbage ([`ingest::qalarm::StreamDecoder`]).
//!
//! Invariants:
//! - every item of input gives exactly one [`Decoded`], in input order: an event, or
//!   why it cannot be counted ([`Undecodable`]), never both and never nothing, so that
//!   callers count and number lines without a case of their own;
//! - [`Place`] says where in the record the item was (its line, 1-based, or its byte
//!   offset), for `ingest_errors.source`;
//! - decoding is pure: the arrival time comes in (a year-less time takes its year from
//!   it), and nothing here reads a clock or does I/O.

use std::borrow::Cow;

use ingest::lines::{Line, SliceLines};
use ingest::qalarm::StreamDecoder;
use ingest::{ErrorReason, Event};

use super::stream::{Decoder, Stream};

/// Where in its record a decoded item was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A text line's number, 1-based within the record (or the input, for a reader's lines).
    Line(u64),
    /// A Qalarm value's byte offset in the record.
    Offset(usize),
}

/// An item that cannot be counted: why, and the start of its bytes for `ingest_errors.sample`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecodable<'a> {
    pub reason: ErrorReason,
    /// The item's bytes from its start (the sink keeps a bounded prefix).
    pub sample: Cow<'a, [u8]>,
}

/// One item of a record, decoded.
#[derive(Debug)]
pub struct Decoded<'a> {
    pub place: Place,
    pub result: Result<Event<'a>, Undecodable<'a>>,
}

/// The items of one record, in order (see [`Stream::decode_record`]).
pub struct RecordDecoder<'a> {
    stream: &'a Stream,
    /// When the record arrived: the year of year-less times.
    arrival_ms: i64,
    items: Items<'a>,
}

/// How a record splits into items.
enum Items<'a> {
    Lines(SliceLines<'a>),
    /// The decoder, and the whole record for the samples of undecodable values.
    Qalarm(StreamDecoder<'a>, &'a [u8]),
}

impl Stream {
    /// Decodes one record of this stream (see the module docs). `arrival_ms` is when it
    /// arrived (Kafka timestamp, read time). An empty record gives no item: whether
    /// that is an error is the source's to say (an empty Kafka message is).
    pub fn decode_record<'a>(&'a self, payload: &'a [u8], arrival_ms: i64) -> RecordDecoder<'a> {
        let items = match self.decoder {
            Decoder::Qalarm => Items::Qalarm(StreamDecoder::new(payload), payload),
            _ => Items::Lines(SliceLines::new(payload, self.max_line_bytes)),
        };
        RecordDecoder { stream: self, arrival_ms, items }
    }

    /// Decodes one line of a text stream, as split by [`SliceLines`] or by a reader
    /// ([`ingest::lines::LineReader`], `replay`'s input).
    pub fn decode_text_line<'a>(&self, line: Line<'a>, arrival_ms: i64) -> Decoded<'a> {
        let place = Place::Line(line.number());
        let result = match line {
            Line::Text { text, .. } => self
                .decode_line(text, arrival_ms)
                .map_err(|e| Undecodable { reason: e.reason, sample: Cow::Borrowed(text.as_bytes()) }),
            Line::Bad { reason, sample, .. } => Err(Undecodable { reason, sample: Cow::Owned(sample.into_bytes()) }),
        };
        Decoded { place, result }
    }
}

impl<'a> Iterator for RecordDecoder<'a> {
    type Item = Decoded<'a>;

    fn next(&mut self) -> Option<Decoded<'a>> {
        match &mut self.items {
            Items::Lines(lines) => lines.next().map(|line| self.stream.decode_text_line(line, self.arrival_ms)),
            Items::Qalarm(events, record) => events.next().map(|(offset, result)| Decoded {
                place: Place::Offset(offset),
                result: result.map_err(|e| Undecodable {
                    reason: e.reason,
                    sample: Cow::Borrowed(record.get(offset..).unwrap_or_default()),
                }),
            }),
        }
    }
}
