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
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_parse_back() {
        let part = FlushPart {
            flush: FlushId { producer: "nginx-access.3".into(), lo: -5, hi: 1_700_000_000_000, parts: 3 },
            part: 2,
        };
        assert_eq!(classify(&part.file_name()), FileKind::Part(part.clone()));
        assert_eq!(classify(&temp_name(&part.file_name())), FileKind::Temp);
        assert_eq!(classify(&compacted_name(77)), FileKind::Compacted);
        assert_eq!(classify("notes.txt"), FileKind::Foreign);
        assert_eq!(classify("x_1_2_3of2.parquet"), FileKind::Foreign);
    }

    proptest! {
        #[test]
        fn any_producer_round_trips(producer in ".{0,20}", lo in any::<i64>(), span in 0i64..1 << 40, parts in 1u32..30) {
            let producer = sanitize_producer(&producer);
            let hi = lo.saturating_add(span);
            for part in 1..=parts {
                let p = FlushPart { flush: FlushId { producer: producer.clone(), lo, hi, parts }, part };
                prop_assert_eq!(classify(&p.file_name()), FileKind::Part(p.clone()));
            }
        }
    }
}
