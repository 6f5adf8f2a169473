//! Required-literal extraction.
//!
//! Soundness argument: regex-syntax's prefix extractor returns, for an HIR,
//! either an infinite sequence (no information) or a finite set `S` such that
//! every match of the HIR begins with a member of `S`. If the HIR is a
//! concatenation, every match of the whole contains a match of each piece, so
//! each piece's finite prefix set is also a set of which one member occurs in
//! every match of the whole. Any of those sets is therefore a sound prefilter;
//! we take the one with the longest shortest literal (rarer in text), and
//! fewer literals on ties.

use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};
use regex_syntax::hir::{Hir, HirKind};

/// A sound prefilter for one pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredLiterals {
    /// One of these occurs in every match.
    pub literals: Vec<Vec<u8>>,
    /// An occurrence of any literal is itself a match of the whole pattern,
    /// so no verification is needed.
    pub exact: bool,
    /// Every match *starts* with one of the literals (they are the whole
    /// pattern's prefixes), so verification can start at the first occurrence.
    pub prefix: bool,
}

impl RequiredLiterals {
    pub fn min_len(&self) -> usize {
        self.literals.iter().map(Vec::len).min().unwrap_or(0)
    }
}

/// The best required-literal set of `hir`, or `None` when it has none.
pub fn required_literals(hir: &Hir) -> Option<RequiredLiterals> {
    let mut extractor = Extractor::new();
    extractor.kind(ExtractKind::Prefix).limit_total(64).limit_class(8).limit_literal_len(32);

    let mut best: Option<(Seq, bool, bool)> = None;
    let whole = extractor.extract(hir);
    // Exact literals of the whole pattern mean "this literal is a full match",
    // which look-around assertions would break (`\berror\b` in "errors").
    let whole_is_exact = whole.is_exact() && hir.properties().look_set().is_empty();
    consider(&mut best, whole, whole_is_exact, true);

    let mut pieces = Vec::new();
    concat_pieces(hir, &mut pieces);
    for piece in pieces {
        consider(&mut best, extractor.extract(piece), false, false);
    }

    let (seq, exact, prefix) = best?;
    let literals = seq.literals()?.iter().map(|l| l.as_bytes().to_vec()).collect();
    Some(RequiredLiterals { literals, exact, prefix })
}

/// The pieces of a top-level concatenation, looking through capture groups
/// and through concatenations nested in them.
fn concat_pieces<'h>(hir: &'h Hir, out: &mut Vec<&'h Hir>) {
    match hir.kind() {
        HirKind::Capture(cap) => concat_pieces(&cap.sub, out),
        HirKind::Concat(children) => {
            for child in children {
                match child.kind() {
                    HirKind::Capture(_) | HirKind::Concat(_) => {
                        out.push(child);
                        concat_pieces(child, out);
                    }
                    // A repetition with min >= 1 must match its sub at least once.
                    HirKind::Repetition(rep) if rep.min >= 1 => {
                        out.push(child);
                        concat_pieces(&rep.sub, out);
                    }
                    _ => out.push(child),
                }
            }
        }
        HirKind::Repetition(rep) if rep.min >= 1 => concat_pieces(&rep.sub, out),
        _ => {}
    }
}

fn consider(best: &mut Option<(Seq, bool, bool)>, seq: Seq, exact: bool, prefix: bool) {
    let Some(min_len) = seq.min_literal_len() else { return };
    if !seq.is_finite() || min_len == 0 {
        return;
    }
    let count = seq.len().unwrap_or(usize::MAX);
    let better = match best {
        None => true,
        Some((current, current_exact, _)) => {
            let current_min = current.min_literal_len().unwrap_or(0);
            let current_count = current.len().unwrap_or(usize::MAX);
            // Prefer longer literals, then fewer, then exactness (no verification).
            (min_len.min(8), std::cmp::Reverse(count), exact)
                > (current_min.min(8), std::cmp::Reverse(current_count), *current_exact)
        }
    };
    if better {
        *best = Some((seq, exact, prefix));
    }
}

#[cfg(test)]
mod tests;
