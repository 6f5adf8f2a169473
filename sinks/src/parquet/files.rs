//! File names and what they promise.
//!
//! A flush is what one producer hands the store in one call: the rows of one sequence
//! range `(lo, hi]` of that producer (for `aggregates`, the windows that ended in it).
//! Its rows are split by hour, one file per hour folder, named
//!
//! ```text
//! <producer>_<lo>_<hi>_<part>of<parts>.parquet
//! ```
//!
//! so a file's name alone says which flush it belongs to and whether its siblings are all
//! there. A compacted hour is one `compacted_<generation>.parquet`, whose footer lists the
//! flush parts it absorbed (key [`FLUSHES_KEY`]).

use serde::{Deserialize, Serialize};

/// The footer key under which a compacted file lists the flush parts it holds.
pub const FLUSHES_KEY: &str = "logpulse.flushes";

const PARQUET: &str = ".parquet";
const COMPACTED: &str = "compacted_";

/// One flush: a producer's rows for the sequence range `(lo, hi]`, in `parts` files.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FlushId {
    pub producer: String,
    pub lo: i64,
    pub hi: i64,
    pub parts: u32,
}

/// One file's share of a flush.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FlushPart {
    #[serde(flatten)]
    pub flush: FlushId,
    /// 1-based.
    pub part: u32,
}

impl FlushPart {
    pub fn file_name(&self) -> String {
        let FlushId { producer, lo, hi, parts } = &self.flush;
        format!("{producer}_{lo}_{hi}_{}of{parts}{PARQUET}", self.part)
    }
}

/// What a file in an hour folder is, by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    Part(FlushPart),
    Compacted,
    /// A write that never got renamed into place (`.<name>.tmp`): garbage after a crash.
    Temp,
    /// Anything else; left alone.
    Foreign,
}

pub fn classify(name: &str) -> FileKind {
    if name.starts_with('.') && name.ends_with(".tmp") {
        return FileKind::Temp;
    }
    let Some(stem) = name.strip_suffix(PARQUET) else { return FileKind::Foreign };
    if stem.starts_with(COMPACTED) {
        return FileKind::Compacted;
    }
    parse_part(stem).map_or(FileKind::Foreign, FileKind::Part)
}

fn parse_part(stem: &str) -> Option<FlushPart> {
    let mut fields = stem.rsplitn(4, '_');
    let part_of = fields.next()?;
    let hi = fields.next()?.parse().ok()?;
    let lo = fields.next()?.parse().ok()?;
    let producer = fields.next()?;
    let (part, parts) = part_of.split_once("of")?;
    let (part, parts): (u32, u32) = (part.parse().ok()?, parts.parse().ok()?);
    if producer.is_empty() || part == 0 || part > parts || lo > hi {
        return None;
    }
    Some(FlushPart { flush: FlushId { producer: producer.to_string(), lo, hi, parts }, part })
}

pub fn compacted_name(generation: u128) -> String {
    format!("{COMPACTED}{generation:x}{PARQUET}")
}

pub fn temp_name(name: &str) -> String {
    format!(".{name}.tmp")
}

/// A producer name that is safe in a file name and parses back: `[A-Za-z0-9.-]`, with
/// anything else replaced by `-`, and never hidden (leading `.`) or empty.
pub fn sanitize_producer(producer: &str) -> String {
    let mut out: String =
        producer.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect();
    if out.is_empty() || out.starts_with('.') || out.starts_with(COMPACTED.trim_end_matches('_')) {
        out.insert(0, 'p');
    }
    out
}

#[cfg(test)]
mod tests;
