//! One-pass multi-pattern matching: every `match` and `regex` pattern of a
//! stream is searched with a single scan of each line.
//!
//! How (the approach Hyperscan takes, built from regex-automata parts):
//! 1. At build time, each pattern gets a set of *required literals*: a finite
//!    set of strings such that every match of the pattern contains one of them
//!    (regex-syntax's prefix extractor applied to the pattern and to each
//!    piece of its top-level concatenation; the longest such set wins).
//! 2. At run time, one scan finds every literal occurrence in the line
//!    (`literal_scan`: a SIMD Teddy search for the literals' prefixes plus an
//!    anchored Aho-Corasick walk at each hit, or one overlapping Aho-Corasick
//!    scan when the prefixes are too varied). A pattern whose literals did not
//!    occur cannot match, so the thousands of rules that do not match a line
//!    cost nothing.
//! 3. Candidates are verified, unless the literal *is* the whole pattern
//!    (`match` rules, and regexes like `error|fatal` whose literal set is exact
//!    and has no look-around). A pattern whose every match *starts* with a
//!    literal is checked anchored at the literal's first occurrence, by a small
//!    check shared between patterns that differ only in that literal (`verify`);
//!    if that fails, or the literal may sit anywhere in a match, the pattern's
//!    regex runs once, from the earliest occurrence.
//! 4. Patterns with no usable literal (e.g. `\d+`) go into one small
//!    multi-pattern `meta::Regex` with `MatchKind::All`, checked on every line.
//!
//! Invariants:
//! - [`Scratch::match_start`], when it answers, is where the pattern's leftmost
//!   match starts (an anchored match at its earliest literal occurrence), so
//!   captures and counting can start there anchored;
//! - [`MultiMatcher::find`] reports exactly the patterns whose regex matches
//!   the line, each once, in ascending pattern order (property-tested against
//!   evaluating each regex on its own);
//! - every regex is built under explicit size limits ([`MatcherConfig`]), so a
//!   hostile pattern fails to build instead of hanging or exhausting memory;
//!   a [`BuildError`] names the pattern that failed.
//!
//! Where things are: this file holds the [`MultiMatcher`] (steps 1 to 4 above);
//! `config` the limits and the regex builders that apply them; `literals` step 1's
//! required literals; `literal_scan` step 2's scan; `verify` step 3's anchored checks;
//! `framed` the captures of a pattern of literals around one group, taken from its
//! match's bounds.

mod config;
mod framed;
mod literal_scan;
mod literals;
mod verify;

use literal_scan::LiteralScan;
use memchr::memmem;
use regex_automata::meta::{self, Regex};
use regex_automata::util::captures::Captures;
use regex_automata::{Anchored, Input, MatchKind, PatternSet};

pub use config::{MatcherConfig, build_regex, compile_regex, parse_hir};
pub use literal_scan::LiteralScanSummary;
pub use literals::{RequiredLiterals, required_literals};

/// A pattern to compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternSpec {
    /// An exact substring.
    Literal(String),
    /// A regex in regex-syntax's dialect.
    Regex(String),
}

/// Why a pattern did not build; `pattern` is its index in the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BuildError {
    pub pattern: usize,
    pub message: String,
    /// Byte offset inside the pattern text where the problem is, when known.
    pub offset: Option<usize>,
}

/// The compiled form of one pattern, used to verify, count and capture.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per pattern, built once: boxing would only add a hop on the hot path
pub enum CompiledPattern {
    Literal(memmem::Finder<'static>),
    Regex(Regex),
}

impl CompiledPattern {
    pub fn is_match(&self, hay: &str) -> bool {
        match self {
            CompiledPattern::Literal(f) => f.find(hay.as_bytes()).is_some(),
            CompiledPattern::Regex(r) => r.is_match(hay),
        }
    }

    /// Is there a match starting at or after `start`?
    #[inline]
    fn is_match_from(&self, hay: &str, start: usize) -> bool {
        match self {
            CompiledPattern::Regex(r) => r.is_match(Input::new(hay).range(start..)),
            CompiledPattern::Literal(f) => f.find(&hay.as_bytes()[start..]).is_some(),
        }
    }

    /// Non-overlapping leftmost occurrences (what `count_repeats` counts).
    pub fn count(&self, hay: &str) -> u64 {
        self.count_from(hay, 0)
    }

