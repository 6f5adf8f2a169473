//! Anchored verification of prefix-literal patterns at one literal occurrence.
//!
//! A pattern whose every match starts with one of its required literals is
//! checked *at* an occurrence, anchored, instead of searching the rest of the
//! line. Two things make that check cheap:
//! - **Tails.** When the pattern is a literal `L` followed by the rest `R`
//!   (`/svc12/item/\d+ HTTP` is `/svc12/item/` then `\d+ HTTP`), and `L` is the
//!   pattern's only required literal, an occurrence of `L` has already matched
//!   `L`: only `R` is checked, anchored right after it. Rules that differ only
//!   in their literal share one compiled `R`, which therefore stays in cache
//!   however many such rules there are (10,000 rules on `/svcN/item/\d+ HTTP`
//!   verify with one automaton).
//! - **Small dense DFAs.** A check compiles to a fully built, anchored dense
//!   DFA when that stays under [`DFA_SIZE_LIMIT`]: no cache to borrow, no
//!   lazy state construction, only a table walk that stops at the first match.
//!   Anything bigger (large Unicode classes) uses a `meta::Regex`.
//!
//! Invariant: `Verifier::is_match_at(hay, p)` is true exactly when the
//! pattern has a match starting at `p`, given that one of its literals
//! occurs at `p` (property-tested through the matcher against each regex
//! alone). Look-behind in `R` still sees the bytes before it: the search
//! keeps the whole line as its haystack.

use regex_automata::dfa::{Automaton, dense};
use regex_automata::meta::Regex;
use regex_automata::nfa::thompson;
use regex_automata::util::primitives::StateID;
use regex_automata::{Anchored, Input, MatchKind};
use regex_syntax::hir::{Hir, HirKind};

use super::config::{MatcherConfig, build_regex};

/// Largest dense DFA one check may compile to; past it the check uses a `meta::Regex`.
pub const DFA_SIZE_LIMIT: usize = 64 << 10;
/// Determinization gives up past this, so a pattern that would blow up fails fast.
const DETERMINIZE_SIZE_LIMIT: usize = 256 << 10;

/// One compiled check, shared by every pattern with the same tail.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // few, built once: boxing would only add a hop per check
pub(super) enum Check {
    Dfa {
        dfa: dense::DFA<Vec<u32>>,
        /// The anchored start state, when it does not depend on the bytes before the
        /// check (no look-behind at its start). The check then walks the table itself:
        /// a search through `try_search_fwd` first works out the start state from the
        /// byte before, which cost about as much as the walk on the 100-rule workload.
        universal_start: Option<StateID>,
    },
    Regex(Regex),
}

impl Check {
    pub(super) fn new(hir: &Hir, config: &MatcherConfig) -> Result<Check, String> {
        if let Some(dfa) = build_dense(hir, config) {
            let universal_start = dfa.universal_start_state(Anchored::Yes);
            return Ok(Check::Dfa { dfa, universal_start });
        }
        build_regex(std::slice::from_ref(hir), MatchKind::LeftmostFirst, config).map(Check::Regex)
    }

    /// Does the check match starting exactly at `at`?
    #[inline]
    pub(super) fn is_match_at(&self, hay: &str, at: usize) -> bool {
        match self {
            Check::Dfa { dfa, universal_start: Some(start) } => {
                anchored_match_end(dfa, *start, &hay.as_bytes()[at..], true).is_some()
            }
            // The DFA has no quit bytes (Unicode word boundaries make its build fail
            // instead, and such checks use a regex) and starts anchored, the only
            // two ways its search can fail.
            Check::Dfa { dfa, universal_start: None } => {
                let input = Input::new(hay).range(at..).anchored(Anchored::Yes).earliest(true);
                matches!(dfa.try_search_fwd(&input), Ok(Some(_)))
            }
            Check::Regex(regex) => regex.is_match(Input::new(hay).range(at..).anchored(Anchored::Yes).earliest(true)),
        }
    }

    pub(super) fn memory_usage(&self) -> usize {
        match self {
            Check::Dfa { dfa, .. } => dfa.memory_usage(),
            Check::Regex(regex) => regex.memory_usage(),
        }
    }
}

/// Where a match of the DFA, anchored in state `start`, ends in `hay`: the first one
/// (`earliest`, for a yes/no check), or the leftmost-first one, walking on to the dead
/// state for a longer match of higher priority (captures). The table walk of
/// regex-automata's `Automaton::is_special_state` example. A dense DFA reports a match
/// one byte late: entering a match state after byte `i` means a match ended at `i`.
#[inline(always)]
pub(super) fn anchored_match_end(
    dfa: &dense::DFA<Vec<u32>>,
    start: StateID,
    hay: &[u8],
    earliest: bool,
) -> Option<usize> {
    let mut state = start;
    let mut end = None;
    for (at, &byte) in hay.iter().enumerate() {
        state = dfa.next_state(state, byte);
        if dfa.is_special_state(state) {
            if dfa.is_match_state(state) {
                end = Some(at);
                if earliest {
                    return end;
                }
            } else if dfa.is_dead_state(state) {
                return end;
            }
            // Otherwise an accelerated state (no quit bytes are configured): walk on.
        }
    }
    if dfa.is_match_state(dfa.next_eoi_state(state)) {
        end = Some(hay.len());
    }
    end
}

/// An anchored, leftmost-first dense DFA for `hir`, when it fits in [`DFA_SIZE_LIMIT`].
pub(super) fn build_dense(hir: &Hir, config: &MatcherConfig) -> Option<dense::DFA<Vec<u32>>> {
    let nfa = thompson::Compiler::new()
        .configure(thompson::Config::new().nfa_size_limit(Some(config.nfa_size_limit)).shrink(false))
        .build_from_hir(hir)
        .ok()?;
    dense::Builder::new()
        .configure(
            dense::Config::new()
                .start_kind(regex_automata::dfa::StartKind::Anchored)
                .match_kind(MatchKind::LeftmostFirst)
                .minimize(false)
                .dfa_size_limit(Some(DFA_SIZE_LIMIT))
                .determinize_size_limit(Some(DETERMINIZE_SIZE_LIMIT)),
        )
        .build_from_nfa(&nfa)
        .ok()
}

/// Splits `literal` + rest off a pattern: `Some(rest)` when the pattern is a
/// concatenation that starts with exactly `literal`.
pub(super) fn tail_after(hir: &Hir, literal: &[u8]) -> Option<Hir> {
    let HirKind::Concat(parts) = hir.kind() else { return None };
    let HirKind::Literal(first) = parts.first()?.kind() else { return None };
    if &*first.0 != literal {
        return None;
    }
    Some(Hir::concat(parts[1..].to_vec()))
}

#[cfg(test)]
mod tests;
