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
//!
//! Layout:
//! - `event`: [`FIELDS`] and [`QalarmEvent`], the SDK-side event;
//! - `measure`: a value's length and item count, without decoding it;
//! - `probe`: whether a value is an event, a batch or neither, and whether it has an SDK's shape;
//! - `decode`: one measured value into an [`Event`](crate::Event) ([`decode_event`]);
//! - `render`: values that are not text or numbers, as JSON text;
//! - `stream`: [`StreamDecoder`] over concatenated values with its resync, and [`decode_message`].

mod decode;
mod event;
mod measure;
mod probe;
mod render;
mod stream;

pub use decode::{MAX_EVENT_ITEMS, decode_event};
pub use event::{FIELDS, QalarmEvent};
pub use stream::{StreamDecoder, decode_message};

#[cfg(test)]
mod tests;