    /// [`Self::count`] for a line whose leftmost match starts at or after `start`.
    pub fn count_from(&self, hay: &str, start: usize) -> u64 {
        match self {
            CompiledPattern::Literal(f) => f.find_iter(&hay.as_bytes()[start..]).count() as u64,
            CompiledPattern::Regex(r) => r.find_iter(Input::new(hay).range(start..)).count() as u64,
        }
    }

    pub fn regex(&self) -> Option<&Regex> {
        match self {
            CompiledPattern::Regex(r) => Some(r),
            CompiledPattern::Literal(_) => None,
        }
    }
}

/// How a pattern is found during the scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// A literal occurrence is a match.
    ExactLiteral,
    /// A literal occurrence makes the pattern a candidate, verified by its regex.
    LiteralThenVerify,
    /// Like `LiteralThenVerify`, but every match starts with a literal, so the
    /// pattern is checked anchored at the literal's first occurrence.
    PrefixThenVerify,
    /// No usable literal: checked on every line by the fallback automaton.
    Always,
}

/// Reusable per-thread scratch space for [`MultiMatcher::find`].
#[derive(Debug, Clone)]
pub struct Scratch {
    /// `seen[p] == generation`: pattern `p` is already decided (matched) or
    /// waiting for its check after the scan, in the current line.
    seen: Vec<u32>,
    /// `leftmost[p] == generation`: `first_start[p]` is where the leftmost match
    /// of `p` starts (it matched anchored at its earliest literal occurrence).
    leftmost: Vec<u32>,
    /// Bumped per line, so `seen` and `leftmost` never need clearing.
    generation: u32,
    /// Patterns to check after the scan (literal anywhere in a match, or an
    /// anchored check that failed).
    candidates: Vec<u32>,
    /// Per pattern seen in the current line: the earliest start of one of its literals.
    first_start: Vec<usize>,
    /// Per fallback shard: its result buffer and lazy-DFA cache.
    fallback: Vec<(PatternSet, meta::Cache)>,
}

impl Scratch {
    /// Where the leftmost match of `pattern` starts in the line last given to
    /// [`MultiMatcher::find`], when the scan established it: captures and
    /// counting then run anchored there instead of searching the line again.
    #[inline]
    pub fn match_start(&self, pattern: u32) -> Option<usize> {
        let p = pattern as usize;
        (self.leftmost[p] == self.generation).then(|| self.first_start[p])
    }
}

/// All patterns of one stream, compiled for one-pass matching.
#[derive(Debug, Clone)]
pub struct MultiMatcher {
    /// Per pattern: its own compiled form (verification, counting, captures).
    patterns: Vec<CompiledPattern>,
    /// Per pattern: how the scan finds it.
    strategies: Vec<Strategy>,
    /// One scan for every required literal of every prefiltered pattern.
    literal_scan: Option<LiteralScan>,
    /// Literal id -> the patterns that require it (many rules may share a literal).
    literal_owners: LiteralOwners,
    /// The patterns without usable literals, in automata of at most
    /// [`FALLBACK_SHARD`] patterns, so that no automaton grows past the size limits.
    fallback: Vec<FallbackShard>,
    /// Literal texts, for `check` output.
    literal_count: usize,
    /// Per `PrefixThenVerify` pattern: how it is checked at a literal occurrence.
    anchored: Vec<Option<AnchoredCheck>>,
    /// The distinct anchored checks (patterns that differ only in their literal share one).
    checks: Vec<verify::Check>,
    /// Per pattern of literals around one group: captures from the match's bounds.
    framed: Vec<Option<Box<framed::FramedCapture>>>,
}

/// Literal id -> owning patterns, in two flat arrays: with thousands of literals, one
/// `Vec` per literal costs a pointer chase (a cache miss, for a rare literal) per
/// occurrence.
#[derive(Debug, Clone)]
struct LiteralOwners {
    /// The owners of literal `i` are `patterns[starts[i]..starts[i + 1]]`.
    starts: Vec<u32>,
    patterns: Vec<u32>,
}

impl LiteralOwners {
    fn new(owners: Vec<Vec<u32>>) -> LiteralOwners {
        let mut starts = Vec::with_capacity(owners.len() + 1);
        starts.push(0);
        let mut patterns = Vec::new();
        for list in owners {
            patterns.extend(list);
            starts.push(u32::try_from(patterns.len()).expect("fewer than 2^32 literal owners"));
        }
        LiteralOwners { starts, patterns }
    }

