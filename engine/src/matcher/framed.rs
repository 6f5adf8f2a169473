//! Captures of a pattern whose one group sits between fixed literals.
//!
//! `" (?P<status>[45]\d\d) ` is the literal `" `, a group, and the literal ` `.
//! Once the scan has found where the leftmost match starts, the match's end is
//! all that is missing: the group is the match less the literals around it.
//! An anchored dense DFA finds that end in one table walk, where the regex's
//! capture search runs a one-pass DFA with slot bookkeeping (about half the
//! cost of a 100-rule replay's group-by rule).
//!
//! Invariant: [`FramedCapture::captures_at`] fills exactly the slots that the
//! pattern's own `search_captures`, anchored at the same start, fills
//! (property-tested against it).

use regex_automata::Anchored;
use regex_automata::dfa::{Automaton, dense};
use regex_automata::util::captures::Captures;
use regex_automata::util::primitives::{NonMaxUsize, PatternID, StateID};
use regex_syntax::hir::Hir;

use super::config::MatcherConfig;
use super::verify::anchored_match_end;

/// A pattern `before` + `(group)` + `after`, with `before` and `after` literal.
#[derive(Debug, Clone)]
pub(super) struct FramedCapture {
    /// The group's explicit index (1 for the only group).
    group: usize,
    /// Bytes of literal before the group.
    before: usize,
    /// Bytes of literal after the group.
    after: usize,
    /// The whole pattern, anchored, leftmost-first (built as an anchored check is, under
    /// the same size limits).
    dfa: dense::DFA<Vec<u32>>,
    /// The anchored start state; only patterns whose start does not look behind are framed.
    start: StateID,
}

impl FramedCapture {
    /// `None` unless the pattern is literals around exactly one group, and its DFA is small.
    pub(super) fn new(hir: &Hir, config: &MatcherConfig) -> Option<FramedCapture> {
        let frame = ingest::pattern::LiteralFrame::of(hir)?;
        // A group nested in the group would need slots of its own.
        if frame.group.sub.properties().explicit_captures_len() > 0 {
            return None;
        }
        let dfa = super::verify::build_dense(hir, config)?;
        let start = dfa.universal_start_state(Anchored::Yes)?;
        let (group, before, after) = (frame.group.index as usize, frame.before.len(), frame.after.len());
        Some(FramedCapture { group, before, after, dfa, start })
    }

    /// Captures of the leftmost-first match starting exactly at `start`, into `caps`
    /// (made by the pattern's regex); whether there is one.
    #[inline]
    pub(super) fn captures_at(&self, hay: &str, start: usize, caps: &mut Captures) -> bool {
        let Some(end) =
            anchored_match_end(&self.dfa, self.start, &hay.as_bytes()[start..], false).map(|len| start + len)
        else {
            caps.set_pattern(None);
            return false;
        };
        caps.set_pattern(Some(PatternID::ZERO));
        let slots = caps.slots_mut();
        slots.fill(None);
        let mut set = |slot: usize, at: usize| slots[slot] = NonMaxUsize::new(at);
        set(0, start);
        set(1, end);
        set(self.group * 2, start + self.before);
        set(self.group * 2 + 1, end - self.after);
        true
    }

    pub(super) fn memory_usage(&self) -> usize {
        self.dfa.memory_usage()
    }
}

#[cfg(test)]
mod tests;
