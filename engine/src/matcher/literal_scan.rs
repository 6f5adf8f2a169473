//! Finding every occurrence of every required literal in a line (overlapping).
//!
//! Two ways, chosen at build time:
//! - **Prefixed** (Hyperscan's FDR idea, built from aho-corasick's parts): a
//!   SIMD Teddy search for the literals' short *prefixes* finds the positions
//!   where a literal may start; at each such position an *anchored* walk of an
//!   Aho-Corasick automaton over the full literals reports the literals that start
//!   there. Teddy skips the bytes where no literal starts 16–32 at a time, and
//!   the walk reads only as far as some literal still agrees, so most bytes
//!   never go through an automaton. Teddy holds at most 64 patterns, so this
//!   is used when the literals' 3-byte (else 2-byte) prefixes (shorter
//!   literals taken whole) have at most 64 distinct values: many rules
//!   sharing a stem (`/api/v1/...`, `Failed password for ...`) collapse into
//!   one prefix.
//! - **Overlapping**: one overlapping Aho-Corasick scan of the whole line, for
//!   literal sets too varied for Teddy.
//!
//! Invariant (both ways, property-tested through the matcher): the callback
//! sees each (literal, start) occurrence in the line at least once, and
//! nothing that is not an occurrence.
//!
//! At a prefix hit, the literals longer than the prefix are found by the anchored
//! walk, or, when the prefix has only a few of them (`MatcherConfig::compare_tails_max`),
//! by comparing each one's tail with the bytes after the prefix: a compare of eight
//! bytes at a time costs less than a walk of one dependent load per byte (`HTTP/1.1" 404 `
//! after `HTT`).
//!
//! Why the prefixed way is complete: Teddy reports the leftmost prefix
//! occurrence at or after the search start. Restarting one byte after each
//! reported start therefore visits every position at which some prefix
//! occurs, and every literal occurrence begins with an occurrence of its
//! prefix. At each visited position the anchored walk reports exactly the
//! literals that start there: the walk's match states also carry literals
//! that are proper suffixes of the bytes walked (failure links), and those
//! are filtered out by their length.

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::packed;
use aho_corasick::{AhoCorasick, AhoCorasickKind, Anchored, MatchKind, StartKind, dfa};

use ingest::pattern::starts_with_short;

use super::config::MatcherConfig;

/// Most patterns a Teddy searcher holds (aho-corasick's own limit).
const TEDDY_MAX_PATTERNS: usize = 64;
/// Prefix lengths tried, in order of preference (see `PrefixScan::new`).
const PREFIX_LENS: [usize; 2] = [3, 2];
/// Past this many literals a DFA's memory (states x byte classes x 4 bytes)
/// grows too large and the contiguous NFA is used instead (callgrind,
/// 10,000-rule workload with 5,000 literals: the DFA scans in 11% fewer
/// instructions than the contiguous NFA).
const DFA_MAX_LITERALS: usize = 20_000;

#[derive(Debug, Clone)]
pub(super) enum LiteralScan {
    Prefixed(Box<PrefixScan>),
    Overlapping(AhoCorasick),
}

#[derive(Debug, Clone)]
pub(super) struct PrefixScan {
    /// Finds the leftmost occurrence of any distinct literal prefix.
    starts: packed::Searcher,
    /// All literals, anchored-only, walked from each candidate start.
    confirm: Confirm,
    /// Per prefix (Teddy pattern id): where the walk stands after it, so that
    /// the bytes Teddy already matched are not walked again.
    prefixes: Vec<Prefix>,
    /// How many bytes of each literal `starts` looks for (for `check`).
    prefix_len: usize,
}

#[derive(Debug, Clone)]
struct Prefix {
    len: usize,
    /// The anchored walk's state after the prefix.
    state: StateID,
    /// Literals that are a prefix of this prefix (including itself, if it is a literal).
    literals: Vec<u32>,
    /// When there are few: every literal longer than this prefix that starts with it, as
    /// (literal, its bytes after the prefix), compared at each hit instead of walked.
    tails: Option<Vec<(u32, Box<[u8]>)>>,
}

/// The full literal automaton; an enum rather than a trait object so that the
/// walk is monomorphised (a virtual call per byte would cost more than the walk).
#[derive(Debug, Clone)]
enum Confirm {
    Dfa(dfa::DFA),
    Nfa(aho_corasick::nfa::contiguous::NFA),
}