    #[inline]
    fn of(&self, literal: usize) -> &[u32] {
        &self.patterns[self.starts[literal] as usize..self.starts[literal + 1] as usize]
    }
}

/// How a pattern is checked at one occurrence of its literal.
#[derive(Debug, Clone, Copy)]
struct AnchoredCheck {
    /// Index into `MultiMatcher::checks`.
    check: u32,
    /// Bytes of the literal already matched, skipped before the check.
    skip: u32,
}

impl MultiMatcher {
    pub fn new(specs: &[PatternSpec], config: &MatcherConfig) -> Result<MultiMatcher, BuildError> {
        let mut patterns = Vec::with_capacity(specs.len());
        let mut strategies = Vec::with_capacity(specs.len());
        let mut literal_ids: std::collections::HashMap<Vec<u8>, usize> = Default::default();
        let mut literal_texts: Vec<Vec<u8>> = Vec::new();
        let mut literal_owners: Vec<Vec<u32>> = Vec::new();
        let mut fallback_hirs = Vec::new();
        let mut fallback_ids = Vec::new();
        let mut anchored = vec![None; specs.len()];
        let mut framed = vec![None; specs.len()];
        let mut checks = Vec::new();
        let mut check_ids: std::collections::HashMap<String, u32> = Default::default();

        for (index, spec) in specs.iter().enumerate() {
            let pattern_id = index as u32;
            let (compiled, literals, strategy) = match spec {
                PatternSpec::Literal(text) => {
                    if text.is_empty() {
                        return Err(BuildError { pattern: index, message: "empty match string".into(), offset: None });
                    }
                    let finder = memmem::Finder::new(text.as_bytes()).into_owned();
                    (CompiledPattern::Literal(finder), vec![text.as_bytes().to_vec()], Strategy::ExactLiteral)
                }
                PatternSpec::Regex(source) => {
                    let hir = parse_hir(source, config).map_err(|(message, offset)| BuildError {
                        pattern: index,
                        message,
                        offset,
                    })?;
                    let regex = build_regex(std::slice::from_ref(&hir), MatchKind::LeftmostFirst, config)
                        .map_err(|message| BuildError { pattern: index, message, offset: None })?;
                    if hir.properties().explicit_captures_len() == 1 {
                        framed[index] = framed::FramedCapture::new(&hir, config).map(Box::new);
                    }
                    let required = required_literals(&hir);
                    match required {
                        Some(req) if req.min_len() >= config.min_literal_len => {
                            let strategy = if req.exact {
                                Strategy::ExactLiteral
                            } else if req.prefix {
                                // Check only what follows the literal when the literal is
                                // all the pattern starts with (see `verify`).
                                let (check_hir, skip) = match &req.literals[..] {
                                    [only] => verify::tail_after(&hir, only).map(|tail| (tail, only.len())),
                                    _ => None,
                                }
                                .unwrap_or_else(|| (hir.clone(), 0));
                                let key = check_hir.to_string();
                                let check = match check_ids.get(&key) {
                                    Some(&id) => id,
                                    None => {
                                        let built = verify::Check::new(&check_hir, config)
                                            .map_err(|message| BuildError { pattern: index, message, offset: None })?;
                                        checks.push(built);
                                        check_ids.insert(key, checks.len() as u32 - 1);
                                        checks.len() as u32 - 1
                                    }
                                };
                                anchored[index] = Some(AnchoredCheck { check, skip: skip as u32 });
                                Strategy::PrefixThenVerify
                            } else {
                                Strategy::LiteralThenVerify
                            };
                            (CompiledPattern::Regex(regex), req.literals, strategy)
                        }
                        _ => {
                            fallback_hirs.push(hir);
                            fallback_ids.push(pattern_id);
                            (CompiledPattern::Regex(regex), Vec::new(), Strategy::Always)
                        }
                    }
                }
            };
            for literal in literals {
                let id = *literal_ids.entry(literal.clone()).or_insert_with(|| {
                    literal_texts.push(literal);
                    literal_owners.push(Vec::new());
                    literal_texts.len() - 1
                });
                if literal_owners[id].last() != Some(&pattern_id) {
                    literal_owners[id].push(pattern_id);
                }
            }
            patterns.push(compiled);
            strategies.push(strategy);
        }

        let literal_scan = if literal_texts.is_empty() {
            None
        } else {
            let scan = LiteralScan::new(&literal_texts, config).map_err(|e| BuildError {
                pattern: 0,
                message: format!("literal scanner: {e}"),
                offset: None,
            })?;
            Some(scan)
        };

        let mut fallback = Vec::new();
        for (hirs, ids) in fallback_hirs.chunks(FALLBACK_SHARD).zip(fallback_ids.chunks(FALLBACK_SHARD)) {
            let regex = build_regex(hirs, MatchKind::All, config).map_err(|message| BuildError {
                pattern: ids[0] as usize,
                message: format!("always-checked patterns together: {message}"),
                offset: None,
            })?;
            fallback.push(FallbackShard { regex, ids: ids.to_vec() });
        }

        Ok(MultiMatcher {
            patterns,
            strategies,
            literal_scan,
            literal_count: literal_texts.len(),
            literal_owners: LiteralOwners::new(literal_owners),
            fallback,
            anchored,
            checks,
            framed,
        })
    }

    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn pattern(&self, index: usize) -> &CompiledPattern {
        &self.patterns[index]
    }

