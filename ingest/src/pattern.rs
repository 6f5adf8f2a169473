//! User regexes: the one home of the limits every user regex is compiled under (the
//! stream settings' time and host regexes here, the rules' patterns in the engine's
//! matcher), and the fast paths that take one capture group from a line.
//!
//! - `compile_regex`: a `meta::Regex` under [`REGEX_NFA_SIZE_LIMIT`] and
//!   [`REGEX_NEST_LIMIT`] (the engine's `MatcherConfig` defaults to the same two);
//! - `LineRegex`: one capture group's text from a line, by anchored tries at the bytes
//!   every match starts with, and for a group framed by literals ([`LiteralFrame`]) by
//!   finding only where the match ends (one memchr for `\[([^\]]+)\]`, else a small
//!   dense DFA);
//! - [`starts_with_short`]: the inline compare of a short literal, eight bytes at a time.
//!
//! Invariants:
//! - every fast path answers what the plain unanchored capture search answers
//!   (property-tested against it); a pattern it cannot serve takes the plain path;
//! - a user regex past the size or nesting limit is refused when it is compiled, never
//!   left to eat memory or stack on a line;
//! - a capture does not allocate (regex caches come from the regex's own pool, capture
//!   slots live on the stack up to `STACK_SLOTS` groups).

use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::meta::Regex;
use regex_automata::nfa::thompson;
use regex_automata::util::primitives::NonMaxUsize;
use regex_automata::{Anchored, Input, MatchKind, util::syntax};
use regex_syntax::hir::literal::ExtractKind;

/// NFA size limit for user regexes: large enough for any sane pattern, small enough
/// that a pathological one is refused at config time instead of eating memory.
pub const REGEX_NFA_SIZE_LIMIT: usize = 10 << 20;
/// Parenthesis nesting limit for user regexes; the parser recurses, so this bounds stack use.
pub const REGEX_NEST_LIMIT: u32 = 100;
/// Largest dense DFA a framed group compiles to; past it the one-pass path stays.
const FRAMED_DFA_LIMIT: usize = 64 << 10;
/// The most capture slots kept on the stack when extracting a group; more groups spill to the heap.
const STACK_SLOTS: usize = 32;

/// Compiles a user regex with the project's size and nesting limits.
pub(crate) fn compile_regex(pattern: &str) -> Result<Regex, String> {
    Regex::builder()
        .configure(Regex::config().nfa_size_limit(Some(REGEX_NFA_SIZE_LIMIT)))
        .syntax(syntax::Config::new().nest_limit(REGEX_NEST_LIMIT))
        .build(pattern)
        .map_err(|e| e.to_string())
}

/// A compiled time or host regex, with what it knows about where its matches start.
#[derive(Debug, Clone)]
pub(crate) struct LineRegex {
    regex: Regex,
    /// Every match starts with one of these (at most 3) bytes, when that is known.
    /// The search then tries an anchored match at each occurrence of one, in order:
    /// the first that matches is the leftmost match. That runs one one-pass DFA over
    /// the match, where an unanchored capture search runs a forward and a reverse DFA
    /// over the line before it (replaying 1M nginx-like lines with the time regex
    /// `\[([^\]]+)\]`: about 200 ns a line less).
    leading: Option<Vec<u8>>,
    /// When the pattern is a capture group between fixed literals (`\[([^\]]+)\]`), the
    /// group's bounds follow from the match's, and the match is found without capture
    /// bookkeeping: by an anchored dense DFA (2.5 times faster than the one-pass DFA on
    /// the time regex above), or by one memchr for a run of all bytes but one.
    framed: Option<Box<FramedGroup>>,
}

/// A capture group whose text is the whole match less `before` and `after` bytes of literals.
#[derive(Debug, Clone)]
struct FramedGroup {
    /// Its explicit group index.
    group: usize,
    before: usize,
    after: usize,
    /// How the match's end is found.
    end: FrameEnd,
}

