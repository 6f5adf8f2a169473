//! What the matcher compiles under: [`MatcherConfig`]'s explicit limits, and the
//! helpers that apply them to every regex the engine builds (a pattern's own regex,
//! the anchored checks, the framed captures, the always-checked shards, and the
//! stand-alone regexes of `value = { after, before }`).
//!
//! Invariants: every pattern text the engine compiles is parsed by [`parse_hir`]
//! (under the nesting limit) and every regex is built by [`build_regex`] (under the
//! NFA size limit and the lazy-DFA cache capacity); the one other kind of automaton,
//! `verify`'s dense DFAs, is built under the same NFA limit plus DFA size limits of
//! its own. A pattern past a limit fails to build, with a message that says so,
//! instead of hanging or exhausting memory.

use regex_automata::MatchKind;
use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;

/// Size limits for everything the matcher compiles.
#[derive(Debug, Clone)]
pub struct MatcherConfig {
    /// Largest Thompson NFA one pattern may compile to; a pattern past it is refused.
    pub nfa_size_limit: usize,
    /// Cache capacity of each lazy DFA; bigger caches avoid thrashing on many patterns.
    pub hybrid_cache_capacity: usize,
    /// Deepest nesting of groups/repetitions the parser accepts, so parsing cannot overflow the stack.
    pub nest_limit: u32,
    /// Literal sets whose shortest literal is shorter than this are not worth
    /// prefiltering (they occur in nearly every line); such patterns are always checked.
    pub min_literal_len: usize,
    /// Scan for literals with a SIMD prefix search plus anchored confirmation
    /// when the literals' prefixes allow it (see `literal_scan`); false always
    /// uses the one overlapping automaton (tests and comparisons).
    pub prefix_scan: bool,
    /// The prefixed scan confirms literals with an anchored Aho-Corasick DFA up
    /// to this size, else with the (smaller, slower per byte) contiguous NFA: the
    /// walk is one dependent load per byte, so its automaton must stay in cache.
    pub confirm_dfa_max_bytes: usize,
    /// A prefix that at most this many longer literals start with has them compared
    /// directly at its hits, eight bytes at a time, instead of walked through the
    /// automaton a byte at a time (one dependent load per byte); 0 always walks.
    pub compare_tails_max: usize,
}

impl Default for MatcherConfig {
    fn default() -> Self {
        Self {
            nfa_size_limit: ingest::pattern::REGEX_NFA_SIZE_LIMIT,
            hybrid_cache_capacity: 2 << 20,
            nest_limit: ingest::pattern::REGEX_NEST_LIMIT,
            min_literal_len: 2,
            prefix_scan: true,
            // About the L2 cache of one core here (1 MiB) plus room.
            confirm_dfa_max_bytes: 2 << 20,
            // 100-rule replay: prefixes like `GET`, `HTT` (`HTTP/1.1" 404 `) and `" 5`
            // have one to three literals each; `/sv` (49 `/svcN/` literals) is walked.
            compare_tails_max: 4,
        }
    }
}

/// Parses a pattern under the nesting limit. Errors carry the offset inside the pattern.
pub fn parse_hir(pattern: &str, config: &MatcherConfig) -> Result<regex_syntax::hir::Hir, (String, Option<usize>)> {
    let mut parser = regex_syntax::ParserBuilder::new().nest_limit(config.nest_limit).build();
    parser.parse(pattern).map_err(|e| match &e {
        regex_syntax::Error::Parse(p) => (p.kind().to_string(), Some(p.span().start.offset)),
        regex_syntax::Error::Translate(t) => (t.kind().to_string(), Some(t.span().start.offset)),
        other => (other.to_string(), None),
    })
}

/// Builds a regex under the configured size limits.
pub fn build_regex(hirs: &[regex_syntax::hir::Hir], kind: MatchKind, config: &MatcherConfig) -> Result<Regex, String> {
    meta::Builder::new()
        .configure(
            meta::Config::new()
                .match_kind(kind)
                .nfa_size_limit(Some(config.nfa_size_limit))
                // The full-DFA and one-pass limits stay at regex-automata's defaults
                // (small): raising them makes every pattern build a full DFA, which
                // costs ~0.5 s per pattern with Unicode classes like \w and \S.
                .hybrid_cache_capacity(config.hybrid_cache_capacity),
        )
        .syntax(syntax::Config::new().nest_limit(config.nest_limit))
        .build_many_from_hir(hirs)
        .map_err(|e| match e.size_limit() {
            Some(limit) => format!("too big (it compiles to more than the limit of {} MiB)", limit >> 20),
            None => e.to_string(),
        })
}

/// Compiles one stand-alone regex (captures, `matches`, `value` extraction) under the limits.
pub fn compile_regex(pattern: &str, config: &MatcherConfig) -> Result<Regex, (String, Option<usize>)> {
    let hir = parse_hir(pattern, config)?;
    build_regex(&[hir], MatchKind::LeftmostFirst, config).map_err(|m| (m, None))
}