    pub fn strategy(&self, index: usize) -> Strategy {
        self.strategies[index]
    }

    /// Captures of the leftmost match of regex pattern `pattern` into `caps` (made by
    /// its regex); whether there is one. `leftmost` is [`Scratch::match_start`], when
    /// known: the search then runs anchored there, and a pattern of literals around
    /// one group takes its captures from the match's bounds.
    #[inline]
    pub fn search_captures(&self, pattern: usize, hay: &str, leftmost: Option<usize>, caps: &mut Captures) -> bool {
        let Some(regex) = self.patterns[pattern].regex() else { return false };
        match (leftmost, &self.framed[pattern]) {
            (Some(start), Some(framed)) => framed.captures_at(hay, start, caps),
            (Some(start), None) => {
                regex.search_captures(&Input::new(hay).range(start..).anchored(Anchored::Yes), caps);
                caps.is_match()
            }
            (None, _) => {
                regex.search_captures(&Input::new(hay), caps);
                caps.is_match()
            }
        }
    }

    pub fn new_scratch(&self) -> Scratch {
        Scratch {
            seen: vec![0; self.patterns.len()],
            leftmost: vec![0; self.patterns.len()],
            generation: 0,
            candidates: Vec::new(),
            first_start: vec![0; self.patterns.len()],
            fallback: self.fallback.iter().map(|f| (PatternSet::new(f.ids.len()), f.regex.create_cache())).collect(),
        }
    }

    /// Appends to `out` the index of every pattern that matches `hay`, ascending, each once.
    pub fn find(&self, hay: &str, scratch: &mut Scratch, out: &mut Vec<u32>) {
        let first_out = out.len();
        if scratch.seen.len() != self.patterns.len() {
            *scratch = self.new_scratch();
        }
        scratch.generation = scratch.generation.wrapping_add(1);
        if scratch.generation == 0 {
            scratch.seen.fill(0);
            scratch.leftmost.fill(0);
            scratch.generation = 1;
        }
        let generation = scratch.generation;
        scratch.candidates.clear();

        if let Some(scan) = &self.literal_scan {
            let Scratch { seen, leftmost, candidates, first_start, .. } = scratch;
            scan.for_each(hay.as_bytes(), |literal, start| {
                for &p in self.literal_owners.of(literal) {
                    let p_us = p as usize;
                    if seen[p_us] == generation {
                        // The overlapping scan reports occurrences by end, not start: an
                        // earlier one may come later, and a match there was not tried.
                        if start < first_start[p_us] {
                            first_start[p_us] = start;
                            leftmost[p_us] = 0;
                        }
                        continue;
                    }
                    seen[p_us] = generation;
                    first_start[p_us] = start;
                    let matched = match self.strategies[p_us] {
                        Strategy::ExactLiteral => true,
                        // (Every such pattern has a check; without one it would be checked after the scan.)
                        Strategy::PrefixThenVerify => self.anchored[p_us]
                            .is_some_and(|a| self.checks[a.check as usize].is_match_at(hay, start + a.skip as usize)),
                        _ => false,
                    };
                    if matched {
                        leftmost[p_us] = generation;
                        out.push(p);
                    } else {
                        // The literal may sit anywhere in a match, or the anchored check at
                        // this occurrence failed: one unanchored check after the scan, from
                        // the earliest occurrence, covers every later one (so a literal
                        // repeated along a line costs two checks at most, not one each).
                        candidates.push(p);
                    }
                }
            });
        }
        for &p in &scratch.candidates {
            let pattern = &self.patterns[p as usize];
            let ok = match self.strategies[p as usize] {
                Strategy::PrefixThenVerify => pattern.is_match_from(hay, scratch.first_start[p as usize]),
                _ => pattern.is_match(hay),
            };
            if ok {
                out.push(p);
            }
        }
        for (shard, (set, cache)) in self.fallback.iter().zip(scratch.fallback.iter_mut()) {
            set.clear();
            shard.regex.which_overlapping_matches_with(cache, &Input::new(hay), set);
            for id in set.iter() {
                out.push(shard.ids[id.as_usize()]);
            }
        }
        out[first_out..].sort_unstable();
    }