/// What `check` shows of the scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiteralScanSummary {
    /// `Some((prefix length, distinct prefixes))` when the prefixed way is used.
    pub prefixed: Option<(usize, usize)>,
    pub bytes: usize,
}

impl LiteralScan {
    /// Builds the scan for `literals` (non-empty, none empty); literal `i` is reported as `i`.
    pub(super) fn new(literals: &[Vec<u8>], config: &MatcherConfig) -> Result<LiteralScan, String> {
        if config.prefix_scan
            && let Some(prefixed) = PrefixScan::new(literals, config.confirm_dfa_max_bytes, config.compare_tails_max)?
        {
            return Ok(LiteralScan::Prefixed(Box::new(prefixed)));
        }
        let kind =
            if literals.len() <= DFA_MAX_LITERALS { AhoCorasickKind::DFA } else { AhoCorasickKind::ContiguousNFA };
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(kind))
            .build(literals)
            .map_err(|e| e.to_string())?;
        Ok(LiteralScan::Overlapping(ac))
    }

    /// Calls `on_occurrence(literal, start)` for every literal occurrence in `hay`.
    #[inline]
    pub(super) fn for_each(&self, hay: &[u8], mut on_occurrence: impl FnMut(usize, usize)) {
        match self {
            LiteralScan::Overlapping(ac) => {
                for m in ac.find_overlapping_iter(hay) {
                    on_occurrence(m.pattern().as_usize(), m.start());
                }
            }
            LiteralScan::Prefixed(scan) => {
                let mut at = 0;
                while at < hay.len() {
                    let Some(m) = scan.starts.find_in(hay, aho_corasick::Span { start: at, end: hay.len() }) else {
                        break;
                    };
                    let start = m.start();
                    let prefix = &scan.prefixes[m.pattern().as_usize()];
                    for &literal in &prefix.literals {
                        on_occurrence(literal as usize, start);
                    }
                    let resume = start + prefix.len;
                    if let Some(tails) = &prefix.tails {
                        let after = &hay[resume..];
                        for (literal, tail) in tails {
                            if starts_with_short(after, tail) {
                                on_occurrence(*literal as usize, start);
                            }
                        }
                        at = start + 1;
                        continue;
                    }
                    match &scan.confirm {
                        Confirm::Dfa(a) => walk_anchored(a, prefix.state, hay, start, resume, &mut on_occurrence),
                        Confirm::Nfa(a) => walk_anchored(a, prefix.state, hay, start, resume, &mut on_occurrence),
                    }
                    at = start + 1;
                }
            }
        }
    }

    pub(super) fn summary(&self) -> LiteralScanSummary {
        match self {
            LiteralScan::Overlapping(ac) => LiteralScanSummary { prefixed: None, bytes: ac.memory_usage() },
            LiteralScan::Prefixed(scan) => {
                let confirm = match &scan.confirm {
                    Confirm::Dfa(a) => a.memory_usage(),
                    Confirm::Nfa(a) => a.memory_usage(),
                };
                LiteralScanSummary {
                    prefixed: Some((scan.prefix_len, scan.prefixes.len())),
                    bytes: scan.starts.memory_usage() + confirm,
                }
            }
        }
    }
}