/// Finds where an anchored match of a [`FramedGroup`] pattern ends.
#[derive(Debug, Clone)]
enum FrameEnd {
    /// The whole pattern, anchored, leftmost-first.
    Dfa(Box<dense::DFA<Vec<u32>>>),
    /// The group is a greedy run of anything but one ASCII byte, and the literal after it
    /// starts with that byte (`\[([^\]]+)\]`, `"([^"]*)"`): the run can only end at the
    /// byte's first occurrence, so one memchr finds the end. The dense DFA cannot skip
    /// ahead this way: in Unicode mode the run's state leaves on every non-ASCII lead
    /// byte, so it is not accelerated, and it steps through the text a byte at a time
    /// (replaying 1M nginx-like lines with the time regex above: about 50 ns a line more).
    DelimitedRun(DelimitedRun),
}

/// `before`, then at least `min_len` bytes other than `stop`, then `after` (which starts with `stop`).
#[derive(Debug, Clone)]
struct DelimitedRun {
    before: Box<[u8]>,
    stop: u8,
    min_len: usize,
    after: Box<[u8]>,
}

impl DelimitedRun {
    /// The end of the match that starts at `hay[0]`, if one does.
    #[inline]
    fn match_end(&self, hay: &[u8]) -> Option<usize> {
        let run_start = self.before.len();
        if !starts_with_short(hay, &self.before) {
            return None;
        }
        let run_len = memchr::memchr(self.stop, &hay[run_start..])?;
        let after_start = run_start + run_len;
        (run_len >= self.min_len && starts_with_short(&hay[after_start..], &self.after))
            .then_some(after_start + self.after.len())
    }
}

/// `hay.starts_with(literal)` for a short literal, compared in line, eight bytes at a
/// time from the literal's last eight (overlapping the others; in a time text they hold
/// the seconds, which change most): `starts_with` calls libc's `memcmp`, which costs more
/// than the compare itself. Also the engine's compare of literal tails.
#[inline]
pub fn starts_with_short(hay: &[u8], literal: &[u8]) -> bool {
    let n = literal.len();
    if hay.len() < n {
        return false;
    }
    if n < 8 {
        return hay.iter().zip(literal).all(|(a, b)| a == b);
    }
    let word = |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().expect("eight bytes"));
    word(hay, n - 8) == word(literal, n - 8) && (0..n - 8).step_by(8).all(|at| word(hay, at) == word(literal, at))
}

/// After this many anchored tries that fail, one unanchored search takes the rest of the
/// line (so a line full of leading bytes costs one search, not one per byte).
const ANCHORED_TRIES: usize = 4;

impl LineRegex {
    pub(crate) fn new(pattern: &str) -> Result<LineRegex, String> {
        let regex = compile_regex(pattern)?;
        let hir = regex_syntax::ParserBuilder::new().nest_limit(REGEX_NEST_LIMIT).build().parse(pattern).ok();
        let leading = hir.as_ref().and_then(leading_bytes);
        let framed = hir.as_ref().and_then(|hir| framed_group(hir, pattern)).map(Box::new);
        Ok(LineRegex { regex, leading, framed })
    }