    /// What was compiled, for `logpulse check`.
    pub fn summary(&self) -> MatcherSummary {
        let count = |s: Strategy| self.strategies.iter().filter(|&&x| x == s).count();
        MatcherSummary {
            patterns: self.patterns.len(),
            exact_literal: count(Strategy::ExactLiteral),
            verified: count(Strategy::LiteralThenVerify) + count(Strategy::PrefixThenVerify),
            always: count(Strategy::Always),
            literals: self.literal_count,
            literal_scan: self.literal_scan.as_ref().map(LiteralScan::summary),
            fallback_bytes: self.fallback.iter().map(|f| f.regex.memory_usage()).sum(),
            regex_bytes: self.patterns.iter().filter_map(|p| p.regex()).map(|r| r.memory_usage()).sum(),
            anchored_checks: self.checks.len(),
            anchored_check_bytes: self.checks.iter().map(verify::Check::memory_usage).sum(),
            framed_captures: self.framed.iter().flatten().count(),
            framed_capture_bytes: self.framed.iter().flatten().map(|f| f.memory_usage()).sum(),
        }
    }
}

/// Most patterns per always-checked automaton.
pub const FALLBACK_SHARD: usize = 64;

/// Always-checked patterns compiled together.
#[derive(Debug, Clone)]
struct FallbackShard {
    /// All the shard's patterns, `MatchKind::All`, so one search reports every match.
    regex: Regex,
    /// Automaton pattern id -> pattern index.
    ids: Vec<u32>,
}

/// The shape and size of a compiled matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatcherSummary {
    pub patterns: usize,
    /// Found by the literal scan alone.
    pub exact_literal: usize,
    /// Found by the literal scan, then verified by their regex.
    pub verified: usize,
    /// Checked on every line.
    pub always: usize,
    /// Distinct literals in the scan.
    pub literals: usize,
    /// How the literals are scanned for, and the scanner's memory; `None` without literals.
    pub literal_scan: Option<LiteralScanSummary>,
    pub fallback_bytes: usize,
    pub regex_bytes: usize,
    /// Distinct checks run at a prefix literal's occurrence, and their memory.
    pub anchored_checks: usize,
    pub anchored_check_bytes: usize,
    /// Patterns whose captures come from their match's bounds, and their DFAs' memory.
    pub framed_captures: usize,
    pub framed_capture_bytes: usize,
}

/// The named capture groups of a parsed pattern, as (name, group index).
pub fn capture_names(hir: &regex_syntax::hir::Hir) -> Vec<(String, usize)> {
    use regex_syntax::hir::HirKind;
    fn walk(hir: &regex_syntax::hir::Hir, out: &mut Vec<(String, usize)>) {
        match hir.kind() {
            HirKind::Capture(cap) => {
                if let Some(name) = &cap.name {
                    out.push((name.to_string(), cap.index as usize));
                }
                walk(&cap.sub, out);
            }
            HirKind::Concat(subs) | HirKind::Alternation(subs) => subs.iter().for_each(|h| walk(h, out)),
            HirKind::Repetition(rep) => walk(&rep.sub, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(hir, &mut out);
    out
}

#[cfg(test)]
mod tests;