impl PrefixScan {
    /// `None` when no prefix length gives few enough distinct prefixes, or
    /// Teddy is not available on this CPU.
    fn new(
        literals: &[Vec<u8>],
        confirm_dfa_max_bytes: usize,
        compare_tails_max: usize,
    ) -> Result<Option<PrefixScan>, String> {
        let shortest = literals.iter().map(Vec::len).min().unwrap_or(0);
        if shortest < 2 {
            // One-byte prefixes would make nearly every byte a candidate.
            return Ok(None);
        }
        let distinct = |k: usize| {
            let mut prefixes: Vec<&[u8]> = literals.iter().map(|l| &l[..l.len().min(k)]).collect();
            prefixes.sort_unstable();
            prefixes.dedup();
            prefixes
        };
        // Teddy fingerprints at most the first 3 bytes of each pattern; bytes past
        // those only lengthen its own verification, and the anchored walk checks them
        // anyway. So 3-byte prefixes, which also collapse the most (fewer patterns,
        // fewer per bucket: 100-rule workload, 4-byte prefixes 93M instructions per
        // 20k lines, 3-byte 78M, 2-byte 96M), else 2-byte ones if those fit.
        let Some((prefix_len, prefixes)) =
            PREFIX_LENS.iter().map(|&k| (k, distinct(k))).find(|(_, p)| p.len() <= TEDDY_MAX_PATTERNS)
        else {
            return Ok(None);
        };
        let mut builder = packed::Config::new().match_kind(packed::MatchKind::LeftmostFirst).builder();
        builder.extend(&prefixes);
        let Some(starts) = builder.build() else { return Ok(None) };
        let trie = aho_corasick::nfa::noncontiguous::Builder::new()
            .match_kind(MatchKind::Standard)
            .build(literals)
            .map_err(|e| e.to_string())?;
        let dfa = dfa::Builder::new()
            .match_kind(MatchKind::Standard)
            .start_kind(StartKind::Anchored)
            .build_from_noncontiguous(&trie)
            .map_err(|e| e.to_string())?;
        // 10,000-rule workload, 200k lines: 1.09M lines/s with its 13 MB DFA, 1.25M with
        // the NFA, whose states along one literal's path are small and adjacent in
        // memory; 1,000 rules: 2.95M with the 1.1 MB DFA, 2.7M with the NFA.
        let confirm = if dfa.memory_usage() <= confirm_dfa_max_bytes {
            Confirm::Dfa(dfa)
        } else {
            let nfa = aho_corasick::nfa::contiguous::Builder::new()
                .match_kind(MatchKind::Standard)
                .build_from_noncontiguous(&trie)
                .map_err(|e| e.to_string())?;
            Confirm::Nfa(nfa)
        };
        let prefixes = prefixes
            .iter()
            .map(|prefix| {
                let mut walked = match &confirm {
                    Confirm::Dfa(a) => walk_prefix(a, prefix)?,
                    Confirm::Nfa(a) => walk_prefix(a, prefix)?,
                };
                let longer =
                    || literals.iter().enumerate().filter(|(_, l)| l.len() > prefix.len() && l.starts_with(prefix));
                if compare_tails_max > 0 && longer().count() <= compare_tails_max {
                    walked.tails = Some(
                        longer().map(|(id, l)| (id as u32, l[prefix.len()..].to_vec().into_boxed_slice())).collect(),
                    );
                }
                Ok(walked)
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Some(PrefixScan { starts, confirm, prefixes, prefix_len }))
    }
}

/// Reports every literal that starts exactly at `start`, continuing an
/// anchored walk that is in state `sid` after the bytes `start..resume`.
#[inline(always)]
fn walk_anchored<A: Automaton>(
    aut: &A,
    mut sid: StateID,
    hay: &[u8],
    start: usize,
    resume: usize,
    on_occurrence: &mut impl FnMut(usize, usize),
) {
    for (offset, &byte) in hay[resume..].iter().enumerate() {
        sid = aut.next_state(Anchored::Yes, sid, byte);
        if aut.is_special(sid) {
            if aut.is_dead(sid) {
                return;
            }
            if aut.is_match(sid) {
                let end = resume + offset + 1;
                for i in 0..aut.match_len(sid) {
                    let literal = aut.match_pattern(sid, i);
                    if end - aut.pattern_len(literal) == start {
                        on_occurrence(literal.as_usize(), start);
                    }
                }
            }
        }
    }
}

/// Where the anchored walk stands after a whole prefix: its state, and the
/// literals that start at the prefix's start and end inside it.
fn walk_prefix<A: Automaton>(aut: &A, prefix: &[u8]) -> Result<Prefix, String> {
    let mut sid = aut.start_state(Anchored::Yes).map_err(|e| e.to_string())?;
    let mut literals = Vec::new();
    for (offset, &byte) in prefix.iter().enumerate() {
        sid = aut.next_state(Anchored::Yes, sid, byte);
        // A prefix of a literal never leaves the trie.
        debug_assert!(!aut.is_dead(sid));
        if aut.is_match(sid) {
            for i in 0..aut.match_len(sid) {
                let literal = aut.match_pattern(sid, i);
                if aut.pattern_len(literal) == offset + 1 {
                    literals.push(literal.as_u32());
                }
            }
        }
    }
    Ok(Prefix { len: prefix.len(), state: sid, literals, tails: None })
}