    /// The text of capture group `group` (1-based explicit group index) of the leftmost
    /// match. `None` when the regex does not match or the group did not take part in it.
    pub(crate) fn capture<'a>(&self, line: &'a str, group: usize) -> Option<&'a str> {
        let unanchored = |from: usize| self.group_span(&Input::new(line).range(from..), group);
        let span = match (&self.leading, &self.framed) {
            (Some(leading), Some(framed)) if framed.group == group => try_leading(leading, line, unanchored, |at| {
                let end = match &framed.end {
                    FrameEnd::DelimitedRun(run) => run.match_end(&line.as_bytes()[at..]).map(|end| at + end),
                    FrameEnd::Dfa(dfa) => {
                        let input = Input::new(line).range(at..).anchored(Anchored::Yes);
                        // No quit bytes are configured, so `Err` does not happen; the regex would answer.
                        dfa.try_search_fwd(&input).map_err(drop)?.map(|end| end.offset())
                    }
                };
                Ok(end.map(|end| Some((at + framed.before, end - framed.after))))
            }),
            (Some(leading), _) => try_leading(leading, line, unanchored, |at| {
                Ok(self.group_span(&Input::new(line).range(at..).anchored(Anchored::Yes), group))
            }),
            (None, _) => unanchored(0),
        };
        let (start, end) = span??;
        line.get(start..end)
    }

    /// Searches `input`: `None` without a match, else the span of `group` in it (`None`
    /// when the group did not take part).
    fn group_span(&self, input: &Input<'_>, group: usize) -> Option<Option<(usize, usize)>> {
        let needed = (group + 1) * 2;
        let mut stack = [None::<NonMaxUsize>; STACK_SLOTS];
        let mut heap;
        let slots: &mut [Option<NonMaxUsize>] = if needed <= STACK_SLOTS {
            &mut stack[..needed]
        } else {
            heap = vec![None; needed];
            &mut heap
        };
        self.regex.search_slots(input, slots)?;
        Some(slots[group * 2].zip(slots[group * 2 + 1]).map(|(start, end)| (start.get(), end.get())))
    }

    pub(crate) fn group_info(&self) -> &regex_automata::util::captures::GroupInfo {
        self.regex.group_info()
    }
}

/// The leftmost match of a regex whose every match starts with one of `leading`:
/// `anchored_at(at)` at each occurrence of one, in order, until one matches (`Ok(Some)`);
/// after [`ANCHORED_TRIES`] misses, or when it cannot tell (`Err`), `unanchored_from`
/// searches the rest of the line.
fn try_leading<T>(
    leading: &[u8],
    line: &str,
    unanchored_from: impl FnOnce(usize) -> Option<T>,
    mut anchored_at: impl FnMut(usize) -> Result<Option<T>, ()>,
) -> Option<T> {
    let hay = line.as_bytes();
    let mut from = 0;
    for _ in 0..ANCHORED_TRIES {
        let at = from + find_leading(leading, &hay[from..])?;
        match anchored_at(at) {
            Ok(Some(found)) => return Some(found),
            Ok(None) => from = at + 1,
            Err(()) => break,
        }
    }
    unanchored_from(from)
}

/// The first of one to three bytes in `hay`.
#[inline]
fn find_leading(leading: &[u8], hay: &[u8]) -> Option<usize> {
    match *leading {
        [a] => memchr::memchr(a, hay),
        [a, b] => memchr::memchr2(a, b, hay),
        [a, b, c] => memchr::memchr3(a, b, c, hay),
        _ => unreachable!("one to three leading bytes"),
    }
}

/// A pattern that is literal text around one capture group (`\[([^\]]+)\]`,
/// `" (?P<status>[45]\d\d) `): the group's text is the match less the literals, so
/// the match's bounds give the group's.
#[derive(Debug, Clone)]
pub struct LiteralFrame<'h> {
    /// The group.
    pub group: &'h regex_syntax::hir::Capture,
    /// The literal text before it.
    pub before: Vec<u8>,
    /// The literal text after it.
    pub after: Vec<u8>,
}

impl LiteralFrame<'_> {
    /// `hir` as literals around one group, when it is that.
    pub fn of(hir: &regex_syntax::hir::Hir) -> Option<LiteralFrame<'_>> {
        use regex_syntax::hir::HirKind;
        let parts: &[regex_syntax::hir::Hir] = match hir.kind() {
            HirKind::Concat(parts) => parts,
            _ => std::slice::from_ref(hir),
        };
        let mut group = None;
        let (mut before, mut after) = (Vec::new(), Vec::new());
        for part in parts {
            match part.kind() {
                HirKind::Capture(capture) if group.is_none() => group = Some(capture),
                HirKind::Literal(literal) if group.is_none() => before.extend_from_slice(&literal.0),
                HirKind::Literal(literal) => after.extend_from_slice(&literal.0),
                _ => return None,
            }
        }
        Some(LiteralFrame { group: group?, before, after })
    }
}

