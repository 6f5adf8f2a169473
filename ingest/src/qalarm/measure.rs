//! Measuring MessagePack values without decoding them: how long a value is, how many
//! items it has, what its container header says, and what its markers are.
//!
//! Invariants:
//! - nothing here allocates or decodes: [`value_len`] walks the structure iteratively with
//!   its open containers in a fixed array, so nesting is limited to [`MAX_NEST`];
//! - a declared length that the remaining input cannot hold is `Truncated` at once, so an
//!   untrusted length prefix costs nothing;
//! - a value that measures is complete: all its bytes are there.

use rmp::Marker;

/// Deepest nesting of arrays and maps accepted in a value (a Qalarm event is 2 or 3 deep).
pub(super) const MAX_NEST: usize = 64;

/// Why a MessagePack value could not even be measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Malformed {
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
    pub(super) fn describe(self) -> &'static str {
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
pub(super) fn value_len(bytes: &[u8], max_items: usize) -> Result<(usize, usize), Malformed> {
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
pub(super) fn container_header(bytes: &[u8]) -> Option<(Marker, usize, usize)> {
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

pub(super) fn is_map(m: Marker) -> bool {
    matches!(m, Marker::FixMap(_) | Marker::Map16 | Marker::Map32)
}

pub(super) fn is_array(m: Marker) -> bool {
    matches!(m, Marker::FixArray(_) | Marker::Array16 | Marker::Array32)
}

pub(super) fn is_str_or_bin(m: Marker) -> bool {
    matches!(
        m,
        Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 | Marker::Bin8 | Marker::Bin16 | Marker::Bin32
    )
}

pub(super) fn is_number(m: Marker) -> bool {
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
pub(super) fn is_text(value: &[u8]) -> bool {
    matches!(
        value.first().map(|&b| Marker::from_u8(b)),
        Some(Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32)
    ) && str_payload(value).is_some_and(|text| std::str::from_utf8(text).is_ok())
}

/// The payload of an encoded str or bin value (header skipped, nothing decoded);
/// `None` for other values.
pub(super) fn str_payload(encoded: &[u8]) -> Option<&[u8]> {
    let header = match Marker::from_u8(*encoded.first()?) {
        Marker::FixStr(_) => 1,
        Marker::Str8 | Marker::Bin8 => 2,
        Marker::Str16 | Marker::Bin16 => 3,
        Marker::Str32 | Marker::Bin32 => 5,
        _ => return None,
    };
    encoded.get(header..)
}