/// The pattern's one capture group, when everything around it is literal text.
fn framed_group(hir: &regex_syntax::hir::Hir, pattern: &str) -> Option<FramedGroup> {
    let LiteralFrame { group, before, after } = LiteralFrame::of(hir)?;
    let (before_len, after_len) = (before.len(), after.len());
    let framed = |end| FramedGroup { group: group.index as usize, before: before_len, after: after_len, end };
    if let Some((stop, min_len)) = run_of_all_but_one_byte(&group.sub)
        && after.first() == Some(&stop)
    {
        let run = DelimitedRun { before: before.into(), stop, min_len, after: after.into() };
        return Some(framed(FrameEnd::DelimitedRun(run)));
    }
    let dfa = dense::Builder::new()
        .configure(
            dense::Config::new()
                .start_kind(StartKind::Anchored)
                .match_kind(MatchKind::LeftmostFirst)
                .minimize(false)
                .dfa_size_limit(Some(FRAMED_DFA_LIMIT))
                .determinize_size_limit(Some(4 * FRAMED_DFA_LIMIT)),
        )
        .syntax(syntax::Config::new().nest_limit(REGEX_NEST_LIMIT))
        .thompson(thompson::Config::new().nfa_size_limit(Some(REGEX_NFA_SIZE_LIMIT)))
        .build(pattern)
        .ok()?;
    Some(framed(FrameEnd::Dfa(Box::new(dfa))))
}

/// `[^c]+` or `[^c]*` (greedy, no upper bound, `c` ASCII): `c` and the run's least length.
fn run_of_all_but_one_byte(hir: &regex_syntax::hir::Hir) -> Option<(u8, usize)> {
    use regex_syntax::hir::{Class, HirKind};
    let HirKind::Repetition(repetition) = hir.kind() else { return None };
    if !repetition.greedy || repetition.max.is_some() {
        return None;
    }
    let HirKind::Class(class) = repetition.sub.kind() else { return None };
    // The class must be every character (or byte) but one ASCII byte: two ranges around it.
    let (ranges, top): (Vec<(u32, u32)>, u32) = match class {
        Class::Unicode(class) => {
            (class.ranges().iter().map(|r| (r.start() as u32, r.end() as u32)).collect(), char::MAX as u32)
        }
        Class::Bytes(class) => {
            (class.ranges().iter().map(|r| (u32::from(r.start()), u32::from(r.end()))).collect(), 0xFF)
        }
    };
    let stop = match ranges[..] {
        [(0, below), (above, end)] if above == below + 2 && end == top => below + 1,
        [(1, end)] if end == top => 0,
        _ => return None,
    };
    let stop = u8::try_from(stop).ok().filter(u8::is_ascii)?;
    // A least length counts characters, a run's length bytes: they agree on 0 and 1 only.
    (repetition.min <= 1).then_some((stop, repetition.min as usize))
}

/// The bytes that every match of `hir` starts with, when there are one to three of them.
fn leading_bytes(hir: &regex_syntax::hir::Hir) -> Option<Vec<u8>> {
    let prefixes = regex_syntax::hir::literal::Extractor::new().kind(ExtractKind::Prefix).extract(hir);
    let literals = prefixes.literals()?;
    let mut bytes: Vec<u8> = Vec::new();
    for literal in literals {
        let &first = literal.as_bytes().first()?;
        if !bytes.contains(&first) {
            bytes.push(first);
        }
    }
    (1..=3).contains(&bytes.len()).then_some(bytes)
}

#[cfg(test)]
mod tests;
